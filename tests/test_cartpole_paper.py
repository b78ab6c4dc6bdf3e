"""The CEM-GD paper's cart-pole (cemgd.tasks.CartPolePaper, ``cartpole-paper``) against
its equations written out in plain numpy: step, reward, termination, reset."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cemgd.tasks import CartPolePaper, make_env_task

KEY = jax.random.PRNGKey(0)
G, M_CART, M_POLE, HALF, FORCE, TAU = 9.8, 1.0, 0.05, 0.5, 100.0, 0.02


def np_step(state: np.ndarray, a: float) -> np.ndarray:
    """One step of Gym's cart-pole, explicit Euler, ``[x, x_dot, theta, theta_dot]``."""
    x, x_dot, theta, theta_dot = (float(v) for v in state)
    force = FORCE * min(max(a, -1.0), 1.0)
    total = M_CART + M_POLE
    s, c = math.sin(theta), math.cos(theta)
    temp = (force + M_POLE * HALF * theta_dot**2 * s) / total
    theta_acc = (G * s - c * temp) / (HALF * (4.0 / 3.0 - M_POLE * c**2 / total))
    x_acc = temp - M_POLE * HALF * theta_acc * c / total
    return np.array([x + TAU * x_dot, x_dot + TAU * x_acc,
                     math.fmod(theta + TAU * theta_dot, 2 * math.pi), theta_dot + TAU * theta_acc])


def np_reward(state: np.ndarray) -> float:
    x, theta = float(state[0]), float(state[2])
    track = 1 / (1 + math.exp(-20 * (x + 2.2))) / (1 + math.exp(-20 * (2.2 - x)))
    return 0.5 * (math.cos(theta) + 1) * track


def _states(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scale = np.array([2.5, 4.0, 2 * math.pi, 10.0])
    return rng.uniform(-1, 1, (n, 4)) * scale


def test_step_matches_the_equations():
    task = CartPolePaper()
    step = jax.jit(task.step)
    rng = np.random.default_rng(1)
    for state in _states(50):
        a = float(rng.uniform(-1.5, 1.5))  # some clipped
        next_obs, reward = step(jnp.asarray(state, jnp.float32), jnp.array([a], jnp.float32))
        expected = np_step(state, a)
        np.testing.assert_allclose(next_obs, expected, rtol=1e-5, atol=1e-4)
        assert float(reward) == pytest.approx(np_reward(expected), abs=1e-5)


def test_force_is_100_newtons_at_full_action():
    task = CartPolePaper()
    down = jnp.array([0.0, 0.0, jnp.pi, 0.0])
    pushed, _ = task.step(down, jnp.ones(1))
    # Hanging straight down, the pole swings with the cart: x_acc = F / (M + m / 4).
    x_acc = FORCE / (M_CART + M_POLE / 4)
    assert float(pushed[1]) == pytest.approx(TAU * x_acc, rel=1e-4)
    assert float(pushed[0]) == 0.0  # explicit Euler: x moves with the old velocity
    np.testing.assert_allclose(task.step(down, 3 * jnp.ones(1))[0], pushed)  # clipped


def test_reward_at_known_states():
    task = CartPolePaper()
    sigmoid = 1 / (1 + math.exp(-44.0))
    cases = [([0, 0, 0, 0], sigmoid**2), ([0, 0, math.pi, 0], 0.0),
             ([2.2, 0, 0, 0], 0.5 / (1 + math.exp(-88.0))),
             ([0, 5, math.pi / 2, 3], 0.5 * sigmoid**2),
             ([-3.0, 0, 0, 0], np_reward(np.array([-3.0, 0, 0, 0])))]
    for state, expected in cases:
        assert float(task.reward(jnp.asarray(state, jnp.float32))) == pytest.approx(expected,
                                                                                   abs=1e-6)
    batch = _states(20, seed=2)
    np.testing.assert_allclose(task.reward(jnp.asarray(batch, jnp.float32)),
                               [np_reward(s) for s in batch], atol=1e-5)
    assert np.isfinite(np.asarray(jax.grad(lambda s: task.reward(s))(jnp.ones(4)))).all()


def test_termination_beyond_the_track():
    env_task = make_env_task("cartpole-paper")
    x = jnp.array([-2.41, -2.39, 0.0, 2.39, 2.41])
    states = jnp.stack([x, jnp.zeros(5), jnp.zeros(5), jnp.zeros(5)], axis=-1)
    done = env_task.termination(states, jnp.zeros((5, 1)), states)
    assert done.tolist() == [True, False, False, False, True]


def test_environment_terminates_and_then_pays_nothing():
    env = make_env_task("cartpole-paper").make_env(0)
    obs, _ = env.reset()
    rewards, terminated = [], []
    for _ in range(40):  # full force: the cart leaves the track within about 0.3 s
        expected = np_step(obs, 1.0)
        obs, reward, done, truncated, _ = env.step(np.ones(1, np.float32))
        np.testing.assert_allclose(obs, expected, rtol=1e-5, atol=1e-4)
        rewards.append(reward)
        terminated.append(done)
        if done:
            assert reward == pytest.approx(np_reward(expected), abs=1e-6) or terminated[-2]
    first = terminated.index(True)
    assert abs(obs[0]) > 2.4 and all(terminated[first:]) and not any(terminated[:first])
    assert first < 20 and rewards[first] > 0.0 and rewards[first + 1:] == [0.0] * (39 - first)


def test_reset_hangs_down_with_uniform_noise():
    task = CartPolePaper()
    obs = np.asarray(jax.vmap(task.reset)(jax.random.split(KEY, 512)))
    offset = obs - np.array([0.0, 0.0, math.pi, 0.0])
    assert np.abs(offset).max() <= 0.05 + 1e-6
    np.testing.assert_allclose(offset.std(0), 0.05 / math.sqrt(3), rtol=0.15)  # uniform
    assert make_env_task("cartpole-paper").episode_length == 60


def test_model_target_unwraps_the_angle():
    env_task = make_env_task("cartpole-paper")
    obs = np.array([[0.0, 0.0, 6.27, 1.0], [0.0, 0.0, -6.27, -1.0], [0.0, 0.0, 0.01, -1.0]])
    next_obs = np.stack([np_step(o, 0.0) for o in obs])
    assert next_obs[0, 2] < 0.1 and next_obs[1, 2] > -0.1  # wrapped by fmod past 2 pi
    target = env_task.model_target(obs, next_obs)
    np.testing.assert_allclose(target[:, 2], TAU * obs[:, 3], atol=1e-9)  # the true rotation
    np.testing.assert_allclose(env_task.model_output_to_next_obs(obs, target), next_obs,
                               atol=1e-9)
    model_in = env_task.model_input(obs)
    np.testing.assert_allclose(model_in[:, 2:4], np.stack([np.sin(obs[:, 2]),
                                                           np.cos(obs[:, 2])], -1))
