"""Half-cheetah: gymnasium ``HalfCheetah-v5`` with the ``x`` position kept in the observation.

Observation ``[18]`` (``exclude_current_positions_from_observation=False``):
``obs[0]`` is the root ``x`` position, ``obs[1:9]`` the other joint positions and
``obs[9:18]`` the velocities (``qpos`` then ``qvel``). Action ``[-1, 1]^6``.

Reward, exactly the environment's, from ``(obs, next_obs)``::

    r = forward_reward_weight * (next_obs[0] - obs[0]) / dt - ctrl_cost_weight * |a|^2

with ``dt = frame_skip * timestep = 5 * 0.01 = 0.05`` s. ``x`` grows without bound,
so the dynamics model does not see it (:meth:`HalfCheetah.model_input` drops it, as
PETS does) but still predicts its change, so the reward is exact on the predicted
``next_obs``. The body's pitch ``obs[2]`` is unbounded too (the cheetah can flip), so
the model sees its sine and cosine instead (PETS' ``obs_preproc``). No termination.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import jax.numpy as jnp
import numpy as np

from cemgd.problem import Array
from cemgd.tasks.mujoco_env import MujocoTask
from cemgd.validate import check_int, check_nonnegative


@dataclass(frozen=True, eq=False)
class HalfCheetah(MujocoTask):
    """``HalfCheetah-v5`` with the known forward-progress reward.

    Attributes:
        episode_length: steps of one episode (paper: 100).
        forward_reward_weight: weight of the forward velocity (passed to the environment).
        ctrl_cost_weight: weight of ``|a|^2`` (passed to the environment).
        reset_noise_scale: scale of the reset noise (passed to the environment).
    """

    name: ClassVar[str] = "halfcheetah"
    env_id: ClassVar[str] = "HalfCheetah-v5"
    low: ClassVar[float] = -1.0
    high: ClassVar[float] = 1.0
    num_actions: ClassVar[int] = 6
    dt: ClassVar[float] = 0.05
    episode_length: int = 100
    forward_reward_weight: float = 1.0
    ctrl_cost_weight: float = 0.1
    reset_noise_scale: float = 0.1

    def __post_init__(self) -> None:
        check_int("episode_length", self.episode_length, 1)
        for name in ("forward_reward_weight", "ctrl_cost_weight", "reset_noise_scale"):
            check_nonnegative(name, getattr(self, name))

    @property
    def obs_dim(self) -> int:
        """Size of an observation: ``x``, 8 joint positions, 9 velocities."""
        return 18

    @property
    def model_obs_dim(self) -> int:
        """Model input size: ``z``, sin and cos of the pitch, 6 joints, 9 velocities."""
        return 18

    def env_kwargs(self) -> dict[str, Any]:
        """Keep ``x`` in the observation; pass the reward weights and reset noise."""
        return {
            "exclude_current_positions_from_observation": False,
            "forward_reward_weight": self.forward_reward_weight,
            "ctrl_cost_weight": self.ctrl_cost_weight,
            "reset_noise_scale": self.reset_noise_scale,
        }

    def model_input(self, obs: Array) -> Array:
        """``obs: [..., 18] -> [..., 18]``: no ``x``; the pitch as its sine and cosine."""
        xp = np if isinstance(obs, np.ndarray) else jnp
        pitch = obs[..., 2:3]
        return xp.concatenate([obs[..., 1:2], xp.sin(pitch), xp.cos(pitch), obs[..., 3:]],
                              axis=-1)

    def reward(self, obs: Array, action: Array, next_obs: Array) -> Array:
        """``obs [..., 18], action [..., 6], next_obs [..., 18] -> [...]`` (exact)."""
        velocity = (next_obs[..., 0] - obs[..., 0]) / self.dt
        return self.forward_reward_weight * velocity - self.ctrl_cost_weight * jnp.sum(
            action**2, axis=-1
        )
