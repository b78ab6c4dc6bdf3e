"""The report's tables from runs grouped by task and planner (one dict per row)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cemgd.report.load import RunData, mean_std
from cemgd.report.paper import PAPER_TABLE1_S, PAPER_TABLE2_MB, PLANNER_ORDER, TASK_ORDER

Groups = Mapping[tuple[str, str], list[RunData]]


def order(values: Iterable[str], preferred: Sequence[str]) -> list[str]:
    """``values`` with those in ``preferred`` first (in its order), the rest sorted."""
    values = set(values)
    return [v for v in preferred if v in values] + sorted(values - set(preferred))


def group_runs(runs: Sequence[RunData]) -> dict[tuple[str, str], list[RunData]]:
    """Runs per ``(task, planner label)``, tasks and planners in the paper's order."""
    groups: dict[tuple[str, str], list[RunData]] = {}
    for task in order((r.task for r in runs), TASK_ORDER):
        for planner in order((r.planner for r in runs if r.task == task), PLANNER_ORDER):
            groups[(task, planner)] = sorted(
                (r for r in runs if r.task == task and r.planner == planner),
                key=lambda r: r.seed)
    return groups


def group_warnings(groups: Groups) -> list[str]:
    """Groups whose runs differ in a setting other than the seed (so they do not mix)."""
    notes = []
    for (task, planner), runs in groups.items():
        ref = {k: v for k, v in runs[0].config.items() if k != "seed"}
        diff = sorted({k for r in runs[1:] for k, v in r.config.items()
                       if k != "seed" and ref.get(k) != v}
                      | {k for r in runs[1:] for k in ref if k not in r.config})
        if diff:
            notes.append(f"{task} / {planner}: runs differ in {', '.join(diff)}")
        seeds = [r.seed for r in runs]
        if len(set(seeds)) != len(seeds):
            notes.append(f"{task} / {planner}: seed repeated ({seeds})")
    return notes


@dataclass(frozen=True)
class Stat:
    """One statistic of a per-group table: the mean (and std) over runs of a summary column."""

    name: str
    """Output column of the mean."""
    column: str
    """Column of :meth:`RunData.summary` it is taken from."""
    scale: float = 1.0
    """The mean and std are divided by it (``1e3``: ms to s)."""
    std: str | None = None
    """Output column of the std (None: no std column)."""


def per_group(groups: Groups, stats: Sequence[Stat], paper: str,
              published: Mapping[str, Mapping[str, float]]) -> list[dict[str, Any]]:
    """One row per group: ``task``, ``planner``, ``runs`` (the first stat's count), each
    stat's mean (and std), and the paper's value in column ``paper`` (NaN if none)."""
    rows = []
    for (task, planner), runs in groups.items():
        summaries = [r.summary() for r in runs]
        row: dict[str, Any] = {"task": task, "planner": planner}
        for i, stat in enumerate(stats):
            mean, std, n = mean_std(x[stat.column] for x in summaries)
            if i == 0:
                row["runs"] = n
            row[stat.name] = mean / stat.scale
            if stat.std is not None:
                row[stat.std] = std / stat.scale
        row[paper] = published.get(planner, {}).get(task, math.nan)
        rows.append(row)
    return rows


def table1(groups: Groups) -> list[dict[str, Any]]:
    """Planning time per step (s): mean ± std over runs of each run's mean step time."""
    return per_group(groups, (Stat("plan_s_mean", "plan_s_mean", std="plan_s_std"),
                              Stat("first_step_s", "plan_ms_first_mean", 1e3),
                              Stat("later_steps_s", "plan_ms_later_mean", 1e3)),
                     "paper_s", PAPER_TABLE1_S)


def table2(groups: Groups) -> list[dict[str, Any]]:
    """Memory (MB): the compiled planning step's and the process's peak RSS, per run."""
    return per_group(groups, (Stat("plan_memory_mb", "plan_memory_mb", std="plan_memory_mb_std"),
                              Stat("peak_rss_mb", "peak_rss_mb", std="peak_rss_mb_std")),
                     "paper_mb", PAPER_TABLE2_MB)


def figure3_data(groups: Groups) -> list[dict[str, Any]]:
    """Per group and trial: return, the model's held-out MSE and its training time,
    each mean ± std over runs (``runs``: how many runs reached that trial)."""
    rows = []
    for (task, planner), runs in groups.items():
        for t in range(max(len(r.rows) for r in runs)):
            have = [r.rows[t] for r in runs if len(r.rows) > t]
            mean, std, n = mean_std(row["episode_return"] for row in have)
            steps, _, _ = mean_std(row["env_steps"] for row in have)
            mse, mse_std, _ = mean_std(row.get("val_mse", math.nan) for row in have)
            train, train_std, _ = mean_std(row.get("train_s", math.nan) for row in have)
            rows.append({"task": task, "planner": planner, "trial": t, "env_steps": steps,
                         "return_mean": mean, "return_std": std, "runs": n,
                         "val_mse_mean": mse, "val_mse_std": mse_std,
                         "train_s_mean": train, "train_s_std": train_std})
    return rows


FIGURE3_COLUMNS = ["task", "planner", "trial", "env_steps", "return_mean", "return_std", "runs",
                   "val_mse_mean", "val_mse_std", "train_s_mean", "train_s_std"]


def figure4_data(groups: Groups) -> list[dict[str, Any]]:
    """Rows per CEM / CEM-GD group: nominal and measured rollouts/step, best return."""
    rows = []
    for (task, planner), runs in groups.items():
        base = runs[0].base_planner
        if base not in ("cem", "cem-gd"):
            continue
        s = [r.summary() for r in runs]
        mean, std, n = mean_std(x["best_return"] for x in s)
        nominal, _, _ = mean_std(x["nominal_rollouts"] for x in s)
        measured, _, _ = mean_std(x["rollouts_per_step"] for x in s)
        rows.append({"task": task, "planner": planner, "base": base, "runs": n,
                     "nominal_rollouts": nominal, "measured_rollouts": measured,
                     "best_return_mean": mean, "best_return_std": std})
    return rows


def returns_table(groups: Groups) -> list[dict[str, Any]]:
    """Final and best return per group, mean ± std over runs."""
    rows = []
    for (task, planner), runs in groups.items():
        s = [r.summary() for r in runs]
        final, final_std, n = mean_std(x["final_return"] for x in s)
        best, best_std, _ = mean_std(x["best_return"] for x in s)
        rows.append({"task": task, "planner": planner, "runs": n, "final_return": final,
                     "final_return_std": final_std, "best_return": best,
                     "best_return_std": best_std})
    return rows


TABLE1_COLUMNS = ["task", "planner", "runs", "plan_s_mean", "plan_s_std", "first_step_s",
                  "later_steps_s", "paper_s"]
TABLE2_COLUMNS = ["task", "planner", "runs", "plan_memory_mb", "plan_memory_mb_std",
                  "peak_rss_mb", "peak_rss_mb_std", "paper_mb"]
FIGURE4_COLUMNS = ["task", "planner", "base", "runs", "nominal_rollouts", "measured_rollouts",
                   "best_return_mean", "best_return_std"]
