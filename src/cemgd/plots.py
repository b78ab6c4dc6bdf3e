"""Figures of the studies, the report and ``cemgd evaluate`` (matplotlib, Agg, PNG).

One colour per planner across every figure: :func:`planner_colour` is the single
mapping (the paper's planners fixed, any other label a stable colour derived from its
text), and every figure draws planners through it. Legends sit outside the axes, every
axis is labelled, and every curve that has a standard deviation gets a band or error bars.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

#: Colours of the paper's planners (the grey GD line as in its Figure 4).
PLANNER_COLOURS: dict[str, str] = {
    "cem-50": "#ff7f0e", "cem-500": "#2ca02c", "cem-5000": "#d62728", "gd": "#7f7f7f",
    "cem-gd": "#1f77b4", "cem": "#8c564b", "mppi": "#9467bd", "icem": "#e377c2",
    "gradcem": "#17becf", "random-shooting": "#bcbd22", "cem-gd-robust": "#393b79",
}
#: Colours for every other label, picked by a hash of the label (never one above).
_OTHER = ("#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354",
          "#756bb1", "#636363", "#b5cf6b", "#e7ba52", "#ad494a")


def planner_colour(label: str) -> str:
    """The colour of planner ``label`` in every figure (``cem-gd n=3`` -> ``cem-gd``'s).

    A label is matched on its first word; the paper's planners have fixed colours and
    any other label gets a stable colour from a hash of its text.
    """
    key = label.split(" ", 1)[0]
    if key in PLANNER_COLOURS:
        return PLANNER_COLOURS[key]
    return _OTHER[zlib.crc32(key.encode()) % len(_OTHER)]


def _save(fig: Any, path: str | os.PathLike[str]) -> None:
    """Write ``fig`` (legends outside the axes included) and close it."""
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def _log_ticks(ax: Any, values: Sequence[float], spacing: float = 1.5) -> None:
    """Label a log x axis in plain numbers (``50``, ``1000``) at every power of ten in
    view, so no stretch of it goes unlabelled, and at each of ``values`` (the data's own
    x) at least ``spacing`` times away from every label already there (no overlaps)."""
    lo, hi = ax.get_xlim()
    ticks = [10.0 ** k for k in range(int(np.floor(np.log10(lo))),
                                      int(np.ceil(np.log10(hi))) + 1) if lo <= 10.0 ** k <= hi]
    for v in sorted({float(v) for v in values if v > 0}):
        if all(max(v / t, t / v) >= spacing for t in ticks):
            ticks.append(v)
    if ticks:
        ax.set_xticks(sorted(ticks), [f"{t:g}" for t in sorted(ticks)])
        ax.xaxis.set_minor_formatter(plt.NullFormatter())


def _legend_outside(ax: Any, **kwargs: Any) -> None:
    """The axis' legend to the right of its data (nothing when no artist is labelled)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7, borderaxespad=0,
                  **kwargs)


def barrier_fraction(path: str | os.PathLike[str], curves: Sequence[Mapping[str, Any]],
                     n_replan: int) -> None:
    """Figure 2(c): fraction of trials passing below the barrier versus N_init.

    One line per planner, ``{"label", "n_init": [K], "fraction": [K], "low": [K],
    "high": [K] (95% interval), "trials": [K]}``; lines are nudged apart along the
    (log) x axis so their error bars do not hide each other.
    """
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for i, c in enumerate(curves):
        frac = np.asarray(c["fraction"], float)
        err = np.stack([frac - np.asarray(c["low"]), np.asarray(c["high"]) - frac])
        nudge = 1.06 ** (i - (len(curves) - 1) / 2)
        ax.errorbar(np.asarray(c["n_init"], float) * nudge, frac, yerr=err,
                    marker="osD^v"[i % 5], capsize=3, color=planner_colour(c["label"]),
                    label=c["label"])
    ax.set_xscale("log")
    _log_ticks(ax, [n for c in curves for n in c["n_init"]])
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("N_init (rollouts at t = 0)")
    ax.set_ylabel("fraction passing below")
    trials = [t for c in curves for t in c["trials"]]
    count = f"{min(trials)}" if min(trials) == max(trials) else f"{min(trials)}-{max(trials)}"
    ax.set_title(f"N_r = {n_replan}, {count} trials per point, 95% Wilson interval",
                 fontsize=9)
    ax.grid(alpha=0.3)
    _legend_outside(ax, title="planner", title_fontsize=7)
    _save(fig, path)


