"""Cart-pole swing-up with known, differentiable dynamics (classic equations, PETS reward).

The classic cart-pole (Barto, Sutton & Anderson, 1983; the equations of Gym's
``CartPole``) with a continuous force, started hanging *down*, rewarded as in the
PETS cart-pole (Chua et al., 2018): the pole tip should be upright above the
origin.

Observation (= state): ``obs = [x, theta, x_dot, theta_dot]`` with the cart
position ``x`` (m), the pole angle ``theta`` (rad) measured from *upright*
(``0`` up, ``pi`` hanging down, positive tilting the tip towards ``+x``) and not
wrapped, and their rates. Action: ``a in [-1, 1]``, the force ``a * max_force``
(N) on the cart. The rod is uniform, ``pole_length`` long, hinged at one end.

Integration: ``substeps`` semi-implicit Euler steps of ``dt / substeps`` per step
(velocities first, then positions). With the defaults a free swing loses about 7%
of its energy range (``m g L``) over an episode of 200 steps, to the integrator's
slight numerical damping; explicit Euler would instead pump energy in.

Reward, scored at the next state::

    tip = [x + L sin(theta), L cos(theta)]
    r = exp(-|tip - [0, L]|^2 / L^2) - action_cost * a^2

so upright and still above ``x = 0`` scores 1 per step and hanging down about
``exp(-4) = 0.018``. There is no track limit and no termination.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import jax
import jax.numpy as jnp

from cemgd.problem import Array
from cemgd.tasks.base import Task
from cemgd.validate import check_int, check_nonnegative, check_positive


def gym_accelerations(
    theta: Array, theta_dot: Array, force: Array, *, cart_mass: float, pole_mass: float,
    half_length: float, gravity: float,
) -> tuple[Array, Array]:
    """The cart-pole's ``(x_acc, theta_acc)`` as Gym's ``CartPole`` computes them.

    A uniform rod of ``pole_mass`` and half-length ``half_length`` hinged on a cart of
    ``cart_mass``; ``theta`` from upright (positive tilts the tip towards ``+x``),
    ``force`` (N) along ``+x``. Arguments broadcast; scalars in, scalars out.
    """
    total = cart_mass + pole_mass
    sin, cos = jnp.sin(theta), jnp.cos(theta)
    temp = (force + pole_mass * half_length * theta_dot**2 * sin) / total
    theta_acc = (gravity * sin - cos * temp) / (
        half_length * (4.0 / 3.0 - pole_mass * cos**2 / total)
    )
    x_acc = temp - pole_mass * half_length * theta_acc * cos / total
    return x_acc, theta_acc


@dataclass(frozen=True, eq=False)
class CartPoleSwingUp(Task):
    """Cart-pole swing-up; the pole starts hanging down.

    Attributes:
        episode_length: steps of one episode.
        cart_mass: cart mass (kg).
        pole_mass: pole mass (kg).
        pole_length: full pole length ``L`` (m); also the reward's length scale.
        gravity: gravitational acceleration (m/s^2).
        max_force: force at ``|a| = 1`` (N).
        dt: time per step (s).
        substeps: integration substeps per step, in ``[1, 50]``.
        action_cost: weight of ``a^2`` in the reward.
        init_noise: std of the Gaussian perturbation of every state entry at reset.
    """

    name: ClassVar[str] = "cartpole-swingup"
    episode_length: int = 200
    cart_mass: float = 1.0
    pole_mass: float = 0.1
    pole_length: float = 0.6
    gravity: float = 9.8
    max_force: float = 10.0
    dt: float = 0.05
    substeps: int = 2
    action_cost: float = 0.01
    init_noise: float = 0.05

    def __post_init__(self) -> None:
        check_int("episode_length", self.episode_length, 1)
        check_int("substeps", self.substeps, 1, 50)
        for field in ("cart_mass", "pole_mass", "pole_length", "gravity", "max_force", "dt"):
            check_positive(field, getattr(self, field))
        check_nonnegative("action_cost", self.action_cost)
        check_nonnegative("init_noise", self.init_noise)

    @property
    def obs_dim(self) -> int:
        """Size of an observation: ``[x, theta, x_dot, theta_dot]``."""
        return 4

    @property
    def action_dim(self) -> int:
        """Size of an action: the normalised force."""
        return 1

    def reset(self, key: Array) -> Array:
        """Hanging down, at rest, plus ``init_noise`` Gaussian noise: ``obs: [4]``."""
        down = jnp.array([0.0, jnp.pi, 0.0, 0.0], dtype=jnp.float32)
        return down + self.init_noise * jax.random.normal(key, (4,), dtype=jnp.float32)

    def accelerations(self, obs: Array, force: Array) -> tuple[Array, Array]:
        """``(x_acc, theta_acc)`` at state ``obs: [4]`` under ``force`` (N), both scalars."""
        _, theta, _, theta_dot = obs
        return gym_accelerations(theta, theta_dot, force, cart_mass=self.cart_mass,
                                 pole_mass=self.pole_mass, half_length=0.5 * self.pole_length,
                                 gravity=self.gravity)

    def energy(self, obs: Array) -> Array:
        """Total mechanical energy (J) of ``obs: [..., 4]`` (zero potential at the hinge)."""
        _, theta, x_dot, theta_dot = jnp.moveaxis(jnp.asarray(obs), -1, 0)
        half = 0.5 * self.pole_length
        kinetic = 0.5 * (self.cart_mass + self.pole_mass) * x_dot**2
        kinetic += self.pole_mass * half * jnp.cos(theta) * x_dot * theta_dot
        kinetic += 0.5 * self.pole_mass * (4.0 / 3.0) * half**2 * theta_dot**2
        return kinetic + self.pole_mass * self.gravity * half * jnp.cos(theta)

    def reward(self, next_obs: Array, action: Array) -> Array:
        """PETS-style reward of reaching ``next_obs: [4]`` with ``action: [1]`` (scalar)."""
        x, theta = next_obs[0], next_obs[1]
        length = self.pole_length
        dx = x + length * jnp.sin(theta)
        dy = length * jnp.cos(theta) - length
        upright = jnp.exp(-(dx**2 + dy**2) / length**2)
        return upright - self.action_cost * jnp.sum(action**2)

    def step(self, obs: Array, action: Array) -> tuple[Array, Array]:
        """``obs: [4], action: [1] -> (next_obs: [4], reward: [])``; clips the action."""
        action = self.clip(action)
        force = self.max_force * action[0]
        h = self.dt / self.substeps
        state = obs
        for _ in range(self.substeps):  # unrolled at trace time; substeps is small
            x, theta, x_dot, theta_dot = state
            x_acc, theta_acc = self.accelerations(state, force)
            x_dot = x_dot + h * x_acc
            theta_dot = theta_dot + h * theta_acc
            state = jnp.stack([x + h * x_dot, theta + h * theta_dot, x_dot, theta_dot])
        return state, self.reward(state, action)
