"""Figures of the studies (matplotlib, Agg backend, PNG files)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def barrier_fraction(
    path: str | os.PathLike[str], n_init: Sequence[int], fraction: Sequence[float],
    low: Sequence[float], high: Sequence[float], n_replan: int, trials: Sequence[int],
) -> None:
    """Figure 2(c): fraction of trials passing below the barrier versus N_init."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    frac = np.asarray(fraction)
    err = np.stack([frac - np.asarray(low), np.asarray(high) - frac])
    ax.errorbar(n_init, frac, yerr=err, marker="o", capsize=3)
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("N_init (rollouts at t = 0)")
    ax.set_ylabel("fraction passing below")
    ax.set_title(f"CEM-GD, N_r = {n_replan}, {min(trials)}-{max(trials)} trials, 95% Wilson CI",
                 fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def barrier_trajectories(
    path: str | os.PathLike[str], panels: Sequence[dict], centre: np.ndarray, radius: float,
    start: Sequence[float], goal: Sequence[float],
) -> None:
    """Figure 2(a, b): the first CEM pick (red) and its gradient refinement (blue).

    Each panel is ``{"title", "cem": [T+1, 2], "refined": [T+1, 2], "executed": [N+1, 2]}``.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.8), squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=True):
        ax.add_patch(plt.Circle(tuple(centre), radius, color="0.8", zorder=0))
        ax.plot(*np.asarray(panel["cem"]).T, color="tab:red", label="CEM initialisation")
        ax.plot(*np.asarray(panel["refined"]).T, color="tab:blue", label="after gradient ascent")
        if "executed" in panel:
            ax.plot(*np.asarray(panel["executed"]).T, color="k", ls=":", lw=1, label="executed")
        ax.plot(*start, "ko")
        ax.plot(*goal, "g*", ms=12)
        ax.set_title(panel["title"], fontsize=9)
        ax.set_aspect("equal")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def scaling(
    path: str | os.PathLike[str], dims: Sequence[int], curves: dict[str, Sequence[float]],
    times: dict[str, Sequence[float]], ylabel: str,
) -> None:
    """Return (left) and time per step (right) of each planner versus action dimension."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for label, values in curves.items():
        ax1.plot(dims, values, marker="o", label=label)
    for label, values in times.items():
        ax2.plot(dims, values, marker="o", label=label)
    for ax in (ax1, ax2):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("action dimension d")
        ax.grid(alpha=0.3)
    ax1.set_ylabel(ylabel)
    ax2.set_ylabel("time per plan step (ms)")
    ax2.set_yscale("log")
    ax1.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
