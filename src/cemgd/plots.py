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


#: Colours of the paper's planners in the sweep figures (others cycle through tab10).
PLANNER_COLOURS = {"cem-50": "tab:orange", "cem-500": "tab:green", "cem-5000": "tab:red",
                   "gd": "tab:gray", "cem-gd": "tab:blue"}


def _panel_grid(n: int, width: float = 4.6, height: float = 3.5) -> tuple[plt.Figure, list]:
    cols = min(n, 2)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def sweep_returns(path: str | os.PathLike[str], panels: Sequence[dict]) -> None:
    """Figure 3: per task, mean and standard deviation of the episode return versus
    environment steps, one curve per planner.

    Each panel is ``{"title": str, "curves": {label: {"x": [n], "mean": [n], "std": [n],
    "runs": [n]}}}`` (``runs``: how many runs each point averages).
    """
    fig, axes = _panel_grid(max(len(panels), 1))
    for ax, panel in zip(axes, panels, strict=False):
        for i, (label, c) in enumerate(panel["curves"].items()):
            colour = PLANNER_COLOURS.get(label, f"C{i % 10}")
            x, mean, std = (np.asarray(c[k], float) for k in ("x", "mean", "std"))
            runs = np.asarray(c["runs"])
            n = f"{runs.min()}" if runs.min() == runs.max() else f"{runs.min()}-{runs.max()}"
            ax.plot(x, mean, marker="o", ms=3, color=colour, label=f"{label} (n={n})")
            ax.fill_between(x, mean - std, mean + std, color=colour, alpha=0.15)
        ax.set_title(panel["title"], fontsize=10)
        ax.set_xlabel("environment steps")
        ax.set_ylabel("episode return")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("episode return: mean ± std over runs", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def sample_efficiency(path: str | os.PathLike[str], panels: Sequence[dict]) -> None:
    """Figure 4: per task, best return of a run (mean ± std over runs) versus rollouts
    per planning step, CEM against CEM-GD.

    Each panel is ``{"title": str, "cem": {"x": [n], "mean": [n], "std": [n]},
    "cem_gd": {"x": [m], "measured": [m], "mean": [m], "std": [m]}}``: CEM's ``x`` is
    its N = samples x iterations, CEM-GD's ``x`` is N_r (the paper's axis) and
    ``measured`` its mean rollouts per step (line-search trials included). A key may be
    missing when the sweep has no such planner.
    """
    fig, axes = _panel_grid(max(len(panels), 1))
    for ax, panel in zip(axes, panels, strict=False):
        cem = panel.get("cem")
        if cem and len(cem["x"]):
            order = np.argsort(cem["x"])
            x, mean, std = (np.asarray(cem[k], float)[order] for k in ("x", "mean", "std"))
            ax.errorbar(x, mean, yerr=std, marker="o", capsize=3, color="tab:red", label="CEM")
        gd = panel.get("cem_gd")
        if gd and len(gd["x"]):
            x, measured, mean, std = (np.asarray(gd[k], float)
                                      for k in ("x", "measured", "mean", "std"))
            order = np.argsort(x)
            ax.errorbar(x[order], mean[order], yerr=std[order], marker="s", capsize=3,
                        color="tab:blue", label="CEM-GD at N_r")
            ax.plot(measured, mean, ls="none", marker="s", mfc="none", color="tab:blue",
                    label="CEM-GD at measured rollouts/step")
            for a, b, m in zip(x, measured, mean, strict=True):
                ax.plot([a, b], [m, m], ls=":", color="tab:blue", lw=1)
        ax.set_xscale("log")
        ticks = sorted({float(v) for key in ("cem", "cem_gd") if panel.get(key)
                        for v in panel[key]["x"]})
        if ticks:
            ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
            ax.xaxis.set_minor_formatter(plt.NullFormatter())
        ax.set_title(panel["title"], fontsize=10)
        ax.set_xlabel("rollouts per planning step")
        ax.set_ylabel("best episode return of a run")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("best return vs rollouts per step: mean ± std over runs", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
