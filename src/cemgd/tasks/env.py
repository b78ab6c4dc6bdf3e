"""Tasks backed by a real simulator: a gymnasium environment plus a known JAX reward.

An :class:`EnvTask` is what the PETS loop needs to learn and plan on a task whose
dynamics are *not* known: the real environment (:meth:`EnvTask.make_env`) to
collect transitions, and the reward and termination as pure, differentiable JAX
functions of ``(obs, action, next_obs)`` that score the learned model's
imagined rollouts. Unlike :class:`~cemgd.tasks.base.Task` there is no JAX
``step``: the dynamics model takes its place.

What the dynamics model sees and predicts (the PETS convention)::

    inputs  = concat(model_input(obs), action)            # [..., model_obs_dim + A]
    targets = model_target(obs, next_obs)                 # [..., S]  (default next_obs - obs)
    next_obs = model_output_to_next_obs(obs, prediction)  # [..., S]  (inverse of model_target)

so ``model_output_to_next_obs(obs, model_target(obs, next_obs)) == next_obs``. A
task drops from ``model_input`` what the model must not see (half-cheetah's raw
``x`` position, which grows without bound) but keeps it in the observation and the
target, so that the reward stays exact on the predicted ``next_obs``.

Every task, including the JAX cart-pole (:class:`CartPoleSwingUpEnv`), is driven
through gymnasium's API: ``env = task.make_env(seed)``, ``obs, info = env.reset()``
(the first reset uses ``seed``; ``reset(seed=...)`` overrides it), ``env.step(action)``
with ``truncated`` set after ``episode_length`` steps. The environment raises a
``ValueError`` naming ``action`` for an action of the wrong shape or a non-finite one.
Observations are float64 numpy arrays for MuJoCo tasks and float32 for cart-pole.

gymnasium is imported lazily: this module and the registry import without it; only
:meth:`EnvTask.make_env` needs it (``pip install cemgd[mujoco]``).
"""

from __future__ import annotations

import abc
import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from cemgd.problem import Array
from cemgd.tasks.base import Task, TaskBase
from cemgd.tasks.cartpole import CartPoleSwingUp
from cemgd.validate import check_int, check_seed

try:
    import gymnasium

    _Env: Any = gymnasium.Env
    _Wrapper: Any = gymnasium.Wrapper
except ImportError:  # pragma: no cover - depends on the installation
    gymnasium = None
    _Env = _Wrapper = object


def check_env_reward(task: EnvTask, reward: Any, where: str) -> float:
    """``reward`` (what ``task``'s environment returned at ``where``) as a float, or
    ValueError naming the task and ``where`` when it is not a finite number: a run or an
    evaluation refuses it at the step it appears, before anything of it is kept.

    Args:
        where: the step, e.g. ``"step 4 of trial 2's episode"``.
    """
    try:
        value = float(reward)
    except (TypeError, ValueError):
        value = float("nan")
    if not np.isfinite(value):
        raise ValueError(
            f"task {task.name!r}: its environment returned the reward {reward!r} at "
            f"{where}; expected a finite number (nothing of it was kept; fix the "
            "environment or its reward)"
        )
    return value


def _require_gymnasium() -> None:
    if gymnasium is None:
        raise ImportError(
            "the environment-backed tasks need gymnasium (and mujoco for the MuJoCo tasks): "
            "pip install 'cemgd[mujoco]'"
        )


