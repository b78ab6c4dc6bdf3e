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

import numpy as np

from cemgd.tasks import make_env_task

TASKS = ("cartpole-swingup", "pusher", "halfcheetah", "humanoid-standup")


def random_returns(task_name: str, episodes: int, episode_length: int) -> np.ndarray:
    """Episode returns of uniform random actions: ``[episodes]``."""
    task = make_env_task(task_name)
    if episode_length:
        task = task.with_episode_length(episode_length)
    returns = np.zeros(episodes)
    for k in range(episodes):
        rng = np.random.default_rng(k)
        env = task.make_env(seed=k)
        env.reset(seed=k)
        done = False
        while not done:
            action = rng.uniform(task.action_low, task.action_high)
            _, reward, terminated, truncated, _ = env.step(action)
            returns[k] += float(reward)
            done = terminated or truncated
        env.close()
    return returns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated task names")
    parser.add_argument("--episodes", type=int, default=20, help="episodes per task")
    parser.add_argument("--episode-length", type=int, default=0,
                        help="steps per episode (0: the task's, the paper's 100 / 200)")
    args = parser.parse_args()
    print("| task | episode length | episodes | mean | std | min | max |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in args.tasks.split(","):
        r = random_returns(name, args.episodes, args.episode_length)
        length = args.episode_length or make_env_task(name).episode_length
        print(f"| {name} | {length} | {len(r)} | {r.mean():.1f} | {r.std():.1f} "
              f"| {r.min():.1f} | {r.max():.1f} |")


if __name__ == "__main__":
    main()
