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
from cemgd.validate import check_int

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
    check_int("episodes", episodes, 1)
    check_int("episode_length", episode_length, 0)
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


def resolve_length(name: str, episode_length: int) -> int:
    """``episode_length``, or task ``name``'s own where it is 0.

    Raises:
        ValueError: the task cannot be built here (naming it and why).
    """
    check_int("episode_length", episode_length, 0)
    if episode_length:
        return episode_length
    try:
        return make_env_task(name).episode_length
    except (ImportError, ValueError) as exc:
        raise ValueError(f"task: cannot build {name!r} here ({exc})") from exc


def random_baseline(name: str, episode_length: int, episodes: int) -> dict[str, Any]:
    """One :data:`BASELINE_COLUMNS` row: task ``name`` over ``episodes`` episodes of
    ``episode_length`` steps (0: the task's); ``std`` is the population standard deviation
    (``ddof=0``).

    Raises:
        ValueError: a bad count or length, or a task that cannot run here (a missing
            simulator or gymnasium; naming the task and why).
    """
    check_int("episodes", episodes, 1)
    length = resolve_length(name, episode_length)
    try:
        returns = random_policy_returns(name, episodes, length)
    except Exception as exc:  # e.g. gymnasium's DependencyNotInstalled, not an ImportError
        raise ValueError(f"task: cannot run {name!r} here ({exc})") from exc
    return {"task": name, "episode_length": length, "episodes": episodes,
            "mean": float(returns.mean()), "std": float(returns.std()),
            "min": float(returns.min()), "max": float(returns.max())}


def random_baselines(cells: Iterable[tuple[str, int]], episodes: int) -> list[dict[str, Any]]:
    """:func:`random_baseline` of each distinct ``(task, episode_length)`` cell, lengths
    resolved first (0: the task's), in the order first seen.

    Raises:
        ValueError: as :func:`random_baseline`.
    """
    resolved = dict.fromkeys((name, resolve_length(name, length)) for name, length in cells)
    return [random_baseline(name, length, episodes) for name, length in resolved]
