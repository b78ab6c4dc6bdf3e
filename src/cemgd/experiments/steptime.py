"""Time and memory of a planner's first step, and the gradient stage against its bound.

Used by ``cemgd bench``. The replan step is timed by
:func:`cemgd.experiments.common.time_plan_step`; here:

- :func:`first_step`: the compiled first step (CEM-GD's ``N_init`` step), its memory
  and the median of a few calls, each from a fresh state;
- :func:`gradient_stage`: the line-search gradient ascent of one sequence (``k = 1``)
  with the planner's settings, timed alone, beside a bound: a gradient step reads the
  ensemble's weights at least twice per time step (forward and backward matrix-vector
  products) and a line-search trial once, so ``bound = T * t_read * (2 * gradients +
  trials + 1)`` (``+ 1``: the start's evaluation), with ``t_read`` the measured time of
  one matrix-vector pass through every member's layers (:func:`weight_read_ms`).
"""

from __future__ import annotations

import dataclasses
import resource
import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from cemgd.linesearch import gradient_ascent
from cemgd.planners.base import Planner
from cemgd.problem import Array, Problem, evaluate


def memory_mb(compiled: Any) -> float | str:
    """XLA's memory_analysis of a compiled function: temp + argument + output, MB."""
    try:
        m = compiled.memory_analysis()
        return (m.temp_size_in_bytes + m.argument_size_in_bytes + m.output_size_in_bytes) / 2**20
    except Exception:  # backends differ in what they expose
        return "unavailable"


class FirstStep(NamedTuple):
    """Result of :func:`first_step`: compile seconds, median ms, compiled memory MB."""

    compile_s: float
    median_ms: float
    mem_mb: float | str


def first_step(planner: Planner, problem: Problem, obs: Array, key: Array,
               repeats: int) -> FirstStep:
    """Compile and time ``plan_fn(problem, first=True)`` from a fresh state each call."""
    state = planner.init(problem, key)
    obs = jnp.asarray(obs, jnp.float32)
    start = time.perf_counter()
    compiled = jax.jit(planner.plan_fn(problem, first=True)).lower(state, obs).compile()
    compile_s = time.perf_counter() - start
    jax.block_until_ready(compiled(state, obs))
    times = []
    for i in range(max(1, repeats)):
        fresh = state._replace(key=jax.random.fold_in(key, i))
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(fresh, obs))
        times.append((time.perf_counter() - t0) * 1e3)
    return FirstStep(compile_s, float(np.median(times)), memory_mb(compiled))


def weight_read_ms(params: Any, steps: int = 200, repeats: int = 5) -> float:
    """Time of one matrix-vector pass through every member's layers (batch 1), ms.

    A jitted ``lax.scan`` of ``steps`` dependent passes (each layer's output feeds the
    next, the last one's first entries the next step's input), so dispatch is paid once
    and every pass reads every weight: the per-time-step cost of one sequence, if
    reading the weights were all it took.
    """
    weights = list(params.weights)
    in0 = int(weights[0].shape[1])

    def one_pass(x: Array, _: None) -> tuple[Array, None]:
        h = x
        for w in weights:
            h = jnp.tanh(jnp.einsum("ei,eio->eo", h, w))
        if h.shape[1] < in0:
            h = jnp.pad(h, ((0, 0), (0, in0 - h.shape[1])))
        return h[:, :in0], None

    run = jax.jit(lambda x: jax.lax.scan(one_pass, x, None, length=steps)[0])
    x0 = jnp.full((weights[0].shape[0], in0), 0.1, jnp.float32)
    run(x0).block_until_ready()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run(x0).block_until_ready()
        times.append((time.perf_counter() - t0) * 1e3 / steps)
    return float(np.median(times))


class GradientStage(NamedTuple):
    """Result of :func:`gradient_stage` (per call of one sequence's ascent)."""

    median_ms: float
    gradients: int
    trials: int
    bound_ms: float


def gradient_stage(planner: Planner, problem: Problem, obs: Array, key: Array,
                   params: Any, repeats: int) -> GradientStage | None:
    """Time one sequence's gradient ascent with ``planner``'s settings; ``None`` if it has none.

    The start is a uniform random sequence; the bound is the module docstring's.
    """
    c = planner.config
    if not hasattr(c, "line_search_trials"):
        return None
    obs = jnp.asarray(obs, jnp.float32)
    start = jax.random.uniform(jax.random.fold_in(key, 1), (1, problem.horizon,
                               problem.action_dim), minval=problem.action_low,
                               maxval=problem.action_high)

    @jax.jit
    def run(a: Array) -> Any:
        r, _ = evaluate(problem, obs, a, key)
        return gradient_ascent(problem, obs, a, r, key, c.grad_steps, c.step_size,
                               c.step_decay, c.line_search_trials, c.line_search,
                               c.step_rule)

    out = jax.block_until_ready(run(start))
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        jax.block_until_ready(run(start))
        times.append((time.perf_counter() - t0) * 1e3)
    grads = int(out.num_rollouts) - int(out.line_search_trials)
    trials = int(out.line_search_trials)
    bound = problem.horizon * weight_read_ms(params) * (2 * grads + trials + 1)
    return GradientStage(float(np.median(times)), grads, trials, bound)


def matmul_gflops(size: int, repeats: int = 10) -> float:
    """Median throughput of a jitted ``[size, size] @ [size, size]`` f32 matmul, GFLOP/s."""
    x = jax.random.normal(jax.random.key(0), (size, size), jnp.float32)
    f = jax.jit(lambda a, b: a @ b)
    f(x, x).block_until_ready()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f(x, x).block_until_ready()
        times.append(time.perf_counter() - t0)
    return 2.0 * size**3 / float(np.median(times)) / 1e9


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _uses_gradients(planner: Any) -> bool:
    fields = {f.name for f in dataclasses.fields(planner.config)}
    return bool(fields & {"grad_steps", "inner_steps"})


def gradient_rollouts(planner: Any, info: dict[str, float]) -> float:
    """Sequences whose gradient was taken in one step, from PlanInfo's counters.

    ``num_rollouts`` counts gradient evaluations as rollouts; for ``cem-gd`` and
    ``gd`` it is ``num_samples + top_k`` (re-evaluation) ``+ gradients + trials``,
    for ``gradcem`` ``num_samples + gradients``. Planners without gradient
    settings take none.
    """
    if not _uses_gradients(planner):
        return 0.0
    top_k = getattr(planner.config, "top_k", 0)
    n = info["num_rollouts"] - info["num_samples"] - top_k - info["line_search_trials"]
    return max(0.0, n)
