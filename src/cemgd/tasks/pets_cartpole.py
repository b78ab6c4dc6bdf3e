"""The PETS paper's cart-pole swing-up (Chua et al., 2018) in MuJoCo: ``pets-cartpole``.

The cart-pole of the PETS experiments as mbrl-lib defines it: a cart on a slider
limited to ``+-2.5`` m, a 0.6 m capsule pole on an unlimited hinge, damping 1 on both
joints, a motor of gear 100 on the slider with controls in ``[-3, 3]``; RK4 with a
0.02 s timestep and 2 substeps per step (0.04 s). The model is :data:`MJCF`, written
here from those parameters (masses and inertias from the geoms, density 1000).

Observation ``[x, theta, x_dot, theta_dot]`` (``qpos`` then ``qvel``): ``theta = 0``
hangs *down* (the pole points along ``-z``), ``theta = pi`` is upright; the angle is
not wrapped. An episode starts at rest hanging down plus ``N(0, 0.1)`` noise on every
entry and lasts 200 steps; nothing terminates it.

Reward, scored at the next state::

    tip = [x - 0.6 sin(theta), -0.6 cos(theta)]
    r = exp(-|tip - [0, 0.6]|^2 / 0.6^2) - 0.01 |a|^2

(the action as given; the simulator clips the control to ``[-3, 3]``). The dynamics
model sees ``[sin theta, cos theta, x, x_dot, theta_dot]`` (PETS' preprocessing).

Stepped with mbrl-lib's model file, this model gives the same trajectory to the last
bit. The reset noise here comes from the environment's seeded generator (mbrl-lib
draws it from numpy's global one), and the model file leaves out the stack size and
the textures, which change nothing in the dynamics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import jax.numpy as jnp
import numpy as np

from cemgd.problem import Array
from cemgd.tasks.env import EnvTask, _Env, _require_gymnasium, gymnasium
from cemgd.validate import check_int, check_nonnegative

#: Pole length (m): the tip's distance from the hinge and the reward's length scale.
POLE_LENGTH = 0.6
#: Motor control bound: the slider's force is ``GEAR * a`` with ``a`` in ``[-CTRL, CTRL]``.
CTRL = 3.0
GEAR = 100.0
#: Steps of ``TIMESTEP`` s per environment step.
FRAME_SKIP = 2
TIMESTEP = 0.02
SLIDER_RANGE = 2.5
DAMPING = 1.0

MJCF = f"""
<mujoco model="pets-cartpole">
  <compiler inertiafromgeom="true"/>
  <option gravity="0 0 -9.81" integrator="RK4" timestep="{TIMESTEP}"/>
  <default>
    <joint armature="0" damping="{DAMPING}" limited="true"/>
    <geom contype="0" friction="1 0.1 0.1" rgba="0.7 0.7 0 1"/>
    <motor ctrllimited="true" ctrlrange="{-CTRL} {CTRL}"/>
  </default>
  <worldbody>
    <light pos="0 -2 3" dir="0 1 -1"/>
    <geom name="rail" type="capsule" pos="0 0 0" quat="0.707 0 0.707 0" size="0.02 3"
          rgba="0.3 0.3 0.7 1"/>
    <body name="cart" pos="0 0 0">
      <joint name="slider" type="slide" axis="1 0 0" pos="0 0 0"
             range="{-SLIDER_RANGE} {SLIDER_RANGE}"/>
      <geom name="cart" type="capsule" pos="0 0 0" quat="0.707 0 0.707 0" size="0.1 0.1"/>
      <body name="pole" pos="0 0 0">
        <joint name="hinge" type="hinge" axis="0 1 0" pos="0 0 0" limited="false"/>
        <geom name="cpole" type="capsule" fromto="0 0 0 0.001 0 -{POLE_LENGTH}" size="0.049"
              rgba="0 0.7 0.7 1"/>
      </body>
    </body>
  </worldbody>
  <actuator>
    <motor name="slide" joint="slider" gear="{GEAR}"/>
  </actuator>
