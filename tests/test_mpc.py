"""``cemgd.mpc``: the stateful controller and the whole episode in one compiled program
agree, and the runner's old import path still works, warning with its replacement."""

from __future__ import annotations

import importlib

import jax
import numpy as np
import pytest

from cemgd import mpc
from cemgd.planners import make_planner
from cemgd.tasks import make_task


def test_a_compiled_episode_is_the_controller_stepped_from_python() -> None:
    task = make_task("cartpole-swingup")
    problem = task.problem(horizon=5)
    planner = make_planner("cem:num_samples=16,num_iterations=2")
    steps = 4
    keys = jax.random.split(jax.random.key(3), 2)
    out = mpc.run_trials(planner, task, problem, steps, keys)
    assert isinstance(out, mpc.Trajectory)
    assert out.obs.shape == (2, steps + 1, task.obs_dim)
    assert out.actions.shape == (2, steps, task.action_dim) and out.rewards.shape == (2, steps)
    assert out.first_plan.shape == (2, 5, task.action_dim)
    assert out.infos.num_rollouts.shape == (2, steps)
    for i, key in enumerate(keys):  # the same keys through MPC, one step at a time
        reset_key, plan_key = jax.random.split(key)
        obs = task.reset(reset_key)
        controller = mpc.MPC(planner, problem)
        controller.reset(plan_key)
        rewards = []
        for _ in range(steps):
            action = controller.act(obs)
            obs, reward = task.step(obs, action)
            rewards.append(float(reward))
        np.testing.assert_allclose(np.asarray(out.rewards[i]), rewards, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("old", "new"), [("Episode", "Trajectory"), ("episode_fn", "episode_fn"),
                                          ("trials_fn", "trials_fn"),
                                          ("run_trials", "run_trials")])
def test_the_old_runner_path_warns_naming_its_replacement(old: str, new: str) -> None:
    episodes = importlib.import_module("cemgd.experiments.episodes")
    with pytest.warns(DeprecationWarning, match=rf"cemgd\.mpc\.{new}\b"):
        value = getattr(episodes, old)
    assert value is getattr(mpc, new)
    with pytest.raises(AttributeError):
        episodes.no_such_name  # noqa: B018
