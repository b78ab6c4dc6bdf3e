"""Tasks with known, differentiable dynamics and reward, written in pure JAX.

``TASKS`` maps a name to a task constructor; :func:`make_task` builds one with
validated arguments. Every task is a :class:`Task`: ``reset``, ``step``,
``true_rollout`` (the planner's rollout on the true dynamics), ``problem`` and
``episode``.

``ENV_TASKS`` maps a name to an *environment-backed* task (:class:`EnvTask`: a
gymnasium environment, the real simulator, plus the known reward and termination in
JAX), the tasks the PETS loop learns a model of; :func:`resolve_env_task` (alias
:func:`make_env_task`) builds one from a name or a ``package.module:factory`` path,
:func:`list_env_tasks` lists them. Users add their own with :func:`from_gymnasium`
(any gymnasium environment plus a JAX reward), :func:`register_task`, or an entry
point in the group ``cemgd.tasks``. Both kinds share one base, :class:`TaskBase`
(name, episode length, observation size, action box, ``clip``, ``check_action``).
``cartpole-swingup`` is in both registries: in ``TASKS`` as the known JAX dynamics, in
``ENV_TASKS`` as those dynamics behind a gymnasium ``Env``. ``cartpole-paper`` is the
CEM-GD authors' own cart-pole (JAX dynamics behind a gymnasium ``Env``, with a track and
termination) and ``pets-cartpole`` the PETS paper's MuJoCo cart-pole. ``pendulum`` and
``mountaincar-continuous`` are gymnasium's classic-control tasks with exact JAX
rewards (drawn with PIL). The gymnasium tasks need ``pip install 'cemgd[mujoco]'``
only to build their environment.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from cemgd.tasks.barrier2d import Barrier2D
from cemgd.tasks.base import Task, TaskBase
from cemgd.tasks.cartpole import CartPoleSwingUp
from cemgd.tasks.cartpole_paper import CartPolePaper, CartPolePaperEnv, CartPolePaperTask
from cemgd.tasks.classic import MountainCarContinuous, Pendulum
from cemgd.tasks.env import (
    CartPoleSwingUpEnv,
    CartPoleSwingUpTask,
    EnvTask,
    check_env_reward,
)
from cemgd.tasks.gymtask import GymnasiumTask, from_gymnasium
from cemgd.tasks.halfcheetah import HalfCheetah
from cemgd.tasks.humanoid_standup import HumanoidStandup
from cemgd.tasks.mujoco_env import MujocoTask
from cemgd.tasks.pets_cartpole import PetsCartPole, PetsCartPoleEnv
from cemgd.tasks.pusher import Pusher
from cemgd.tasks.registry import (
    ENTRY_POINT_GROUP,
    ENV_TASKS,
    CodeNotNamed,
    check_code_named,
    check_env_task,
    is_code_spec,
    list_env_tasks,
    load_code,
    load_factory,
    named_code,
    named_tasks,
    only_named_code,
    register_task,
    resolve_env_task,
    task_title,
)
from cemgd.tasks.scaling import Scaling

TASKS: dict[str, Callable[..., Task]] = {
    Barrier2D.name: Barrier2D,
    CartPoleSwingUp.name: CartPoleSwingUp,
    Scaling.name: Scaling,
}

for _factory in (CartPoleSwingUpTask, CartPolePaperTask, PetsCartPole, HalfCheetah, Pusher,
                 HumanoidStandup, Pendulum, MountainCarContinuous):
    register_task(_factory.name, _factory)


def _build(registry: dict[str, Callable[..., Any]], name: str, kwargs: dict[str, Any]) -> Any:
    if name not in registry:
        raise ValueError(f"name: unknown task {name!r}; known tasks: {', '.join(sorted(registry))}")
    factory = registry[name]
    if dataclasses.is_dataclass(factory):
        fields = {f.name for f in dataclasses.fields(factory) if f.init}
        for key in kwargs:
            if key not in fields:
                raise ValueError(
                    f"{key}: not an argument of task {name!r}; expected one of "
                    f"{', '.join(sorted(fields))}"
                )
    return factory(**kwargs)


def make_task(name: str, **kwargs: Any) -> Task:
    """Build the task registered as ``name`` with constructor arguments ``kwargs``.

    Raises:
        ValueError: for an unknown ``name`` (listing the known ones), an argument the
            task does not take (listing the ones it does), or an invalid value (naming
            the field).
    """
    return _build(TASKS, name, kwargs)


def make_env_task(name: str, **kwargs: Any) -> EnvTask:
    """Build the environment-backed task ``name`` (see :func:`resolve_env_task`).

    ``name`` is a built-in, registered or entry-point name, or
    ``"package.module:factory"``.

    Raises:
        ValueError: for an unknown ``name`` (listing the known ones), an argument the
            task does not take (listing the ones it does), or an invalid value (naming
            the field).
    """
    return resolve_env_task(name, argument="name", **kwargs)


__all__ = [
    "ENTRY_POINT_GROUP",
    "ENV_TASKS",
    "TASKS",
    "Barrier2D",
    "CartPolePaper",
    "CartPolePaperEnv",
    "CartPolePaperTask",
    "CartPoleSwingUp",
    "CartPoleSwingUpEnv",
    "CartPoleSwingUpTask",
    "CodeNotNamed",
    "EnvTask",
    "GymnasiumTask",
    "HalfCheetah",
    "HumanoidStandup",
    "MountainCarContinuous",
    "MujocoTask",
    "Pendulum",
    "PetsCartPole",
    "PetsCartPoleEnv",
    "Pusher",
    "Scaling",
    "Task",
    "TaskBase",
    "check_code_named",
    "check_env_reward",
    "check_env_task",
    "from_gymnasium",
    "is_code_spec",
    "task_title",
    "list_env_tasks",
    "load_code",
    "load_factory",
    "make_env_task",
    "make_task",
    "named_code",
    "named_tasks",
    "only_named_code",
    "register_task",
    "resolve_env_task",
]