</mujoco>
"""


def tip_reward(next_obs: Any, action: Any, xp: Any = jnp) -> Any:
    """The PETS cart-pole reward of ``next_obs: [..., 4]`` and ``action: [..., 1]``: ``[...]``.

    ``xp`` is ``jax.numpy`` (the model rollout) or ``numpy`` (the environment).
    """
    x, theta = next_obs[..., 0], next_obs[..., 1]
    dx = x - POLE_LENGTH * xp.sin(theta)
    dy = -POLE_LENGTH * xp.cos(theta) - POLE_LENGTH
    upright = xp.exp(-(dx**2 + dy**2) / POLE_LENGTH**2)
    return upright - 0.01 * xp.sum(action**2, axis=-1)


class PetsCartPoleEnv(_Env):
    """:data:`MJCF` in MuJoCo behind gymnasium's API (no time limit of its own).

    Observations are float64 ``[x, theta, x_dot, theta_dot]``; the reset noise comes
    from gymnasium's seeded generator.

    Args:
        init_noise: standard deviation of the reset noise on positions and velocities.
        render_mode: ``None`` or ``"rgb_array"``.
        size: side of a rendered frame in pixels.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 25}

    def __init__(self, init_noise: float = 0.1, render_mode: str | None = None,
                 size: int = 240) -> None:
        _require_gymnasium()
        import mujoco

        self._mujoco = mujoco
        self.model = mujoco.MjModel.from_xml_string(MJCF)
        self.data = mujoco.MjData(self.model)
        self.init_noise = init_noise
        self.render_mode = render_mode
        self.size = size
        box = gymnasium.spaces.Box
        self.action_space = box(-CTRL, CTRL, (1,), dtype=np.float32)
        self.observation_space = box(-np.inf, np.inf, (4,), dtype=np.float64)
        self._renderer: Any = None

    @property
    def dt(self) -> float:
        """Seconds per environment step (``FRAME_SKIP * TIMESTEP``)."""
        return FRAME_SKIP * float(self.model.opt.timestep)

    def observation(self) -> np.ndarray:
        """``[x, theta, x_dot, theta_dot]`` of the current state (float64)."""
        return np.concatenate([self.data.qpos, self.data.qvel]).astype(np.float64)

    def set_state(self, qpos: np.ndarray, qvel: np.ndarray) -> None:
        """Put the simulator at ``qpos: [2], qvel: [2]`` (for tests and replays)."""
        self._mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[:] = qpos
        self.data.qvel[:] = qvel
        self._mujoco.mj_forward(self.model, self.data)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> Any:
        super().reset(seed=seed)
        noise = self.np_random.normal(0.0, self.init_noise, 4)
        self.set_state(noise[:2], noise[2:])
        return self.observation(), {}

    def step(self, action: Any) -> Any:
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (1,):
            raise ValueError(f"action: expected shape [1], got {tuple(action.shape)}")
        self.data.ctrl[:] = action
        self._mujoco.mj_step(self.model, self.data, nstep=FRAME_SKIP)
        obs = self.observation()
        return obs, float(tip_reward(obs, action, np)), False, False, {}

    def render(self) -> np.ndarray | None:
        """The scene as an ``[size, size, 3]`` uint8 frame (``rgb_array`` mode)."""
        if self.render_mode != "rgb_array":
            return None
        if self._renderer is None:
            self._renderer = self._mujoco.Renderer(self.model, self.size, self.size)
        camera = self._mujoco.MjvCamera()
        camera.lookat[:] = (0.0, 0.0, 0.0)
        camera.distance, camera.elevation, camera.azimuth = 4.0, 0.0, 90.0
        self._renderer.update_scene(self.data, camera)
        return np.asarray(self._renderer.render())

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


@dataclass(frozen=True, eq=False)
class PetsCartPole(EnvTask):
    """The PETS paper's MuJoCo cart-pole swing-up (mbrl-lib's): 200 steps, controls in [-3, 3].

    Attributes:
        episode_length: steps of one episode (PETS: 200).
        init_noise: standard deviation of the reset noise on every state entry.
    """

    name: ClassVar[str] = "pets-cartpole"
    episode_length: int = 200
    init_noise: float = 0.1

    def __post_init__(self) -> None:
        check_int("episode_length", self.episode_length, 1)
        check_nonnegative("init_noise", self.init_noise)

    @property
    def obs_dim(self) -> int:
        """Size of an observation: ``[x, theta, x_dot, theta_dot]``."""
        return 4

    @property
    def action_low(self) -> np.ndarray:
        """Lower action bound ``[1]``: ``-3``."""
        return np.full((1,), -CTRL, dtype=np.float32)

    @property
    def action_high(self) -> np.ndarray:
        """Upper action bound ``[1]``: ``3``."""
        return np.full((1,), CTRL, dtype=np.float32)

    def make_base_env(self, render_mode: str | None = None) -> gymnasium.Env:
        return PetsCartPoleEnv(self.init_noise, render_mode)

    @property
    def model_obs_dim(self) -> int:
        """Model input size: sin and cos of ``theta``, ``x``, ``x_dot``, ``theta_dot``."""
        return 5

    def model_input(self, obs: Array) -> Array:
        """``obs: [..., 4] -> [sin theta, cos theta, x, x_dot, theta_dot]: [..., 5]``."""
        xp = np if isinstance(obs, np.ndarray) else jnp
        theta = obs[..., 1:2]
        return xp.concatenate([xp.sin(theta), xp.cos(theta), obs[..., :1], obs[..., 2:]],
                              axis=-1)

    def reward(self, obs: Array, action: Array, next_obs: Array) -> Array:
        """``obs [..., 4], action [..., 1], next_obs [..., 4] -> [...]``."""
        del obs
        return tip_reward(next_obs, action)
