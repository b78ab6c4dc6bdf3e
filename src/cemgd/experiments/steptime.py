"""Time and memory of a planner's first step, and the gradient stage against its bound.

Used by ``cemgd bench``. The replan step is timed by
:func:`cemgd.experiments.common.time_plan_step`; here:

- :func:`first_step`: the compiled first step (CEM-GD's ``N_init`` step), its memory
  and the median of a few calls, each from a fresh state;
- :func:`gradient_stage`: the line-search gradient ascent of one sequence (``k = 1``)
  with the planner's settings, timed alone, beside a lower bound: every pass over the
  horizon (forward or backward: matrix-vector products, the weights read once per time
  step) moves at least the weights a row uses, so ``bound = weight bytes x T x passes /
  bandwidth``, the best of a copy and a matrix-vector product of a buffer that size,
  measured in the same run (the best of :func:`read_rates`); :func:`call_overhead_us` and
  :func:`scan_step_us` measure
  what the bound leaves out (a jitted call's dispatch, a loop step's own cost).
"""

from __future__ import annotations

import dataclasses
import resource
import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from cemgd.planners.base import Planner
from cemgd.planners.chunking import evaluate
from cemgd.planners.gradient import gradient_ascent
from cemgd.planners.settings import GradientSettings
from cemgd.problem import Array, Problem


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


def weight_bytes(params: Any, members: int) -> int:
    """Bytes of the weights and biases of ``members`` of the ensemble's members: what a
    rollout row reads per time step (one member per particle, ``min(P, E)`` in all)."""
    per_member = sum(int(np.prod(x.shape[1:])) * x.dtype.itemsize
                     for x in (*params.weights, *params.biases))
    return members * per_member