def barrier_trajectories(
    path: str | os.PathLike[str], panels: Sequence[dict], centre: np.ndarray, radius: float,
    start: Sequence[float], goal: Sequence[float],
) -> None:
    """Figure 2(a, b): the first CEM pick (red) and its gradient refinement (blue).

    Each panel is ``{"title", "cem": [T+1, 2], "refined": [T+1, 2], "executed": [N+1, 2]}``.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(4.8 * len(panels), 3.8), squeeze=False,
                             sharey=True, layout="constrained")
    for k, (ax, panel) in enumerate(zip(axes[0], panels, strict=True)):
        ax.add_patch(plt.Circle(tuple(centre), radius, color="0.8", zorder=0))
        ax.plot(*np.asarray(panel["cem"]).T, color=planner_colour("cem-5000"),
                label="CEM initialisation")
        ax.plot(*np.asarray(panel["refined"]).T, color=planner_colour("cem-gd"),
                label="after gradient ascent")
        if "executed" in panel:
            ax.plot(*np.asarray(panel["executed"]).T, color="k", ls=":", lw=1, label="executed")
        ax.plot(*start, "ko")
        ax.plot(*goal, "g*", ms=12)
        ax.set_title(panel["title"], fontsize=9)
        ax.set_xlabel("x")
        if k == 0:  # shared y axis: one label, clear of the next panel
            ax.set_ylabel("y")
        ax.set_aspect("equal")
        ax.grid(alpha=0.3)
    _legend_outside(axes[0][-1])
    _save(fig, path)


def scaling(
    path: str | os.PathLike[str], dims: Sequence[int], curves: dict[str, Sequence[float]],
    times: dict[str, Sequence[float]], ylabel: str, optimum: float | None = None,
) -> None:
    """Return (left) and time per step (right) of each planner versus action dimension;
    ``optimum`` draws the local-optimum reference line on the left."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for label, values in curves.items():
        ax1.plot(dims, values, marker="o", label=label, color=planner_colour(label))
    for label, values in times.items():
        ax2.plot(dims, values, marker="o", label=label, color=planner_colour(label))
    if optimum is not None:
        ax1.axhline(optimum, color="k", ls="--", lw=1, label="local optimum")
    for ax in (ax1, ax2):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("action dimension d")
        ax.grid(alpha=0.3)
    ax1.set_ylabel(ylabel)
    ax2.set_ylabel("time per plan step (ms)")
    ax2.set_yscale("log")
    handles, labels = ax2.get_legend_handles_labels()
    for h, label in zip(*ax1.get_legend_handles_labels(), strict=True):
        if label not in labels:  # the optimum line lives on the left axes
            handles.append(h)
            labels.append(label)
    if handles:
        ax2.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7,
                   borderaxespad=0)
    _save(fig, path)


def _panel_grid(n: int, width: float = 4.6, height: float = 3.5) -> tuple[Any, list]:
    cols = min(n, 2)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _n_text(runs: Sequence[int]) -> str:
    r = np.asarray(runs)
    return f"{r.min()}" if r.min() == r.max() else f"{r.min()}-{r.max()}"


def _band(ax: Any, label: str, c: Mapping[str, Sequence[float]], text: str) -> None:
    """A curve ``mean`` over ``x`` with a ±``std`` band, in the planner's colour."""
    colour = planner_colour(label)
    x, mean, std = (np.asarray(c[k], float) for k in ("x", "mean", "std"))
    ax.plot(x, mean, marker="o", ms=3, color=colour, label=text)
    ax.fill_between(x, mean - std, mean + std, color=colour, alpha=0.15)


def _floors(ax: Any, floors: Sequence[tuple[str, float]]) -> None:
    """Dashed horizontal lines (e.g. a uniform-random policy's mean return), labelled."""
    for i, (label, value) in enumerate(floors):
        ax.axhline(value, ls=(0, (4, 2 + i)), lw=1.2, color="0.35", label=label)


