"""REPORT.md of a sweep, one function per section, all reading one :class:`SweepContext`."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cemgd.report import stats
from cemgd.report.baseline import Baselines, baseline_lines
from cemgd.report.evaluations import Evaluation, evaluation_lines, evaluation_planner_lines
from cemgd.report.load import RunData, Skipped
from cemgd.report.paper import (
    DIFFERENCES,
    PAPER_HARDWARE,
    PAPER_SETTINGS,
    PLANNER_ORDER,
    TASK_ORDER,
)
from cemgd.report.plan import Plan
from cemgd.report.settings import Hardware, planner_settings_rows
from cemgd.report.tables import group_warnings, order
from cemgd.report.text import g, md_table, rel, seeds_text

Row = Mapping[str, Any]


@dataclass
class SweepContext:
    """Everything REPORT.md of a sweep is written from."""

    root: Path
    dest: Path
    runs: Sequence[RunData]
    skipped: Sequence[Skipped]
    groups: Mapping[tuple[str, str], list[RunData]]
    tables: Mapping[str, Sequence[Row]]
    """``table1``, ``table2``, ``figure3``, ``figure4``, ``returns``, ``claims``; with
    evaluations ``eval_table1``, ``eval_table2``, ``eval_claims``."""
    hardware: Hardware
    evaluations: Sequence[Evaluation] = ()
    files: list[Path] = field(default_factory=list)
    baselines: Baselines = field(default_factory=Baselines)
    """The uniform-random policy (``--random-episodes``; empty when not asked for)."""
    plan: Plan | None = None
    """The pre-registered analysis plan, where one was given."""
    include_incomplete: bool = False
    """Report an experiment in progress (``--include-incomplete``): incomplete runs are
    used, and a plan's claim on a planner not evaluated yet is *cannot tell*."""
    exploitation: list[str] = field(default_factory=list)
    """Markdown of each evaluation's predicted against realised return (empty: none
    recorded)."""

    @property
    def quick(self) -> bool:
        """Any run or evaluation was made with ``--quick``."""
        return self.hardware.quick or any(ev.quick for ev in self.evaluations)


def pivot(rows: Sequence[Row], fmt: Callable[[Row], str]) -> tuple[list[str], list[list[str]]]:
    """Planner rows x task columns, ``fmt(row)`` in each (``-`` where nothing ran)."""
    tasks = order({r["task"] for r in rows}, TASK_ORDER)
    planners = order({r["planner"] for r in rows}, PLANNER_ORDER)
    index = {(r["task"], r["planner"]): r for r in rows}
    body = [[p] + [fmt(index[(t, p)]) if (t, p) in index else "-" for t in tasks]
            for p in planners]
    return ["planner", *tasks], body


def hardware_lines(hw: Hardware) -> list[str]:
    """The ``## Hardware`` section: what the runs ran on, as recorded."""
    info = hw.info
    devices = ", ".join(info.get("devices") or []) or "?"
    lines = ["## Hardware", "",
             f"- Ours ({hw.source}): {info.get('cpu_model', '?')}, "
             f"{info.get('usable_cpus', info.get('cpu_count', '?'))} CPU core(s) (nproc), "
             f"{info.get('memory_gb', '?')} GB RAM; GPU: {info.get('gpu', 'not recorded')}; "
             f"JAX {info.get('jax', '?')} (backend {info.get('jax_backend', 'not recorded')}, "
             f"devices {devices}); {info.get('platform', '')}; "
             f"cemgd {info.get('cemgd', 'not recorded')}."]
    cfg = hw.run_config
    if cfg.get("workers") == 0 and not cfg.get("ray"):  # `cemgd evaluate` in-process
        lines.append("- Ran in one process, one planner after another.")
    elif cfg.get("workers") is not None or cfg.get("ray"):
        where = (f"Ray ({cfg.get('ray')})" if cfg.get("ray")
                 else f"{cfg.get('workers')} local worker process(es)")
        lines.append(f"- Runs executed on {where}, one run per worker at a time: with more "
                     "than one worker, runs shared the machine's cores (each XLA "
                     "single-threaded), which the timings include.")
    return lines + [f"- Paper: hardware {PAPER_HARDWARE}.", ""]


