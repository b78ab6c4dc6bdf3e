"""The cart-pole swing-up's physics by hand: reward, reset, falling, force direction,
energy and momentum (cemgd.tasks.CartPoleSwingUp)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from cemgd.tasks import CartPoleSwingUp

KEY = jax.random.PRNGKey(0)


def test_cartpole_reward_upright_and_down():
    task = CartPoleSwingUp()
    upright = jnp.zeros(4)
    next_obs, reward = task.step(upright, jnp.zeros(1))
    np.testing.assert_allclose(next_obs, upright, atol=1e-7)
    np.testing.assert_allclose(float(reward), 1.0, atol=1e-6)
    down = jnp.array([0.0, jnp.pi, 0.0, 0.0])
    _, reward_down = task.step(down, jnp.zeros(1))
    np.testing.assert_allclose(float(reward_down), math.exp(-4.0), atol=1e-4)
    _, reward_pushed = task.step(upright, jnp.ones(1))
    assert float(reward_pushed) < 1.0 - task.action_cost + 1e-6


def test_cartpole_reset_hangs_down_with_noise():
    task = CartPoleSwingUp()
    obs = jax.vmap(task.reset)(jax.random.split(KEY, 256))
    np.testing.assert_allclose(obs.mean(0), [0.0, math.pi, 0.0, 0.0], atol=0.02)
    np.testing.assert_allclose(obs.std(0), task.init_noise, rtol=0.2)
    assert bool(jnp.all(jnp.cos(obs[:, 1]) < -0.9))


def test_cartpole_falls_from_near_upright():
    task = CartPoleSwingUp()
    traj, rewards = task.episode(jnp.array([0.0, 0.05, 0.0, 0.0]), jnp.zeros((20, 1)))
    assert float(traj[-1, 1]) > 1.0  # tips over towards +theta within 1 s
    assert float(traj[-1, 0]) < 0.0  # and the cart recoils the other way
    assert float(rewards[-1]) < float(rewards[0]) - 0.3


def test_cartpole_force_direction():
    task = CartPoleSwingUp()
    next_obs, _ = task.step(jnp.zeros(4), jnp.ones(1))
    assert float(next_obs[2]) > 0.0  # cart accelerates along +x
    assert float(next_obs[3]) < 0.0  # the upright pole tips back, towards -x


def test_cartpole_energy_and_momentum_with_zero_force():
    task = CartPoleSwingUp()
    obs0 = jnp.array([0.0, math.pi - 1.0, 0.0, 0.0])
    traj, _ = task.episode(obs0, jnp.zeros((task.episode_length, 1)))
    energy = np.asarray(task.energy(traj))
    scale = task.pole_mass * task.gravity * task.pole_length  # 2 m g l_half: full swing range
    assert np.abs(energy - energy[0]).max() < 0.1 * scale
    # No horizontal force: the horizontal momentum stays 0 (up to the O(dt) integrator error).
    pole = task.pole_mass * 0.5 * task.pole_length * traj[:, 3]
    momentum = (task.cart_mass + task.pole_mass) * traj[:, 2] + jnp.cos(traj[:, 1]) * pole
    assert float(jnp.abs(pole).max()) > 0.1  # the pole does swing
    assert float(jnp.abs(momentum).max()) < 0.1 * float(jnp.abs(pole).max())
