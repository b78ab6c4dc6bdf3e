"""The paper's Figures 3 and 4 and Tables 1 and 2 from a sweep folder, beside the paper's numbers.

``cemgd report SWEEP_DIR [--out DIR]`` reads every run folder under ``SWEEP_DIR``
(``<task>/<planner>/seed-<k>``, as ``cemgd sweep`` writes them; any folder holding a
``config.json`` or ``metrics.csv`` counts) and writes into ``--out`` (default
``SWEEP_DIR``):

    REPORT.md                      everything below, with the hardware and the protocol
    figure3_returns.png            per task: mean ± std of the episode return vs env steps
    figure4_sample_efficiency.png  per task: best return vs rollouts per step, CEM vs CEM-GD
    table1_time.csv                planning time per step per task and planner (+ paper)
    table2_memory.csv              planning memory per task and planner (+ paper)
    figure3.csv, figure4.csv       the plotted numbers
    runs.csv                       one row per run folder read

A folder whose ``config.json`` or ``metrics.csv`` is missing or corrupt is listed
in the report and skipped, never fatal; so are runs that have not finished all their
trials (unless ``include_incomplete``). Standard deviations are over runs (sample
standard deviation, ddof = 1; 0 for a single run).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cemgd import plots

#: The paper's Table 1 (Sec. 3.3): average planning time per step, seconds.
PAPER_TABLE1_S: dict[str, dict[str, float]] = {
    "cem-50": {"cartpole-swingup": 0.36, "halfcheetah": 0.36, "humanoid-standup": 0.39,
               "pusher": 0.36},
    "cem-500": {"cartpole-swingup": 0.39, "halfcheetah": 0.39, "humanoid-standup": 0.41,
                "pusher": 0.38},
    "cem-5000": {"cartpole-swingup": 3.35, "halfcheetah": 3.38, "humanoid-standup": 3.44,
                 "pusher": 3.33},
    "cem-gd": {"cartpole-swingup": 2.18, "halfcheetah": 2.63, "humanoid-standup": 2.59,
               "pusher": 2.58},
}

#: The paper's Table 2 (Sec. 3.3): peak memory usage, MB.
PAPER_TABLE2_MB: dict[str, dict[str, float]] = {
    "cem-50": {"cartpole-swingup": 7.2, "halfcheetah": 8.1, "humanoid-standup": 9.9,
               "pusher": 8.3},
    "cem-500": {"cartpole-swingup": 12.9, "halfcheetah": 14.3, "humanoid-standup": 17.3,
                "pusher": 14.4},
    "cem-5000": {"cartpole-swingup": 12.9, "halfcheetah": 14.3, "humanoid-standup": 17.3,
                 "pusher": 14.4},
    "cem-gd": {"cartpole-swingup": 11.4, "halfcheetah": 12.2, "humanoid-standup": 14.3,
               "pusher": 12.4},
}

#: What the paper says about its hardware (checked in the text: nothing).
PAPER_HARDWARE = "not stated in the paper"

#: Task order of the paper's Figure 3; planners in the order of its legend.
TASK_ORDER = ("cartpole-swingup", "pusher", "halfcheetah", "humanoid-standup")
PLANNER_ORDER = ("cem-50", "cem-500", "cem-5000", "gd", "cem-gd")

#: The paper's protocol (Sec. 3 and PETS) for the settings a sweep may change.
PAPER_SETTINGS: dict[str, Any] = {
    "horizon": 45, "hidden": 200, "layers": 3, "activation": "silu", "members": 5,
    "num_particles": 20, "trials": 12,
}

REQUIRED_COLUMNS = ("trial", "episode_return", "env_steps")
NUMERIC_COLUMNS = (
    "trial", "episode_return", "episode_steps", "env_steps", "train_s", "plan_ms_mean",
    "plan_ms_max", "plan_ms_first", "rollouts_per_step", "grad_steps_per_step",
    "fallback_steps", "plan_memory_mb", "peak_rss_mb", "compile_s", "episode_s",
)


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
        """Registry name (``cem``, ``cem-gd``, ...) from config.json."""
        name = self.config.get("planner_name")
        if isinstance(name, str):
            return name
        planner = str(self.config.get("planner", ""))
        return "cem" if planner.startswith("cem-") and planner[4:].isdigit() else planner

    @property
    def nominal_rollouts(self) -> float:
        """Rollouts per step on the paper's axis: CEM's samples x iterations, CEM-GD's N_r."""
        pc = self.config.get("planner_config") or {}
        with contextlib.suppress(KeyError, TypeError, ValueError):
            if self.base_planner == "cem-gd":
                return float(pc["n_replan"])
            if "num_samples" in pc and "num_iterations" in pc:
                return float(pc["num_samples"]) * float(pc["num_iterations"])
        return float(np.nanmean(self.column("rollouts_per_step")))

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
            "plan_ms_first_mean": _nanmean(first),
            "plan_ms_later_mean": _nanmean(later),
            "rollouts_per_step": self.steps_weighted("rollouts_per_step"),
            "nominal_rollouts": self.nominal_rollouts,
            "plan_memory_mb": _nanmax(self.column("plan_memory_mb")),
            "peak_rss_mb": _nanmax(self.column("peak_rss_mb")),
            "train_s": float(np.nansum(self.column("train_s"))),
            "episode_s": float(np.nansum(self.column("episode_s"))),
        }


