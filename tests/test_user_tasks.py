"""A user's own task: from_gymnasium, register_task, import paths, and PETS on it."""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

gymnasium = pytest.importorskip("gymnasium")
pytest.importorskip("mujoco")

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from cemgd import tasks  # noqa: E402
from cemgd.cli import main  # noqa: E402
from cemgd.pets import PETSConfig, quick  # noqa: E402
from cemgd.runs import read_metrics  # noqa: E402
from cemgd.tasks import (  # noqa: E402
    EnvTask,
    from_gymnasium,
    list_env_tasks,
    register_task,
    registry,  # noqa: E402
    resolve_env_task,
)

#: A user module as a researcher would write it: InvertedPendulum-v5 (not shipped).
USER_MODULE = '''
"""My tasks."""
import jax.numpy as jnp
from cemgd.tasks import from_gymnasium


def reward(obs, action, next_obs):
    """InvertedPendulum-v5's reward: 1 while the pole is within 0.2 rad."""
    return jnp.where(jnp.abs(next_obs[1]) > 0.2, 0.0, 1.0)


def termination(obs, action, next_obs):
    return jnp.abs(next_obs[1]) > 0.2


def inverted_pendulum():
    """Inverted pendulum on a cart (MuJoCo)."""
    return from_gymnasium("InvertedPendulum-v5", reward, termination)


def not_a_task():
    return {"env": "InvertedPendulum-v5"}


def wrong_reward():
    return from_gymnasium("InvertedPendulum-v5", lambda o, a, n: float(n[0]))


NOT_CALLABLE = 3
'''


@pytest.fixture()
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    name = "my_cemgd_tasks"
    (tmp_path / f"{name}.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def _pendulum_reward(obs, action, next_obs):
    return jnp.where(jnp.abs(next_obs[1]) > 0.2, 0.0, 1.0)


# ------------------------------------------------------------------------- from_gymnasium
def test_from_gymnasium_builds_an_exact_task_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        task = from_gymnasium("InvertedPendulum-v5", _pendulum_reward,
                              lambda o, a, n: jnp.abs(n[1]) > 0.2)
    assert isinstance(task, EnvTask) and task.name == "InvertedPendulum-v5"
    assert (task.obs_dim, task.action_dim, task.model_obs_dim) == (4, 1, 4)
    np.testing.assert_array_equal(task.action_low, [-3.0])
    assert task.episode_length == 1000  # the environment's max_episode_steps
    # Batched calls broadcast over leading dimensions; the done flag is a bool.
    obs = jnp.zeros((7, 3, 4)).at[..., 1].set(0.5)
    assert task.reward(obs, jnp.zeros((7, 3, 1)), obs).shape == (7, 3)
    done = task.termination(obs, jnp.zeros((7, 3, 1)), obs)
    assert done.dtype == bool and bool(done.all())
    env = task.with_episode_length(5).make_env(0)
    env.reset()
    for _ in range(5):
        *_, truncated, _ = env.step(np.zeros(1))
    assert truncated


def test_model_input_sets_the_model_size():
    task = from_gymnasium("InvertedPendulum-v5", _pendulum_reward,
                          lambda o, a, n: jnp.abs(n[1]) > 0.2,
                          lambda o: jnp.concatenate([jnp.sin(o[1:2]), jnp.cos(o[1:2]), o[2:]]))
    assert task.model_obs_dim == 4
    assert task.model_input(jnp.zeros((5, 4))).shape == (5, 4)


def test_reward_that_differs_warns_with_the_largest_difference():
    with pytest.warns(UserWarning, match=r"^reward: differs .* by up to 0\.5 "):
        from_gymnasium("InvertedPendulum-v5", lambda o, a, n: _pendulum_reward(o, a, n) - 0.5,
                       lambda o, a, n: jnp.abs(n[1]) > 0.2)
    with pytest.warns(UserWarning, match=r"^termination \(None\): disagrees"):
        from_gymnasium("InvertedPendulum-v5", _pendulum_reward)


def test_a_non_finite_reward_fails_the_transition_check():
    """``NaN > tolerance`` is False: a NaN reward must still be caught, and inf too."""
    for bad in (jnp.nan, jnp.inf):
        with pytest.warns(UserWarning, match=rf"^reward: returns {bad} where .* on 64 of 64 "):
            from_gymnasium("InvertedPendulum-v5",
                           lambda o, a, n, bad=bad: _pendulum_reward(o, a, n) * bad,
                           lambda o, a, n: jnp.abs(n[1]) > 0.2)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"env_id": "CartPole-v1"}, r"^env_id: 'CartPole-v1' has action space Discrete"),
    ({"env_id": "NoSuchEnv-v0"}, r"^env_id: cannot make 'NoSuchEnv-v0'"),
    ({"reward": lambda o, a, n: float(np.asarray(n)[0])},
     r"^reward: does not trace under jax\.jit"),
    ({"reward": lambda o, a, n: n}, r"^reward: expected a scalar .* got shape \(4,\)"),
    ({"reward": "reward"}, r"^reward: expected a JAX function"),
    ({"termination": lambda o, a, n: np.bool_(bool(n[1] > 0))}, r"^termination: does not trace"),
    ({"model_input": lambda o: o[None]}, r"^model_input: expected to map \[S\] to \[S'\]"),
    ({"episode_length": 0}, r"^episode_length:"),
])
def test_bad_arguments_name_the_argument(kwargs, message):
    args = {"env_id": "InvertedPendulum-v5", "reward": _pendulum_reward, **kwargs}
    with pytest.raises(ValueError, match=message):
        from_gymnasium(**args)


