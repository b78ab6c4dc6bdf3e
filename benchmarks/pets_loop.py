"""The PETS loop's costs per task: env steps/s, model training per trial, planning ms/step.

For each task, runs ``cemgd.pets.run`` with each planner (default ``cem-gd`` and
``cem-5000``) at the paper's model and planner sizes for a short episode, and
measures the real environment's speed under uniform random actions apart. Planning
time per step is the wall time of the jitted planning call inside the real loop
(compile excluded); the first step of ``cem-gd`` (its ``N_init`` CEM) is reported
apart from the mean of the others. Prints a Markdown table.

    python benchmarks/pets_loop.py [--tasks cartpole-swingup,halfcheetah]
        [--planners cem-gd,cem-5000] [--episode-length 25] [--trials 2] [--out runs/bench-pets]
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np

from cemgd import pets
from cemgd.tasks import ENV_TASKS, make_env_task


def env_steps_per_second(task_name: str, steps: int = 2000) -> float:
    """Real environment steps per second under uniform random actions."""
    task = make_env_task(task_name)
    env = task.make_env(seed=0)
    rng = np.random.default_rng(0)
    env.reset()
    actions = rng.uniform(task.action_low, task.action_high, (steps, task.action_dim))
    start = time.perf_counter()
    for a in actions.astype(np.float32):
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(sorted(ENV_TASKS)))
    parser.add_argument("--planners", default="cem-gd,cem-5000")
    parser.add_argument("--episode-length", type=int, default=25)
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--num-particles", type=int, default=20)
    parser.add_argument("--out", default="runs/bench-pets")
    args = parser.parse_args()
    rows = []
    for task_name in args.tasks.split(","):
        sps = env_steps_per_second(task_name)
        for planner in args.planners.split(","):
            config = pets.PETSConfig(
                task=task_name, planner=planner, trials=args.trials,
                episode_length=args.episode_length, num_particles=args.num_particles,
            )
            out = Path(args.out) / task_name / planner
            shutil.rmtree(out, ignore_errors=True)
            metrics = pets.run(config, out, show_progress=False)
            last = metrics[-1]
            # steps after the first: (mean * n - first) / (n - 1)
            n = last.episode_steps
            rest = (last.plan_ms_mean * n - last.plan_ms_first) / max(n - 1, 1)
            rows.append((task_name, planner, sps, [m.train_s for m in metrics],
                         last.plan_ms_first, rest, last.plan_ms_max,
                         last.rollouts_per_step, last.plan_memory_mb, last.compile_s))
    print(f"\n{args.num_particles} particles, horizon 45, ensemble 5 x 3 x 200, "
          f"{args.episode_length}-step episodes, {args.trials} trials; "
          "train s per trial includes compiling the training step (once per data-size bucket)\n")
    print("| task | planner | env steps/s | train s per trial | first step ms "
          "| later steps ms (mean) | max ms | rollouts/step | plan memory MB | compile s |")
    print("|---|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for task_name, planner, sps, train, first, rest, worst, roll, mem, comp in rows:
        train_text = " / ".join(f"{t:.1f}" for t in train)
        print(f"| {task_name} | {planner} | {sps:,.0f} | {train_text} | {first:,.0f} "
              f"| {rest:,.1f} | {worst:,.0f} | {roll:,.0f} | {mem:.1f} | {comp:.1f} |")


if __name__ == "__main__":
    main()
