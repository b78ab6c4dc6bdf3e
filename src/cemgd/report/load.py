"""Reading run folders (``cemgd train`` / ``cemgd sweep``) for the report.

A run folder holds ``config.json`` and ``metrics.csv``; :func:`load_runs` reads every
one under a sweep folder and lists those it cannot use, with why.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cemgd.planners.spec import PlannerSpec
from cemgd.runs import METRICS_FILE, RunError, read_metrics
from cemgd.validate import check_int, check_seed


def planner_family(name: str, config: dict[str, Any] | None = None) -> str:
    """Registry name of a planner (``cem`` for ``cem-500``): the run's recorded
    ``planner_name``, else :attr:`PlannerSpec.family` of ``name``; ``""`` when unknown."""
    recorded = (config or {}).get("planner_name")
    if isinstance(recorded, str):
        return recorded
    try:
        return PlannerSpec.parse(name).family
    except ValueError:
        return ""


def mean_std(values: Iterable[float | None]) -> tuple[float, float, int]:
    """``(mean, sample std (ddof=1; 0 for one value), count)`` of the finite values."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], float)
    if x.size == 0:
        return math.nan, math.nan, 0
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if x.size > 1 else 0.0
    if std <= 1e-12 * max(1.0, abs(mean)):  # rounding noise of equal values
        std = 0.0
    return mean, std, int(x.size)


def nanmean(x: Iterable[float]) -> float:
    """Mean of the finite values (NaN if none)."""
    a = np.asarray(list(x), float)
    return float(np.mean(a[np.isfinite(a)])) if np.isfinite(a).any() else math.nan


def nanmax(x: Iterable[float]) -> float:
    """Maximum of the finite values (NaN if none)."""
    a = np.asarray(list(x), float)
    return float(np.max(a[np.isfinite(a)])) if np.isfinite(a).any() else math.nan


@dataclass
class RunData:
    """One run folder as read from disk."""

    folder: Path
    """Relative to the sweep folder."""
    task: str
    planner: str
    """The planner label: the folder name ``<task>/<planner>/seed-<k>``, else the config's."""
    seed: int
    trials: int
    config: dict[str, Any]
    rows: list[dict[str, float]]
    """metrics.csv, one dict per trial (NaN for an empty or missing value)."""

    @property
    def complete(self) -> bool:
        """All ``trials`` rows are there."""
        return len(self.rows) >= self.trials

    def column(self, name: str) -> np.ndarray:
        """``[trials]`` values of a metrics column."""
        return np.asarray([r.get(name, math.nan) for r in self.rows], float)

    @property
    def base_planner(self) -> str:
        """Registry name (``cem``, ``cem-gd``, ...) of the planner that ran."""
        return planner_family(str(self.config.get("planner", self.planner)), self.config)

    @property
    def nominal_rollouts(self) -> float:
        """Rollouts per step on the paper's axis: CEM's samples x iterations, CEM-GD's N_r."""
        pc = self.config.get("planner_config") or {}
        with contextlib.suppress(KeyError, TypeError, ValueError):
            if self.base_planner == "cem-gd":
                return float(pc["n_replan"])
            if "num_samples" in pc and "num_iterations" in pc:
                return float(pc["num_samples"]) * float(pc["num_iterations"])
        return nanmean(self.column("rollouts_per_step"))

    def steps_weighted(self, name: str) -> float:
        """Mean of a per-step column over the run, each trial weighted by its steps."""
        values, steps = self.column(name), self.column("episode_steps")
        ok = np.isfinite(values)
        if not ok.any():
            return math.nan
        w = np.where(np.isfinite(steps) & (steps > 0), steps, 1.0)[ok]
        return float(np.sum(values[ok] * w) / np.sum(w))

    def summary(self) -> dict[str, Any]:
        """One row of runs.csv."""
        returns = self.column("episode_return")
        first, mean, steps = (self.column(c) for c in
                              ("plan_ms_first", "plan_ms_mean", "episode_steps"))
        later = (mean * steps - first) / np.maximum(steps - 1, 1)
        return {
            "task": self.task, "planner": self.planner, "seed": self.seed,
            "folder": self.folder.as_posix(), "trials_done": len(self.rows),
            "trials": self.trials, "complete": self.complete,
            "final_return": float(returns[-1]), "best_return": float(np.nanmax(returns)),
            "mean_return": float(np.nanmean(returns)),
            "env_steps": float(self.column("env_steps")[-1]),
            "plan_s_mean": self.steps_weighted("plan_ms_mean") / 1e3,
            "plan_ms_first_mean": nanmean(first),
            "plan_ms_later_mean": nanmean(later),
            "rollouts_per_step": self.steps_weighted("rollouts_per_step"),
            "nominal_rollouts": self.nominal_rollouts,
            "plan_memory_mb": nanmax(self.column("plan_memory_mb")),
            "peak_rss_mb": nanmax(self.column("peak_rss_mb")),
            "final_val_mse": float(self.column("val_mse")[-1]),
            "train_s": float(np.nansum(self.column("train_s"))),
            "episode_s": float(np.nansum(self.column("episode_s"))),
        }


@dataclass
class Skipped:
    """A folder the report could not use, and why."""

    folder: str
    reason: str