# ------------------------------------------------------------------------- registry, paths
def test_register_and_list_tasks():
    def factory(**kwargs):
        """My pendulum task."""
        return from_gymnasium("InvertedPendulum-v5", _pendulum_reward,
                              lambda o, a, n: jnp.abs(n[1]) > 0.2, **kwargs)

    register_task("my-pendulum", factory)
    try:
        listed = list_env_tasks()
        assert listed["my-pendulum"] == "My pendulum task"
        assert "``" not in "".join(listed.values()) and ":class:" not in "".join(listed.values())
        assert {"cartpole-swingup", "halfcheetah"} <= set(listed)
        task = resolve_env_task("my-pendulum", episode_length=7)
        assert task.episode_length == 7
        with pytest.raises(ValueError, match=r"^name: task 'my-pendulum' is already registered"):
            register_task("my-pendulum", lambda: None)
        PETSConfig(task="my-pendulum")  # a registered name is a valid PETS task
    finally:
        tasks.ENV_TASKS.pop("my-pendulum")
    with pytest.raises(ValueError, match=r"^name: expected a non-empty task name without ':'"):
        register_task("a:b", factory)
    with pytest.raises(ValueError, match=r"^factory: expected a callable"):
        register_task("x", 3)


def test_import_paths_resolve_and_bad_ones_name_the_argument(user_module, tmp_path):
    task = resolve_env_task(f"{user_module}:inverted_pendulum", episode_length=9)
    assert task.name == "InvertedPendulum-v5" and task.episode_length == 9
    file_task = resolve_env_task(f"{tmp_path / (user_module + '.py')}:inverted_pendulum")
    assert file_task.obs_dim == 4
    cases = [
        (f"{user_module}:not_a_task", r"^name_or_path: .*returned a dict, expected an EnvTask"),
        (f"{user_module}:NOT_CALLABLE", r"^name_or_path: .* is a int, expected a factory"),
        (f"{user_module}:missing", r"^name_or_path: module 'my_cemgd_tasks' has no 'missing'"),
        ("no_such_module_xyz:make", r"^name_or_path: cannot import 'no_such_module_xyz'.*"
                                    r"PYTHONPATH"),
        (f"{user_module}:wrong_reward", r"^reward: does not trace under jax\.jit"),
        ("hopper", r"^name_or_path: unknown task 'hopper'; known tasks: .*cartpole-swingup"),
    ]
    for path, message in cases:
        with pytest.raises(ValueError, match=message):
            resolve_env_task(path)
    with pytest.raises(ValueError, match=r"^horizon: not an argument of "):
        resolve_env_task(f"{user_module}:inverted_pendulum", horizon=3)
    with pytest.raises(ValueError, match=r"^task: cannot import 'no_such_module_xyz'"):
        PETSConfig(task="no_such_module_xyz:make")


