"""The PETS paper's MuJoCo cart-pole (cemgd.tasks.PetsCartPole, ``pets-cartpole``) against
its published parameters: timestep and frame skip, joint limit, damping, motor, pole,
reset, the reward at known states (numpy) and the observation layout."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("gymnasium")
mujoco = pytest.importorskip("mujoco")

from cemgd.tasks import PetsCartPole, make_env_task  # noqa: E402

L = 0.6


def np_reward(next_obs: np.ndarray, action: np.ndarray) -> float:
    x, theta = next_obs[0], next_obs[1]
    tip = np.array([x - L * math.sin(theta), -L * math.cos(theta)])
    return math.exp(-np.sum((tip - [0.0, L]) ** 2) / L**2) - 0.01 * np.sum(action**2)


def _env(seed: int = 0):
    env = make_env_task("pets-cartpole").make_env(seed)
    env.reset()
    return env, env.unwrapped


def test_simulator_parameters():
    _, raw = _env()
    model = raw.model
    assert model.opt.timestep == 0.02 and model.opt.integrator == mujoco.mjtIntegrator.mjINT_RK4
    assert raw.dt == pytest.approx(0.04)
    slider, hinge = (mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, n)
                     for n in ("slider", "hinge"))
    assert model.jnt_limited[slider] and not model.jnt_limited[hinge]
    np.testing.assert_allclose(model.jnt_range[slider], [-2.5, 2.5])
    np.testing.assert_allclose(model.dof_damping, [1.0, 1.0])
    np.testing.assert_allclose(model.actuator_gear[0, 0], 100.0)
    np.testing.assert_allclose(model.actuator_ctrlrange[0], [-3.0, 3.0])
    pole = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, "cpole")
    assert model.geom_type[pole] == mujoco.mjtGeom.mjGEOM_CAPSULE
    assert 2 * model.geom_size[pole, 1] == pytest.approx(L, abs=1e-5)
    assert make_env_task("pets-cartpole").episode_length == 200


def test_one_step_is_two_timesteps_and_the_motor_pushes_with_gear_100():
    env, raw = _env()
    raw.set_state(np.zeros(2), np.zeros(2))
    obs, *_ = env.step(np.array([1.0], np.float32))
    assert raw.data.time == pytest.approx(0.04)
    assert raw.data.qfrc_actuator[0] == pytest.approx(100.0)  # gear x control, on the slider
    assert obs[2] > 0.0 and obs[3] > 0.0  # the cart moves along +x; the tip lags (sin theta > 0)
    raw.set_state(np.zeros(2), np.zeros(2))
    clipped, *_ = env.step(np.array([5.0], np.float32))  # controls clip to [-3, 3]
    raw.set_state(np.zeros(2), np.zeros(2))
    full, *_ = env.step(np.array([3.0], np.float32))
    np.testing.assert_allclose(clipped, full)


def test_slider_stops_at_its_limit():
    env, raw = _env()
    positions = [env.step(np.array([3.0], np.float32))[0][0] for _ in range(60)]
    # A soft limit: hit at about 8 m/s the cart overshoots a little, then 300 N hold it there.
    assert 2.5 < max(positions) < 2.7
    assert positions[-1] == pytest.approx(2.5, abs=0.01)


def test_damping_takes_energy_out_of_a_free_swing():
    env, raw = _env()
    raw.set_state(np.array([0.0, 1.0]), np.zeros(2))
    angles = [env.step(np.zeros(1, np.float32))[0][1] for _ in range(150)]
    first, last = np.max(np.abs(angles[:25])), np.max(np.abs(angles[-25:]))
    assert first > 0.9 and last < 0.5 * first  # damping 1 on the hinge: the swing decays


def test_reward_at_known_states_and_env_matches_numpy():
    task = PetsCartPole()
    upright = np.array([0.0, math.pi, 0.0, 0.0])
    down = np.zeros(4)
    cases = [(upright, 0.0, 1.0), (down, 0.0, math.exp(-4.0)),
             (upright, 2.0, 1.0 - 0.04), (np.array([0.6, math.pi, 1.0, 1.0]), 0.0, math.exp(-1.0)),
             (np.array([0.0, math.pi / 2, 0.0, 0.0]), 1.0, math.exp(-2.0) - 0.01)]
    for state, a, expected in cases:
        assert np_reward(state, np.array([a])) == pytest.approx(expected, abs=1e-9)
        got = task.reward(jnp.zeros(4), jnp.array([a], jnp.float32),
                          jnp.asarray(state, jnp.float32))
        assert float(got) == pytest.approx(expected, abs=1e-5)
    env, _ = _env(3)
    rng = np.random.default_rng(0)
    for _ in range(30):
        action = rng.uniform(-3, 3, 1).astype(np.float32)
        obs, reward, terminated, _, _ = env.step(action)
        assert reward == pytest.approx(np_reward(obs, action.astype(float)), abs=1e-12)
        assert not terminated


def test_observation_layout_and_model_input():
    env, raw = _env()
    raw.set_state(np.array([0.3, 2.0]), np.array([-0.5, 1.5]))
    obs, *_ = env.step(np.zeros(1, np.float32))
    np.testing.assert_array_equal(obs, np.concatenate([raw.data.qpos, raw.data.qvel]))
    task = PetsCartPole()
    x, theta, x_dot, theta_dot = obs
    # The reward's tip is the simulator's: the pole's far end (1 mm off-axis in the model).
    pole = mujoco.mj_name2id(raw.model, mujoco.mjtObj.mjOBJ_BODY, "pole")
    mujoco.mj_kinematics(raw.model, raw.data)  # mj_step leaves the positions of its start
    end = raw.data.xpos[pole] + raw.data.xmat[pole].reshape(3, 3) @ np.array([0.0, 0.0, -L])
    np.testing.assert_allclose(end[[0, 2]], [x - L * math.sin(theta), -L * math.cos(theta)],
                               atol=1e-9)
    expected = [math.sin(theta), math.cos(theta), x, x_dot, theta_dot]
    np.testing.assert_allclose(task.model_input(obs), expected)
    np.testing.assert_allclose(task.model_input(jnp.asarray(obs[None])), [expected], rtol=1e-6)
    assert task.model_obs_dim == 5


def test_reset_is_at_rest_hanging_down_plus_normal_noise():
    env, _ = _env(7)
    starts = np.stack([env.reset()[0] for _ in range(400)])
    np.testing.assert_allclose(starts.mean(0), 0.0, atol=0.02)
    np.testing.assert_allclose(starts.std(0), 0.1, rtol=0.15)
    grad = jax.grad(lambda s: PetsCartPole().reward(s, jnp.ones(1), s))(jnp.ones(4))
    assert np.isfinite(np.asarray(grad)).all()
