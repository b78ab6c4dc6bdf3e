"""Two classic-control tasks with their exact rewards in JAX, drawn with PIL.

``pendulum`` is gymnasium's ``Pendulum-v1``: observation ``[cos th, sin th, th_dot]``
(``th = 0`` upright), torque ``u in [-2, 2]``, 200 steps. Its reward is a function
of the state *before* the step and the (clipped) torque::

    r = -(normalize(th)^2 + 0.1 th_dot^2 + 0.001 u^2),   th = atan2(sin th, cos th)

``mountaincar-continuous`` is gymnasium's ``MountainCarContinuous-v0``: observation
``[position, velocity]``, force ``a in [-1, 1]``, 999 steps. It ends when the car
reaches ``position >= 0.45`` with ``velocity >= goal_velocity``; the reward is
``100`` on that step minus ``0.1 a^2`` (the unclipped action) on every step. The
bonus is a step function: gradient planners see only the action cost, and random
exploration rarely finds the goal, which is what makes the task hard.

gymnasium draws both with pygame, which is not a dependency of cemgd; here
``render()`` draws them with PIL instead (``[size, size, 3]`` uint8 frames), so
``--video`` works from a plain install.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import jax.numpy as jnp
import numpy as np
from PIL import Image, ImageDraw

from cemgd.problem import Array
from cemgd.tasks.env import EnvTask, _require_gymnasium, _Wrapper, gymnasium
from cemgd.validate import check_int, check_nonnegative, check_positive

#: ``draw(state of the unwrapped env, size) -> [size, size, 3]`` uint8.
Drawer = Callable[[np.ndarray, int], np.ndarray]


class PILRendered(_Wrapper):
    """Renders a classic-control environment with PIL instead of pygame.

    ``render()`` returns ``draw(env.unwrapped.state, size)`` in ``"rgb_array"`` mode
    (after ``reset()``), else ``None``.
    """

    def __init__(self, env: gymnasium.Env, draw: Drawer, render_mode: str | None,
                 size: int = 240) -> None:
        super().__init__(env)
        self._draw = draw
        self._render_mode = render_mode
        self._size = size

    @property
    def render_mode(self) -> str | None:
        """``"rgb_array"`` or ``None``."""
        return self._render_mode

    def render(self) -> np.ndarray | None:  # type: ignore[override]
        """The current state as an ``[size, size, 3]`` uint8 frame."""
        state = getattr(self.env.unwrapped, "state", None)
        if self._render_mode != "rgb_array" or state is None:
            return None
        return self._draw(np.asarray(state, np.float64), self._size)


def draw_pendulum(state: np.ndarray, size: int) -> np.ndarray:
    """``state = [th, th_dot]`` (``th = 0`` upright) as ``[size, size, 3]`` uint8."""
    image = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    center, length = size / 2, 0.4 * size
    th = float(state[0])
    tip = (center + length * np.sin(th), center - length * np.cos(th))
    draw.line([(center, center), tip], fill=(200, 60, 40), width=max(3, size // 25))
    r = max(2, size // 40)
    draw.ellipse([center - r, center - r, center + r, center + r], fill=(40, 40, 40))
    return np.asarray(image)


def _hill(position: np.ndarray | float) -> np.ndarray | float:
    """Height of the mountain-car track at ``position``."""
    return np.sin(3 * position) * 0.45 + 0.55


def draw_mountain_car(state: np.ndarray, size: int) -> np.ndarray:
    """``state = [position, velocity]`` as ``[size, size, 3]`` uint8 (goal flag at 0.45)."""
    image = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    low, high = -1.2, 0.6

    def to_pixel(x: float) -> tuple[float, float]:
        return ((x - low) / (high - low) * size, size * (0.95 - 0.7 * float(_hill(x))))

    xs = np.linspace(low, high, 100)
    draw.line([to_pixel(float(x)) for x in xs], fill=(100, 100, 100), width=2)
    flag_x, flag_y = to_pixel(0.45)
    draw.line([(flag_x, flag_y), (flag_x, flag_y - size / 10)], fill=(0, 0, 0), width=2)
    draw.polygon([(flag_x, flag_y - size / 10), (flag_x + size / 20, flag_y - size / 12),
                  (flag_x, flag_y - size / 15)], fill=(220, 180, 0))
    car_x, car_y = to_pixel(float(state[0]))
    r = size / 30
    draw.ellipse([car_x - r, car_y - 2 * r, car_x + r, car_y], fill=(40, 90, 200))
    return np.asarray(image)


@dataclass(frozen=True, eq=False)
class Pendulum(EnvTask):
    """Pendulum-v1: swing up and balance a torque-limited pendulum (exact JAX reward).

    Attributes:
        episode_length: steps of one episode (gymnasium: 200).
        g: gravitational acceleration (passed to the environment).
    """

    name: ClassVar[str] = "pendulum"
    env_id: ClassVar[str] = "Pendulum-v1"
    max_torque: ClassVar[float] = 2.0
    episode_length: int = 200
    g: float = 10.0

    def __post_init__(self) -> None:
        check_int("episode_length", self.episode_length, 1)
        check_positive("g", self.g)

    @property
    def obs_dim(self) -> int:
        """Size of an observation: ``[cos th, sin th, th_dot]``."""
        return 3

    @property
    def action_low(self) -> np.ndarray:
        """Lower torque bound ``[1]``."""
        return np.full((1,), -self.max_torque, np.float32)

    @property
    def action_high(self) -> np.ndarray:
        """Upper torque bound ``[1]``."""
        return np.full((1,), self.max_torque, np.float32)

    def make_base_env(self, render_mode: str | None = None) -> gymnasium.Env:
        """gymnasium's pendulum, drawn with PIL."""
        _require_gymnasium()
        env = gymnasium.make(self.env_id, g=self.g, disable_env_checker=True).unwrapped
        return PILRendered(env, draw_pendulum, render_mode)

    def reward(self, obs: Array, action: Array, next_obs: Array) -> Array:
        """``obs [..., 3], action [..., 1], next_obs [..., 3] -> [...]`` (uses ``obs``)."""
        del next_obs
        th = jnp.arctan2(obs[..., 1], obs[..., 0])
        th = jnp.mod(th + jnp.pi, 2 * jnp.pi) - jnp.pi
        u = jnp.clip(action[..., 0], -self.max_torque, self.max_torque)
        return -(th**2 + 0.1 * obs[..., 2] ** 2 + 0.001 * u**2)