class EnvTask(TaskBase):
    """A real environment with a known reward and termination (pure JAX): a
    :class:`~cemgd.tasks.base.TaskBase` with a gymnasium environment.

    To write one, subclass it (usually as a frozen dataclass of its options, validated
    in ``__post_init__`` with a ``ValueError`` naming the field) and fill in the public
    methods below; nothing private needs overriding:

    * required: :attr:`obs_dim`, :attr:`action_low`, :attr:`action_high`,
      :meth:`make_base_env` (the bare simulator) and :meth:`reward`;
    * optional: :meth:`termination` (default: never), :meth:`model_input` with
      :attr:`model_obs_dim` (default: the whole observation), :meth:`model_target` and
      :meth:`model_output_to_next_obs` (default: predict ``next_obs - obs``), and
      :meth:`with_episode_length` (default: ``dataclasses.replace``).

    For a registered gymnasium environment, :func:`cemgd.tasks.from_gymnasium` builds
    one from a reward function alone.

    Attributes:
        name: registry name of the task.
        episode_length: steps of one episode (the environment truncates after it).
        obs_dim: size ``S`` of an observation.
        action_dim: size ``A`` of an action.
        action_low: lower action bound, ``np.ndarray [A]`` (float32).
        action_high: upper action bound, ``np.ndarray [A]`` (float32).
        model_obs_dim: size ``S'`` of :meth:`model_input`.
    """

    name: ClassVar[str] = "env-task"

    # ------------------------------------------------------------------ to fill in
    # obs_dim, action_low, action_high (TaskBase's), and:
    @abc.abstractmethod
    def make_base_env(self, render_mode: str | None = None) -> gymnasium.Env:
        """The bare simulator: a ``gymnasium.Env`` without time limit or argument checks.

        :meth:`make_env` wraps it (time limit ``episode_length``, action checks,
        seeding); call that, not this. ``render_mode="rgb_array"`` must make
        ``render()`` return an ``[H, W, 3]`` uint8 frame.
        """

    @abc.abstractmethod
    def reward(self, obs: Array, action: Array, next_obs: Array) -> Array:
        """Reward of ``obs: [..., S], action: [..., A] -> next_obs: [..., S]``: ``[...]``.

        Pure JAX, differentiable, broadcasting over the leading dimensions.
        """

    # ------------------------------------------------------------------ defaults
    @property
    def model_obs_dim(self) -> int:
        """Size ``S'`` of :meth:`model_input` (default ``S``)."""
        return self.obs_dim

    def termination(self, obs: Array, action: Array, next_obs: Array) -> Array:
        """Whether ``next_obs`` ends the episode: ``[...]`` bool (default: never)."""
        del obs, action
        return jnp.zeros(jnp.shape(next_obs)[:-1], dtype=bool)

    def model_input(self, obs: Array) -> Array:
        """What the dynamics model sees of ``obs: [..., S]``: ``[..., S']`` (default all)."""
        return obs

    def model_target(self, obs: Array, next_obs: Array) -> Array:
        """What the dynamics model predicts: ``[..., S]`` (default ``next_obs - obs``)."""
        return next_obs - obs

    def model_output_to_next_obs(self, obs: Array, prediction: Array) -> Array:
        """Inverse of :meth:`model_target`: ``obs [..., S], prediction [..., S] -> next_obs``."""
        return obs + prediction

    def with_episode_length(self, episode_length: int) -> EnvTask:
        """This task with episodes of ``episode_length`` steps (a dataclass ``replace``).

        A task that is not a dataclass with an ``episode_length`` field overrides this.
        """
        check_int("episode_length", episode_length, 1)
        if not dataclasses.is_dataclass(self):
            raise ValueError(
                f"episode_length: task {self.name!r} is not a dataclass; override "
                "with_episode_length to set it"
            )
        return dataclasses.replace(self, episode_length=episode_length)

    # ------------------------------------------------------------------ shared
    def make_env(self, seed: int | None = None, render_mode: str | None = None) -> gymnasium.Env:
        """A fresh real environment, truncated after ``episode_length`` steps.

        Args:
            seed: seed of the first ``reset()`` (and of ``action_space.sample``); ``None``
                for fresh entropy. ``reset(seed=...)`` overrides it.
            render_mode: ``None`` or ``"rgb_array"`` (``render()`` returns ``[H, W, 3]``
                uint8; MuJoCo tasks render offscreen, e.g. with ``MUJOCO_GL=egl``).
        """
        if seed is not None:
            check_seed("seed", seed)
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode: expected None or 'rgb_array', got {render_mode!r}")
        _require_gymnasium()
        env = gymnasium.wrappers.TimeLimit(self.make_base_env(render_mode), self.episode_length)
        return _CheckedEnv(env, self, seed)


