"""The uniform-random policy in a report (``cemgd report --random-episodes N``): measured
for every (task, episode length) the report's runs and evaluations use, drawn as a dashed
line on their figures and tabled in ``## Uniform-random policy``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cemgd.experiments.baseline import random_baselines
from cemgd.report.evaluations import Evaluation
from cemgd.report.load import RunData
from cemgd.report.text import g, md_table

Floors = list[tuple[str, float]]


def _length(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def run_cells(runs: Sequence[RunData]) -> list[tuple[str, int]]:
    """``(task, episode_length)`` of each run (0: the task's)."""
    return [(r.task, _length(r.config.get("episode_length"))) for r in runs]


def evaluation_cells(evaluations: Sequence[Evaluation]) -> list[tuple[str, int]]:
    """``(task, episode_length)`` of each evaluation."""
    return [(ev.task, _length((ev.description.get("config") or {}).get("episode_length")))
            for ev in evaluations]


def measure(runs: Sequence[RunData], evaluations: Sequence[Evaluation],
            episodes: int) -> list[dict[str, Any]]:
    """Baseline rows (``cemgd.experiments.baseline.BASELINE_COLUMNS``) of every cell the
    runs and evaluations use; none when ``episodes`` is 0.

    Raises:
        ValueError: ``episodes`` is not an integer >= 0, or a task cannot be built here.
    """
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 0:
        raise ValueError(f"random_episodes: expected an integer >= 0, got {episodes!r}")
    if episodes == 0:
        return []
    return random_baselines(run_cells(runs) + evaluation_cells(evaluations), episodes)


def floors(baselines: Sequence[Mapping[str, Any]], task: str,
           lengths: Sequence[int] | None = None) -> Floors:
    """Dashed-line entries ``[(label, mean return)]`` of ``task``'s baselines (only
    ``lengths`` where given; a length 0 there matches any)."""
    wanted = None if lengths is None or 0 in lengths else set(lengths)
    return [(f"uniform random, {b['episode_length']} steps (n={b['episodes']})", b["mean"])
            for b in baselines if b["task"] == task
            and (wanted is None or b["episode_length"] in wanted)]


def baseline_lines(baselines: Sequence[Mapping[str, Any]]) -> list[str]:
    """``## Uniform-random policy``: the floor every curve and planner is read against."""
    if not baselines:
        return []
    lines = ["## Uniform-random policy", "",
             "Actions drawn uniformly in the action box, episode k with seed k (the "
             "environment seeded alike); mean ± std (population) over the episodes. The "
             "figures draw each mean as a dashed line.", ""]
    lines += md_table(["task", "steps", "episodes", "return", "min", "max"],
                      [[b["task"], str(b["episode_length"]), str(b["episodes"]),
                        f"{g(b['mean'])} ± {g(b['std'])}", g(b["min"]), g(b["max"])]
                       for b in baselines])
    return lines + [""]
