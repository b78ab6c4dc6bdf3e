"""Model-predictive control: plan, act on the first action, keep the warm start.

Two ways to run it: :class:`MPC`, a stateful controller stepped from Python (any
environment), and :func:`episode_fn` / :func:`trials_fn` / :func:`run_trials`, a
whole closed-loop episode on a task with JAX dynamics as one compiled program: the
first step uses the planner's first-call branch and the rest a ``lax.scan`` over its
replan branch, ``vmap`` over trials, with no Python loop over steps or trials. Their
result is a :class:`Trajectory`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from cemgd.planners.base import Planner
from cemgd.planners.checked import checked_step
from cemgd.problem import Array, Info, PlanState, Problem
from cemgd.tasks.base import Task


class MPC:
    """Receding-horizon controller around one planner and one problem.

    ``reset(key)`` starts an episode (the next ``act`` is the planner's first
    step); ``act(obs)`` plans and returns the first action, keeping the shifted
    plan as the next warm start.
    """

    def __init__(self, planner: Planner, problem: Problem) -> None:
        if not isinstance(planner, Planner):
            raise ValueError(f"planner: expected a cemgd planner, got {type(planner).__name__}")
        if not isinstance(problem, Problem):
            raise ValueError(f"problem: expected a cemgd.Problem, got {type(problem).__name__}")
        self.planner = planner
        self.problem = problem
        self._step = checked_step(planner, problem)  # checked, compiled once: kept here
        self.state: PlanState | None = None
        self.last_plan: Array | None = None
        self.last_info: Info | None = None

    def reset(self, key: Array) -> None:
        """Start a new episode with PRNG ``key``."""
        self.state = self._step.init(key)
        self.last_plan = None
        self.last_info = None

    def act(self, obs: Any) -> np.ndarray:
        """Plan from ``obs`` and return the first action, ``[A]`` (numpy)."""
        if self.state is None:
            raise ValueError("obs: call reset(key) before act(obs)")
        actions, self.state, self.last_info = self._step(self.state, obs)
        self.last_plan = actions
        return np.asarray(actions[0])


class Trajectory(NamedTuple):
    """The arrays of one closed-loop episode run in one compiled program (a leading
    trial axis when batched). A recorded episode on a real environment, with its
    timings, is a :class:`cemgd.pets.Episode`.

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
) -> Callable[[Array], Trajectory]:
    """``episode(key) -> Trajectory``: reset ``task`` with ``key`` and run MPC for ``steps``."""
    if steps < 1:
        raise ValueError(f"steps: expected an int >= 1, got {steps}")
    plan_first = planner.plan_fn(problem, first=True)
    plan_later = planner.plan_fn(problem, first=False)

    def episode(key: Array) -> Trajectory:
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
        return Trajectory(
            obs=jnp.concatenate([obs0[None], obs1[None], obs_rest], axis=0),
            actions=cat(plan[0], act_rest),
            rewards=cat(reward0, rew_rest),
            first_plan=plan,
            infos=jax.tree.map(cat, info0, infos),
        )

    return episode


def trials_fn(
    planner: Planner, task: Task, problem: Problem, steps: int
) -> Callable[[Array], Trajectory]:
    """The jitted, vmapped ``run(keys: [N]) -> Trajectory``; keep it to avoid recompiling."""
    return jax.jit(jax.vmap(episode_fn(planner, task, problem, steps)))


def run_trials(
    planner: Planner, task: Task, problem: Problem, steps: int, keys: Array
) -> Trajectory:
    """Run one episode per key in ``keys: [N]`` (compiles each call; see :func:`trials_fn`)."""
    return trials_fn(planner, task, problem, steps)(keys)
