"""``write_report``: read a sweep folder, write REPORT.md, figures and CSVs."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cemgd.experiments.baseline import BASELINE_COLUMNS
from cemgd.report import baseline, figures, tables
from cemgd.report.claims import check_claims, check_samples
from cemgd.report.episodes import EVALUATE_FILE
from cemgd.report.evaluations import (
    Evaluation,
    evaluation_figures,
    evaluation_samples,
    load_evaluations,
    time_memory_rows,
)
from cemgd.report.exploitation import EXPLOITATION_COLUMNS, evaluation_exploitation
from cemgd.report.load import RunData, Skipped, load_runs
from cemgd.report.markdown import SweepContext, sweep_markdown
from cemgd.report.plan import Plan, decide_plan, match, read_plan
from cemgd.report.settings import Hardware, read_hardware
from cemgd.report.text import readable, write_csv
from cemgd.runs import check_out_path, write_atomic
from cemgd.validate import check_int

CLAIM_COLUMNS = ["claim", "task", "a", "b", "ours", "test", "verdict", "n_needed", "status",
                 "p_holds", "p_fails"]
PLAN_COLUMNS = CLAIM_COLUMNS + ["p_holds_adjusted", "p_fails_adjusted", "missing"]


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
    claims: list[dict[str, Any]] = field(default_factory=list)


def _write_tables(dest: Path, ctx: SweepContext) -> None:
    summaries = [r.summary() for rs in ctx.groups.values() for r in rs]
    run_columns = list(summaries[0]) if summaries else ["task", "planner", "seed", "folder"]
    t = ctx.tables
    for name, rows, columns in (
        ("runs.csv", summaries, run_columns),
        ("table1_time.csv", t["table1"], tables.TABLE1_COLUMNS),
        ("table2_memory.csv", t["table2"], tables.TABLE2_COLUMNS),
        ("figure3.csv", t["figure3"], tables.FIGURE3_COLUMNS),
        ("figure4.csv", t["figure4"], tables.FIGURE4_COLUMNS),
        ("claims.csv", t["claims"], CLAIM_COLUMNS),
    ):
        write_csv(dest / name, rows, columns)
        ctx.files.append(dest / name)


def _hardware(root: Path, evaluations: list[Evaluation]) -> Hardware:
    """Hardware as the sweep recorded it, else as the first evaluation's last command did
    (each episode's machine is on its row, summarised under "Planners as evaluated"),
    else this machine's (and the report says which)."""
    hw = read_hardware(root)
    if "no sweep.json" in hw.source and evaluations:
        hw = read_hardware(root / evaluations[0].folder, EVALUATE_FILE)
        if hw.source.startswith("recorded"):
            return dataclasses.replace(hw, source=(
                f"{hw.source} by the evaluation's last command; the machine of each "
                "planner's episodes, from their rows, is under 'Planners as evaluated'"))
    return hw


def _evaluation_tables(ctx: SweepContext) -> None:
    evs = ctx.evaluations
    if not evs:
        return
    t1, t2 = time_memory_rows(evs)
    ctx.tables["eval_table1"], ctx.tables["eval_table2"] = t1, t2
    samples = evaluation_samples(evs)
    samples.floors.update(ctx.baselines.task_floors(baseline.evaluation_cells(evs)))
    ctx.tables["eval_claims"] = check_samples(samples)
    if ctx.plan is not None:
        ctx.tables["plan_claims"] = decide_plan(ctx.plan, evs, samples.floors,
                                                ctx.include_incomplete)
        write_csv(ctx.dest / "plan_claims.csv", ctx.tables["plan_claims"], PLAN_COLUMNS)
        ctx.files.append(ctx.dest / "plan_claims.csv")
    for name, rows, columns in (("evaluate_table1_time.csv", t1, tables.TABLE1_COLUMNS),
                                ("evaluate_table2_memory.csv", t2, tables.TABLE2_COLUMNS),
                                ("evaluate_claims.csv", ctx.tables["eval_claims"],
                                 CLAIM_COLUMNS)):
        write_csv(ctx.dest / name, rows, columns)
        ctx.files.append(ctx.dest / name)
    ctx.files += evaluation_figures(
        ctx.dest, evs, lambda ev: ctx.baselines.floors(baseline.evaluation_cells([ev])))
    _exploitation(ctx)


def _exploitation(ctx: SweepContext) -> None:
    """Each evaluation's predicted against realised return: ``evaluate_exploitation.csv``,
    ``<task>_predicted_vs_realised.png`` and the section's lines (nothing when no
    evaluation recorded them)."""
    rows: list[dict[str, Any]] = []
    for ev in ctx.evaluations:
        table, files, lines = evaluation_exploitation(
            ctx.root / ev.folder, ev.description, ev.rows, ctx.dest, prefix=ev.prefix)
        if table:
            rows += table
            ctx.files += files
            ctx.exploitation += [f"### {ev.label} (`{ev.name}`)", "", *lines]
    if rows:
        write_csv(ctx.dest / "evaluate_exploitation.csv", rows,
                  ["task", *EXPLOITATION_COLUMNS])
        ctx.files.append(ctx.dest / "evaluate_exploitation.csv")


def _write_baselines(ctx: SweepContext) -> None:
    """``random_policy.csv``: the uniform-random policy as measured (nothing when it was
    not)."""
    if ctx.baselines.rows:
        write_csv(ctx.dest / "random_policy.csv", ctx.baselines.rows, BASELINE_COLUMNS)
        ctx.files.append(ctx.dest / "random_policy.csv")


def _checked(sweep_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None,
             random_episodes: int, plan: str | os.PathLike[str] | None,
             ) -> tuple[Path, Path, Plan | None, int]:
    """``write_report``'s arguments checked before anything is read or written:
    ``(root, dest, plan, random_episodes)`` (at least the plan's episodes)."""
    if str(sweep_dir).strip() == "":
        raise ValueError("sweep_dir: expected a folder path, got an empty string")
    root = Path(sweep_dir)
    if not root.is_dir():
        raise ValueError(f"sweep_dir: {root} is not a folder")
    check_int("random_episodes", random_episodes, 0)
    dest = check_out_path(out, "out") if out is not None else root
    planned = read_plan(plan) if plan is not None else None
    if planned is not None:
        random_episodes = max(random_episodes, planned.random_episodes)
    return root, dest, planned, random_episodes


@dataclass
class _Read:
    """What a report is made of, read and checked before anything is written."""

    runs: list[RunData]
    skipped: list[Skipped]
    evaluations: list[Evaluation]
    baselines: baseline.Baselines


def _read(root: Path, include_incomplete: bool, planned: Plan | None,
          random_episodes: int) -> _Read:
    """Read the runs and evaluations under ``root``, match the plan to them and measure
    the uniform-random policy: everything that can refuse the report, so a refused
    report writes nothing.

    Raises:
        ValueError: ``root`` holds no usable run or evaluation folder (naming it and
            the first folders not used, with why), a damaged evaluation, a plan the
            folders do not match, a task given by code the command line did not name.
    """
    evaluations, ev_skipped = load_evaluations(root)
    runs, skipped = load_runs(root, include_incomplete,
                              exclude=[root / e.folder for e in evaluations]
                              + [root / s.folder for s in ev_skipped])
    skipped += ev_skipped
    if not runs and not evaluations:
        listed = "; ".join(f"{s.folder}: {s.reason}" for s in skipped[:3])
        more = f"; {len(skipped) - 3} more" if len(skipped) > 3 else ""
        why = f" (not used: {listed}{more})" if skipped else ""
        raise ValueError(readable(f"sweep_dir: {root} holds no usable run or evaluation "
                                  f"folder{why}; nothing was written"))
    if planned is not None:
        match(planned, evaluations, include_incomplete)
    return _Read(runs, skipped, evaluations,
                 baseline.measure(runs, evaluations, random_episodes))


def write_report(sweep_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None = None,
                 include_incomplete: bool = False, random_episodes: int = 0,
                 plan: str | os.PathLike[str] | None = None) -> Report:
    """Read the sweep and/or evaluations in ``sweep_dir``; write REPORT.md, figures and
    CSVs into ``out``.

    Args:
        sweep_dir: a folder written by ``cemgd sweep`` (or any folder of run folders), by
            ``cemgd evaluate``, or one holding evaluation folders (one per task).
        out: where to write (created; default ``sweep_dir``).
        include_incomplete: also use runs with fewer rows than their ``trials``, and
            accept a plan whose claims name a planner not evaluated yet (that claim is
            *cannot tell (incomplete)*).
        random_episodes: episodes of a uniform-random policy to measure per task and
            episode length used (0: none); its mean is drawn on the figures and is the
            floor of the claims' equivalence margins.
        plan: a pre-registered analysis plan (:mod:`cemgd.report.plan`): its primary
            claims are decided as planned, every other verdict is exploratory; it
            measures the uniform-random policy with at least its ``random_episodes``.

    Returns:
        What was read and written.

    Raises:
        ValueError: ``sweep_dir`` is not a folder or holds no usable run or evaluation
            folder, ``out`` is blank, a file or under one, or not writable
            (:func:`cemgd.runs.check_out_path`), ``random_episodes`` is not an integer
            >= 0, or the plan is malformed or names what the folders lack (a task whose
            baseline cannot be measured here is listed in REPORT.md, not raised). Each
            is raised before anything is written.
    """
    root, dest, planned, random_episodes = _checked(sweep_dir, out, random_episodes, plan)
    read = _read(root, include_incomplete, planned, random_episodes)
    runs, evaluations = read.runs, read.evaluations
    dest.mkdir(parents=True, exist_ok=True)
    groups = tables.group_runs(runs)
    ctx = SweepContext(root, dest, runs, read.skipped, groups, {
        "table1": tables.table1(groups), "table2": tables.table2(groups),
        "figure3": tables.figure3_data(groups), "figure4": tables.figure4_data(groups),
        "returns": tables.returns_table(groups),
    }, _hardware(root, evaluations), evaluations, plan=planned,
        include_incomplete=include_incomplete, baselines=read.baselines)
    _write_baselines(ctx)
    claims = check_claims(groups, ctx.baselines.task_floors(baseline.run_cells(runs)))
    ctx.tables["claims"] = claims
    if runs:
        _write_tables(dest, ctx)
    ctx.files += figures.figure3(dest, ctx.tables["figure3"], {
        task: ctx.baselines.floors([c for c in baseline.run_cells(runs) if c[0] == task])
        for task in {r.task for r in runs}})
    ctx.files += figures.figure4(dest, ctx.tables["figure4"])
    _evaluation_tables(ctx)
    path = dest / "REPORT.md"
    write_atomic(path, readable(sweep_markdown(ctx)))  # non-UTF-8 paths shown escaped
    ctx.files.append(path)
    return Report(path, runs, list(ctx.skipped), ctx.tables["table1"], ctx.tables["table2"],
                  ctx.files, claims + list(ctx.tables.get("eval_claims", []))
                  + list(ctx.tables.get("plan_claims", [])))