def quick_banner(quick: bool) -> list[str]:
    """The warning at the top of a report on ``--quick`` runs."""
    if not quick:
        return []
    return ["> **These are `--quick` runs**: tiny models, short episodes and shrunken "
            "planners (their actual settings are listed below). They test the pipeline; "
            "no number here speaks to the paper's claims at its sizes.", ""]


def partial_banner(runs: Sequence[RunData]) -> list[str]:
    """The warning at the top of a report that uses unfinished runs
    (``--include-incomplete``)."""
    partial = [r for r in runs if not r.complete]
    if not partial:
        return []
    names = [f"`{r.folder.as_posix()}`" if r.folder.as_posix() != "." else
             "the run in this folder" for r in partial]
    listed = ", ".join(f"{name} {len(r.rows)} of {r.trials} trials"
                       for name, r in zip(names, partial, strict=True))
    return [f"> **Partial**: {len(partial)} run(s) used here have not finished: {listed}. "
            "Rerunning them completes the curves.", ""]


#: Run settings the protocol table shows, with the names older runs recorded them by.
PROTOCOL_KEYS = (("trials", ()), ("episode_length", ()), ("random_steps", ()),
                 ("horizon", ()), ("num_particles", ()), ("propagation", ()),
                 ("num_members", ("members",)), ("hidden", ()),
                 ("num_layers", ("layers",)), ("activation", ()))


def _setting(config: Mapping[str, Any], key: str, legacy: Sequence[str]) -> Any:
    for name in (key, *legacy):
        if name in config:
            return config[name]
    return None


def _protocol(runs: Sequence[RunData]) -> list[list[str]]:
    """Settings of the runs (the values found) beside the paper's."""
    out = []
    for key, legacy in PROTOCOL_KEYS:
        values = sorted({json.dumps(_setting(r.config, key, legacy)) for r in runs})
        ours = ", ".join(v.strip('"') for v in values)
        if key == "episode_length" and ours == "0":
            ours = "0 (each task's own)"
        paper = ("task's (100, pusher 200; the authors' cart-pole 60)"
                 if key == "episode_length" else PAPER_SETTINGS.get(key, "-"))
        out.append([key, ours, str(paper)])
    epochs = sorted({json.dumps((r.config.get("train") or {}).get("epochs")) for r in runs})
    out.append(["train.epochs (max)", ", ".join(epochs), "-"])
    return out


def protocol_lines(ctx: SweepContext) -> list[str]:
    """``## Protocol``: run settings, planners as run, runs per cell."""
    lines = ["## Protocol", "", "Settings found in the runs' config.json beside the paper's.", ""]
    lines += md_table(["setting", "these runs", "paper"], _protocol(ctx.runs), right=False)
    lines += ["", "### Planners as run", "",
              "Each label with the settings it actually ran with where they differ from the "
              "label's defaults (`planner_config` in config.json):", ""]
    configs = {label: rs[0].config for (_, label), rs in ctx.groups.items()}
    lines += md_table(["planner", "family", "settings that differ from the name's defaults"],
                      planner_settings_rows(configs), right=False)
    lines += ["", "Runs per task and planner (seeds):", ""]
    header, body = pivot([{"task": t, "planner": p, "runs": rs}
                          for (t, p), rs in ctx.groups.items()],
                         lambda r: f"{len(r['runs'])} ({seeds_text(x.seed for x in r['runs'])})")
    lines += md_table(header, body)
    notes = group_warnings(ctx.groups)
    if notes:
        lines += ["", "**Warning**: runs grouped together differ in their settings:", ""]
        lines += [f"- {n}" for n in notes]
    return lines + [""]


