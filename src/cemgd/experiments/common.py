"""What every study shares: a run folder, CSV written as it goes, tables, planner specs."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from rich.table import Table

from cemgd.planners.spec import PlannerSpec, make_planner, planner_settings
from cemgd.planners.spec import typed_value as spec_typed_value

# console and progress moved to cemgd.runtime; importable here until callers switch.
from cemgd.runs import StudyFolder
from cemgd.runtime import console as _console
from cemgd.runtime import progress as progress

console = _console()


# The flag helpers (add_config_arguments, config_from_args) live in cemgd.cli.flags.


def field_docs(config_cls: type) -> dict[str, str]:
    """Docstrings written under each field of a dataclass and its bases (the line after
    ``x: int = 1``)."""
    import ast
    import inspect
    import textwrap

    docs: dict[str, str] = {}
    for cls in reversed(config_cls.__mro__):
        if not dataclasses.is_dataclass(cls):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, nxt in zip(body, body[1:], strict=False):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                    and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                    and isinstance(nxt.value.value, str)):
                docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


# The study results folder moved to cemgd.runs (one rule on a config change: refuse).
RunDir = StudyFolder


def print_table(title: str, rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> None:
    """Print ``rows`` as a rich table with ``columns``."""
    table = Table(title=title)
    for col in columns:
        table.add_column(col, justify="right")
    for row in rows:
        table.add_row(*[_fmt(row.get(col, "")) for col in columns])
    console.print(table)


def _fmt(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            try:
                value = float(value)
            except ValueError:
                return value
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion."""
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    denom = 1 + z**2 / trials
    centre = (p + z**2 / (2 * trials)) / denom
    half = z * (p * (1 - p) / trials + z**2 / (4 * trials**2)) ** 0.5 / denom
    return max(0.0, centre - half), min(1.0, centre + half)




def parse_planner(spec: str) -> tuple[str, dict[str, Any]]:
    """``"cem-gd:n_replan=20"`` -> ``("cem-gd", {"n_replan": 20})`` (the name may be a preset).

    A thin call into :meth:`cemgd.planners.spec.PlannerSpec.parse` (errors name ``planners``).
    """
    parsed = PlannerSpec.parse(spec, where="planners")
    return parsed.name, dict(parsed.settings)


def typed_value(where: str, value: Any, default: Any) -> Any:
    """``value`` typed like ``default``: :func:`cemgd.planners.spec.typed_value`."""
    return spec_typed_value(where, value, default)


def parse_planner_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``(registry name, preset settings updated by the spec's)`` of a planner spec."""
    parsed = PlannerSpec.parse(spec, where="planners")
    return parsed.family, {**parsed.preset, **parsed.settings}


def make_planner_from_spec(spec: str, **defaults: Any) -> Any:
    """Build the planner of ``spec``; ``defaults`` fill settings the spec and preset leave unset."""
    parsed = PlannerSpec.parse(spec, where="planners")
    fields = {s.name for s in planner_settings(parsed.family)}
    merged = {k: v for k, v in defaults.items() if k in fields and k not in parsed.preset}
    return make_planner(PlannerSpec(parsed.name, {**merged, **parsed.settings}))


class StepTiming(NamedTuple):
    """Result of :func:`time_plan_step`.

    Attributes:
        compile_s: trace + lower + compile of the replan step.
        first_call_s: ``compile_s`` plus the first call.
        times_ms: the timed calls, ``[repeats]``.
        infos: PlanInfo of every timed call.
        compiled: the compiled step (for ``memory_analysis``).
    """

    compile_s: float
    first_call_s: float
    times_ms: Any
    infos: list
    compiled: Any

    def summary(self) -> dict[str, float]:
        """``compile_s``, ``median_ms``, ``p10_ms``, ``p90_ms``."""
        import numpy as np

        t = np.asarray(self.times_ms)
        return {"compile_s": self.compile_s, "median_ms": float(np.median(t)),
                "p10_ms": float(np.percentile(t, 10)), "p90_ms": float(np.percentile(t, 90))}


def time_plan_step(planner: Any, problem: Any, obs: Any, key: Any, repeats: int,
                   warmup: int = 2) -> StepTiming:
    """Time the jitted replan step (``plan_fn(problem, first=False)``) of ``planner``.

    The state is carried from call to call as in MPC; each call is waited for.
    """
    import time

    import jax
    import jax.numpy as jnp
    import numpy as np

    state = planner.init(problem, key)
    obs = jnp.asarray(obs, jnp.float32)
    start = time.perf_counter()
    compiled = jax.jit(planner.plan_fn(problem, first=False)).lower(state, obs).compile()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    state = jax.block_until_ready(compiled(state, obs))[1]
    first_call_s = compile_s + time.perf_counter() - start
    for _ in range(warmup):
        state = jax.block_until_ready(compiled(state, obs))[1]
    times, infos = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        _, state, info = jax.block_until_ready(compiled(state, obs))
        times.append((time.perf_counter() - start) * 1e3)
        infos.append(info)
    return StepTiming(compile_s, first_call_s, np.asarray(times), infos, compiled)