@dataclass(frozen=True, eq=False)
class MountainCarContinuous(EnvTask):
    """MountainCarContinuous-v0: drive an underpowered car up the hill (exact JAX reward).

    Attributes:
        episode_length: steps of one episode (gymnasium: 999).
        goal_velocity: least velocity at the goal (passed to the environment).
    """

    name: ClassVar[str] = "mountaincar-continuous"
    env_id: ClassVar[str] = "MountainCarContinuous-v0"
    goal_position: ClassVar[float] = 0.45
    episode_length: int = 999
    goal_velocity: float = 0.0

    def __post_init__(self) -> None:
        check_int("episode_length", self.episode_length, 1)
        check_nonnegative("goal_velocity", self.goal_velocity)

    @property
    def obs_dim(self) -> int:
        """Size of an observation: ``[position, velocity]``."""
        return 2

    @property
    def action_low(self) -> np.ndarray:
        """Lower force bound ``[1]``."""
        return np.full((1,), -1.0, np.float32)

    @property
    def action_high(self) -> np.ndarray:
        """Upper force bound ``[1]``."""
        return np.full((1,), 1.0, np.float32)

    def make_base_env(self, render_mode: str | None = None) -> gymnasium.Env:
        """gymnasium's continuous mountain car, drawn with PIL."""
        _require_gymnasium()
        env = gymnasium.make(self.env_id, goal_velocity=self.goal_velocity,
                             disable_env_checker=True).unwrapped
        return PILRendered(env, draw_mountain_car, render_mode)

    def termination(self, obs: Array, action: Array, next_obs: Array) -> Array:
        """At the goal: ``position >= 0.45`` and ``velocity >= goal_velocity``, ``[...]``."""
        del obs, action
        return (next_obs[..., 0] >= self.goal_position) & (next_obs[..., 1] >= self.goal_velocity)

    def reward(self, obs: Array, action: Array, next_obs: Array) -> Array:
        """``100`` on reaching the goal, minus ``0.1 a^2``: ``[...]``."""
        bonus = jnp.where(self.termination(obs, action, next_obs), 100.0, 0.0)
        return bonus - 0.1 * action[..., 0] ** 2

