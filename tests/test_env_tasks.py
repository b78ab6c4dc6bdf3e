"""Tests of the environment-backed tasks (cemgd.tasks.ENV_TASKS) against the real simulators."""

from __future__ import annotations

import functools

import pytest

gymnasium = pytest.importorskip("gymnasium")
pytest.importorskip("mujoco")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from cemgd.tasks import (  # noqa: E402
    ENV_TASKS,
    TASKS,
    CartPoleSwingUp,
    CartPoleSwingUpEnv,
    EnvTask,
    make_env_task,
    make_task,
)

NAMES = sorted(ENV_TASKS)
NUM_TRANSITIONS = 300


@functools.cache
def _transitions(name: str, seed: int = 0) -> dict[str, np.ndarray]:
    """``NUM_TRANSITIONS`` random-action transitions of task ``name`` (across resets)."""
    task = make_env_task(name)
    env = task.make_env(seed)
    obs, _ = env.reset()
    out: dict[str, list] = {"obs": [], "action": [], "next_obs": [], "reward": [], "impact": [],
                            "terminated": []}
    for _ in range(NUM_TRANSITIONS):
        action = env.action_space.sample()
        next_obs, reward, terminated, truncated, info = env.step(action)
        for key, value in (("obs", obs), ("action", action), ("next_obs", next_obs)):
            out[key].append(value)
        out["reward"].append(reward)
        out["impact"].append(-info.get("reward_impact", 0.0))
        out["terminated"].append(terminated)
        obs = next_obs
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()
    return {key: np.asarray(value) for key, value in out.items()}


def _jax_reward(task: EnvTask, data: dict[str, np.ndarray]) -> np.ndarray:
    # float32, as the model rollout uses it.
    obs, action, next_obs = (
        jnp.asarray(data[k], jnp.float32) for k in ("obs", "action", "next_obs")
    )
    return np.asarray(jax.jit(task.reward)(obs, action, next_obs), dtype=np.float64)


# ------------------------------------------------------------------------- registry, errors
PAPER_TASKS = ("cartpole-swingup", "halfcheetah", "humanoid-standup", "pusher")
CLASSIC_TASKS = ("mountaincar-continuous", "pendulum")
#: The CEM-GD authors' cart-pole and the PETS paper's (mbrl-lib's) MuJoCo cart-pole.
REFERENCE_TASKS = ("cartpole-paper", "pets-cartpole")


def test_registry_names_and_types():
    assert set(ENV_TASKS) == {*PAPER_TASKS, *CLASSIC_TASKS, *REFERENCE_TASKS}
    assert "halfcheetah" not in TASKS  # the known-dynamics registry is unchanged
    assert isinstance(make_task("cartpole-swingup"), CartPoleSwingUp)
    for name in NAMES:
        task = make_env_task(name)
        assert isinstance(task, EnvTask) and task.name == name
    assert make_env_task("pusher").episode_length == 200
    assert {make_env_task(n).episode_length for n in PAPER_TASKS if n != "pusher"} == {100}
    # The classic-control tasks keep gymnasium's episode lengths.
    assert make_env_task("pendulum").episode_length == 200
    assert make_env_task("mountaincar-continuous").episode_length == 999
    assert make_env_task("cartpole-paper").episode_length == 60
    assert make_env_task("pets-cartpole").episode_length == 200


def test_unknown_task_and_argument_and_bad_value_name_the_field():
    with pytest.raises(ValueError, match=r"^name:.*cartpole-swingup.*halfcheetah.*humanoid"):
        make_env_task("hopper")
    with pytest.raises(ValueError, match=r"^horizon: not an argument of task 'pusher'"):
        make_env_task("pusher", horizon=3)
    with pytest.raises(ValueError, match=r"^episode_length:"):
        make_env_task("halfcheetah", episode_length=0)
    with pytest.raises(ValueError, match=r"^ctrl_cost_weight:"):
        make_env_task("humanoid-standup", ctrl_cost_weight=-1.0)
    with pytest.raises(ValueError, match=r"^seed:"):
        make_env_task("halfcheetah").make_env(-1)


