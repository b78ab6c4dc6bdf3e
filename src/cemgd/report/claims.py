"""The paper's claims (Sec. 3), each decided on our numbers by :mod:`cemgd.report.stats`.

Claims are checked on :class:`Samples`: per ``(task, planner label)`` the values of a
metric keyed by seed (a sweep's run seeds, or an evaluation's episode seeds), so the
same code decides a sweep and an evaluation. Metrics: ``return`` (a sweep's best
return of a run; an evaluation's episode return), ``plan_s`` (seconds per planning
step) and ``plan_memory_mb`` (the compiled planning step).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cemgd.report import stats
from cemgd.report.load import RunData
from cemgd.report.paper import TASK_ORDER
from cemgd.report.tables import order
from cemgd.report.text import g

HEAVY_TASKS = ("halfcheetah", "humanoid-standup")
LIGHT_TASKS = ("cartpole-paper", "cartpole-swingup", "pusher")
UNITS = {"return": "", "plan_s": " s", "plan_memory_mb": " MB"}


@dataclass(frozen=True)
class Claim:
    """One sentence of the paper, as a comparison ``a`` against ``b``."""

    text: str
    a: str
    """Planner label of the claim's subject (``cem-gd``), or ``min-nr``/``max-nr``."""
    b: str
    metric: str
    """``return``, ``plan_s`` or ``plan_memory_mb``."""
    kind: str
    """``better``, ``no_worse`` or ``tie`` (:mod:`cemgd.report.stats`)."""
    tasks: tuple[str, ...] | None = None
    """Tasks it speaks of (None: every task)."""

    @property
    def lower_is_better(self) -> bool:
        return self.metric != "return"


CLAIMS: tuple[Claim, ...] = (
    Claim("CEM-GD (N_r = 50) performs as well as or better than CEM 5000 (Sec. 3.1)",
          "cem-gd", "cem-5000", "return", "no_worse"),
    Claim("CEM-GD (N_r = 50) is better than CEM 5000 on Half-Cheetah and Humanoid Standup "
          "(Sec. 3.1)", "cem-gd", "cem-5000", "return", "better", HEAVY_TASKS),
    Claim("CEM 5000 is better than CEM 500 on Half-Cheetah and Humanoid Standup (Sec. 3.2)",
          "cem-5000", "cem-500", "return", "better", HEAVY_TASKS),
    Claim("CEM saturates at 500 samples on Cart-pole and Pusher: CEM 5000 ties CEM 500 "
          "(Sec. 3.1)", "cem-5000", "cem-500", "return", "tie", LIGHT_TASKS),
    Claim("CEM-GD performs as well as or better than CEM 500 (Sec. 3.1, with 10x fewer samples)",
          "cem-gd", "cem-500", "return", "no_worse"),
    Claim("CEM-GD performs as well as or better than the gradient optimizer GD (Sec. 3.1)",
          "cem-gd", "gd", "return", "no_worse"),
    Claim("CEM-GD's return is flat in N_r: its smallest N_r ties its largest (Sec. 3.2, Fig. 4)",
          "min-nr", "max-nr", "return", "tie"),
    Claim("CEM-GD plans faster per step than CEM 5000 (Table 1)",
          "cem-gd", "cem-5000", "plan_s", "better"),
    Claim("CEM-GD's planning step uses less memory than CEM 5000's (Table 2; compiled step)",
          "cem-gd", "cem-5000", "plan_memory_mb", "better"),
)


#: A sample's key: an episode (or run) seed, or ``(model, seed)`` over several models.
Key = int | tuple[str, int]


@dataclass
class Samples:
    """Per ``(task, planner label)``: metric values by seed (or by ``(model, seed)`` where
    a task was evaluated on several models), CEM-GD's N_r where known, and each task's
    uniform-random return where measured (the margin's floor)."""

    values: dict[tuple[str, str], dict[Key, dict[str, float]]] = field(default_factory=dict)
    n_replan: dict[tuple[str, str], float] = field(default_factory=dict)
    """N_r of each ``cem-gd`` group (for the N_r claim)."""
    floors: dict[str, float] = field(default_factory=dict)
    """Uniform-random mean return per task (``--random-episodes``)."""

    def metric(self, task: str, planner: str, name: str) -> dict[Key, float]:
        """``{seed: value}`` of one metric (empty when the group did not run)."""
        return {s: v.get(name, math.nan) for s, v in self.values.get((task, planner), {}).items()}

    def tasks(self) -> list[str]:
        return order({t for t, _ in self.values}, TASK_ORDER)

    def resolve(self, task: str, role: str) -> str | None:
        """The planner label a claim's role names on ``task`` (None: not run)."""
        if role in ("min-nr", "max-nr"):
            groups = sorted((n, p) for (t, p), n in self.n_replan.items() if t == task)
            if len({n for n, _ in groups}) < 2:
                return None
            return groups[0][1] if role == "min-nr" else groups[-1][1]
        return role if (task, role) in self.values else None


