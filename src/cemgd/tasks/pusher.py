"""Pusher: gymnasium ``Pusher-v5``, a 7-DoF arm pushing a cylinder to a goal.

Observation ``[23]``: ``obs[0:7]`` joint positions, ``obs[7:14]`` joint velocities,
``obs[14:17]`` the arm tip's, ``obs[17:20]`` the object's and ``obs[20:23]`` the
goal's centre of mass (x, y, z), all after the step. Action ``[-2, 2]^7``.

Reward, exactly the environment's, from ``next_obs`` and the action::

    r = -near_weight * |object - tip| - dist_weight * |object - goal| - control_weight * |a|^2

with gymnasium's weights ``0.5, 1, 0.1``. No termination.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import jax.numpy as jnp

from cemgd.problem import Array
from cemgd.tasks.mujoco_env import MujocoTask
from cemgd.validate import check_int, check_nonnegative

TIP = slice(14, 17)
OBJECT = slice(17, 20)
GOAL = slice(20, 23)


def _norm(v: Array) -> Array:
    # sqrt with a zero-safe gradient (the tip can sit exactly on the object).
    squared = jnp.sum(v**2, axis=-1)
    safe = jnp.where(squared > 0, squared, 1.0)
    return jnp.where(squared > 0, jnp.sqrt(safe), 0.0)


@dataclass(frozen=True, eq=False)
class Pusher(MujocoTask):
    """``Pusher-v5`` with its known reward.

    Attributes:
        episode_length: steps of one episode (paper: 200).
        reward_near_weight: weight of the tip-object distance (passed to the environment).
        reward_dist_weight: weight of the object-goal distance (passed to the environment).
        reward_control_weight: weight of ``|a|^2`` (passed to the environment).
    """

    name: ClassVar[str] = "pusher"
    env_id: ClassVar[str] = "Pusher-v5"
    low: ClassVar[float] = -2.0
    high: ClassVar[float] = 2.0
    num_actions: ClassVar[int] = 7
    episode_length: int = 200
    reward_near_weight: float = 0.5
    reward_dist_weight: float = 1.0
    reward_control_weight: float = 0.1

    def __post_init__(self) -> None:
        check_int("episode_length", self.episode_length, 1)
        for name in ("reward_near_weight", "reward_dist_weight", "reward_control_weight"):
            check_nonnegative(name, getattr(self, name))

    @property
    def obs_dim(self) -> int:
        """Size of an observation: 7 + 7 joint states, tip, object and goal positions."""
        return 23

    def env_kwargs(self) -> dict[str, Any]:
        """Pass the reward weights."""
        return {
            "reward_near_weight": self.reward_near_weight,
            "reward_dist_weight": self.reward_dist_weight,
            "reward_control_weight": self.reward_control_weight,
        }

    def reward(self, obs: Array, action: Array, next_obs: Array) -> Array:
        """``obs [..., 23], action [..., 7], next_obs [..., 23] -> [...]`` (exact)."""
        del obs
        near = _norm(next_obs[..., OBJECT] - next_obs[..., TIP])
        dist = _norm(next_obs[..., OBJECT] - next_obs[..., GOAL])
        control = jnp.sum(action**2, axis=-1)
        return -(
            self.reward_near_weight * near
            + self.reward_dist_weight * dist
            + self.reward_control_weight * control
        )
