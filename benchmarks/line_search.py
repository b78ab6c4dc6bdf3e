"""Sequential backtracking versus the parallel line search: returns and time, side by side.

Runs CEM-GD closed loop on the true dynamics of ``cartpole-swingup`` and
``barrier2d`` with each line search (same seeds), then times one replan step of
each on the bench workload's task. Prints a Markdown table.

    python benchmarks/line_search.py [--trials 8] [--steps 100]
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

from cemgd import make_planner
from cemgd.experiments.common import time_plan_step
from cemgd.mpc import trials_fn
from cemgd.tasks import make_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--n-init", type=int, default=1000)
    parser.add_argument("--step-size", type=float, default=0.01)
    args = parser.parse_args()
    keys = jax.vmap(jax.random.key)(np.arange(args.trials))
    print(f"CEM-GD n_init={args.n_init}, n_replan=50, eta_init={args.step_size}, "
          f"{args.trials} trials (same seeds per row)\n")
    print("| task | line search | episode return mean | std | grad steps/step "
          "| LS trials/step | ms/step (episode, vmapped) | ms/step (one plan) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for task_name, horizon, steps in (("cartpole-swingup", 45, args.steps),
                                      ("barrier2d", 30, 40)):
        task = make_task(task_name)
        problem = task.problem(horizon)
        for mode in ("sequential", "parallel"):
            planner = make_planner("cem-gd", n_init=args.n_init, line_search=mode,
                                   step_size=args.step_size)
            run = trials_fn(planner, task, problem, steps)
            jax.block_until_ready(run(keys))  # compile
            start = time.perf_counter()
            ep = jax.block_until_ready(run(keys))
            per_step = (time.perf_counter() - start) * 1e3 / steps
            returns = np.asarray(ep.rewards).sum(axis=1)
            timing = time_plan_step(
                make_planner("cem-gd", n_init=args.n_init, line_search=mode,
                             step_size=args.step_size),
                problem, np.asarray(task.reset(jax.random.key(0))), jax.random.key(0), 20,
            ).summary()
            print(f"| {task_name} | {mode} | {returns.mean():.2f} | {returns.std():.2f} "
                  f"| {np.asarray(ep.infos.grad_steps).mean():.2f} "
                  f"| {np.asarray(ep.infos.line_search_trials).mean():.2f} "
                  f"| {per_step:.2f} | {timing['median_ms']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