def samples_from_runs(groups: Mapping[tuple[str, str], Sequence[RunData]]) -> Samples:
    """A sweep's groups as :class:`Samples` (one value per run: its best return, mean
    planning time per step, compiled step memory)."""
    out = Samples()
    for key, runs in groups.items():
        out.values[key] = {}
        for run in runs:
            s = run.summary()
            out.values[key][run.seed] = {"return": s["best_return"], "plan_s": s["plan_s_mean"],
                                         "plan_memory_mb": s["plan_memory_mb"]}
        if runs and runs[0].base_planner == "cem-gd":
            out.n_replan[key] = runs[0].nominal_rollouts
    return out


def check_samples(samples: Samples, claims: Sequence[Claim] = CLAIMS) -> list[dict[str, Any]]:
    """Every claim on every task where both of its planners ran.

    Each result: ``claim``, ``task``, ``a``, ``b``, ``ours`` (means and n), ``test``
    (the difference, its 95% interval, paired or not), ``verdict`` (``holds``, ``does not
    hold``, ``cannot tell``), ``n_needed`` (with ``cannot tell``), ``comparison``.
    """
    results = []
    for claim in claims:
        for task in samples.tasks():
            if claim.tasks is not None and task not in claim.tasks:
                continue
            a, b = samples.resolve(task, claim.a), samples.resolve(task, claim.b)
            if a is None or b is None or a == b:
                continue
            c = stats.compare(samples.metric(task, a, claim.metric),
                              samples.metric(task, b, claim.metric), claim.lower_is_better)
            if c is None:
                continue
            m, basis = claim_margin(claim, c, samples.floors.get(task), b)
            results.append(result(claim, task, a, b, c, stats.decide(c, claim.kind, m), basis))
    return results


def claim_margin(claim: Claim, c: stats.Comparison, floor: float | None, b: str,
                 fraction: float = stats.MARGIN) -> tuple[float, str]:
    """``(margin, what it is a fraction of)`` of a claim whose reference is planner ``b``:
    of the reference's gain over the uniform-random return ``floor`` for returns (of its
    magnitude when no floor was measured, and the text says so), of its magnitude for
    times and memory."""
    if claim.metric != "return":
        return stats.margin(c.mean_b, None, fraction), f"{fraction:.0%} of {b}'s"
    if floor is None or not math.isfinite(floor):
        return (stats.margin(c.mean_b, None, fraction),
                f"{fraction:.0%} of |{b}| (no uniform-random return measured)")
    return (stats.margin(c.mean_b, floor, fraction),
            f"{fraction:.0%} of {b}'s gain over uniform random {g(floor)}")


def result(claim: Claim, task: str, a: str, b: str, c: stats.Comparison,
           v: stats.Verdict, basis: str, level: float = stats.LEVEL) -> dict[str, Any]:
    """One verdict as the report's tables hold it (``claims.csv`` columns and more)."""
    unit = UNITS[claim.metric]
    what = f"{b} - {a}" if claim.lower_is_better else f"{a} - {b}"
    how = "paired" if c.paired else "unpaired (Welch)"
    if c.per_model:
        how = f"paired, stratified over {len(c.per_model)} models"
    test = (f"{how} {what} = {g(c.diff)}{unit}, {level:.0%} t CI [{g(c.low)}, {g(c.high)}] "
            f"({claim.kind.replace('_', ' ')}, margin ±{g(v.margin)}{unit}: {basis})")
    if c.per_model:
        test += "; per model: " + ", ".join(f"{m} {g(d)} (n={n})" for m, d, n in c.per_model)
    if math.isfinite(c.skew):
        test += f"; skewness {c.skew:.2f}"
    verdict = v.verdict
    if v.verdict == stats.UNSURE:
        verdict += (f" (n = {c.n}; about {v.n_needed} pairs for 80% power)" if v.n_needed
                    else f" (n = {c.n}; the difference sits on the boundary)")
    return {"claim": claim.text, "task": task, "a": a, "b": b,
            "ours": f"{a} {g(c.mean_a)}{unit} vs {b} {g(c.mean_b)}{unit} (n={c.n})",
            "test": test, "verdict": v.verdict, "verdict_text": verdict,
            "n_needed": v.n_needed, "comparison": c, "p_holds": v.p_holds,
            "p_fails": v.p_fails, "status": "exploratory", "kind": claim.kind,
            "margin": v.margin}


def check_claims(groups: Mapping[tuple[str, str], Sequence[RunData]],
                 floors: Mapping[str, float] | None = None) -> list[dict[str, Any]]:
    """The paper's claims checked on a sweep's groups (see :func:`check_samples`), with
    ``floors`` the uniform-random return per task where measured."""
    samples = samples_from_runs(groups)
    samples.floors.update(floors or {})
    return check_samples(samples)