def sweep_returns(path: str | os.PathLike[str], panels: Sequence[dict]) -> None:
    """Figure 3: per task, mean and standard deviation of the episode return versus
    environment steps, one curve per planner.

    Each panel is ``{"title": str, "curves": {label: {"x": [n], "mean": [n], "std": [n],
    "runs": [n]}}}`` (``runs``: how many runs each point averages), optionally with
    ``"floors": [(label, return)]`` drawn as dashed lines (the uniform-random policy).
    """
    fig, axes = _panel_grid(max(len(panels), 1))
    for ax, panel in zip(axes, panels, strict=False):
        for label, c in panel["curves"].items():
            _band(ax, label, c, f"{label} (n={_n_text(c['runs'])})")
        _floors(ax, panel.get("floors", ()))
        ax.set_title(panel["title"], fontsize=10)
        ax.set_xlabel("environment steps")
        ax.set_ylabel("episode return")
        ax.grid(alpha=0.3)
        _legend_outside(ax)
    fig.suptitle("episode return: mean ± std over runs", fontsize=10)
    fig.tight_layout()
    _save(fig, path)


def model_quality(path: str | os.PathLike[str], panels: Sequence[dict]) -> None:
    """Per task: the model's held-out MSE (left, log scale) and its training time
    (right) per trial, mean ± std over runs, one curve per planner.

    Each panel is ``{"title": str, "mse": curves, "train": curves}`` with curves as in
    :func:`sweep_returns`.
    """
    fig, axes = plt.subplots(max(len(panels), 1), 2, figsize=(9.5, 3.2 * max(len(panels), 1)),
                             squeeze=False)
    for (ax1, ax2), panel in zip(axes, panels, strict=False):
        for label, c in panel["mse"].items():
            _band(ax1, label, c, label)
        for label, c in panel["train"].items():
            _band(ax2, label, c, label)
        values = [v for c in panel["mse"].values() for v in c["mean"]]
        if values and np.all(np.asarray(values, float) > 0):
            ax1.set_yscale("log")
            plain = FuncFormatter(lambda v, _: f"{v:g}")  # 0.2, not 2x10^-1
            ax1.yaxis.set_major_formatter(plain)
            if max(values) < 10 * min(values):  # within a decade: label the minor ticks too
                ax1.yaxis.set_minor_formatter(plain)
        ax1.set_ylabel("held-out MSE (val_mse)")
        ax2.set_ylabel("model training time (s)")
        for ax in (ax1, ax2):
            ax.set_xlabel("environment steps")
            ax.set_title(panel["title"], fontsize=10)
            ax.grid(alpha=0.3)
        _legend_outside(ax2)
    fig.tight_layout()
    _save(fig, path)


def _cem_gd_points(ax: Any, gd: Mapping[str, Sequence[float]]) -> None:
    colour = planner_colour("cem-gd")
    x, measured, mean, std = (np.asarray(gd[k], float) for k in ("x", "measured", "mean", "std"))
    order = np.argsort(x)
    ax.errorbar(x[order], mean[order], yerr=std[order], marker="s", capsize=3, color=colour,
                label="cem-gd at N_r")
    ax.plot(measured, mean, ls="none", marker="s", mfc="none", color=colour,
            label="cem-gd at measured rollouts/step")
    for a, b, m in zip(x, measured, mean, strict=True):
        ax.plot([a, b], [m, m], ls=":", color=colour, lw=1)


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
            ax.errorbar(x, mean, yerr=std, capsize=3, color=planner_colour("cem"),
                        label="cem (N = samples x iterations)")
            for xi, mi in zip(x, mean, strict=True):
                # a paper preset in its own colour and legend entry; any other N is the line's
                name = f"cem-{xi:g}"
                known = name in PLANNER_COLOURS
                ax.plot([xi], [mi], "o", ms=7, zorder=3,
                        color=planner_colour(name if known else "cem"),
                        label=name if known else None)
        gd = panel.get("cem_gd")
        if gd and len(gd["x"]):
            _cem_gd_points(ax, gd)
        ax.set_xscale("log")
        _log_ticks(ax, [v for key in ("cem", "cem_gd") if panel.get(key)
                        for v in panel[key]["x"]], spacing=3.0)
        ax.set_title(panel["title"], fontsize=10)
        ax.set_xlabel("rollouts per planning step")
        ax.set_ylabel("best episode return of a run")
        ax.grid(alpha=0.3)
        _legend_outside(ax)
    fig.suptitle("best return vs rollouts per step: mean ± std over runs", fontsize=10)
    fig.tight_layout()
    _save(fig, path)