def find_run_folders(root: Path) -> list[Path]:
    """Folders under ``root`` that hold a run: a ``config.json`` or ``metrics.csv``, or
    named ``seed-*`` (checkpoint folders excluded), sorted."""
    found: set[Path] = set()
    for pattern in ("config.json", "metrics.csv"):
        for p in root.rglob(pattern):
            if "checkpoints" not in p.relative_to(root).parts:
                found.add(p.parent)
    for p in root.rglob("seed-*"):
        if p.is_dir() and "checkpoints" not in p.relative_to(root).parts:
            found.add(p)
    return sorted(found)


def _text(name: str, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name}: expected a non-empty string, got {value!r}")


def _object(name: str, value: Any) -> None:
    if not isinstance(value, dict):
        raise ValueError(f"{name}: expected an object, got {value!r}")


def _count(low: int) -> Callable[[str, Any], None]:
    return lambda name, value: check_int(name, value, low)


#: Every ``config.json`` field the report reads (``train.epochs``: ``epochs`` in the
#: ``train`` object) and the check its value must pass; the first four must be there,
#: the others where a run recorded them (older runs lack some, or wrote ``members`` and
#: ``layers``). A run with a value that fails is skipped, never read.
CONFIG_FIELDS: dict[str, Callable[[str, Any], None]] = {
    "task": _text, "planner": _text, "seed": check_seed, "trials": _count(1),
    "planner_name": _text, "planner_config": _object, "train": _object,
    "train.epochs": _count(1), "episode_length": _count(0), "random_steps": _count(1),
    "horizon": _count(1), "num_particles": _count(1), "num_members": _count(1),
    "members": _count(1), "hidden": _count(1), "num_layers": _count(1), "layers": _count(1),
    "propagation": _text, "activation": _text,
}
REQUIRED_FIELDS = ("task", "planner", "seed", "trials")
_ABSENT = object()


def check_config_fields(config: dict[str, Any]) -> None:
    """Check each of :data:`CONFIG_FIELDS` that ``config`` records (the required ones
    must be there).

    Raises:
        ValueError: naming the field and what it expected (``horizon: expected an int
            >= 1, got 'x'``).
    """
    for name, check in CONFIG_FIELDS.items():
        where: Any = config
        for part in name.split("."):
            where = where.get(part, _ABSENT) if isinstance(where, dict) else _ABSENT
        if where is _ABSENT:
            if name in REQUIRED_FIELDS:
                raise ValueError(f"{name}: missing")
            continue
        check(name, where)


def read_config(folder: Path) -> dict[str, Any]:
    """``config.json`` of a run folder, checked for the fields the report reads
    (:data:`CONFIG_FIELDS`).

    Raises:
        ValueError: ``config.json missing`` or ``config.json corrupt (why)``, the why
            naming the field (``config.json corrupt (horizon: expected an int >= 1, got
            'x')``).
    """
    cfg_file = folder / "config.json"
    if not cfg_file.is_file():
        raise ValueError("config.json missing")
    try:
        config = json.loads(cfg_file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"config.json corrupt ({err})") from None
    if not isinstance(config, dict):
        raise ValueError("config.json corrupt (not an object)")
    try:
        check_config_fields(config)
    except ValueError as err:
        raise ValueError(f"config.json corrupt ({err})") from None
    return config


def read_metric_rows(folder: Path) -> list[dict[str, float]]:
    """``metrics.csv`` of a run folder (:func:`cemgd.runs.read_metrics`): one dict of
    floats per completed trial (a torn last line left out).

    Raises:
        ValueError: ``metrics.csv missing``, ``metrics.csv corrupt (why)`` or ``metrics.csv
            has no completed trial``.
    """
    file = folder / METRICS_FILE
    if not file.is_file():
        raise ValueError("metrics.csv missing")
    try:
        trials = read_metrics(folder)
    except RunError as err:
        why = str(err).removeprefix(f"{file}: ").removeprefix("corrupt ")
        raise ValueError(f"metrics.csv corrupt ({why.strip('()')})") from None
    if not trials:
        raise ValueError("metrics.csv has no completed trial")
    return [{k: float(v) for k, v in t.as_row().items()} for t in trials]


def read_run(root: Path, folder: Path) -> RunData:
    """Read one run folder.

    Raises:
        ValueError: naming the file and what is wrong with it.
    """
    rel = folder.relative_to(root)
    config = read_config(folder)
    rows = read_metric_rows(folder)
    parts = rel.parts
    label = parts[-2] if len(parts) >= 3 and parts[-1].startswith("seed-") else config["planner"]
    return RunData(rel, config["task"], label, config["seed"], config["trials"], config, rows)


def load_runs(root: str | os.PathLike[str], include_incomplete: bool = False,
              exclude: Collection[Path] = ()) -> tuple[list[RunData], list[Skipped]]:
    """Every run under ``root`` that can be used, and every folder that cannot (with why);
    folders in ``exclude`` (evaluations) are not runs.

    Raises:
        ValueError: ``root`` is not a folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"sweep_dir: {root} is not a folder")
    runs, skipped = [], []
    excluded = {Path(p).resolve() for p in exclude}
    for folder in find_run_folders(root):
        if folder.resolve() in excluded:
            continue
        rel = folder.relative_to(root).as_posix() or "."
        try:
            run = read_run(root, folder)
        except ValueError as err:
            skipped.append(Skipped(rel, str(err)))
            continue
        if not run.complete and not include_incomplete:
            skipped.append(Skipped(rel, f"incomplete: {len(run.rows)} of {run.trials} trials"))
            continue
        runs.append(run)
    return runs, skipped