@dataclass
class Skipped:
    """A folder the report could not use, and why."""

    folder: str
    reason: str


@dataclass
class Report:
    """What :func:`write_report` read and wrote."""

    path: Path
    """REPORT.md."""
    runs: list[RunData]
    """Runs used."""
    skipped: list[Skipped]
    table1: list[dict[str, Any]] = field(default_factory=list)
    table2: list[dict[str, Any]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def _nanmean(x: np.ndarray) -> float:
    x = np.asarray(x, float)
    return float(np.mean(x[np.isfinite(x)])) if np.isfinite(x).any() else math.nan


def _nanmax(x: np.ndarray) -> float:
    x = np.asarray(x, float)
    return float(np.max(x[np.isfinite(x)])) if np.isfinite(x).any() else math.nan


def mean_std(values: Iterable[float]) -> tuple[float, float, int]:
    """``(mean, sample std (ddof=1; 0 for one value), count)`` of the finite values."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], float)
    if x.size == 0:
        return math.nan, math.nan, 0
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if x.size > 1 else 0.0
    if std <= 1e-12 * max(1.0, abs(mean)):  # rounding noise of equal values
        std = 0.0
    return mean, std, int(x.size)


# ----------------------------------------------------------------------------- reading
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


def read_run(root: Path, folder: Path) -> RunData:
    """Read one run folder.

    Raises:
        ValueError: naming the file and what is wrong with it.
    """
    rel = folder.relative_to(root)
    cfg_file, metrics_file = folder / "config.json", folder / "metrics.csv"
    if not cfg_file.is_file():
        raise ValueError("config.json missing")
    try:
        config = json.loads(cfg_file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"config.json corrupt ({err})") from None
    if not isinstance(config, dict):
        raise ValueError("config.json corrupt (not an object)")
    for key, kind in (("task", str), ("planner", str), ("seed", int), ("trials", int)):
        if not isinstance(config.get(key), kind):
            raise ValueError(f"config.json corrupt ({key!r} missing or not {kind.__name__})")
    if not metrics_file.is_file():
        raise ValueError("metrics.csv missing")
    try:
        with metrics_file.open(newline="") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            raw = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise ValueError(f"metrics.csv corrupt ({err})") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ValueError(f"metrics.csv corrupt (columns {missing} missing)")
    rows: list[dict[str, float]] = []
    for i, line in enumerate(raw):
        row: dict[str, float] = {}
        for name in NUMERIC_COLUMNS:
            text = line.get(name)
            if text is None or text == "":
                if name in REQUIRED_COLUMNS:
                    raise ValueError(f"metrics.csv corrupt (row {i + 1}: {name} empty)")
                row[name] = math.nan
                continue
            try:
                row[name] = float(text)
            except ValueError:
                raise ValueError(
                    f"metrics.csv corrupt (row {i + 1}: {name} = {text!r} is not a number)"
                ) from None
        if row["trial"] != i:
            raise ValueError(f"metrics.csv corrupt (row {i + 1} is trial {row['trial']:g})")
        if not math.isfinite(row["episode_return"]):
            raise ValueError(f"metrics.csv corrupt (row {i + 1}: episode_return not finite)")
        rows.append(row)
    if not rows:
        raise ValueError("metrics.csv has no completed trial")
    parts = rel.parts
    if len(parts) >= 3 and parts[-1].startswith("seed-"):
        label = parts[-2]
    else:
        label = config["planner"]
    return RunData(rel, config["task"], label, config["seed"], config["trials"], config, rows)


def load_runs(root: str | os.PathLike[str], include_incomplete: bool = False,
              ) -> tuple[list[RunData], list[Skipped]]:
    """Every run under ``root`` that can be used, and every folder that cannot (with why).

    Raises:
        ValueError: ``root`` is not a folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"sweep_dir: {root} is not a folder")
    runs, skipped = [], []
    for folder in find_run_folders(root):
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


