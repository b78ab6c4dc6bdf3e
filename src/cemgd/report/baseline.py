"""The uniform-random policy in a report (``cemgd report --random-episodes N``): measured
for every (task, episode length) the report's runs and evaluations use, drawn as a dashed
line on their figures and tabled in ``## Uniform-random policy``. A cell that cannot be
measured here (a simulator not installed, a task that cannot be imported, a length that
is not a number) is listed with its reason, never fatal. A task given by code
(``module:factory``) is imported only when ``cemgd report --task`` names it; otherwise the
report is refused (:func:`cemgd.tasks.check_code_named`): a folder never runs code."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cemgd.experiments.baseline import random_baseline, resolve_length
from cemgd.report.evaluations import Evaluation
from cemgd.report.load import RunData
from cemgd.report.text import g, md_table
from cemgd.tasks import check_code_named
from cemgd.validate import check_int

Floors = list[tuple[str, float]]
#: ``(task, episode_length as recorded)``; the length may be 0 (the task's) or not a number.
Cell = tuple[str, Any]


def run_cells(runs: Sequence[RunData]) -> list[Cell]:
    """``(task, episode_length)`` of each run as its config recorded it."""
    return [(r.task, r.config.get("episode_length", 0)) for r in runs]


def evaluation_cells(evaluations: Sequence[Evaluation]) -> list[Cell]:
    """``(task, episode_length)`` of each evaluation as ``evaluate.json`` recorded it."""
    return [(ev.task, (ev.description.get("config") or {}).get("episode_length", 0))
            for ev in evaluations]


def _cell_key(cell: Cell) -> Cell:
    """A hashable form of a cell (a length recorded as a list or a dict becomes its repr)."""
    task, length = cell
    return (str(task), length if isinstance(length, int | str | float) else repr(length))


@dataclass
class Baselines:
    """What ``--random-episodes`` measured."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    """``cemgd.experiments.baseline.BASELINE_COLUMNS`` rows, one per resolved cell."""
    skipped: list[str] = field(default_factory=list)
    """``"task, length: reason"`` of each cell not measured."""
    lengths: dict[Cell, int] = field(default_factory=dict)
    """Each recorded cell's resolved episode length."""

    def floor(self, cell: Cell) -> float | None:
        """The uniform-random mean return of ``cell`` (None: not measured)."""
        key = _cell_key(cell)
        length = self.lengths.get(key)
        return next((float(b["mean"]) for b in self.rows
                     if (b["task"], b["episode_length"]) == (key[0], length)), None)

    def task_floors(self, cells: Sequence[Cell]) -> dict[str, float]:
        """``{task: uniform-random mean return}`` of ``cells`` (the first cell of a task)."""
        out: dict[str, float] = {}
        for cell in cells:
            value = self.floor(cell)
            if value is not None:
                out.setdefault(str(cell[0]), value)
        return out

    def floors(self, cells: Sequence[Cell]) -> Floors:
        """Dashed-line entries ``[(label, mean return)]`` of the baselines of ``cells``."""
        keys = [_cell_key(c) for c in cells]
        wanted = {(k[0], self.lengths[k]) for k in keys if k in self.lengths}
        return [(f"uniform random, {b['episode_length']} steps (n={b['episodes']})", b["mean"])
                for b in self.rows if (b["task"], b["episode_length"]) in wanted]


def measure(runs: Sequence[RunData], evaluations: Sequence[Evaluation],
            episodes: int) -> Baselines:
    """Measure every cell the runs and evaluations use (none when ``episodes`` is 0).

    Raises:
        ValueError: ``episodes`` is not an integer >= 0 (named ``random_episodes``);
            :class:`~cemgd.tasks.CodeNotNamed` for a task given by code that the command
            line did not name (checked for every cell before any is measured).
    """
    check_int("random_episodes", episodes, 0)
    out = Baselines()
    if episodes == 0:
        return out
    cells = dict.fromkeys(map(_cell_key, run_cells(runs) + evaluation_cells(evaluations)))
    for task, _ in cells:
        check_code_named(task, "a run or evaluation in the report")
    for task, length in cells:
        try:
            if isinstance(length, bool) or not isinstance(length, int):
                raise ValueError(f"episode_length {length!r} is not an integer")
            resolved = resolve_length(task, length)
            if (task, resolved) not in {(k[0], n) for k, n in out.lengths.items()}:
                out.rows.append(random_baseline(task, resolved, episodes))
            out.lengths[(task, length)] = resolved
        except ValueError as exc:
            out.skipped.append(f"{task}, {length} steps: {exc}")
    return out


def baseline_lines(baselines: Baselines) -> list[str]:
    """``## Uniform-random policy``: the floor every curve and planner is read against."""
    if not (baselines.rows or baselines.skipped):
        return []
    lines = ["## Uniform-random policy", "",
             "Actions drawn uniformly in the action box, episode k with seed k (the "
             "environment seeded alike); mean ± std (population) over the episodes. The "
             "figures draw each mean as a dashed line.", ""]
    if baselines.rows:
        lines += md_table(["task", "steps", "episodes", "return", "min", "max"],
                          [[b["task"], str(b["episode_length"]), str(b["episodes"]),
                            f"{g(b['mean'])} ± {g(b['std'])}", g(b["min"]), g(b["max"])]
                           for b in baselines.rows]) + [""]
    if baselines.skipped:
        lines += ["Not measured here:", ""] + [f"- {s}" for s in baselines.skipped] + [""]
    return lines
