"""The CEM-GD paper's own cart-pole: a swing-up on a bounded track (``cartpole-paper``).

The environment the paper's authors ran their cart-pole experiments on (their
``CartPoleEnvDown``, with its planning reward and termination): Gym's ``CartPole``
equations with a light pole and a strong continuous force, started hanging down,
rewarded for an upright pole while the cart stays inside the track, ended when the
cart leaves it.

Observation: ``obs = [x, x_dot, theta, theta_dot]`` (Gym's order) with the cart
position ``x`` (m), the pole angle ``theta`` (rad) from *upright* (``0`` up, ``pi``
hanging down, positive tilting the tip towards ``+x``), kept in ``(-2 pi, 2 pi)`` by
``fmod(theta, 2 pi)`` (a C-style remainder, so it keeps the sign), and their rates.
Action: ``a in [-1, 1]``, the force ``max_force * a`` (N) on the cart (100 N at
``|a| = 1``).

Integration: one explicit Euler step of ``tau`` per step (positions advance with the
*old* velocities, as Gym's ``"euler"`` integrator)::

    x' = x + tau x_dot,          x_dot' = x_dot + tau x_acc
    theta' = fmod(theta + tau theta_dot, 2 pi),  theta_dot' = theta_dot + tau theta_acc

with Gym's accelerations (:func:`~cemgd.tasks.cartpole.gym_accelerations`).

Reward, scored at the next state, no action cost::

    r = 0.5 (cos theta' + 1) * sigmoid(k (x' + edge)) * sigmoid(k (edge - x'))

with ``edge = 2.2`` m and ``k = 20``: 1 upright at the centre, 0 hanging down, and
fading to 0 as the cart nears the track's end. The episode terminates when
``|x'| > 2.4`` m; that step's reward counts (the environment's rule and the model
rollout's), later steps of a terminated environment earn 0.

Where this differs from the authors' code: the action is clipped to ``[-1, 1]`` (their
environment applies any action; their planner stays in the box); the model rollout
counts the terminating step's reward, which their planning reward zeroes (at most
``sigmoid(-4) = 0.018``, the track factor at ``|x| = 2.4``); the state is float32, theirs
float64; and the model sees ``sin`` and ``cos`` of the angle, where theirs saw the wrapped
angle itself and the previous action too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from cemgd.problem import Array
from cemgd.tasks.base import Task
from cemgd.tasks.cartpole import gym_accelerations
from cemgd.tasks.env import CartPoleSwingUpEnv, DynamicsEnvTask, gymnasium
from cemgd.validate import check_int, check_nonnegative, check_positive

TWO_PI = 2.0 * math.pi


@dataclass(frozen=True, eq=False)
class CartPolePaper(Task):
    """The paper's cart-pole dynamics, reward and termination in JAX.

    Attributes:
        episode_length: steps of one episode (the authors' trials: 60).
        cart_mass: cart mass (kg).
        pole_mass: pole mass (kg).
        half_length: half the pole's length (m), Gym's ``length``.
        gravity: gravitational acceleration (m/s^2).
        max_force: force at ``|a| = 1`` (N).
        tau: time per step (s).
        x_threshold: the episode ends when ``|x|`` exceeds it (m).
        track_edge: where the reward's track factor is 1/2 (m).
        track_sharpness: slope ``k`` (1/m) of the track factor's sigmoids.
        init_noise: half-width of the uniform reset noise on every state entry.
    """

    name: ClassVar[str] = "cartpole-paper"
    episode_length: int = 60
    cart_mass: float = 1.0
    pole_mass: float = 0.05
    half_length: float = 0.5
    gravity: float = 9.8
    max_force: float = 100.0
    tau: float = 0.02
    x_threshold: float = 2.4
    track_edge: float = 2.2
    track_sharpness: float = 20.0
    init_noise: float = 0.05

    def __post_init__(self) -> None:
        check_int("episode_length", self.episode_length, 1)
        for name in ("cart_mass", "pole_mass", "half_length", "gravity", "max_force", "tau",
                     "x_threshold", "track_edge", "track_sharpness"):
            check_positive(name, getattr(self, name))
        check_nonnegative("init_noise", self.init_noise)

    @property
    def obs_dim(self) -> int:
        """Size of an observation: ``[x, x_dot, theta, theta_dot]``."""
        return 4

    @property
    def action_dim(self) -> int:
        """Size of an action: the normalised force."""
        return 1

    @property
    def pole_length(self) -> float:
        """Full pole length (m), for drawing."""
        return 2.0 * self.half_length

    def reset(self, key: Array) -> Array:
        """Hanging down (``theta = pi``) plus uniform ``+-init_noise`` noise: ``obs: [4]``."""
        noise = jax.random.uniform(key, (4,), jnp.float32, -self.init_noise, self.init_noise)
        return jnp.array([0.0, 0.0, jnp.pi, 0.0], dtype=jnp.float32) + noise

    def step(self, obs: Array, action: Array) -> tuple[Array, Array]:
        """``obs: [4], action: [1] -> (next_obs: [4], reward: [])``; clips the action.

        The reward is :meth:`reward` of ``next_obs``; termination is not applied here
        (see :meth:`terminated`).
        """
        x, x_dot, theta, theta_dot = obs
        force = self.max_force * self.clip(action)[0]
        x_acc, theta_acc = gym_accelerations(
            theta, theta_dot, force, cart_mass=self.cart_mass, pole_mass=self.pole_mass,
            half_length=self.half_length, gravity=self.gravity)
        next_obs = jnp.stack([
            x + self.tau * x_dot,
            x_dot + self.tau * x_acc,
            jnp.fmod(theta + self.tau * theta_dot, TWO_PI),
            theta_dot + self.tau * theta_acc,
        ])
        return next_obs, self.reward(next_obs)

    def reward(self, next_obs: Array) -> Array:
        """Upright times on-track reward of ``next_obs: [..., 4]``: ``[...]`` in ``[0, 1]``."""
        x, theta = next_obs[..., 0], next_obs[..., 2]
        upright = 0.5 * (jnp.cos(theta) + 1.0)
        k, edge = self.track_sharpness, self.track_edge
        track = jax.nn.sigmoid(k * (x + edge)) * jax.nn.sigmoid(k * (edge - x))
        return upright * track

    def terminated(self, next_obs: Array) -> Array:
        """Whether the cart left the track at ``next_obs: [..., 4]``: bool ``[...]``."""
        return jnp.abs(next_obs[..., 0]) > self.x_threshold


class CartPolePaperEnv(CartPoleSwingUpEnv):
    """:class:`CartPolePaper` behind gymnasium's API, with its termination.

    ``terminated`` is ``|x| > x_threshold`` after the step; the first terminating step
    keeps its reward, a step that stays beyond the threshold after it earns 0 (as the
    authors' environment). Observations are float32.
    """

    def __init__(self, dynamics: CartPolePaper | None = None,
                 render_mode: str | None = None) -> None:
        super().__init__(CartPolePaper() if dynamics is None else dynamics, render_mode)
        self._ended = False

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> Any:
        self._ended = False
        return super().reset(seed=seed, options=options)

    def step(self, action: Any) -> Any:
        obs, reward, _, truncated, info = super().step(action)
        terminated = bool(self.dynamics.terminated(obs))
        if terminated and self._ended:
            reward = 0.0
        self._ended = self._ended or terminated
        return obs, reward, terminated, truncated, info

    def pose(self) -> tuple[float, float]:
        """``(x, theta)``: this observation keeps them at indices 0 and 2."""
        obs = np.asarray(self._obs)
        return float(obs[0]), float(obs[2])


@dataclass(frozen=True, eq=False)
class CartPolePaperTask(DynamicsEnvTask):
    """The CEM-GD paper's cart-pole: 0.05 kg pole, 100 N, track +-2.4 m, 60-step trials.

    The simulator is the JAX :class:`CartPolePaper` behind :class:`CartPolePaperEnv`;
    reward and termination are its own, so the model rollout scores imagined steps
    exactly as the environment does.

    Attributes:
        episode_length: steps of one episode (the authors' trials: 60).
        dynamics: the JAX dynamics and their constants.
    """

    name: ClassVar[str] = "cartpole-paper"
    dynamics_type: ClassVar[type] = CartPolePaper
    episode_length: int = 60
    dynamics: CartPolePaper = field(default_factory=CartPolePaper)

    def make_base_env(self, render_mode: str | None = None) -> gymnasium.Env:
        return CartPolePaperEnv(self.dynamics, render_mode)

    @property
    def model_obs_dim(self) -> int:
        """Model input size: ``x``, ``x_dot``, sin and cos of ``theta``, ``theta_dot``."""
        return 5

    def model_input(self, obs: Array) -> Array:
        """``obs: [..., 4] -> [..., 5]``: ``theta`` as its sine and cosine."""
        xp = np if isinstance(obs, np.ndarray) else jnp
        theta = obs[..., 2:3]
        return xp.concatenate([obs[..., :2], xp.sin(theta), xp.cos(theta), obs[..., 3:]],
                              axis=-1)

    def model_target(self, obs: Array, next_obs: Array) -> Array:
        """``next_obs - obs`` with the angle's change taken in ``[-pi, pi)``: ``[..., 4]``.

        The observed angle jumps by ``2 pi`` where ``fmod`` wraps it; its change per
        step is small, so the wrapped difference is the pole's true rotation.
        """
        xp = np if isinstance(obs, np.ndarray) else jnp
        delta = next_obs - obs
        turn = xp.mod(delta[..., 2:3] + math.pi, TWO_PI) - math.pi
        return xp.concatenate([delta[..., :2], turn, delta[..., 3:]], axis=-1)

    def model_output_to_next_obs(self, obs: Array, prediction: Array) -> Array:
        """``obs + prediction`` with the angle wrapped as the environment wraps it."""
        xp = np if isinstance(obs, np.ndarray) else jnp
        summed = obs + prediction
        theta = xp.fmod(summed[..., 2:3], TWO_PI)
        return xp.concatenate([summed[..., :2], theta, summed[..., 3:]], axis=-1)

    def reward(self, obs: Array, action: Array, next_obs: Array) -> Array:
        """``obs [..., 4], action [..., 1], next_obs [..., 4] -> [...]``."""
        del obs, action
        return self.dynamics.reward(next_obs)

    def termination(self, obs: Array, action: Array, next_obs: Array) -> Array:
        """``|x| > 2.4`` at ``next_obs [..., 4]``: bool ``[...]``."""
        del obs, action
        return self.dynamics.terminated(next_obs)
