"""Closed-loop MPC episodes on a task with JAX dynamics, many trials in one jitted call.

The first step uses the planner's first-call branch and the rest a ``lax.scan``
over its replan branch, so a whole batch of episodes is one compiled program
(``vmap`` over trials), with no Python loop over steps or trials.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from cemgd.planners.base import Planner
from cemgd.problem import Array, Info, Problem
from cemgd.tasks.base import Task


class Episode(NamedTuple):
    """One closed-loop episode (a leading trial axis when batched).

    Attributes:
        obs: visited observations, ``[steps + 1, S]``.
        actions: executed actions, ``[steps, A]``.
        rewards: ``[steps]``.
        first_plan: the plan of the first step, ``[T, A]``.
        infos: Info of every step, each field ``[steps]``.
    """

    obs: Array
    actions: Array
    rewards: Array
    first_plan: Array
    infos: Info


def episode_fn(
    planner: Planner, task: Task, problem: Problem, steps: int
) -> Callable[[Array], Episode]:
    """``episode(key) -> Episode``: reset ``task`` with ``key`` and run MPC for ``steps``."""
    if steps < 1:
        raise ValueError(f"steps: expected an int >= 1, got {steps}")
    plan_first = planner.plan_fn(problem, first=True)
    plan_later = planner.plan_fn(problem, first=False)

    def episode(key: Array) -> Episode:
        reset_key, plan_key = jax.random.split(key)
        obs0 = task.reset(reset_key)
        state = planner.initial_state(problem, plan_key)
        plan, state, info0 = plan_first(state, obs0)
        obs1, reward0 = task.step(obs0, plan[0])

        def body(carry: tuple, _: None) -> tuple[tuple, tuple]:
            obs, state = carry
            actions, state, info = plan_later(state, obs)
            next_obs, reward = task.step(obs, actions[0])
            return (next_obs, state), (next_obs, actions[0], reward, info)

        _, (obs_rest, act_rest, rew_rest, infos) = jax.lax.scan(
            body, (obs1, state), None, length=steps - 1
        )
        cat = lambda first, rest: jnp.concatenate([first[None], rest], axis=0)
        return Episode(
            obs=jnp.concatenate([obs0[None], obs1[None], obs_rest], axis=0),
            actions=cat(plan[0], act_rest),
            rewards=cat(reward0, rew_rest),
            first_plan=plan,
            infos=jax.tree.map(cat, info0, infos),
        )

    return episode


def trials_fn(
    planner: Planner, task: Task, problem: Problem, steps: int
) -> Callable[[Array], Episode]:
    """The jitted, vmapped ``run(keys: [N]) -> Episode``; keep it to avoid recompiling."""
    return jax.jit(jax.vmap(episode_fn(planner, task, problem, steps)))


def run_trials(
    planner: Planner, task: Task, problem: Problem, steps: int, keys: Array
) -> Episode:
    """Run one episode per key in ``keys: [N]`` (compiles each call; see :func:`trials_fn`)."""
    return trials_fn(planner, task, problem, steps)(keys)
