"""Return of a uniform-random policy on each environment task: the floor a learning curve
must rise above.

    python benchmarks/random_policy.py --episodes 20
    python benchmarks/random_policy.py --tasks halfcheetah --episode-length 1000

Prints one row per (task, episode length): mean, std, min and max of the episode return
over ``--episodes`` episodes with actions drawn uniformly in the action box (seed k for
episode k, the environment seeded alike).
"""

from __future__ import annotations

import argparse

from cemgd.experiments.baseline import random_baselines

TASKS = ("cartpole-paper", "cartpole-swingup", "pusher", "halfcheetah", "humanoid-standup")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated task names")
    parser.add_argument("--episodes", type=int, default=20, help="episodes per task")
    parser.add_argument("--episode-length", type=int, default=0,
                        help="steps per episode (0: the task's)")
    args = parser.parse_args()
    print("| task | episode length | episodes | mean | std | min | max |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    cells = [(name, args.episode_length) for name in args.tasks.split(",")]
    for row in random_baselines(cells, args.episodes):
        print(f"| {row['task']} | {row['episode_length']} | {row['episodes']} "
              f"| {row['mean']:.1f} | {row['std']:.1f} | {row['min']:.1f} | {row['max']:.1f} |")


if __name__ == "__main__":
    main()