def test_a_module_that_fails_to_import_names_the_argument(tmp_path, monkeypatch):
    (tmp_path / "broken_cemgd_tasks.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError, match=r"^task: cannot import .*RuntimeError: boom"):
        resolve_env_task("broken_cemgd_tasks:make", argument="task")


# ------------------------------------------------------------------------- PETS on it
def test_user_task_trains_through_cemgd_train(user_module, tmp_path, capsys):
    """``cemgd train --task module:factory --quick``: the CLI, then the library PETS loop."""
    out = tmp_path / "run"
    code = main(["train", "--task", f"{user_module}:inverted_pendulum", "--planner", "cem",
                 "--seed", "1", "--quick", "--no-progress", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    # the task's own name is what a user reads; the import path stays for re-import
    assert f"train: InvertedPendulum-v5 ({user_module}:inverted_pendulum) with cem" \
        in captured.out
    config = json.loads((out / "config.json").read_text())
    assert config["task"] == f"{user_module}:inverted_pendulum"
    assert config["task_name"] == "InvertedPendulum-v5"
    metrics = read_metrics(out)
    assert [m.trial for m in metrics] == [0, 1]
    for m in metrics:
        # The episode ends when the pole falls (termination) or after --quick's 15 steps;
        # the return counts the steps it stayed up.
        assert 1 <= m.episode_steps <= 15
        assert m.episode_return == pytest.approx(m.episode_steps, abs=1.0)


def test_user_task_through_the_library(user_module):
    config = quick(PETSConfig(task=f"{user_module}:inverted_pendulum", planner="cem"))
    task = config.make_task()
    assert task.name == "InvertedPendulum-v5" and task.episode_length == config.episode_length


@pytest.mark.parametrize(("factory", "message"), [
    ("not_a_task", r"task: my_cemgd_tasks:not_a_task returned a dict, expected an EnvTask"),
    ("reward", r"task: my_cemgd_tasks:reward needs the arguments action, next_obs, obs"),
    ("missing", r"task: module 'my_cemgd_tasks' has no 'missing'"),
    ("wrong_reward", r"reward: does not trace under jax\.jit"),
])
def test_bad_factories_exit_2_with_a_message(user_module, tmp_path, capsys, factory, message):
    out = tmp_path / "run"
    code = main(["train", "--task", f"{user_module}:{factory}", "--quick", "--no-progress",
                 "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert re.search(message, err), err
    assert "Traceback" not in err
    assert not (out / "metrics.csv").exists()


# ------------------------------------------------------------------------- own model
def test_own_model_example_plans_on_the_real_environment():
    """examples/own_model.py: a hand-written JAX ensemble behind CEM-GD, closed loop."""
    script = Path(__file__).resolve().parents[1] / "examples" / "own_model.py"
    done = subprocess.run([sys.executable, str(script), "--quick"], capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    values = dict(item.split("=") for item in done.stdout.split())
    assert float(values["train_mse"]) < 0.1  # the model learned something
    assert np.isfinite(float(values["episode_return"]))
    assert float(values["episode_return"]) <= 0.0  # pendulum rewards are costs


def test_entry_point_tasks_are_listed_and_resolved(user_module, monkeypatch):
    """An installed package's ``cemgd.tasks`` entry points show up by name."""
    points = [
        importlib.metadata.EntryPoint("ep-pendulum", f"{user_module}:inverted_pendulum",
                                      tasks.ENTRY_POINT_GROUP),
        importlib.metadata.EntryPoint("ep-broken", "no_such_package_xyz:make",
                                      tasks.ENTRY_POINT_GROUP),
    ]
    seen = []

    def entry_points(group: str):
        seen.append(group)
        return points

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    monkeypatch.setattr(registry, "_entry_points_loaded", False)
    monkeypatch.setattr(registry, "ENV_TASKS", dict(registry.ENV_TASKS))
    listed = list_env_tasks()
    assert seen == ["cemgd.tasks"]
    assert "ep-pendulum" in listed and "cartpole-swingup" in listed
    task = resolve_env_task("ep-pendulum", episode_length=11)
    assert task.name == "InvertedPendulum-v5" and task.episode_length == 11
    with pytest.raises(ValueError, match=r"^task: cannot load task 'ep-broken' from entry "
                                         r"point 'no_such_package_xyz:make'"):
        resolve_env_task("ep-broken", argument="task")