class _CheckedEnv(_Wrapper):
    """Validates actions (``ValueError`` naming ``action``) and seeds the first reset."""

    def __init__(self, env: gymnasium.Env, task: EnvTask, seed: int | None) -> None:
        super().__init__(env)
        self._task = task
        self._seed = seed
        if seed is not None:
            self.action_space.seed(seed)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> Any:
        if seed is None:
            seed = self._seed
        self._seed = None
        return self.env.reset(seed=seed, options=options)

    def step(self, action: Any) -> Any:
        return self.env.step(self._task.check_action(action))


# --------------------------------------------------------------------------- cart-pole
@functools.cache
def _jitted(dynamics: Task) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """``(jit(step), jit(reset))`` of ``dynamics``, once per dynamics object.

    A task hands its one ``dynamics`` to every env it makes (``CartPoleSwingUp`` hashes
    by identity), so an episode after the first compiles nothing for the environment.
    """
    return jax.jit(dynamics.step), jax.jit(dynamics.reset)


class CartPoleSwingUpEnv(_Env):
    """The JAX :class:`~cemgd.tasks.cartpole.CartPoleSwingUp` behind gymnasium's API.

    ``reset(seed=...)`` draws the JAX key from gymnasium's seeded generator, then
    ``step`` applies the jitted ``CartPoleSwingUp.step`` (which clips the action) and
    returns its reward. Observations ``[x, theta, x_dot, theta_dot]`` are float32; it
    never terminates and has no time limit of its own (:meth:`EnvTask.make_env` adds it).

    Args:
        dynamics: the JAX cart-pole (default ``CartPoleSwingUp()``): a :class:`Task` with a
            ``pole_length`` (m); a subclass whose observation does not start with
            ``[x, theta]`` overrides :meth:`pose`.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"]}

    def __init__(
        self, dynamics: Task | None = None, render_mode: str | None = None,
        size: int = 240,
    ) -> None:
        _require_gymnasium()
        self.dynamics = CartPoleSwingUp() if dynamics is None else dynamics
        self.render_mode = render_mode
        self.size = size
        box = gymnasium.spaces.Box
        self.action_space = box(self.dynamics.action_low, self.dynamics.action_high)
        inf = np.full((self.dynamics.obs_dim,), np.inf, dtype=np.float32)
        self.observation_space = box(-inf, inf, dtype=np.float32)
        self._step, self._reset = _jitted(self.dynamics)
        self._obs: Array | None = None

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> Any:
        super().reset(seed=seed)
        key = jax.random.PRNGKey(int(self.np_random.integers(0, 2**31 - 1)))
        self._obs = self._reset(key)
        return np.asarray(self._obs, dtype=np.float32), {}

    def step(self, action: Any) -> Any:
        if self._obs is None:
            raise RuntimeError("call reset() before step()")
        action = np.asarray(action, dtype=np.float32)
        if action.shape != (self.dynamics.action_dim,):
            raise ValueError(
                f"action: expected shape [{self.dynamics.action_dim}], got {tuple(action.shape)}"
            )
        self._obs, reward = self._step(self._obs, jnp.asarray(action))
        return np.asarray(self._obs, dtype=np.float32), float(reward), False, False, {}

    def pose(self) -> tuple[float, float]:
        """``(x, theta)`` of the current observation (``theta = 0`` upright), for drawing."""
        x, theta = np.asarray(self._obs)[:2]
        return float(x), float(theta)

    def render(self) -> np.ndarray | None:
        """The cart and pole as an ``[size, size, 3]`` uint8 frame (``rgb_array`` mode)."""
        if self.render_mode != "rgb_array" or self._obs is None:
            return None
        from PIL import Image, ImageDraw

        x, theta = self.pose()
        n = self.size
        image = Image.new("RGB", (n, n), (255, 255, 255))
        draw = ImageDraw.Draw(image)
        scale = n / 4.0  # 4 m across; the cart wraps visually
        cx = n / 2 + ((x + 2.0) % 4.0 - 2.0) * scale
        cy = n * 0.55
        draw.line([(0, cy + 0.12 * scale), (n, cy + 0.12 * scale)], fill=(120, 120, 120))
        draw.rectangle([cx - 0.3 * scale, cy - 0.12 * scale, cx + 0.3 * scale, cy + 0.12 * scale],
                       fill=(40, 90, 200))
        length = self.dynamics.pole_length  # the full rod, hinged at the cart
        # theta = 0 is upright (the swing-up target), pi hangs down.
        tip = (cx + length * scale * np.sin(theta), cy - length * scale * np.cos(theta))
        draw.line([(cx, cy), tip], fill=(200, 60, 40), width=max(2, n // 60))
        return np.asarray(image)


@dataclass(frozen=True, eq=False)
class DynamicsEnvTask(EnvTask):
    """An :class:`EnvTask` whose simulator is a JAX dynamics object: a subclass sets
    :attr:`dynamics_type` and a ``dynamics`` field; its observation size and action box
    are the dynamics'."""

    dynamics_type: ClassVar[type]

    def __post_init__(self) -> None:
        check_int("episode_length", self.episode_length, 1)
        if not isinstance(self.dynamics, self.dynamics_type):
            raise ValueError(f"dynamics: expected a {self.dynamics_type.__name__}, "
                             f"got {self.dynamics!r}")

    @property
    def obs_dim(self) -> int:
        """Size of an observation (the dynamics')."""
        return self.dynamics.obs_dim

    @property
    def action_low(self) -> np.ndarray:
        """Lower action bound ``[A]``."""
        return self.dynamics.action_low

    @property
    def action_high(self) -> np.ndarray:
        """Upper action bound ``[A]``."""
        return self.dynamics.action_high


