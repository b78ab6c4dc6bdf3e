"""Barrier2D: the two-basin toy of Figure 2 of the CEM-GD paper (Huang et al., 2022).

A point agent on the plane moves from ``start`` to ``goal``. Between them sits a
round repelling barrier whose centre is a little *above* the line ``y = 0``, so
going round it *below* is shorter (the global optimum of the planning problem)
and going round *above* is a strictly worse local optimum: gradient ascent
started from a sequence that passes above stays above.

State and observation: the position ``obs = [x, y]``. Action: a velocity
``a in [-1, 1]^2``; ``next = obs + max_step * a``. Reward of a step, scored at the
next position ``p``::

    r = -sqrt(|p - goal|^2 + goal_eps^2)                                # pull to the goal
        - barrier_strength * exp(-ln 2 * (|p - c| / radius)^barrier_power)  # barrier
        - action_cost * |a|^2

The barrier is a super-Gaussian bump: flat on top, ``barrier_strength / 2`` on the
circle of radius ``radius`` and, with the default power 8, below 1e-7 of its
strength at ``1.5 * radius``; the reward is differentiable everywhere.

Defaults (start ``(-1, 0)``, goal ``(1, 0)``, centre ``(0, 0.1)``, radius 0.5,
``max_step = 0.1``): for horizons 30 to 45 both ways round are local optima of
the planning problem under projected gradient ascent, the one below about 1.6
higher in return (about -21.8 against -23.4 at horizon 40). Gradient ascent
from the best of ``N`` random sequences goes below about 65% of the time for
``N = 10`` and always for ``N >= 500`` (the effect of Figure 2(c)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import jax.numpy as jnp
import numpy as np

from cemgd.problem import Array
from cemgd.tasks.base import Task
from cemgd.validate import check_int, check_nonnegative, check_point, check_positive


@dataclass(frozen=True, eq=False)
class Barrier2D(Task):
    """Point agent, goal and an off-centre round barrier (paper's Figure 2).

    Attributes:
        episode_length: steps of one episode.
        start: start position ``[2]``.
        goal: goal position ``[2]``.
        barrier_center: centre of the barrier ``[2]``; above the start-goal line.
        barrier_radius: radius at which the barrier is at half its strength.
        barrier_strength: barrier penalty per step at its centre.
        barrier_power: exponent ``q`` of the bump ``exp(-ln 2 (|p - c| / radius)^q)``;
            larger is a sharper edge; >= 2 keeps the bump smooth at its centre.
        max_step: distance moved per step at full action.
        action_cost: weight of ``|a|^2`` in the reward.
        goal_eps: smoothing of the distance to the goal (keeps it differentiable).
    """

    name: ClassVar[str] = "barrier2d"
    episode_length: int = 40
    start: tuple[float, float] = (-1.0, 0.0)
    goal: tuple[float, float] = (1.0, 0.0)
    barrier_center: tuple[float, float] = (0.0, 0.1)
    barrier_radius: float = 0.5
    barrier_strength: float = 3.0
    barrier_power: float = 8.0
    max_step: float = 0.1
    action_cost: float = 0.01
    goal_eps: float = 0.05

    def __post_init__(self) -> None:
        check_int("episode_length", self.episode_length, 1)
        for field in ("start", "goal", "barrier_center"):
            check_point(field, getattr(self, field), 2)
            object.__setattr__(self, field, tuple(float(v) for v in getattr(self, field)))
        for field in (
            "barrier_radius",
            "barrier_strength",
            "barrier_power",
            "max_step",
            "goal_eps",
        ):
            check_positive(field, getattr(self, field))
        if self.barrier_power < 2.0:
            raise ValueError(f"barrier_power: expected a number >= 2, got {self.barrier_power}")
        check_nonnegative("action_cost", self.action_cost)

    @property
    def obs_dim(self) -> int:
        """Size of an observation: the position ``[x, y]``."""
        return 2

    @property
    def action_dim(self) -> int:
        """Size of an action: the velocity ``[vx, vy]``."""
        return 2

    @property
    def barrier(self) -> tuple[np.ndarray, float]:
        """Barrier geometry for plots: ``(centre [2], radius)``."""
        return np.asarray(self.barrier_center, dtype=np.float32), float(self.barrier_radius)

    def reset(self, key: Array) -> Array:
        """The fixed start position ``[2]`` (``key`` is unused)."""
        del key
        return jnp.asarray(self.start, dtype=jnp.float32)

    def barrier_penalty(self, position: Array) -> Array:
        """Barrier penalty at ``position: [..., 2]`` -> ``[...]`` (>= 0)."""
        offset = position - jnp.asarray(self.barrier_center, dtype=position.dtype)
        squared = jnp.sum(offset**2, axis=-1) / self.barrier_radius**2
        exponent = math.log(2.0) * squared ** (0.5 * self.barrier_power)
        return self.barrier_strength * jnp.exp(-exponent)

    def reward(self, next_obs: Array, action: Array) -> Array:
        """Reward of reaching ``next_obs: [2]`` with ``action: [2]`` (scalar)."""
        to_goal = next_obs - jnp.asarray(self.goal, dtype=next_obs.dtype)
        distance = jnp.sqrt(jnp.sum(to_goal**2) + self.goal_eps**2)
        return -distance - self.barrier_penalty(next_obs) - self.action_cost * jnp.sum(action**2)

    def step(self, obs: Array, action: Array) -> tuple[Array, Array]:
        """``obs: [2], action: [2] -> (next_obs: [2], reward: [])``; clips the action."""
        action = self.clip(action)
        next_obs = obs + self.max_step * action
        return next_obs, self.reward(next_obs, action)

    def crossing_side(self, obs_traj: Array) -> Array:
        """Which side of the barrier each trajectory passed.

        Args:
            obs_traj: positions ``[..., T + 1, 2]`` (e.g. from :meth:`episode`).

        Returns:
            ``[...]`` int32: ``-1`` below, ``+1`` above, ``0`` if the trajectory never
            reaches the vertical line through the barrier centre. The side is decided by
            ``y`` (linearly interpolated) where ``x`` first reaches the centre's ``x``.
        """
        traj = jnp.asarray(obs_traj)
        cx, cy = self.barrier_center
        x, y = traj[..., 0], traj[..., 1]
        reached = x >= cx
        first = jnp.argmax(reached, axis=-1)
        crossed = jnp.any(reached, axis=-1)
        prev = jnp.maximum(first - 1, 0)
        take = lambda v, i: jnp.take_along_axis(v, i[..., None], axis=-1)[..., 0]
        x0, x1, y0, y1 = take(x, prev), take(x, first), take(y, prev), take(y, first)
        frac = jnp.where(x1 > x0, (cx - x0) / jnp.where(x1 > x0, x1 - x0, 1.0), 1.0)
        y_cross = y0 + jnp.clip(frac, 0.0, 1.0) * (y1 - y0)
        side = jnp.where(y_cross < cy, -1, 1)
        return jnp.where(crossed, side, 0).astype(jnp.int32)

    def passes_below(self, obs_traj: Array) -> Array:
        """``[..., T + 1, 2] -> [...]`` bool: True where the trajectory went below the barrier."""
        return self.crossing_side(obs_traj) == -1