def figure3_lines(ctx: SweepContext) -> list[str]:
    """``## Figure 3``: returns, and the model's held-out error and training time per trial."""
    lines = ["## Figure 3: episode return over training", ""]
    if (ctx.dest / "figure3_returns.png") in ctx.files:
        lines += ["![Figure 3](figure3_returns.png)", ""]
    lines += ["Final and best (max over trials) return of a run, mean ± std over runs (n):", ""]
    header, body = pivot(ctx.tables["returns"], lambda r: (
        f"{g(r['final_return'])} ± {g(r['final_return_std'])} / "
        f"{g(r['best_return'])} ± {g(r['best_return_std'])} (n={r['runs']})"))
    lines += md_table(header, body) + ["", "Cells: final / best return.", ""]
    lines += ["### The model per trial", "",
              "Beside each trial's return: the ensemble's held-out MSE (`val_mse`, the "
              "restored best epoch) and the wall time of that trial's model training "
              "(`train_s`), mean ± std over runs.", ""]
    if (ctx.dest / "model_quality.png") in ctx.files:
        lines += ["![Model quality](model_quality.png)", ""]
    lines += md_table(
        ["task", "planner", "trial", "return", "val MSE", "train s", "runs"],
        [[r["task"], r["planner"], str(r["trial"]),
          f"{g(r['return_mean'])} ± {g(r['return_std'])}",
          f"{g(r['val_mse_mean'])} ± {g(r['val_mse_std'])}",
          f"{g(r['train_s_mean'])} ± {g(r['train_s_std'])}", str(r["runs"])]
         for r in ctx.tables["figure3"]])
    return lines + [""]


def figure4_lines(ctx: SweepContext) -> list[str]:
    """``## Figure 4``: best return against rollouts per step."""
    lines = ["## Figure 4: best return versus rollouts per step", ""]
    if (ctx.dest / "figure4_sample_efficiency.png") in ctx.files:
        lines += ["![Figure 4](figure4_sample_efficiency.png)", ""]
    f4 = ctx.tables["figure4"]
    if not f4:
        return lines + ["No CEM or CEM-GD runs.", ""]
    lines += ["Best return of a run (max over trials), mean ± std over runs. CEM's rollouts "
              "per step are N = samples x iterations; CEM-GD's are plotted at N_r (the "
              "paper's axis) and at the measured mean rollouts per step (N_r plus the "
              "gradient stage's line-search evaluations; the first step's N_init raises the "
              "mean a little).", ""]
    lines += md_table(
        ["task", "planner", "runs", "N (paper axis)", "measured rollouts/step", "best return"],
        [[r["task"], r["planner"], str(r["runs"]), g(r["nominal_rollouts"]),
          g(r["measured_rollouts"]), f"{g(r['best_return_mean'])} ± {g(r['best_return_std'])}"]
         for r in f4])
    return lines + [""]


def _paper(value: float, unit: str = "") -> str:
    return f" · paper {g(value)}{unit}" if math.isfinite(value) else ""