# ----------------------------------------------------------------------------- tables
def _order(values: Iterable[str], preferred: Sequence[str]) -> list[str]:
    values = set(values)
    return [v for v in preferred if v in values] + sorted(values - set(preferred))


def group_runs(runs: Sequence[RunData]) -> dict[tuple[str, str], list[RunData]]:
    """Runs per ``(task, planner label)``, tasks and planners in the paper's order."""
    groups: dict[tuple[str, str], list[RunData]] = {}
    for task in _order((r.task for r in runs), TASK_ORDER):
        for planner in _order((r.planner for r in runs if r.task == task), PLANNER_ORDER):
            groups[(task, planner)] = sorted(
                (r for r in runs if r.task == task and r.planner == planner),
                key=lambda r: r.seed)
    return groups


def group_warnings(groups: Mapping[tuple[str, str], list[RunData]]) -> list[str]:
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


def table1(groups: Mapping[tuple[str, str], list[RunData]]) -> list[dict[str, Any]]:
    """Planning time per step (s): mean ± std over runs of each run's mean step time."""
    rows = []
    for (task, planner), runs in groups.items():
        s = [r.summary() for r in runs]
        mean, std, n = mean_std(x["plan_s_mean"] for x in s)
        first, _, _ = mean_std(x["plan_ms_first_mean"] for x in s)
        later, _, _ = mean_std(x["plan_ms_later_mean"] for x in s)
        rows.append({
            "task": task, "planner": planner, "runs": n, "plan_s_mean": mean, "plan_s_std": std,
            "first_step_s": first / 1e3, "later_steps_s": later / 1e3,
            "paper_s": PAPER_TABLE1_S.get(planner, {}).get(task, math.nan),
        })
    return rows


def table2(groups: Mapping[tuple[str, str], list[RunData]]) -> list[dict[str, Any]]:
    """Memory (MB): the compiled planning step's and the process's peak RSS, per run."""
    rows = []
    for (task, planner), runs in groups.items():
        s = [r.summary() for r in runs]
        xla, xla_std, n = mean_std(x["plan_memory_mb"] for x in s)
        rss, rss_std, _ = mean_std(x["peak_rss_mb"] for x in s)
        rows.append({
            "task": task, "planner": planner, "runs": n,
            "plan_memory_mb": xla, "plan_memory_mb_std": xla_std,
            "peak_rss_mb": rss, "peak_rss_mb_std": rss_std,
            "paper_mb": PAPER_TABLE2_MB.get(planner, {}).get(task, math.nan),
        })
    return rows


def figure3_data(groups: Mapping[tuple[str, str], list[RunData]]) -> list[dict[str, Any]]:
    """Rows ``task, planner, trial, env_steps, return_mean, return_std, runs``."""
    rows = []
    for (task, planner), runs in groups.items():
        for t in range(max(len(r.rows) for r in runs)):
            have = [r for r in runs if len(r.rows) > t]
            mean, std, n = mean_std(r.rows[t]["episode_return"] for r in have)
            steps, _, _ = mean_std(r.rows[t]["env_steps"] for r in have)
            rows.append({"task": task, "planner": planner, "trial": t, "env_steps": steps,
                         "return_mean": mean, "return_std": std, "runs": n})
    return rows


def figure4_data(groups: Mapping[tuple[str, str], list[RunData]]) -> list[dict[str, Any]]:
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


def returns_table(groups: Mapping[tuple[str, str], list[RunData]]) -> list[dict[str, Any]]:
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


