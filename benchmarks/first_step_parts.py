"""Where CEM-GD's first-step time goes: one CEM iteration's parts, chunked and not.

    python benchmarks/first_step_parts.py [--samples 3000] [--repeats 7]
    taskset -c 0 python benchmarks/first_step_parts.py      # the same on one core

One CEM iteration of the N_init step (3000 sequences at N_init = 15000, 5 iterations)
on the bench ensemble (:func:`first_step_memory.bench_problem`, one particle, one
device), each part compiled alone and timed in interleaved rounds (median and minimum
of ``--repeats``, each from a fresh key):

- ``sample bulk``: one ``truncated_normal`` draw of ``[n, T, A]`` (what the code did before
  chunking); ``sample by row``: :func:`~cemgd.planners.loop.sample_truncated`,
  a ``fold_in`` key per row (what chunking needs: any subset of rows made again);
- ``moments made again``: the 10% elites' mean and variance from their indices
  (:func:`~cemgd.planners.chunking.moments`, rows drawn again in blocks);
- ``bulk rollout + top_k``: sampling, rollout of the whole batch and ``lax.top_k`` (the
  code before chunking); ``running top-k, chunk C``: :func:`~cemgd.planners.chunking.score_top_k`
  on :class:`~cemgd.planners.chunking.Rows` in chunks of ``C`` sequences (``all``: one chunk);
- ``cem-gd first step`` (all five iterations and the gradient stage) with the default
  chunk and with one chunk per iteration (``max_batch`` = ``--samples``).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from first_step_memory import bench_problem

from cemgd import make_planner
from cemgd.experiments.bench import Config
from cemgd.planners.chunking import moments, score_top_k
from cemgd.planners.loop import sample_rows, sample_truncated
from cemgd.problem import Info
from cemgd.sharding import use_cpu_devices


def parts(n: int) -> dict[str, Callable[[jax.Array], object]]:
    """The timed parts, each ``key -> arrays`` for one iteration of ``n`` sequences."""
    problem, obs = bench_problem(Config(num_particles=1))
    mean = jnp.zeros((problem.horizon, problem.action_dim))
    std = 0.5 * jnp.ones_like(mean)
    elites = n // 10

    def bulk(key: jax.Array) -> jax.Array:
        gap = jnp.minimum(mean - problem.action_low, problem.action_high - mean)
        noise = jax.random.truncated_normal(key, -2.0, 2.0, (n, *mean.shape))
        return problem.clip(mean + jnp.minimum(std, gap / 2.0) * noise)

    def bulk_top_k(key: jax.Array) -> tuple[jax.Array, jax.Array]:
        return jax.lax.top_k(problem.rollout(obs, bulk(key), key), elites)

    def running(chunk: int | None) -> Callable[[jax.Array], object]:
        return lambda key: score_top_k(Info(), problem, obs, sample_rows(
            key, mean, std, problem, n), key, elites, max_batch=chunk)[:2]

    def first(max_batch: int | None) -> Callable[[jax.Array], object]:
        planner = make_planner("cem-gd", n_init=5 * n, max_batch=max_batch)
        state = planner.init(problem, jax.random.key(0))
        step = planner.plan_fn(problem, first=True)
        return lambda key: step(state._replace(key=key), obs)[0]

    idx = jnp.arange(elites, dtype=jnp.int32) * 7 % n
    return {
        "sample bulk": bulk,
        "sample by row": lambda key: sample_truncated(key, mean, std, problem, n),
        "moments made again": lambda key: moments(sample_rows(key, mean, std, problem, n), idx),
        "bulk rollout + top_k": bulk_top_k,
        "running top-k, chunk all": running(None),
        **{f"running top-k, chunk {c}": running(c) for c in (n // 2, n // 3)},
        "cem-gd first step, default chunk": first(None),
        "cem-gd first step, one chunk": first(n),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=3000, help="sequences per iteration")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    use_cpu_devices(1)
    key = jax.random.key(1)
    compiled = {name: jax.jit(f).lower(key).compile() for name, f in parts(args.samples).items()}
    times: dict[str, list[float]] = {name: [] for name in compiled}
    for rep in range(args.repeats):
        for name, f in compiled.items():
            k = jax.random.fold_in(key, rep)
            jax.block_until_ready(f(k))
            t0 = time.perf_counter()
            jax.block_until_ready(f(k))
            times[name].append((time.perf_counter() - t0) * 1e3)
    print(f"one CEM iteration of {args.samples} sequences, 1 particle, {args.repeats} rounds")
    print("| part | median ms | min ms |\n|---|---:|---:|")
    for name, t in times.items():
        print(f"| {name} | {np.median(t):.1f} | {min(t):.1f} |")


if __name__ == "__main__":
    main()
