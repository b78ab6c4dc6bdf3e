"""A non-finite reward from the environment is refused at the step it appears (exit 2,
naming the task and the step) in ``train`` and ``evaluate``, and nothing of it is kept:
the writer never commits what the reader (``--resume``, ``evaluate``, ``report``) rejects."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import gymnasium
import pytest

from cemgd.cli import main
from cemgd.runs import read_metrics
from cemgd.tasks import ENV_TASKS, CartPoleSwingUpTask, register_task

#: The step (0-based, within an episode) whose reward is NaN.
BAD_STEP = 4


class _NanAtStep(gymnasium.Wrapper):
    """Returns a NaN reward at step :data:`BAD_STEP` of every episode."""

    def reset(self, **kwargs: Any) -> Any:
        self.steps = 0
        return self.env.reset(**kwargs)

    def step(self, action: Any) -> Any:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.steps += 1
        return obs, float("nan") if self.steps == BAD_STEP + 1 else reward, terminated, \
            truncated, info


@dataclass(frozen=True)
class NanCartPole(CartPoleSwingUpTask):
    """Cart-pole swing-up whose environment returns a NaN reward once an episode."""

    name: ClassVar[str] = "nan-cartpole"

    def make_base_env(self, render_mode: str | None = None) -> gymnasium.Env:
        return _NanAtStep(super().make_base_env(render_mode))


@pytest.fixture
def nan_task() -> Any:
    register_task(NanCartPole.name, NanCartPole)
    yield NanCartPole.name
    ENV_TASKS.pop(NanCartPole.name, None)


def test_a_nan_reward_is_refused_where_it_appears(nan_task: str, run_dir: Path,
                                                  tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"  # random data stops before the bad step: the episode meets it
    assert main(["train", "--task", nan_task, "--quick", "--trials", "1", "--episode-length",
                 "6", "--random-steps", str(BAD_STEP), "--no-progress", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"task 'nan-cartpole': its environment returned the reward nan at step {BAD_STEP} " \
           "of the episode of trial 0" in err and "Traceback" not in err
    assert read_metrics(out) == [] and not (out / "checkpoints" / "state.json").exists()
    # the random data meets it first with more random steps
    assert main(["train", "--task", nan_task, "--quick", "--trials", "1", "--episode-length",
                 "6", "--no-progress", "--out", str(tmp_path / "run2")]) == 2
    assert f"at random step {BAD_STEP} (before trial 0)" in capsys.readouterr().err

    run = tmp_path / "copy"  # evaluate: the same task behind a trained cart-pole model
    shutil.copytree(run_dir, run)
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "task": nan_task}))
    ev = tmp_path / "ev"
    assert main(["evaluate", str(run), "--planners", "cem-50", "--episodes", "1", "--quick",
                 "--episode-length", "6", "--no-progress", "--out", str(ev)]) == 2
    err = capsys.readouterr().err
    assert f"returned the reward nan at step {BAD_STEP} of the episode of seed 0" in err
    assert "Traceback" not in err
    episodes = ev / "episodes.csv"
    assert not episodes.exists() or len(episodes.read_text().splitlines()) <= 1