# ----------------------------------------------------------------------------- claims
def _compare(a: tuple[float, float, int], b: tuple[float, float, int]) -> tuple[float, float]:
    """Difference of means ``a - b`` and its standard error."""
    se = math.sqrt((a[1] ** 2 / a[2] if a[2] else 0.0) + (b[1] ** 2 / b[2] if b[2] else 0.0))
    return a[0] - b[0], se


def check_claims(groups: Mapping[tuple[str, str], list[RunData]]) -> list[dict[str, str]]:
    """The paper's claims (Sec. 3) checked on these runs, where both sides were run.

    Each is ``{"claim", "task", "ours", "verdict"}``; a verdict by the sign of the
    difference of means, with "within noise" when it is under two standard errors.
    """
    def stat(task: str, planner: str, key: str) -> tuple[float, float, int] | None:
        runs = groups.get((task, planner))
        return mean_std(r.summary()[key] for r in runs) if runs else None

    def verdict(diff: float, se: float, want_positive: bool) -> str:
        holds = diff >= 0 if want_positive else diff <= 0
        noise = " (within noise: |difference| < 2 standard errors)" if abs(diff) < 2 * se else ""
        return ("holds" if holds else "does not hold") + noise

    claims = []
    tasks = _order({t for t, _ in groups}, TASK_ORDER)
    specs = [
        ("CEM-GD (N_r = 50) performs as well as or better than CEM 5000 (Sec. 3.1)",
         "cem-gd", "cem-5000", "best_return", True, tasks),
        ("CEM 5000 is better than CEM 500 on Half-Cheetah and Humanoid Standup (Sec. 3.2)",
         "cem-5000", "cem-500", "best_return", True,
         [t for t in tasks if t in ("halfcheetah", "humanoid-standup")]),
        ("CEM-GD performs as well as or better than CEM 500 (Sec. 3.1, with 10x fewer samples)",
         "cem-gd", "cem-500", "best_return", True, tasks),
        ("CEM-GD plans faster per step than CEM 5000 (Table 1)",
         "cem-gd", "cem-5000", "plan_s_mean", False, tasks),
        ("CEM-GD's planning step uses less memory than CEM 5000's (Table 2; compiled step)",
         "cem-gd", "cem-5000", "plan_memory_mb", False, tasks),
    ]
    for text, a, b, key, want_positive, on in specs:
        for task in on:
            sa, sb = stat(task, a, key), stat(task, b, key)
            if sa is None or sb is None or not sa[2] or not sb[2]:
                continue
            diff, se = _compare(sa, sb)
            unit = {"best_return": "", "plan_s_mean": " s", "plan_memory_mb": " MB"}[key]
            ours = (f"{a} {_g(sa[0])} ± {_g(sa[1])}{unit} (n={sa[2]}) vs {b} {_g(sb[0])} ± "
                    f"{_g(sb[1])}{unit} (n={sb[2]})")
            claims.append({"claim": text, "task": task, "ours": ours,
                           "verdict": verdict(diff, se, want_positive)})
    return claims


# ----------------------------------------------------------------------------- writing
def _g(x: float | None) -> str:
    """Three significant digits, no exponent for values >= 100 (``-`` for NaN/None)."""
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.3g}"


def _csv(path: Path, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), lineterminator="\n",
                                extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(row.get(k)) for k in columns})


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return "" if not math.isfinite(value) else repr(round(value, 6))
    return value


def _md_table(header: Sequence[str], rows: Iterable[Sequence[str]],
              right: bool = True) -> list[str]:
    """A Markdown table; columns after the first right-aligned if ``right``."""
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i == 0 or not right else "---:"
                            for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _pivot(rows: Sequence[Mapping[str, Any]], cell: Any) -> tuple[list[str], list[list[str]]]:
    """Planner rows x task columns, ``cell(row)`` in each (``-`` where nothing ran)."""
    tasks = _order({r["task"] for r in rows}, TASK_ORDER)
    planners = _order({r["planner"] for r in rows}, PLANNER_ORDER)
    index = {(r["task"], r["planner"]): r for r in rows}
    body = [[p] + [cell(index[(t, p)]) if (t, p) in index else "-" for t in tasks]
            for p in planners]
    return ["planner", *tasks], body


