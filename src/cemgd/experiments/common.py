"""What every study shares: the console, tables, intervals, the replan-step timer and the
check that a list argument names each value once."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from rich.table import Table

from cemgd.planners import PlannerSpec
from cemgd.runtime import console as _console
from cemgd.runtime import progress as progress

console = _console()


def resolved_settings(specs: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``{spec: the settings its name and overrides resolve to}`` for a study folder's record
    (:class:`~cemgd.runs.StudyFolder`'s ``settings``), before a study's own per-cell
    settings (``n_init``, ...), which its configuration holds: a preset or default that
    changes between two runs of a study then refuses to mix rows in one folder."""
    return {spec: dataclasses.asdict(PlannerSpec.parse(spec).config()) for spec in specs}


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




class StepTiming(NamedTuple):
    """Result of :func:`time_plan_step`.

    Attributes:
        compile_s: trace + lower + compile of the replan step.
        first_call_s: ``compile_s`` plus the first call.
        times_ms: the timed calls, ``[repeats]``.
        infos: Info of every timed call.
        compiled: the compiled step (for ``memory_analysis``).
    """

    compile_s: float
    first_call_s: float
    times_ms: Any
    infos: list
    compiled: Any

    def summary(self) -> dict[str, float]:
        """``compile_s``, ``median_ms``, ``p10_ms``, ``p90_ms``."""
        t = np.asarray(self.times_ms)
        return {"compile_s": self.compile_s, "median_ms": float(np.median(t)),
                "p10_ms": float(np.percentile(t, 10)), "p90_ms": float(np.percentile(t, 90))}


def time_plan_step(planner: Any, problem: Any, obs: Any, key: Any, repeats: int,
                   warmup: int = 2) -> StepTiming:
    """Time the jitted replan step (``plan_fn(problem, first=False)``) of ``planner``.

    The state is carried from call to call as in MPC; each call is waited for.
    """
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