@dataclass(frozen=True, eq=False)
class CartPoleSwingUpTask(DynamicsEnvTask):
    """Cart-pole swing-up: classic equations, PETS reward, no track limit (cemgd's own).

    The "real" simulator is the known JAX dynamics behind :class:`CartPoleSwingUpEnv`;
    the reward is :meth:`CartPoleSwingUp.reward` at ``next_obs`` with the clipped action,
    exactly what the environment returns.

    Attributes:
        episode_length: steps of one episode (100, as the paper's other tasks).
        dynamics: the JAX cart-pole and its constants.
    """

    name: ClassVar[str] = "cartpole-swingup"
    dynamics_type: ClassVar[type] = CartPoleSwingUp
    episode_length: int = 100
    dynamics: CartPoleSwingUp = field(default_factory=CartPoleSwingUp)

    def make_base_env(self, render_mode: str | None = None) -> gymnasium.Env:
        return CartPoleSwingUpEnv(self.dynamics, render_mode)

    @property
    def model_obs_dim(self) -> int:
        """Model input size: ``x``, sin and cos of ``theta``, ``x_dot``, ``theta_dot``."""
        return 5

    def model_input(self, obs: Array) -> Array:
        """``obs: [..., 4] -> [..., 5]``: ``theta`` as its sine and cosine (PETS' ``obs_preproc``).

        The angle is unbounded (the pole can spin); the dynamics depend on it only
        through ``sin`` and ``cos``, which a network cannot learn from raw angles it has
        not seen.
        """
        xp = np if isinstance(obs, np.ndarray) else jnp
        theta = obs[..., 1:2]
        return xp.concatenate([obs[..., :1], xp.sin(theta), xp.cos(theta), obs[..., 2:]],
                              axis=-1)

    def reward(self, obs: Array, action: Array, next_obs: Array) -> Array:
        """``obs [..., 4], action [..., 1], next_obs [..., 4] -> [...]``."""
        del obs
        one = jnp.vectorize(self.dynamics.reward, signature="(s),(a)->()")
        return one(next_obs, self.clip(action))