def _hardware(root: Path) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Hardware and sweep settings from sweep.json, else this machine (and say so)."""
    with contextlib.suppress(OSError, json.JSONDecodeError, AttributeError, TypeError):
        sweep = json.loads((root / "sweep.json").read_text())
        if isinstance(sweep.get("hardware"), dict):
            return sweep["hardware"], sweep.get("config") or {}, "recorded by the sweep"
    from cemgd.experiments.sweep import hardware_info

    return hardware_info(), {}, "the machine that wrote this report (no sweep.json found)"


def _protocol(runs: Sequence[RunData]) -> list[list[str]]:
    """Settings of the runs (the values found) beside the paper's."""
    from cemgd.pets import PETSConfig

    defaults = PETSConfig()
    keys = ["trials", "episode_length", "random_steps", "horizon", "num_particles",
            "propagation", "grad_propagation", "members", "hidden", "layers", "activation"]
    out = []
    for key in keys:
        values = sorted({json.dumps(r.config.get(key)) for r in runs})
        ours = ", ".join(v.strip('"') for v in values)
        if key == "episode_length" and ours == "0":
            ours = "0 (the task's: 100, pusher 200)"
        paper = PAPER_SETTINGS.get(key, getattr(defaults, key, ""))
        if key == "episode_length":
            paper = "task's (100, pusher 200)"
        out.append([key, ours, str(paper)])
    epochs = sorted({json.dumps((r.config.get("train") or {}).get("epochs")) for r in runs})
    out.append(["train.epochs (max)", ", ".join(epochs), str(defaults.train.epochs)])
    return out


def write_report(sweep_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None = None,
                 include_incomplete: bool = False) -> Report:
    """Read the sweep in ``sweep_dir`` and write REPORT.md, figures and CSVs into ``out``.

    Args:
        sweep_dir: a folder written by ``cemgd sweep`` (or any folder of run folders).
        out: where to write (created; default ``sweep_dir``).
        include_incomplete: also use runs with fewer rows than their ``trials``.

    Returns:
        What was read and written.

    Raises:
        ValueError: ``sweep_dir`` is not a folder.
    """
    root = Path(sweep_dir)
    runs, skipped = load_runs(root, include_incomplete)
    dest = Path(out) if out is not None else root
    dest.mkdir(parents=True, exist_ok=True)
    groups = group_runs(runs)
    t1, t2 = table1(groups), table2(groups)
    f3, f4, ret = figure3_data(groups), figure4_data(groups), returns_table(groups)
    files: list[Path] = []

    summaries = [r.summary() for rs in groups.values() for r in rs]
    run_columns = list(summaries[0]) if summaries else ["task", "planner", "seed", "folder"]
    for name, rows, columns in (
        ("runs.csv", summaries, run_columns),
        ("table1_time.csv", t1, ["task", "planner", "runs", "plan_s_mean", "plan_s_std",
                                 "first_step_s", "later_steps_s", "paper_s"]),
        ("table2_memory.csv", t2, ["task", "planner", "runs", "plan_memory_mb",
                                   "plan_memory_mb_std", "peak_rss_mb", "peak_rss_mb_std",
                                   "paper_mb"]),
        ("figure3.csv", f3, ["task", "planner", "trial", "env_steps", "return_mean",
                             "return_std", "runs"]),
        ("figure4.csv", f4, ["task", "planner", "base", "runs", "nominal_rollouts",
                             "measured_rollouts", "best_return_mean", "best_return_std"]),
    ):
        _csv(dest / name, rows, columns)
        files.append(dest / name)

    tasks = _order({t for t, _ in groups}, TASK_ORDER)
    if groups:
        panels3 = []
        for task in tasks:
            curves = {}
            for (t, planner), _ in groups.items():
                if t != task:
                    continue
                pts = [r for r in f3 if r["task"] == task and r["planner"] == planner]
                curves[planner] = {k: [p[src] for p in pts] for k, src in (
                    ("x", "env_steps"), ("mean", "return_mean"), ("std", "return_std"),
                    ("runs", "runs"))}
            panels3.append({"title": task, "curves": curves})
        plots.sweep_returns(dest / "figure3_returns.png", panels3)
        files.append(dest / "figure3_returns.png")
        panels4 = []
        for task in tasks:
            rows = [r for r in f4 if r["task"] == task]
            panel: dict[str, Any] = {"title": task}
            cem = [r for r in rows if r["base"] == "cem"]
            gd = [r for r in rows if r["base"] == "cem-gd"]
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
                panels4.append(panel)
        if panels4:
            plots.sample_efficiency(dest / "figure4_sample_efficiency.png", panels4)
            files.append(dest / "figure4_sample_efficiency.png")

    hardware, sweep_config, hw_source = _hardware(root)
    md = _markdown(root, dest, runs, skipped, groups, t1, t2, f4, ret, hardware, sweep_config,
                   hw_source, files)
    path = dest / "REPORT.md"
    path.write_text(md)
    files.append(path)
    return Report(path, runs, skipped, t1, t2, files)


