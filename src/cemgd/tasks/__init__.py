"""Tasks with known, differentiable dynamics and reward, written in pure JAX.

``TASKS`` maps a name to a task constructor; :func:`make_task` builds one with
validated arguments. Every task is a :class:`Task`: ``reset``, ``step``,
``true_rollout`` (the planner's rollout on the true dynamics), ``problem`` and
``episode``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from cemgd.tasks.barrier2d import Barrier2D
from cemgd.tasks.base import Task
from cemgd.tasks.cartpole import CartPoleSwingUp
from cemgd.tasks.scaling import Scaling

TASKS: dict[str, Callable[..., Task]] = {
    Barrier2D.name: Barrier2D,
    CartPoleSwingUp.name: CartPoleSwingUp,
    Scaling.name: Scaling,
}


def make_task(name: str, **kwargs: Any) -> Task:
    """Build the task registered as ``name`` with constructor arguments ``kwargs``.

    Raises:
        ValueError: for an unknown ``name`` (listing the known ones), an argument the
            task does not take (listing the ones it does), or an invalid value (naming
            the field).
    """
    if name not in TASKS:
        raise ValueError(f"name: unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}")
    factory = TASKS[name]
    if dataclasses.is_dataclass(factory):
        fields = {f.name for f in dataclasses.fields(factory) if f.init}
        for key in kwargs:
            if key not in fields:
                raise ValueError(
                    f"{key}: not an argument of task {name!r}; expected one of "
                    f"{', '.join(sorted(fields))}"
                )
    return factory(**kwargs)


__all__ = ["TASKS", "Barrier2D", "CartPoleSwingUp", "Scaling", "Task", "make_task"]
