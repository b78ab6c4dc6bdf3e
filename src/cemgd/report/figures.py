"""The report's figures, drawn by :mod:`cemgd.plots` from the report's tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cemgd import plots
from cemgd.report.paper import TASK_ORDER
from cemgd.report.tables import order


def _curves(rows: Sequence[Mapping[str, Any]], task: str, y: str) -> dict[str, dict]:
    """Per planner on ``task``: ``x`` (env steps), ``mean``/``std`` of ``y``, ``runs``."""
    curves: dict[str, dict] = {}
    for planner in dict.fromkeys(r["planner"] for r in rows if r["task"] == task):
        pts = [r for r in rows if r["task"] == task and r["planner"] == planner]
        curves[planner] = {"x": [p["env_steps"] for p in pts],
                           "mean": [p[f"{y}_mean"] for p in pts],
                           "std": [p[f"{y}_std"] for p in pts],
                           "runs": [p["runs"] for p in pts]}
    return curves


def figure3(dest: Path, rows: Sequence[Mapping[str, Any]],
            floors: Mapping[str, Sequence[tuple[str, float]]] | None = None) -> list[Path]:
    """``figure3_returns.png`` (return per trial, with ``floors[task]`` as dashed lines)
    and ``model_quality.png`` (held-out MSE and training time per trial), one panel per
    task; the files written."""
    tasks = order({r["task"] for r in rows}, TASK_ORDER)
    if not tasks:
        return []
    panels = [{"title": t, "curves": _curves(rows, t, "return"),
               "floors": (floors or {}).get(t, ())} for t in tasks]
    plots.sweep_returns(dest / "figure3_returns.png", panels)
    model = [{"title": t, "mse": _curves(rows, t, "val_mse"),
              "train": _curves(rows, t, "train_s")} for t in tasks]
    plots.model_quality(dest / "model_quality.png", model)
    return [dest / "figure3_returns.png", dest / "model_quality.png"]


def figure4(dest: Path, rows: Sequence[Mapping[str, Any]]) -> list[Path]:
    """``figure4_sample_efficiency.png`` from the Figure 4 table (CEM and CEM-GD groups)."""
    panels = []
    for task in order({r["task"] for r in rows}, TASK_ORDER):
        mine = [r for r in rows if r["task"] == task]
        panel: dict[str, Any] = {"title": task}
        cem = [r for r in mine if r["base"] == "cem"]
        gd = [r for r in mine if r["base"] == "cem-gd"]
        if cem:
            panel["cem"] = {"x": [r["nominal_rollouts"] for r in cem],
                            "mean": [r["best_return_mean"] for r in cem],
                            "std": [r["best_return_std"] for r in cem]}
        if gd:
            panel["cem_gd"] = {"x": [r["nominal_rollouts"] for r in gd],
                               "measured": [r["measured_rollouts"] for r in gd],
                               "mean": [r["best_return_mean"] for r in gd],
                               "std": [r["best_return_std"] for r in gd]}
        if cem or gd:
            panels.append(panel)
    if not panels:
        return []
    path = dest / "figure4_sample_efficiency.png"
    plots.sample_efficiency(path, panels)
    return [path]