@pytest.mark.parametrize("name", NAMES)
def test_wrong_action_names_the_argument(name):
    task = make_env_task(name)
    env = task.make_env(0)
    env.reset()
    with pytest.raises(ValueError, match=rf"^action: expected shape \[{task.action_dim}\]"):
        env.step(np.zeros(task.action_dim + 1))
    with pytest.raises(ValueError, match=r"^action:"):
        env.step(np.zeros((1, task.action_dim)))
    with pytest.raises(ValueError, match=r"^action: expected finite"):
        env.step(np.full(task.action_dim, np.nan))
    env.step(np.zeros(task.action_dim))  # still usable


# ------------------------------------------------------------------------- shapes, spaces
@pytest.mark.parametrize("name", NAMES)
def test_shapes_spaces_and_model_io(name):
    task = make_env_task(name)
    env = task.make_env(0)
    obs, _ = env.reset()
    assert obs.shape == env.observation_space.shape == (task.obs_dim,)
    assert env.action_space.shape == (task.action_dim,)
    np.testing.assert_array_equal(env.action_space.low, task.action_low)
    np.testing.assert_array_equal(env.action_space.high, task.action_high)
    assert task.action_low.dtype == task.action_high.dtype == np.float32
    data = _transitions(name)
    obs, next_obs = jnp.asarray(data["obs"]), jnp.asarray(data["next_obs"])
    assert task.model_input(obs).shape == (NUM_TRANSITIONS, task.model_obs_dim)
    target = task.model_target(obs, next_obs)
    assert target.shape == obs.shape
    np.testing.assert_allclose(task.model_output_to_next_obs(obs, target), next_obs, atol=1e-5)
    done = task.termination(obs, jnp.asarray(data["action"]), next_obs)
    assert done.shape == (NUM_TRANSITIONS,) and done.dtype == bool
    # Only cartpole-paper (the cart leaves its track) ends under random actions here.
    np.testing.assert_array_equal(done, data["terminated"])
    assert bool(done.any()) == (name == "cartpole-paper")
    # Batched and single calls agree, and the reward is differentiable.
    one = task.reward(obs[3], jnp.asarray(data["action"][3]), next_obs[3])
    assert one.shape == ()
    grads = jax.grad(lambda a, n: task.reward(obs[3], a, n), argnums=(0, 1))(
        jnp.asarray(data["action"][3]), next_obs[3]
    )
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in grads)


def test_task_constants_match_the_simulators():
    cheetah = make_env_task("halfcheetah")
    env = cheetah.make_env(0)
    assert env.unwrapped.dt == pytest.approx(cheetah.dt)
    obs, _ = env.reset()
    assert float(obs[0]) == pytest.approx(float(env.unwrapped.data.qpos[0]))
    pitch = obs[2]
    np.testing.assert_allclose(
        cheetah.model_input(obs),
        np.concatenate([obs[1:2], [np.sin(pitch), np.cos(pitch)], obs[3:]]), rtol=1e-12,
    )
    spun = obs.copy()
    spun[[0, 2]] += (123.0, 2 * np.pi)  # x and a full turn of the pitch are invisible
    np.testing.assert_allclose(cheetah.model_input(spun), cheetah.model_input(obs), atol=1e-12)
    cartpole = make_env_task("cartpole-swingup")
    state = np.array([0.3, 0.5, -1.0, 2.0])
    turned = state + np.array([0.0, 4 * np.pi, 0.0, 0.0])
    np.testing.assert_allclose(cartpole.model_input(turned), cartpole.model_input(state),
                               atol=1e-12)
    assert cartpole.model_input(state).shape == (cartpole.model_obs_dim,)
    humanoid = make_env_task("humanoid-standup")
    env = humanoid.make_env(0)
    assert env.unwrapped.model.opt.timestep == pytest.approx(humanoid.timestep)
    obs, _ = env.reset()
    for _ in range(3):
        obs, *_ = env.step(env.action_space.sample())
    data = env.unwrapped.data
    np.testing.assert_array_equal(obs, np.concatenate([data.qpos[2:], data.qvel]))


