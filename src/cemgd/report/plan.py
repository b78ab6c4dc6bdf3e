"""A pre-registered analysis plan (``plan.toml``): the primary claims a report decides
exactly as planned, with a correction for their number; every other verdict is
exploratory.

A plan names, before any of its episodes run, the evaluation folder of each model (one
folder per model), the episodes each planner gets on it (the first ``episodes`` seeds
the folder asked for; later episodes are left out of the primary analysis), the
claims, the margin (a fraction of the reference's gain over the uniform-random return),
the test and the level (a key not shown here is refused, naming it)::

    [plan]
    title = "CEM-GD against CEM 5000 on half-cheetah"
    level = 0.95              # two-sided; each one-sided test at (1 - level) / 2
    correction = "holm"       # over the primary claims ("holm" or "none")
    margin = 0.10             # of the reference's gain over uniform random
    test = "t"                # paired t, stratified over models
    random_episodes = 20      # uniform-random episodes per task (the margin's floor)

    [[models]]
    name = "model-1"
    task = "halfcheetah"
    folder = "halfcheetah-exp/model-1/eval"   # relative to the report's root
    episodes = 20

    [[claims]]
    id = "H1"
    text = "CEM-GD is as good as CEM 5000"
    task = "halfcheetah"
    a = "cem-gd"
    b = "cem-5000"
    kind = "no_worse"         # better, no_worse or tie (cemgd.report.stats)
"""

from __future__ import annotations

import difflib
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cemgd.report import stats
from cemgd.report.claims import Claim, claim_margin, result
from cemgd.report.evaluations import Evaluation

CORRECTIONS = ("holm", "none")
TESTS = ("t",)
#: The keys each level of a plan takes (``""``: the file's top level); any other is refused.
PLAN_KEYS = {
    "": ("plan", "models", "claims"),
    "[plan]": ("title", "level", "correction", "margin", "test", "random_episodes"),
    "[[models]]": ("name", "task", "folder", "episodes"),
    "[[claims]]": ("id", "text", "task", "a", "b", "kind"),
}


@dataclass(frozen=True)
class PlannedModel:
    """One model of the plan and the episodes each planner gets on it."""

    name: str
    task: str
    folder: str
    """Its evaluation folder, relative to the report's root."""
    episodes: int


@dataclass(frozen=True)
class PlannedClaim:
    """A primary claim: ``a`` against ``b`` on ``task``'s return."""

    id: str
    text: str
    task: str
    a: str
    b: str
    kind: str


@dataclass(frozen=True)
class Plan:
    """A parsed ``plan.toml``."""

    path: Path
    title: str
    level: float
    correction: str
    margin: float
    test: str
    random_episodes: int
    models: tuple[PlannedModel, ...]
    claims: tuple[PlannedClaim, ...]


def _field(table: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str,
           default: Any = None) -> Any:
    value = table.get(key, default)
    if value is None or isinstance(value, bool) or not isinstance(value, kind):
        name = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ValueError(f"{where}: `{key}` expected {name}, got {value!r}")
    return value


def _known_keys(table: Mapping[str, Any], level: str, where: str) -> None:
    """Refuse a key of ``table`` that :data:`PLAN_KEYS` does not list for ``level`` (a
    misspelt setting would otherwise leave its default in force, unseen)."""
    keys = PLAN_KEYS[level]
    for key in table:
        if key not in keys:
            close = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
            hint = f" (did you mean `{close[0]}`?)" if close else ""
            raise ValueError(f"{where}: unknown key `{key}`{hint}; {level or 'the top level'} "
                             f"takes {', '.join(f'`{k}`' for k in keys)}")


def _choice(value: Any, options: Sequence[str], where: str) -> str:
    if value not in options:
        raise ValueError(f"{where}: expected one of {', '.join(options)}, got {value!r}")
    return str(value)


