"""Compiled memory and time of CEM-GD's N_init first step against a CEM 5000 step.

    nice -n 5 python benchmarks/first_step_memory.py [--max-batch 100 1000] [--repeats 3]
        [--num-particles 1 20]

The bench ensemble (``cemgd bench``'s workload: 5 members, 3 hidden layers of 200,
S = 18, A = 6, T = 45, one particle or ``--num-particles``, random weights) on one
device. Every row is the first step, ``plan_fn(problem, first=True)``, compiled alone
(:func:`cemgd.experiments.steptime.first_step`): XLA's memory_analysis (temp +
argument + output) and the median of ``--repeats`` calls, each from a fresh key; beside
it the compiled memory of the replan step (``plan_fn(problem, first=False)``). The
paper's Table 2 claim is that CEM-GD's first step (N_init = 15000) needs no more memory
than a CEM 5000 step. ``cem-gd`` and ``cem-5000`` run with their default chunk
(``DEFAULT_CHUNK_ROWS`` rows: 2000 sequences at one particle, 100 at 20), the
``cem-gd:max_batch=B`` rows with chunks of ``B`` sequences (3000 or more: unchunked).
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp

from cemgd import Problem, make_planner
from cemgd.experiments.bench import Config, reward
from cemgd.experiments.steptime import first_step, memory_mb
from cemgd.models import init_ensemble, make_rollout


def bench_problem(config: Config) -> tuple[Problem, jax.Array]:
    """The bench ensemble's problem and observation (``cemgd bench``'s, one device)."""
    model_key, obs_key, _ = jax.random.split(jax.random.key(config.seed), 3)
    params = init_ensemble(model_key, config.obs_dim, config.action_dim, config.members,
                           config.hidden, config.layers)
    rollout = make_rollout(params, reward, config.num_particles)
    low = -jnp.ones(config.action_dim)
    problem = Problem(rollout, config.horizon, low, -low, obs_shape=(config.obs_dim,),
                      rollout_rows=config.num_particles)
    return problem, 0.1 * jax.random.normal(obs_key, (config.obs_dim,), jnp.float32)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-batch", type=int, nargs="*", default=[100, 1000],
                        help="CEM-GD rows beside its default chunk (max_batch=None)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--num-particles", type=int, nargs="+", default=[1],
                        help="particles per sequence (PETS and the paper: 20)")
    args = parser.parse_args(argv)
    key = jax.random.key(1)
    specs = ["cem-5000", "cem-gd"] + [f"cem-gd:max_batch={b}" for b in args.max_batch]
    print(f"{'P':>3s} {'first step of':34s} {'compiled MB':>12s} {'median ms':>10s} "
          f"{'compile s':>10s} {'replan MB':>10s}")
    for particles in args.num_particles:
        problem, obs = bench_problem(Config(num_particles=particles))
        for spec in specs:
            planner = make_planner(spec)
            found = first_step(planner, problem, obs, key, args.repeats)
            replan = jax.jit(planner.plan_fn(problem, first=False)).lower(
                planner.init(problem, key), obs).compile()
            print(f"{particles:3d} {spec:34s} {_mb(found.mem_mb):>12s} {found.median_ms:10.1f} "
                  f"{found.compile_s:10.1f} {_mb(memory_mb(replan)):>10s}", flush=True)


def _mb(value: float | str) -> str:
    return value if isinstance(value, str) else f"{value:.3f}"


if __name__ == "__main__":
    main()