def tables_lines(t1: Sequence[Row], t2: Sequence[Row], over: str = "runs") -> list[str]:
    """``## Table 1`` (time per step) and ``## Table 2`` (memory); ``over`` names what the
    mean ± std is over (``runs`` of a sweep, ``episodes`` of an evaluation)."""
    where = "" if over == "runs" else " (frozen-model comparison)"
    lines = [f"## Table 1: planning time per step (seconds){where}", "",
             f"Ours: mean ± std over {over} of the mean wall time per planning step (every "
             "step, compile excluded; CEM-GD's first step of each episode samples N_init "
             f"and is included), (n) {over} per cell. Paper: its Table 1.", ""]
    lines += md_table(*pivot(t1, lambda r: f"{g(r['plan_s_mean'])} ± {g(r['plan_s_std'])} "
                             f"(n={r['runs']})" + _paper(r["paper_s"])))
    lines += ["", f"First step of an episode / later steps, mean over {over} (s):", ""]
    lines += md_table(*pivot(t1, lambda r: f"{g(r['first_step_s'])} / {g(r['later_steps_s'])}"))
    lines += ["", f"## Table 2: peak memory (MB){where}", "",
              "**XLA** = the compiled planning step's memory (arguments + outputs + "
              "temporaries, XLA's memory analysis), the closest to the planner's own peak; "
              "**RSS** = the process's peak resident set size (Python, JAX, the simulator, "
              f"the buffer and model training included). Mean ± std over {over}. Paper: its "
              "Table 2 (how it measured is not stated).", ""]
    lines += md_table(*pivot(t2, lambda r: (
        f"XLA {g(r['plan_memory_mb'])} ± {g(r['plan_memory_mb_std'])} · RSS "
        f"{g(r['peak_rss_mb'])} ± {g(r['peak_rss_mb_std'])} (n={r['runs']})"
        + _paper(r["paper_mb"]))))
    return lines + [""]


def claims_lines(claims: Sequence[Mapping[str, Any]], unit_of_n: str,
                 on: str = "these runs") -> list[str]:
    """``## The paper's claims``: numbers, the deciding test, the verdict."""
    lines = [f"## The paper's claims on {on}", ""]
    if not claims:
        return lines + ["No claim could be checked (the planners it compares were not run).",
                        ""]
    lines += [method_text(unit_of_n, len(claims)), ""]
    lines += verdict_matrix(claims)
    lines += md_table(["claim", "task", "ours", "test", "verdict"],
                      [[c["claim"], c["task"], c["ours"], c["test"], c["verdict_text"]]
                       for c in claims], right=False)
    return lines + [""]


def method_text(unit_of_n: str, count: int) -> str:
    """The one paragraph that states how the verdicts below were decided."""
    side = (1 - stats.LEVEL) / 2
    return (f"**Method.** Each claim is decided by the mean difference between its two "
            f"planners over the {unit_of_n}, with a two-sided {stats.LEVEL:.0%} t interval: "
            "paired t where both sides share seeds; stratified by model (each model's pairs "
            "weighted by their share, Welch-Satterthwaite degrees of freedom, conditional "
            "on the models evaluated) where a task ran on several models; Welch's t "
            f"otherwise. Each one-sided decision errs at most {side:.1%} at the claim's "
            "boundary on normal and heavy-tailed differences, by simulation at n = 5 to 20 "
            "(`python -m cemgd.report.simulate`); on strongly skewed differences the side "
            "of the long tail errs more, so the test column gives the differences' "
            f"skewness. The margin of practical equivalence is {stats.MARGIN:.0%} of the "
            "reference's gain over the uniform-random return (offset-free; of its magnitude "
            "for time and memory). *cannot tell* gives the pairs at which the decision the "
            "observed difference points to would have 80% power; fewer than "
            f"{stats.MIN_N} samples decide nothing unless every difference is the same. "
            f"These {count} verdicts are **exploratory**: each is at its own level, with no "
            "correction for their number.")


def plan_lines(ctx: SweepContext) -> list[str]:
    """``## Pre-registered primary claims``: the plan's claims, decided as planned."""
    plan, rows = ctx.plan, ctx.tables.get("plan_claims", [])
    if plan is None:
        return []
    side = (1 - plan.level) / 2
    correction = ("Holm's step-down correction over the primary claims (one family for the "
                  "tests that make a claim hold, one for those that make it not hold)"
                  if plan.correction == "holm" else "no correction for their number")
    models = ", ".join(f"{m.name} ({m.task}, `{m.folder}`, {m.episodes} episodes)"
                       for m in plan.models)
    lines = [f"## Pre-registered primary claims: {plan.title}", "",
             f"**Method.** Decided exactly as the plan `{plan.path.name}` states: on the "
             f"planned episodes only (the first seeds each model's folder asked for; later "
             f"episodes count only in the exploratory sections), paired t tests stratified "
             f"over the models, each one-sided at {side:.1%} ({plan.level:.0%} two-sided), "
             f"with {correction}; margin {plan.margin:.0%} of the reference's gain over the "
             f"uniform-random return. Models: {models}.", ""]
    lines += md_table(["claim", "task", "ours", "test", "adjusted p (holds)", "verdict"],
                      [[r["claim"], r["task"], r["ours"], r["test"],
                        g(r.get("p_holds_adjusted")), r["verdict_text"]] for r in rows],
                      right=False)
    return lines + ["", "Every other verdict in this report is exploratory.", ""]


