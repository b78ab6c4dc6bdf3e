"""The driver's bookkeeping: what each run's folder holds, what became of each run,
``sweep.json`` and ``failures.csv``.

Run folders are read only through :mod:`cemgd.runs` (``read_metrics``,
``read_json_object``), so a damaged file (not UTF-8, torn, not JSON) is a reason
recorded for that run, never an exception in the driver.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cemgd.pets import config_diff, config_payload
from cemgd.runs import RunError, read_json_object, read_metrics, write_atomic
from cemgd.runtime import hardware_info
from cemgd.sweep.config import RunSpec, SweepConfig

#: Run statuses: ``done`` (ran from scratch), ``resumed`` (continued an interrupted run),
#: ``skipped`` (already finished), ``failed`` (raised on every attempt), ``conflict`` (the
#: folder holds another configuration), ``interrupted`` / ``pending`` (not finished).
OK_STATUSES = ("done", "resumed", "skipped")


@dataclass
class RunResult:
    """What became of one run of the sweep."""

    task: str
    planner: str
    seed: int
    folder: str
    status: str = "pending"
    attempts: int = 0
    seconds: float = 0.0
    """Wall time of this sweep's attempts (0 for a skipped run)."""
    trials_done: int = 0
    trials: int = 0
    final_return: float | None = None
    best_return: float | None = None
    error: str = ""


@dataclass
class SweepSummary:
    """The outcome of :func:`cemgd.sweep.run_sweep`."""

    out: Path
    results: list[RunResult]
    seconds: float = 0.0
    interrupted: bool = False

    @property
    def failed(self) -> list[RunResult]:
        """Runs that did not finish (failed, conflict, interrupted, pending)."""
        return [r for r in self.results if r.status not in OK_STATUSES]

    @property
    def ok(self) -> bool:
        """True when every run finished."""
        return not self.failed

    def counts(self) -> dict[str, int]:
        """Runs per status."""
        counts: dict[str, int] = {}
        for r in self.results:
            counts[r.status] = counts.get(r.status, 0) + 1
        return counts


def returns(folder: Path) -> dict[str, Any]:
    """``trials_done``, ``final_return``, ``best_return`` of the run in ``folder``.

    A ``metrics.csv`` that cannot be read gives ``trials_done = 0`` and no returns (the
    run itself then reports what is wrong with it).
    """
    try:
        rows = read_metrics(folder)
    except RunError:
        rows = []
    values = [row.episode_return for row in rows]
    if not values:
        return {"trials_done": 0}
    return {"trials_done": len(values), "final_return": values[-1], "best_return": max(values)}


def inspect_run(spec: RunSpec) -> tuple[str, int, str]:
    """State of a run folder, read in the driver: ``(state, completed trials, detail)``.

    ``state`` is ``"complete"`` (same configuration, ``trials`` rows), ``"partial"`` (to
    resume), ``"empty"`` (nothing there) or ``"conflict"`` (another configuration; the
    detail names the differing settings). A damaged folder is ``"partial"``: the run
    then reports what is wrong, naming the file.
    """
    try:
        old = read_json_object(spec.folder / "config.json")
    except (RunError, OSError) as err:
        return "partial", 0, str(err)
    if old is None:
        return "empty", 0, ""
    diff = config_diff(old, config_payload(spec.config))
    if diff:
        return "conflict", 0, "; ".join(diff)
    try:
        rows = len(read_metrics(spec.folder))
    except RunError as err:
        return "partial", 0, str(err)
    if rows >= spec.config.trials:
        return "complete", rows, ""
    return "partial", rows, ""


class Book:
    """The driver's record of a sweep: results, ``sweep.json`` and ``failures.csv``."""

    def __init__(self, config: SweepConfig, out: Path, specs: list[RunSpec]) -> None:
        self.config = config
        self.out = out
        self.start = time.perf_counter()
        self.started = dt.datetime.now().isoformat(timespec="seconds")
        self.hardware = hardware_info()
        self.results = {
            s.name: RunResult(s.task, s.planner.text, s.seed, s.folder.relative_to(out).as_posix(),
                              trials=s.config.trials)
            for s in specs
        }
        self.interrupted = False

    def update(self, spec: RunSpec, **changes: Any) -> RunResult:
        """Set fields of ``spec``'s result; returns it."""
        result = self.results[spec.name]
        for key, value in changes.items():
            setattr(result, key, value)
        return result

    def summary(self) -> SweepSummary:
        """The results so far."""
        return SweepSummary(self.out, list(self.results.values()),
                            time.perf_counter() - self.start, self.interrupted)

    def write(self, finished: bool = False) -> None:
        """Write ``sweep.json`` (settings, hardware and devices, every run) and
        ``failures.csv`` (failed and conflicting runs; with ``finished``, every run that
        did not finish)."""
        summary = self.summary()
        config = {**dataclasses.asdict(self.config),  # each planner as the sweep gave it
                  "planners": [spec.text for spec in self.config.planners]}
        payload = {
            "config": json.loads(json.dumps(config, default=str)),
            "hardware": self.hardware,
            "devices": self.hardware.get("devices", []),
            "command": " ".join(sys.argv),
            "started": self.started,
            "updated": dt.datetime.now().isoformat(timespec="seconds"),
            "finished": finished,
            "interrupted": self.interrupted,
            "seconds": round(summary.seconds, 1),
            "counts": summary.counts(),
            "runs": [dataclasses.asdict(r) for r in summary.results],
        }
        write_atomic(self.out / "sweep.json", json.dumps(payload, indent=1) + "\n")
        buf = io.StringIO()
        columns = ("task", "planner", "seed", "folder", "status", "attempts", "error")
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for r in summary.failed:
            if r.status in ("failed", "conflict") or finished:
                writer.writerow({c: getattr(r, c) for c in columns})
        write_atomic(self.out / "failures.csv", buf.getvalue())