def _markdown(
    root: Path, dest: Path, runs: Sequence[RunData], skipped: Sequence[Skipped],
    groups: Mapping[tuple[str, str], list[RunData]], t1: Sequence[Mapping[str, Any]],
    t2: Sequence[Mapping[str, Any]], f4: Sequence[Mapping[str, Any]],
    ret: Sequence[Mapping[str, Any]], hardware: Mapping[str, Any],
    sweep_config: Mapping[str, Any], hw_source: str, files: Sequence[Path],
) -> str:
    names = {p.name for p in files}
    lines = [
        f"# Reproduction report: {root.resolve().name}",
        "",
        f"Generated {dt.datetime.now().isoformat(timespec='seconds')} by `cemgd report` from "
        f"{len(runs)} run folder(s) in `{root}`; {len(skipped)} folder(s) not used (listed at "
        "the end). Paper: Huang et al., *CEM-GD*, Section 3 (Figures 3 and 4, Tables 1 and 2).",
        "",
        "## Hardware",
        "",
        f"- Ours ({hw_source}): {hardware.get('cpu_model', '?')}, "
        f"{hardware.get('usable_cpus', hardware.get('cpu_count', '?'))} CPU core(s) "
        f"(nproc), {hardware.get('memory_gb', '?')} GB RAM, no GPU (JAX "
        f"{hardware.get('jax', '?')} on the CPU), {hardware.get('platform', '')}.",
    ]
    if sweep_config:
        where = (f"Ray ({sweep_config.get('ray')})" if sweep_config.get("ray")
                 else f"{sweep_config.get('workers')} local worker process(es)")
        lines.append(f"- Runs executed on {where}, one run per worker at a time: with more "
                     "than one worker, runs shared the machine's cores (each XLA "
                     "single-threaded), which the timings include.")
    lines += [f"- Paper: hardware {PAPER_HARDWARE}.", ""]

    if not runs:
        lines += ["No usable run was found.", ""]
    else:
        lines += ["## Protocol", "",
                  "Settings found in the runs' config.json beside the paper's (PETS's where "
                  "the paper gives none). Planner settings are the paper's unless the planner "
                  "label says otherwise (see each run's config.json, `planner_config`).", ""]
        lines += _md_table(["setting", "these runs", "paper (PETS / PETSConfig default)"],
                           _protocol(runs), right=False)
        lines += ["", "Runs per task and planner (seeds):", ""]
        header, body = _pivot(
            [{"task": t, "planner": p, "runs": rs} for (t, p), rs in groups.items()],
            lambda r: f"{len(r['runs'])} ({_seeds(r['runs'])})")
        lines += _md_table(header, body)
        notes = group_warnings(groups)
        if notes:
            lines += ["", "**Warning**: runs grouped together differ in their settings:", ""]
            lines += [f"- {n}" for n in notes]

        lines += ["", "## Figure 3: episode return over training", ""]
        if "figure3_returns.png" in names:
            lines += [f"![Figure 3]({_rel(dest / 'figure3_returns.png', dest)})", ""]
        lines += ["Mean ± std over runs of each trial's episode return, against environment "
                  "steps (random data included). Final and best (max over trials) return of a "
                  "run, mean ± std over runs (n):", ""]
        header, body = _pivot(ret, lambda r: (
            f"{_g(r['final_return'])} ± {_g(r['final_return_std'])} / "
            f"{_g(r['best_return'])} ± {_g(r['best_return_std'])} (n={r['runs']})"))
        lines += _md_table(header, body)
        lines += ["", "Cells: final / best return.", ""]

        lines += ["## Figure 4: best return versus rollouts per step", ""]
        if "figure4_sample_efficiency.png" in names:
            lines += [f"![Figure 4]({_rel(dest / 'figure4_sample_efficiency.png', dest)})", ""]
        if f4:
            lines += ["Best return of a run (max over trials), mean ± std over runs. CEM's "
                      "rollouts per step are N = samples x iterations; CEM-GD's are plotted at "
                      "N_r (the paper's axis) and at the measured mean rollouts per step "
                      "(N_r plus the gradient stage's line-search evaluations; the first step's "
                      "N_init raises the mean a little).", ""]
            lines += _md_table(
                ["task", "planner", "runs", "N (paper axis)", "measured rollouts/step",
                 "best return"],
                [[r["task"], r["planner"], str(r["runs"]), _g(r["nominal_rollouts"]),
                  _g(r["measured_rollouts"]),
                  f"{_g(r['best_return_mean'])} ± {_g(r['best_return_std'])}"] for r in f4])
        else:
            lines += ["No CEM or CEM-GD runs."]
        lines += [""]

        lines += ["## Table 1: planning time per step (seconds)", "",
                  "Ours: mean ± std over runs of a run's mean wall time per planning step "
                  "(every step of every trial, compile excluded; for CEM-GD the first step of "
                  "each episode samples N_init and is included), (n) runs per cell. Paper: "
                  "its Table 1 (no GD row).", ""]
        header, body = _pivot(t1, lambda r: (
            f"{_g(r['plan_s_mean'])} ± {_g(r['plan_s_std'])} (n={r['runs']})"
            + (f" · paper {_g(r['paper_s'])}" if math.isfinite(r["paper_s"]) else "")))
        lines += _md_table(header, body)
        lines += ["", "First step of an episode / later steps, mean over runs (s):", ""]
        header, body = _pivot(t1, lambda r: f"{_g(r['first_step_s'])} / {_g(r['later_steps_s'])}")
        lines += _md_table(header, body)
        lines += [""]

        lines += ["## Table 2: peak memory (MB)", "",
                  "Two measures, the same for every planner: **XLA** = the compiled planning "
                  "step's memory from XLA's memory analysis (arguments + outputs + "
                  "temporaries: the model parameters, the planner state and every "
                  "intermediate buffer of one step), the closest to the planner's own peak "
                  "memory; **RSS** = the planning process's peak resident set size at the end "
                  "of the run (Python, JAX, MuJoCo, the replay buffer and model training "
                  "included, so it mostly measures everything else). Mean ± std over runs, "
                  "(n) runs per cell. Paper: its Table 2 (how it measured is not stated; no "
                  "GD row).", ""]
        header, body = _pivot(t2, lambda r: (
            f"XLA {_g(r['plan_memory_mb'])} ± {_g(r['plan_memory_mb_std'])} · RSS "
            f"{_g(r['peak_rss_mb'])} ± {_g(r['peak_rss_mb_std'])} (n={r['runs']})"
            + (f" · paper {_g(r['paper_mb'])}" if math.isfinite(r["paper_mb"]) else "")))
        lines += _md_table(header, body)
        lines += [""]

        claims = check_claims(groups)
        lines += ["## The paper's claims on these runs", ""]
        if claims:
            lines += ["Verdict by the sign of the difference of means; \"within noise\" when "
                      "the difference is under two standard errors (these runs cannot tell).",
                      ""]
            lines += _md_table(["claim", "task", "ours", "verdict"],
                               [[c["claim"], c["task"], c["ours"], c["verdict"]]
                                for c in claims], right=False)
        else:
            lines += ["No claim could be checked (the planners it compares were not run)."]
        lines += [""]

    lines += ["## Folders not used", ""]
    if skipped:
        lines += _md_table(["folder", "reason"], [[s.folder, s.reason] for s in skipped],
                           right=False)
    else:
        lines += ["None."]
    lines += ["", "## Files", ""]
    lines += [f"- `{_rel(p, dest)}`" for p in files] + ["- `REPORT.md`", ""]
    return "\n".join(lines)


def _seeds(runs: Sequence[RunData]) -> str:
    seeds = sorted(r.seed for r in runs)
    if seeds and seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 2:
        return f"{seeds[0]}-{seeds[-1]}"
    return ",".join(map(str, seeds))


def _rel(path: Path, dest: Path) -> str:
    try:
        return path.relative_to(dest).as_posix()
    except ValueError:
        return path.as_posix()