def verdict_matrix(claims: Sequence[Mapping[str, Any]]) -> list[str]:
    """Claims x tasks, each cell the verdict (``-``: not tested there), where the claims
    span more than one task; the table after it has the numbers."""
    tasks = order({c["task"] for c in claims}, TASK_ORDER)
    if len(tasks) < 2:
        return []
    cells = {(c["claim"], c["task"]): c["verdict"] for c in claims}
    body = [[claim, *(cells.get((claim, t), "-") for t in tasks)]
            for claim in dict.fromkeys(c["claim"] for c in claims)]
    return ["Verdicts at a glance:", ""] + md_table(["claim", *tasks], body, right=False) + [
        "", "The numbers and tests behind each:", ""]


def footer_lines(skipped: Sequence[Skipped], files: Sequence[Path], dest: Path) -> list[str]:
    """``## What we measured differently``, ``## Folders not used``, ``## Files``."""
    lines = ["## What we measured differently from the paper", ""]
    lines += [f"- {d}" for d in DIFFERENCES] + ["", "## Folders not used", ""]
    if skipped:
        lines += md_table(["folder", "reason"], [[s.folder, s.reason] for s in skipped],
                          right=False)
    else:
        lines += ["None."]
    lines += ["", "## Files", ""]
    return lines + [f"- `{rel(p, dest)}`" for p in files] + ["- `REPORT.md`", ""]


def sweep_markdown(ctx: SweepContext) -> str:
    """REPORT.md of a sweep folder and/or evaluation folders."""
    evs = ctx.evaluations
    lines = [f"# Reproduction report: {ctx.root.resolve().name}", ""]
    lines += quick_banner(ctx.quick) + partial_banner(ctx.runs)
    lines += [f"Generated {dt.datetime.now().isoformat(timespec='seconds')} by `cemgd report` "
              f"from {len(ctx.runs)} run folder(s) and {len(evs)} evaluation folder(s) in "
              f"`{ctx.root}`; {len(ctx.skipped)} folder(s) not used (listed at the end). "
              "Paper: Huang et al., *CEM-GD*, Section 3 (Figures 3 and 4, Tables 1 and 2).",
              ""]
    lines += hardware_lines(ctx.hardware)
    lines += baseline_lines(ctx.baselines)
    if ctx.runs:
        for section in (protocol_lines, figure3_lines, figure4_lines):
            lines += section(ctx)
        lines += tables_lines(ctx.tables["table1"], ctx.tables["table2"])
        lines += claims_lines(ctx.tables["claims"], "seeds (one value per run)")
    lines += plan_lines(ctx)
    if evs:
        lines += evaluation_planner_lines(evs) + evaluation_lines(evs, ctx.files)
        lines += tables_lines(ctx.tables["eval_table1"], ctx.tables["eval_table2"], "episodes")
        lines += claims_lines(ctx.tables["eval_claims"], "episodes (paired by episode seed)",
                              "the frozen-model comparison")
        if ctx.exploitation:
            lines += ["## Model exploitation on the frozen models", "", *ctx.exploitation]
    lines += footer_lines(ctx.skipped, ctx.files, ctx.dest)
    return "\n".join(lines)