def returns_per_planner(path: str | os.PathLike[str], title: str,
                        returns: Mapping[str, Sequence[float]],
                        floors: Sequence[tuple[str, float]] = ()) -> None:
    """``cemgd evaluate``: each planner's episode returns (dots) with mean ± std (bar),
    and ``floors`` (``[(label, return)]``) as dashed lines."""
    labels = list(returns)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.8 * len(labels) + 2), 3.6))
    for i, label in enumerate(labels):
        y = np.asarray(returns[label], float)
        colour = planner_colour(label)
        jitter = (np.arange(y.size) - (y.size - 1) / 2) * (0.3 / max(y.size, 1))
        ax.plot(i + jitter, y, "o", ms=3, alpha=0.5, color=colour)
        std = float(y.std(ddof=1)) if y.size > 1 else 0.0
        ax.errorbar([i], [y.mean()], yerr=[std], marker="_", ms=14, capsize=5, color=colour,
                    label=f"{label} (n={y.size})")
    _floors(ax, floors)
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
    ax.set_xlabel("planner")
    ax.set_ylabel("episode return")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    _legend_outside(ax)
    _save(fig, path)


def return_vs_rollouts(path: str | os.PathLike[str], title: str,
                       points: Mapping[str, Mapping[str, float]],
                       floors: Sequence[tuple[str, float]] = ()) -> None:
    """``cemgd evaluate``: mean episode return (± std) against measured rollouts per step.

    ``points``: ``{label: {"rollouts": r, "mean": m, "std": s}}``; ``floors``:
    ``[(label, return)]`` drawn as dashed lines.
    """
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    for label, p in points.items():
        ax.errorbar([p["rollouts"]], [p["mean"]], yerr=[p["std"]], marker="o", capsize=3,
                    color=planner_colour(label), label=label)
    _floors(ax, floors)
    ax.set_xscale("log")
    ax.set_xlabel("rollouts per planning step (measured)")
    ax.set_ylabel("episode return (mean ± std)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    _legend_outside(ax)
    _save(fig, path)


def predicted_vs_realised(path: str | os.PathLike[str], title: str,
                          points: Mapping[str, tuple[Sequence[float], Sequence[float]]]
                          ) -> None:
    """``cemgd evaluate``: the model's predicted return of each executed plan (x) against
    the real return over the same steps (y), one colour per planner, with its mean as a
    large marker; on the dashed diagonal the model was right, below it over-optimistic.

    ``points``: ``{label: (predicted [m], realised [m])}``.
    """
    fig, ax = plt.subplots(figsize=(5.2, 4.2))
    every = []
    many = sum(len(pred) for pred, _ in points.values()) > 2000
    for label, (pred, real) in points.items():
        x, y = np.asarray(pred, float), np.asarray(real, float)
        colour = planner_colour(label)
        ax.plot(x, y, ".", ms=2 if many else 5, alpha=0.25 if many else 0.5, color=colour)
        ax.plot([x.mean()], [y.mean()], "o", ms=8, mec="black", color=colour,
                label=f"{label} (mean of {x.size} steps)")
        every += [x, y]
    lo, hi = float(np.min(np.concatenate(every))), float(np.max(np.concatenate(every)))
    ax.plot([lo, hi], [lo, hi], "--", color="black", lw=0.8,
            label="predicted = realised\n(below: the model over-promised)")
    ax.set_xlabel("predicted return of the plan (model, H steps)")
    ax.set_ylabel("realised return of the next H steps (environment)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    _legend_outside(ax)
    _save(fig, path)