def read_rates(nbytes: int, rounds: int = 25) -> dict[str, float]:
    """GB/s of streaming an ``nbytes`` f32 buffer, by kind, each the best of ``rounds``
    rounds of ~10 ms (short rounds, so one of them finds the machine quiet):

    - ``copy``: a numpy copy, bytes read + written;
    - ``matvec``: a numpy (BLAS) matrix-vector product of an ``[n, 256]`` matrix that
      size, bytes read: the kernel a one-row rollout's layers are.

    At the weights' size the buffer stays in cache as the weights do, so the best of them
    is about the fastest the weights can be read here (a hardware peak would only lower
    the bound).
    """
    src = np.ones(max(256, nbytes // 4 // 256 * 256), np.float32)
    dst, mat, vec = np.empty_like(src), src.reshape(-1, 256), np.ones(256, np.float32)
    reps = max(1, int(0.01 / max(nbytes / 10e9, 1e-7)))
    rates = {}
    for kind, work, moved in (("copy", lambda: np.copyto(dst, src), 2 * src.nbytes),
                              ("matvec", lambda: mat @ vec, src.nbytes)):
        work()
        best = 0.0
        for _ in range(rounds):
            t0 = time.perf_counter()
            for _ in range(reps):
                work()
            best = max(best, moved * reps / (time.perf_counter() - t0) / 1e9)
        rates[kind] = best
    return rates


def call_overhead_us(repeats: int = 200) -> float:
    """Median time of a trivial jitted call (``x + 1`` on a scalar, waited for), us."""
    f = jax.jit(lambda x: x + 1)
    x = jnp.float32(0)
    f(x).block_until_ready()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f(x).block_until_ready()
        times.append((time.perf_counter() - t0) * 1e6)
    return float(np.median(times))


def scan_step_us(layers: int, steps: int = 2000, repeats: int = 5) -> float:
    """One step of a jitted ``lax.scan`` whose body is ``layers`` tiny (8 x 8) matrix-vector
    products with a tanh, us: what a rollout's time step costs beyond reading weights."""
    w = jnp.full((8, 8), 0.1, jnp.float32)

    def body(c: Array, _: None) -> tuple[Array, None]:
        for _ in range(layers):
            c = jnp.tanh(w @ c)
        return c, None

    run = jax.jit(lambda x: jax.lax.scan(body, x, None, length=steps)[0])
    x = jnp.full((8,), 0.1, jnp.float32)
    run(x).block_until_ready()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run(x).block_until_ready()
        times.append((time.perf_counter() - t0) * 1e6 / steps)
    return float(np.median(times))


class Machine(NamedTuple):
    """What ``cemgd bench`` measures once: matmul GFLOP/s, the read bandwidth (GB/s) of a
    buffer the size of the weights a rollout row reads per time step (``step_bytes``; the
    best of :func:`read_rates`), a trivial jitted call's time and a scan step's of as many
    tiny layers as the model's (us), and the matrix-vector product's read rate alone (GB/s).
    """

    gflops: float
    bandwidth_gbs: float
    step_bytes: int
    call_us: float
    scan_us: float
    matvec_gbs: float


def measure_machine(params: Any, members: int, matmul_size: int) -> Machine:
    """:class:`Machine` for the ensemble ``params``, a row using ``members`` of them."""
    step_bytes = weight_bytes(params, members)
    rates = read_rates(step_bytes)
    return Machine(matmul_gflops(matmul_size), max(rates.values()), step_bytes,
                   call_overhead_us(), scan_step_us(len(params.weights)), rates["matvec"])


class GradientStage(NamedTuple):
    """Result of :func:`gradient_stage` (one call of one sequence's ascent).

    ``forwards`` and ``backwards`` are the passes over ``T`` the ascent makes at least (the
    start's forward-backward, one forward per sequential trial or per parallel batch of
    ``J`` trials, one backward per gradient, and a forward for each gradient the parallel
    search takes after it); ``bound_ms`` = weight bytes per time step x ``T`` x (forwards
    + backwards) / the best of :func:`read_rates`.
    """

    median_ms: float
    gradients: int
    trials: int
    forwards: int
    backwards: int
    bound_ms: float


def gradient_stage(planner: Planner, problem: Problem, obs: Array, key: Array,
                   step_bytes: int, bandwidth_gbs: float,
                   repeats: int) -> GradientStage | None:
    """Time one sequence's gradient ascent with ``planner``'s settings; ``None`` if it has none.

    The start is a uniform random sequence whose return is computed outside the timed call;
    ``step_bytes`` (:func:`weight_bytes`) and ``bandwidth_gbs`` (the best of :func:`read_rates`)
    give the bound (:class:`GradientStage`).
    """
    c = planner.config
    if not isinstance(c, GradientSettings):
        return None
    obs = jnp.asarray(obs, jnp.float32)
    start = jax.random.uniform(jax.random.fold_in(key, 1), (1, problem.horizon,
                               problem.action_dim), minval=problem.action_low,
                               maxval=problem.action_high)
    r0, _ = evaluate(problem, obs, start, key)
    run = jax.jit(lambda a, r: gradient_ascent(problem, obs, a, r, key, c))
    out = jax.block_until_ready(run(start, r0))[2]
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        jax.block_until_ready(run(start, r0))
        times.append((time.perf_counter() - t0) * 1e3)
    trials = int(out.line_search_trials)
    grads = int(out.num_rollouts) - trials
    # one pass per evaluation of the sequence: a sequential trial, or a parallel search's
    # batch of J trials (its rows share each weight read); the parallel search then
    # differentiates its accepted candidate (a forward-backward; none after the last step).
    # A sequential rise after the first trial is differentiated too, but the counters do
    # not show it: left out, so the bound stays a lower bound
    accepted = int(out.grad_steps)
    if c.line_search == "parallel":
        forwards = 1 + grads + accepted - (accepted == c.grad_steps)
    else:
        forwards = 1 + trials
    backwards = grads
    bound = step_bytes * problem.horizon * (forwards + backwards) / (bandwidth_gbs * 1e9) * 1e3
    return GradientStage(float(np.median(times)), grads, trials, forwards, backwards, bound)


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
    """Sequences whose gradient was taken in one step, from Info's counters.

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