# ------------------------------------------------------------------------- reward equivalence
@pytest.mark.parametrize("name", ["cartpole-swingup", "halfcheetah", "pusher", *CLASSIC_TASKS,
                                  *REFERENCE_TASKS])
def test_jax_reward_equals_the_environment_reward(name):
    task = make_env_task(name)
    data = _transitions(name)
    assert np.std(data["reward"]) > 1e-3  # the rewards do vary
    np.testing.assert_allclose(_jax_reward(task, data), data["reward"], rtol=1e-5, atol=2e-5)


def test_humanoid_reward_differs_by_exactly_the_impact_cost():
    task = make_env_task("humanoid-standup")
    data = _transitions("humanoid-standup")
    gap = _jax_reward(task, data) - data["reward"]
    # The JAX reward omits min(5e-7 |cfrc_ext|^2, 10), which the truncated state cannot see.
    np.testing.assert_allclose(gap, data["impact"], rtol=1e-5, atol=2e-5)
    assert np.all(data["impact"] >= 0.0) and np.all(data["impact"] <= 10.0)
    assert np.mean(gap) < 1.0 and np.max(gap) < 10.0
    # ... which is small next to the reward itself (about 25 to 55 per step lying down).
    assert np.mean(gap) < 0.02 * np.mean(data["reward"])


# ------------------------------------------------------------------------- seeding, episodes
@pytest.mark.parametrize("name", NAMES)
def test_seeding_gives_identical_episodes(name):
    task = make_env_task(name, episode_length=12)

    def episode(seed: int, reset_seed: int | None = None) -> tuple[np.ndarray, list[bool]]:
        env = task.make_env(seed)
        obs, _ = env.reset(seed=reset_seed)
        visited, truncations = [obs], []
        for _ in range(task.episode_length):
            obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
            visited.append(obs)
            truncations.append(truncated)
            assert not terminated
        return np.asarray(visited), truncations

    first, truncations = episode(3)
    np.testing.assert_array_equal(first, episode(3)[0])
    assert not np.array_equal(first, episode(4)[0])
    # reset(seed=...) overrides the seed of make_env (the action sampler keeps its own).
    np.testing.assert_array_equal(first[0], episode(4, reset_seed=3)[0][0])
    assert truncations == [False] * (task.episode_length - 1) + [True]


def test_cartpole_env_matches_the_jax_task():
    dynamics = CartPoleSwingUp()
    env = make_env_task("cartpole-swingup").make_env(5)
    assert isinstance(env.unwrapped, CartPoleSwingUpEnv)
    obs, _ = env.reset()
    assert obs.dtype == np.float32
    assert abs(float(obs[1]) - np.pi) < 0.3  # hanging down
    state = jnp.asarray(obs)
    actions = np.random.default_rng(0).uniform(-1.5, 1.5, (40, 1)).astype(np.float32)
    for action in actions:  # includes out-of-box actions: both clip
        obs, reward, *_ = env.step(action)
        state, expected = dynamics.step(state, jnp.asarray(action))
        np.testing.assert_allclose(obs, state, rtol=1e-6, atol=1e-6)
        assert reward == pytest.approx(float(expected), abs=1e-6)