def read_plan(path: str | Path) -> Plan:
    """Parse and check a plan file.

    Raises:
        ValueError: naming the file and the entry that is missing or malformed.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ValueError(f"{path}: not a readable plan ({err})") from None
    _known_keys(data, "", str(path))  # a misspelt [plan] gets its suggestion first
    head = data.get("plan")
    if not isinstance(head, dict):
        raise ValueError(f"{path}: expected a [plan] table")
    where = f"{path} [plan]"
    _known_keys(head, "[plan]", where)
    level = float(_field(head, "level", (int, float), where, 0.95))
    margin = float(_field(head, "margin", (int, float), where, stats.MARGIN))
    if not 0.5 < level < 1 or not 0 <= margin < 1 or not math.isfinite(margin):
        raise ValueError(f"{where}: expected 0.5 < level < 1 and 0 <= margin < 1, "
                         f"got level {level}, margin {margin}")
    models = tuple(_model(m, f"{path} [[models]] {i + 1}")
                   for i, m in enumerate(_tables(data, "models", path)))
    claims = tuple(_claim(c, f"{path} [[claims]] {i + 1}")
                   for i, c in enumerate(_tables(data, "claims", path)))
    for what, names in (("models", [m.name for m in models]), ("claims", [c.id for c in claims])):
        if len(set(names)) != len(names):
            raise ValueError(f"{path}: [[{what}]] names must be unique, got {names}")
    missing = sorted({c.task for c in claims} - {m.task for m in models})
    if missing:
        raise ValueError(f"{path}: claims on {', '.join(missing)}, which no [[models]] entry has")
    episodes = int(_field(head, "random_episodes", int, where, 20))
    if episodes < 1:
        raise ValueError(f"{where}: `random_episodes` expected an int >= 1, got {episodes}")
    return Plan(path, str(_field(head, "title", str, where, path.stem)), level,
                _choice(head.get("correction", "holm"), CORRECTIONS, f"{where} correction"),
                margin, _choice(head.get("test", "t"), TESTS, f"{where} test"), episodes,
                models, claims)


def _tables(data: Mapping[str, Any], key: str, path: Path) -> list[Mapping[str, Any]]:
    items = data.get(key)
    if not isinstance(items, list) or not items or not all(isinstance(x, dict) for x in items):
        raise ValueError(f"{path}: expected at least one [[{key}]] table")
    return items


def _model(table: Mapping[str, Any], where: str) -> PlannedModel:
    _known_keys(table, "[[models]]", where)
    episodes = _field(table, "episodes", int, where)
    if episodes < stats.MIN_N:
        raise ValueError(f"{where}: `episodes` expected an int >= {stats.MIN_N}, got {episodes}")
    return PlannedModel(_field(table, "name", str, where), _field(table, "task", str, where),
                        _field(table, "folder", str, where), episodes)


def _claim(table: Mapping[str, Any], where: str) -> PlannedClaim:
    _known_keys(table, "[[claims]]", where)
    kind = _choice(table.get("kind"), stats.KINDS, f"{where} kind")
    return PlannedClaim(_field(table, "id", str, where),
                        _field(table, "text", str, where, str(table.get("id"))),
                        _field(table, "task", str, where), _field(table, "a", str, where),
                        _field(table, "b", str, where), kind)


def match(plan: Plan, evaluations: Sequence[Evaluation],
          incomplete: bool = False) -> dict[str, Evaluation]:
    """Each planned model's evaluation folder.

    Args:
        plan: the analysis plan.
        evaluations: the report folder's evaluations.
        incomplete: accept a claim's planner that a folder neither has nor asked for
            (an experiment in progress: the claim is then *cannot tell (incomplete)*).

    Raises:
        ValueError: naming the plan and what its folders lack (a model's folder, its
            task, or, unless ``incomplete``, a claim's planner).
    """
    found = {ev.folder: ev for ev in evaluations}
    out = {}
    for m in plan.models:
        ev = found.get(Path(m.folder).as_posix())
        if ev is None:
            raise ValueError(f"{plan.path}: model {m.name!r}: no evaluation folder "
                             f"{m.folder!r} under the report's folder")
        if ev.task != m.task:
            raise ValueError(f"{plan.path}: model {m.name!r}: {m.folder} evaluated "
                             f"{ev.task!r}, the plan says {m.task!r}")
        out[m.name] = ev
    for c in plan.claims:
        for m in (m for m in plan.models if m.task == c.task):
            asked = set(out[m.name].asked()) | set(out[m.name].planners())
            for planner in (c.a, c.b):
                if planner not in asked and not incomplete:
                    raise ValueError(f"{plan.path}: claim {c.id}: planner {planner!r} is not "
                                     f"in {m.folder} (it has {', '.join(sorted(asked))})")
    return out


def _planned_values(plan: Plan, evs: Mapping[str, Evaluation], claim: PlannedClaim,
                    planner: str) -> tuple[dict[tuple[str, int], float], list[str]]:
    """``{(model, seed): return}`` over the planned episodes, and what is missing."""
    values, missing = {}, []
    for m in (m for m in plan.models if m.task == claim.task):
        ev = evs[m.name]
        seeds = ev.seeds()[: m.episodes]
        got = {int(r["seed"]): float(r["return"]) for r in ev.rows if r["planner"] == planner}
        have = [s for s in seeds if s in got]
        if len(have) < m.episodes:
            missing.append(f"{planner} on {m.name}: {len(have)} of {m.episodes} episodes")
        values.update({(m.name, s): got[s] for s in have})
    return values, missing


def decide_plan(plan: Plan, evaluations: Sequence[Evaluation],
                floors: Mapping[str, float], incomplete: bool = False
                ) -> list[dict[str, Any]]:
    """The primary claims, decided as planned: the planned episodes only, the plan's
    margin, test and level, Holm's correction over the claims (both the tests that make
    a claim hold and those that make it not hold form a family each). A claim whose
    planned episodes have not all run is ``cannot tell`` and says what is missing; one
    without a single pair yet is listed so too (it is not dropped).

    Raises:
        ValueError: the plan and the folders do not match (:func:`match`; a planner a
            folder lacks is accepted when ``incomplete``).
    """
    evs = match(plan, evaluations, incomplete)
    unpaired = []
    alpha = (1 - plan.level) / 2
    rows: dict[str, dict[str, Any]] = {}
    for pc in plan.claims:
        a, missing_a = _planned_values(plan, evs, pc, pc.a)
        b, missing_b = _planned_values(plan, evs, pc, pc.b)
        claim = Claim(f"{pc.id}: {pc.text}", pc.a, pc.b, "return", pc.kind, (pc.task,))
        c = stats.compare(a, b)
        if c is None:
            unpaired.append(_no_pairs(pc, missing_a + missing_b))
            continue
        m, basis = claim_margin(claim, c, floors.get(pc.task), pc.b, plan.margin)
        v = stats.decide(c, pc.kind, m, alpha)
        row = result(claim, pc.task, pc.a, pc.b, c, v, basis, plan.level)
        row.update(status="primary", missing="; ".join(missing_a + missing_b))
        rows[pc.id] = row
    _correct(rows, plan.correction, alpha)
    return list(rows.values()) + unpaired


def _no_pairs(pc: PlannedClaim, missing: Sequence[str]) -> dict[str, Any]:
    """The row of a primary claim that has no paired episode yet."""
    why = "; ".join(missing) or "no episode of both planners on the same seed"
    return {"claim": f"{pc.id}: {pc.text}", "task": pc.task, "a": pc.a, "b": pc.b,
            "ours": "", "test": "", "kind": pc.kind, "status": "primary",
            "verdict": stats.UNSURE, "verdict_text": f"cannot tell (incomplete: {why})",
            "missing": why, "p_holds_adjusted": math.nan, "p_fails_adjusted": math.nan}


def _correct(rows: dict[str, dict[str, Any]], correction: str, alpha: float) -> None:
    """Decide each row again on its family-adjusted p-values (in place)."""
    adjust = stats.holm if correction == "holm" else dict
    held = adjust({k: r["p_holds"] for k, r in rows.items()})
    failed = adjust({k: r["p_fails"] for k, r in rows.items()})
    for k, r in rows.items():
        r["p_holds_adjusted"], r["p_fails_adjusted"] = held[k], failed[k]
        c: stats.Comparison = r["comparison"]
        if r["missing"]:
            verdict, text = stats.UNSURE, f"cannot tell (incomplete: {r['missing']})"
        elif c.n < stats.MIN_N and not c.exact:
            verdict, text = stats.UNSURE, r["verdict_text"]
        elif held[k] < alpha:
            verdict, text = stats.HOLDS, stats.HOLDS
        elif failed[k] < alpha:
            verdict, text = stats.FAILS, stats.FAILS
        else:
            verdict = stats.UNSURE
            r["n_needed"] = stats.n_needed(c, r["kind"], r["margin"], alpha / len(rows))
            text = (f"cannot tell (n = {c.n}; about {r['n_needed']} pairs for 80% power at "
                    "the Holm level)" if r["n_needed"] else "cannot tell (on the boundary)")
        r["verdict"], r["verdict_text"] = verdict, f"{text} [{correction} p {held[k]:.3g}]" \
            if correction == "holm" and math.isfinite(held[k]) else text
