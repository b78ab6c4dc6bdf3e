"""One row per trial: :class:`TrialMetrics`, the columns of ``metrics.csv``, and its reader.

Every reader of ``metrics.csv`` (resume, sweep, report) goes through
:func:`read_metrics`, and the PETS loop writes it with :func:`metrics_csv_text`.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cemgd.runs.errors import RunError

METRICS_FILE = "metrics.csv"


@dataclass(frozen=True)
class TrialMetrics:
    """What one PETS trial measured (one row of ``metrics.csv``)."""

    trial: int
    """0-based trial index."""
    episode_return: float
    """Sum of the real environment's rewards over the episode."""
    episode_steps: int
    """Steps of the episode."""
    env_steps: int
    """Real environment steps so far, random data included."""
    train_loss: float
    """Mean minibatch NLL of the last training epoch."""
    val_mse: float
    """Held-out MSE of the member means (the restored best)."""
    train_epochs: int
    """Epochs run this trial."""
    train_s: float
    """Wall time of this trial's model training (compiles included)."""
    plan_ms_mean: float
    """Mean wall time of one planning step (compile excluded)."""
    plan_ms_max: float
    """Slowest planning step."""
    plan_ms_first: float
    """The episode's first step (CEM-GD's N_init step)."""
    rollouts_per_step: float
    """Mean sequences evaluated per step (``PlanInfo.num_rollouts``)."""
    grad_steps_per_step: float
    """Mean accepted gradient steps per planning step."""
    fallback_steps: int
    """Steps where the planner fell back to its warm start."""
    plan_memory_mb: float
    """Compiled planning step: arguments + outputs + temporaries."""
    peak_rss_mb: float
    """Peak resident memory of the process so far."""
    compile_s: float
    """Compile time of the planning step in this process."""
    episode_s: float
    """Wall time of the episode (planning and simulation)."""

    def __getitem__(self, name: str) -> Any:
        """Column access, as on a ``metrics.csv`` row: ``row["episode_return"]``."""
        if name not in METRIC_COLUMNS:
            raise KeyError(name)
        return getattr(self, name)

    def as_row(self) -> dict[str, Any]:
        """``{column: value}`` in :data:`METRIC_COLUMNS` order."""
        return dataclasses.asdict(self)

    @classmethod
    def from_row(cls, row: Mapping[str, Any], where: str = "row") -> TrialMetrics:
        """Build from a mapping of column to value (numbers or their text).

        Int columns and ``episode_return`` are required; a missing or empty float column
        reads as NaN.

        Raises:
            RunError: starting with ``where``, naming the column that is missing or wrong.
        """
        if not isinstance(row, Mapping):
            raise RunError(f"{where}: expected a mapping of metric columns, got {row!r}")
        values: dict[str, Any] = {}
        for name in METRIC_COLUMNS:
            values[name] = _typed(row.get(name), _INT_COLUMNS.get(name, float), name, where)
        if values["trial"] < 0 or not math.isfinite(values["episode_return"]):
            raise RunError(f"{where}: trial must be >= 0 and episode_return finite")
        return cls(**values)


#: Columns of ``metrics.csv``, one row per trial, in file order.
METRIC_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(TrialMetrics))
_INT_COLUMNS = {f.name: int for f in dataclasses.fields(TrialMetrics) if f.type in (int, "int")}
_REQUIRED = frozenset(_INT_COLUMNS) | {"episode_return"}


def _typed(value: Any, kind: type, name: str, where: str) -> Any:
    if value is None or value == "":
        if name in _REQUIRED:
            raise RunError(f"{where}: {name} missing")
        return math.nan
    if isinstance(value, bool):
        raise RunError(f"{where}: {name} = {value!r} is not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RunError(f"{where}: {name} = {value!r} is not a number") from None
    if kind is int:
        if not number.is_integer():
            raise RunError(f"{where}: {name} = {value!r} is not an integer")
        return int(number)
    return number


def _fmt(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def metrics_csv_text(rows: Iterable[TrialMetrics]) -> str:
    """The text of ``metrics.csv`` holding ``rows`` (header first; floats by ``repr``)."""
    lines = [",".join(METRIC_COLUMNS)]
    lines += [",".join(_fmt(getattr(row, c)) for c in METRIC_COLUMNS) for row in rows]
    return "\n".join(lines) + "\n"


def read_metrics(run_dir: str | os.PathLike[str]) -> list[TrialMetrics]:
    """The trials in ``run_dir/metrics.csv`` (empty if the file does not exist).

    A last line without its newline (a write torn by power loss or a full disk) is
    left out. Rows must be trials ``0, 1, 2, ...`` in order.

    Raises:
        RunError: naming the file, if it is not UTF-8, lacks a column, or holds a value
            that is not a number.
    """
    file = Path(run_dir) / METRICS_FILE
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as err:
        raise RunError(f"{file}: cannot be read ({err.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RunError(f"{file}: corrupt (not UTF-8 text at byte {err.start})") from None
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]  # torn last line
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    missing = sorted(c for c in _REQUIRED if c not in header)
    if text and missing:
        raise RunError(f"{file}: corrupt (columns {missing} missing)")
    rows = []
    try:
        for i, line in enumerate(reader):
            row = TrialMetrics.from_row(line, where=f"{file}: row {i + 1}")
            if row.trial != i:
                raise RunError(f"{file}: row {i + 1} is trial {row.trial}, expected {i}")
            rows.append(row)
    except csv.Error as err:
        raise RunError(f"{file}: corrupt ({err})") from None
    return rows