# ------------------------------------------------------------------------- classic control
def test_mountaincar_goal_bonus_and_termination_are_exact():
    task = make_env_task("mountaincar-continuous")
    env = task.make_env(0)
    env.reset()
    env.unwrapped.state = np.array([0.44, 0.03], dtype=np.float32)
    before = np.array(env.unwrapped.state, dtype=np.float32)
    action = np.array([0.8], dtype=np.float32)
    obs, reward, terminated, _, _ = env.step(action)
    assert terminated and reward == pytest.approx(100.0 - 0.1 * 0.8**2, rel=1e-6)
    args = (jnp.asarray(before), jnp.asarray(action), jnp.asarray(obs))
    assert bool(task.termination(*args))
    assert float(task.reward(*args)) == pytest.approx(reward, rel=1e-6)
    # Short of the goal: no bonus, not done; the reward uses the unclipped action.
    short = jnp.asarray([0.2, 0.03])
    big = jnp.asarray([1.5])
    assert not bool(task.termination(short, big, short))
    assert float(task.reward(short, big, short)) == pytest.approx(-0.1 * 1.5**2)


def test_pendulum_reward_by_hand_and_gradient():
    task = make_env_task("pendulum")
    th, th_dot, u = 3.0, -2.0, 1.5
    obs = jnp.asarray([np.cos(th), np.sin(th), th_dot])
    expected = -(th**2 + 0.1 * th_dot**2 + 0.001 * u**2)
    assert float(task.reward(obs, jnp.asarray([u]), obs)) == pytest.approx(expected, rel=1e-5)
    # Past pi the angle wraps: th = 3.5 counts as 3.5 - 2 pi.
    wrapped = jnp.asarray([np.cos(3.5), np.sin(3.5), 0.0])
    assert float(task.reward(wrapped, jnp.zeros(1), wrapped)) == pytest.approx(
        -((3.5 - 2 * np.pi) ** 2), rel=1e-5)
    grad = jax.grad(lambda a: task.reward(obs, a, obs))(jnp.asarray([u]))
    assert float(grad[0]) == pytest.approx(-0.002 * u, rel=1e-4)


@pytest.mark.parametrize("name", CLASSIC_TASKS)
def test_classic_tasks_render_without_pygame(name):
    env = make_env_task(name).make_env(0, render_mode="rgb_array")
    obs, _ = env.reset()
    first = env.render()
    assert first.shape == (240, 240, 3) and first.dtype == np.uint8
    assert first.min() < 100 < first.max()  # something is drawn on the white canvas
    for _ in range(10):
        env.step(np.asarray(env.action_space.high))
    assert not np.array_equal(env.render(), first)  # the frame follows the state
    assert make_env_task(name).make_env(0).render() is None  # no render_mode: no frame


def test_gymnasium_asset_deprecations_are_dropped_and_other_warnings_kept(
    capfd: pytest.CaptureFixture,
) -> None:
    import mujoco

    from cemgd.tasks.mujoco_env import _quiet_asset_warnings

    env = make_env_task("halfcheetah").make_env(seed=0)  # its model uses settotalmass
    env.close()
    assert "settotalmass" not in "".join(capfd.readouterr())
    before = mujoco.get_mju_user_warning()
    with _quiet_asset_warnings():
        handler = mujoco.get_mju_user_warning()
        handler("compiler attribute 'settotalmass' is deprecated and will be removed")
        handler("Nan, Inf or huge value in QACC at DOF 0")
    err = capfd.readouterr().err
    assert err == "WARNING: Nan, Inf or huge value in QACC at DOF 0\n"
    assert mujoco.get_mju_user_warning() is before  # MuJoCo's own handler is back


def test_both_kinds_of_task_share_one_base() -> None:
    """A JAX-dynamics task and an environment task get their action box, ``clip`` and
    ``check_action`` from the one base, with the same refusals."""
    from cemgd.tasks import EnvTask, Task, TaskBase, make_env_task, make_task

    assert issubclass(Task, TaskBase) and issubclass(EnvTask, TaskBase)
    for task in (make_task("cartpole-swingup"), make_env_task("cartpole-swingup")):
        assert task.action_dim == task.action_low.shape[0] == 1
        assert float(task.clip(jnp.array([3.0]))[0]) == float(task.action_high[0])
        assert task.check_action([0.5]).shape == (1,)
        with pytest.raises(ValueError, match="action: expected shape"):
            task.check_action([0.5, 0.5])
