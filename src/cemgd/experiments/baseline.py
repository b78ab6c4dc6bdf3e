"""The uniform-random policy: the floor a learning curve or a planner must rise above.

Episode ``k`` draws its actions uniformly in the action box with ``numpy``'s generator
seeded ``k`` and resets the environment with seed ``k``, so a baseline is the same number
on every machine that has the same simulator.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from cemgd.tasks import EnvTask, make_env_task

#: Columns of a baseline row (``random_policy.csv``).
BASELINE_COLUMNS = ["task", "episode_length", "episodes", "mean", "std", "min", "max"]


def _task(task: str | EnvTask, episode_length: int) -> EnvTask:
    built = make_env_task(task) if isinstance(task, str) else task
    return built.with_episode_length(episode_length) if episode_length else built


def random_policy_returns(task: str | EnvTask, episodes: int,
                          episode_length: int = 0) -> np.ndarray:
    """Episode returns of uniform random actions.

    Args:
        task: an environment task or its name (``cemgd.tasks.make_env_task``).
        episodes: how many episodes (>= 1); episode ``k`` uses seed ``k``.
        episode_length: steps per episode; 0 takes the task's.

    Returns:
        ``returns: [episodes]``.

    Raises:
        ValueError: ``episodes`` below 1, ``episode_length`` negative, or an unknown task.
    """
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes: expected an integer >= 1, got {episodes!r}")
    if isinstance(episode_length, bool) or not isinstance(episode_length, int) \
            or episode_length < 0:
        raise ValueError(f"episode_length: expected an integer >= 0, got {episode_length!r}")
    env_task = _task(task, episode_length)
    returns = np.zeros(episodes)
    env = env_task.make_env(seed=0)
    try:
        for k in range(episodes):
            rng = np.random.default_rng(k)
            env.reset(seed=k)
            done = False
            while not done:
                action = rng.uniform(env_task.action_low, env_task.action_high)
                _, reward, terminated, truncated, _ = env.step(action)
                returns[k] += float(reward)
                done = terminated or truncated
    finally:
        env.close()
    return returns


def random_baselines(cells: Iterable[tuple[str, int]], episodes: int) -> list[dict[str, Any]]:
    """One :data:`BASELINE_COLUMNS` row per distinct ``(task, episode_length)`` cell
    (``episode_length`` 0: the task's), in the order first seen; ``std`` is the
    population standard deviation (``ddof=0``) over the episodes.

    Raises:
        ValueError: a task that cannot be built here (naming it and why).
    """
    resolved: dict[tuple[str, int], None] = {}
    for name, length in cells:
        try:
            resolved[(name, length or make_env_task(name).episode_length)] = None
        except ImportError as exc:  # e.g. the simulator's extra is not installed
            raise ValueError(f"task: cannot build {name!r} here ({exc})") from exc
    rows = []
    for name, length in resolved:
        returns = random_policy_returns(name, episodes, length)
        rows.append({"task": name, "episode_length": length, "episodes": episodes,
                     "mean": float(returns.mean()), "std": float(returns.std()),
                     "min": float(returns.min()), "max": float(returns.max())})
    return rows
