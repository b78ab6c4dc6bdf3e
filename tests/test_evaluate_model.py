"""``cemgd evaluate`` and its model: the predicted return of each executed plan next to
the real one (equal where the model is the environment), model folders evaluated from a
bare copy, the model's hash and architecture checked, and paths kept as given."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cemgd.cli import main
from cemgd.evaluate import (
    EvaluateConfig,
    FrozenModel,
    compile_planner,
    evaluate,
    export_model,
    play,
    realised_returns,
)
from cemgd.evaluate.predict import step_rows
from cemgd.models import EnsembleParams, load_model, save_model
from cemgd.pets import PETSConfig
from cemgd.tasks import EnvTask

ACTIONS = 2


class _IntegratorEnv(gymnasium.Env):
    """``x <- x + 0.1 a`` (float32), reward ``-|x'|^2 - 0.01 |a|^2``; x0 from the seed."""

    observation_space = gymnasium.spaces.Box(-np.inf, np.inf, (ACTIONS,), np.float32)
    action_space = gymnasium.spaces.Box(-1.0, 1.0, (ACTIONS,), np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> Any:
        super().reset(seed=seed)
        self.x = self.np_random.uniform(-1, 1, ACTIONS).astype(np.float32)
        return self.x.copy(), {}

    def step(self, action: Any) -> Any:
        a = np.asarray(action, np.float32)
        self.x = self.x + np.float32(0.1) * a
        reward = -float(np.sum(self.x**2)) - 0.01 * float(np.sum(a**2))
        return self.x.copy(), reward, False, False, {}


@dataclass(frozen=True)
class _Integrator(EnvTask):
    name: ClassVar[str] = "integrator"
    episode_length: int = 8

    @property
    def obs_dim(self) -> int:
        return ACTIONS

    @property
    def action_low(self) -> np.ndarray:
        return -np.ones(ACTIONS, np.float32)

    @property
    def action_high(self) -> np.ndarray:
        return np.ones(ACTIONS, np.float32)

    def make_base_env(self, render_mode: str | None = None) -> gymnasium.Env:
        return _IntegratorEnv()

    def reward(self, obs: jax.Array, action: jax.Array, next_obs: jax.Array) -> jax.Array:
        return -jnp.sum(next_obs**2, -1) - 0.01 * jnp.sum(action**2, -1)


def _exact_ensemble(members: int = 3) -> EnsembleParams:
    """A ReLU ensemble that predicts the integrator's delta ``0.1 a`` exactly (hidden
    units ``relu(a), relu(-a)``) with a log-variance at its floor (-40): every member is
    the environment."""
    s, a, h = ACTIONS, ACTIONS, 2 * ACTIONS
    w0 = np.zeros((s + a, h), np.float32)
    w0[s:, :a], w0[s:, a:] = np.eye(a), -np.eye(a)
    w2 = np.zeros((h, 2 * s), np.float32)
    w2[:a, :s], w2[a:, :s] = 0.1 * np.eye(a), -0.1 * np.eye(a)
    b2 = np.zeros((1, 2 * s), np.float32)
    b2[0, s:] = -1e3
    tile = lambda x: jnp.asarray(np.broadcast_to(x, (members, *x.shape)).copy())  # noqa: E731
    return EnsembleParams(
        (tile(w0), tile(np.eye(h, dtype=np.float32)), tile(w2)),
        (tile(np.zeros((1, h), np.float32)), tile(np.zeros((1, h), np.float32)), tile(b2)),
        jnp.full((s,), 0.5, jnp.float32), jnp.full((s,), -40.0, jnp.float32))


def _toy_model(horizon: int) -> FrozenModel:
    config = PETSConfig(horizon=horizon, num_particles=4, num_members=3, hidden=2 * ACTIONS,
                        num_layers=2, activation="relu")
    return FrozenModel(config, _Integrator(), _exact_ensemble(), 0, Path("toy"),
                       Path("toy/model.npz"), "toy")


def test_predicted_equals_realised_when_the_model_is_the_environment() -> None:
    """One-step horizon: the plan's first action is the step executed, so a model that is
    the environment predicts every step's real reward (any planner, any plan)."""
    model = _toy_model(horizon=1)
    run = compile_planner(model, "cem-50", quick=True)
    for seed in (0, 1):
        episode = play(model, run, seed)
        rows = step_rows("cem-50", 0, seed, episode, 1)
        assert len(rows) == 8
        for r in rows:
            assert r["realised"] == pytest.approx(r["reward"], rel=1e-6)
            assert r["predicted"] == pytest.approx(r["realised"], rel=1e-4, abs=1e-6)
            assert r["predicted_std"] < 1e-6  # every member is the environment
        assert np.ptp([r["predicted"] for r in rows]) > 1e-3  # not a constant


def test_realised_return_windows() -> None:
    """H-step windows of the real rewards; past the last step: not comparable after the
    step limit, the missing rewards 0 after the environment ended the episode."""
    rewards = np.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(realised_returns(rewards, 2, terminated=False),
                                  [3.0, 5.0, 7.0, np.nan])
    np.testing.assert_array_equal(realised_returns(rewards, 3, terminated=True),
                                  [6.0, 9.0, 7.0, 4.0])
    model = _toy_model(horizon=3)
    episode = play(model, compile_planner(model, "cem-50", quick=True), 0)
    rows = step_rows("cem-50", 0, 0, episode, 3)
    assert [r["realised"] for r in rows[:6]] == pytest.approx(
        [sum(episode.rewards[t:t + 3]) for t in range(6)])
    assert all(np.isnan(r["realised"]) for r in rows[6:])
    assert all(np.isfinite(r["predicted"]) for r in rows)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_steps_files_and_the_report_of_predicted_against_realised(
    run_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "eval"
    evaluate(EvaluateConfig(str(run_dir), ("cem-50",), episodes=2, quick=True), out,
             show_progress=False)
    episodes = _rows(out / "episodes.csv")
    horizon = json.loads((run_dir / "config.json").read_text())["horizon"]
    files = sorted((out / "steps").glob("*.csv"))
    assert len(files) == 2
    for file in files:
        steps = _rows(file)
        row = next(r for r in episodes if (r["planner"], r["episode"]) ==
                   (steps[0]["planner"], steps[0]["episode"]))
        assert len(steps) == int(row["steps"])
        rewards = [float(s["reward"]) for s in steps]
        assert sum(rewards) == pytest.approx(float(row["return"]))
        for t, s in enumerate(steps):
            window = rewards[t:t + horizon]
            real = float(s["realised"])
            assert (real == pytest.approx(sum(window)) if len(window) == horizon
                    else np.isnan(real))
            assert np.isfinite(float(s["predicted"])) and float(s["predicted_std"]) >= 0
    summary = (out / "summary.md").read_text()
    assert "## Predicted against realised return" in summary
    assert [r["planner"] for r in _rows(out / "exploitation.csv")] == ["cem-50"]
    assert main(["report", str(out), "--out", str(tmp_path / "report")]) == 0
    text = (tmp_path / "report" / "REPORT.md").read_text()
    assert "## Model exploitation on the frozen models" in text
    assert (tmp_path / "report" / "cartpole-swingup_predicted_vs_realised.png").is_file()
    # a folder written before per-step files existed reads as before, without the section
    shutil.rmtree(out / "steps")
    assert main(["report", str(out), "--out", str(tmp_path / "old")]) == 0
    text = (tmp_path / "old" / "REPORT.md").read_text()
    assert "Model exploitation" not in text and "## Planner comparison" in text


def test_a_model_folder_copied_alone_evaluates_as_its_run(run_dir: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    """Exported, copied by itself elsewhere (as in a clean clone), evaluated: the same
    model (hash), the same returns as the run folder on the same seeds."""
    exported = tmp_path / "exported"
    assert main(["export-model", str(run_dir), "--out", str(exported)]) == 0
    assert sorted(p.name for p in exported.iterdir()) == ["config.json", "model.json",
                                                          "model.npz"]
    assert sum(p.stat().st_size for p in exported.iterdir()) < 5 * 2**20
    clone = tmp_path / "clone" / "docs" / "model"
    shutil.copytree(exported, clone)
    shutil.rmtree(exported)
    config = EvaluateConfig(str(clone), ("cem-50",), episodes=1, quick=True)
    evaluate(config, tmp_path / "from-folder", show_progress=False)
    evaluate(dataclasses.replace(config, run_dir=str(run_dir)), tmp_path / "from-run",
             show_progress=False)
    ours = _rows(tmp_path / "from-folder" / "episodes.csv")
    assert [r["return"] for r in ours] == [
        r["return"] for r in _rows(tmp_path / "from-run" / "episodes.csv")]
    ids = [json.loads((tmp_path / f / "config.json").read_text())
           for f in ("from-folder", "from-run")]
    assert ids[0] == ids[1] and len(ids[0]["model"]) == 16
    # a model file that is not the one model.json names is refused, naming it
    params, normalizer = load_model(clone / "model.npz")
    save_model(clone / "model.npz", params._replace(min_logvar=params.min_logvar - 1),
               normalizer)
    assert main(["evaluate", str(clone), "--planners", "cem-50", "--episodes", "1", "--quick",
                 "--no-progress", "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "model.npz: its weights or normaliser" in err
    assert not (tmp_path / "bad").exists()
    with pytest.raises(ValueError, match="not empty"):
        export_model(run_dir, tmp_path / "from-run")


def _copy_run(run_dir: Path, dest: Path, **change: object) -> Path:
    shutil.copytree(run_dir, dest)
    config = json.loads((dest / "config.json").read_text())
    (dest / "config.json").write_text(json.dumps({**config, **change}))
    return dest


def test_another_model_into_the_same_folder_is_refused(run_dir: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    run = _copy_run(run_dir, tmp_path / "run")
    out = tmp_path / "eval"
    args = ["evaluate", str(run), "--planners", "cem-50", "--quick", "--no-progress",
            "--out", str(out)]
    assert main([*args, "--episodes", "1"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    model = run / "checkpoints" / "model-000.npz"
    params, normalizer = load_model(model)  # the run retrained in place: another model
    save_model(model, params._replace(weights=tuple(w * 1.01 for w in params.weights)),
               normalizer)
    assert main([*args, "--episodes", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "model-000.npz: another model" in err
    assert "config.json" in err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


@pytest.mark.parametrize(("change", "match"), [
    ({"hidden": 16}, "hidden 32 (config: 16)"),
    ({"task": "pendulum"}, "input_dim 6 (config: 4)"),
])
def test_a_model_of_another_architecture_or_task_is_refused_before_out_is_made(
    change: dict, match: str, run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = _copy_run(run_dir, tmp_path / "run", **change)
    out = tmp_path / "eval"
    assert main(["evaluate", str(run), "--planners", "cem-50", "--episodes", "1", "--quick",
                 "--no-progress", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "model-000.npz: model of another architecture" in err and match in err
    assert not out.exists()


def test_paths_are_recorded_as_given(run_dir: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """No absolute path of this machine in the folder: the run as the command named it."""
    monkeypatch.chdir(tmp_path)
    given = os.path.relpath(run_dir, tmp_path)
    assert main(["evaluate", given, "--planners", "cem-50", "--episodes", "1", "--quick",
                 "--no-progress", "--out", "eval"]) == 0
    description = json.loads(Path("eval/evaluate.json").read_text())
    assert description["config"]["run_dir"] == given
    for name in ("config.json", "evaluate.json", "summary.md"):
        text = (tmp_path / "eval" / name).read_text()
        assert str(run_dir.resolve()) not in text and str(tmp_path) not in text, name


def test_a_folder_from_before_model_hashes_resumes(run_dir: Path, tmp_path: Path) -> None:
    """An evaluation folder whose config.json names its run and no model hash (as
    written before hashes) resumes from the same run; its config.json is kept."""
    out = tmp_path / "eval"
    config = EvaluateConfig(str(run_dir), ("cem-50",), episodes=1, quick=True)
    evaluate(config, out, show_progress=False)
    identity = json.loads((out / "config.json").read_text())
    legacy = {"run_dir": str(run_dir.resolve()),
              **{k: v for k, v in identity.items() if k != "model"}}
    (out / "config.json").write_text(json.dumps(legacy, indent=2) + "\n")
    evaluate(dataclasses.replace(config, episodes=2), out, show_progress=False)
    assert len(_rows(out / "episodes.csv")) == 2
    assert json.loads((out / "config.json").read_text()) == legacy
