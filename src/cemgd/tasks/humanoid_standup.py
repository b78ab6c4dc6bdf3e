"""Humanoid stand-up: gymnasium ``HumanoidStandup-v5`` cut to the 45-D truncated state.

Observation ``[45]``: ``qpos[2:]`` (22: torso height ``obs[0]``, root orientation
quaternion, joint angles) and ``qvel`` (23), the truncated state of Janner et al.
(MBPO) that the CEM-GD paper used: the environment is built without its
``cinert``, ``cvel``, ``qfrc_actuator`` and ``cfrc_ext`` entries. Action
``[-0.4, 0.4]^17``.

Reward, from ``next_obs`` and the action::

    r = uph_cost_weight * next_obs[0] / timestep - ctrl_cost_weight * |a|^2 + 1

with the MuJoCo ``timestep = 0.003`` s (not the 0.015 s between actions; gymnasium
divides by it). The environment's reward also subtracts an impact cost
``min(impact_cost_weight * |cfrc_ext|^2, 10)`` with ``impact_cost_weight = 5e-7``, which
needs the external contact forces that the truncated state lacks; so the JAX reward is
the environment's reward *plus* that impact cost: always >= it, by at most 10. Under
random actions from the reset pose (lying down, reward about 25 to 55 per step) the gap
measured over 1000 steps was 0.15 on average and 1.7 at most; the tests check that the
gap equals the environment's ``info["reward_impact"]``. No termination.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import jax.numpy as jnp

from cemgd.problem import Array
from cemgd.tasks.mujoco_env import MujocoTask
from cemgd.validate import check_int, check_nonnegative


@dataclass(frozen=True, eq=False)
class HumanoidStandup(MujocoTask):
    """``HumanoidStandup-v5`` on the 45-D truncated state, with the reward minus impact cost.

    Attributes:
        episode_length: steps of one episode (paper: 100).
        uph_cost_weight: weight of the height term (passed to the environment).
        ctrl_cost_weight: weight of ``|a|^2`` (passed to the environment).
        reset_noise_scale: scale of the reset noise (passed to the environment).
    """

    name: ClassVar[str] = "humanoid-standup"
    env_id: ClassVar[str] = "HumanoidStandup-v5"
    low: ClassVar[float] = -0.4
    high: ClassVar[float] = 0.4
    num_actions: ClassVar[int] = 17
    timestep: ClassVar[float] = 0.003
    impact_cost_weight: ClassVar[float] = 0.5e-6
    impact_cost_max: ClassVar[float] = 10.0
    episode_length: int = 100
    uph_cost_weight: float = 1.0
    ctrl_cost_weight: float = 0.1
    reset_noise_scale: float = 1e-2

    def __post_init__(self) -> None:
        check_int("episode_length", self.episode_length, 1)
        for name in ("uph_cost_weight", "ctrl_cost_weight", "reset_noise_scale"):
            check_nonnegative(name, getattr(self, name))

    @property
    def obs_dim(self) -> int:
        """Size of an observation: ``qpos[2:]`` (22) and ``qvel`` (23)."""
        return 45

    def env_kwargs(self) -> dict[str, Any]:
        """Drop ``x, y`` and every entry beyond ``qpos, qvel``; pass the weights and noise."""
        return {
            "exclude_current_positions_from_observation": True,
            "include_cinert_in_observation": False,
            "include_cvel_in_observation": False,
            "include_qfrc_actuator_in_observation": False,
            "include_cfrc_ext_in_observation": False,
            "uph_cost_weight": self.uph_cost_weight,
            "ctrl_cost_weight": self.ctrl_cost_weight,
            "impact_cost_weight": self.impact_cost_weight,
            "impact_cost_range": (-float("inf"), self.impact_cost_max),
            "reset_noise_scale": self.reset_noise_scale,
        }

    def reward(self, obs: Array, action: Array, next_obs: Array) -> Array:
        """``obs [..., 45], action [..., 17], next_obs [..., 45] -> [...]``.

        The environment's reward without its impact cost (see the module docstring).
        """
        del obs
        height = self.uph_cost_weight * next_obs[..., 0] / self.timestep
        return height - self.ctrl_cost_weight * jnp.sum(action**2, axis=-1) + 1.0
