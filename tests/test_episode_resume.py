"""An episode killed mid-way resumes from its last save to the last digit of an
uninterrupted one (``cemgd.pets.resume``), and ``cemgd evaluate`` keeps its episodes in
progress in ``OUT/partial/`` until their rows are written."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from cemgd.evaluate import EvaluateConfig, compile_planner, evaluate, frozen_model, play
from cemgd.evaluate.core import FrozenModel, PlannerRun, episode_checkpoint
from cemgd.pets import Controller, Episode, EpisodeCheckpoint, EpisodeSeeds, Frames, run_episode
from cemgd.pets.resume import file_digest

SEED = 1


class Stop(Exception):
    """Raised by a step callback: the process 'dies' after that step."""


def _stop_at(step: int, seen: list[int]):
    def on_step(s: int, total: float, ms: float) -> None:
        seen.append(s)
        if s == step:
            raise Stop

    return on_step


def _episode(model: FrozenModel, run: PlannerRun, checkpoint: EpisodeCheckpoint | None,
             seen: list[int] | None = None, stop: int = -1) -> Episode:
    return run_episode(model.task, Controller(run.step, model.params, run.state0),
                       EpisodeSeeds.paired(SEED), checkpoint=checkpoint,
                       on_step=_stop_at(stop, seen if seen is not None else []))


def _same(a: Episode, b: Episode) -> None:
    for name in ("obs", "actions", "next_obs", "rewards", "rollouts", "grad_steps",
                 "fallback"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.plan_ms.shape == b.plan_ms.shape


@pytest.fixture(scope="module")
def model(run_dir: Path) -> FrozenModel:
    return frozen_model(EvaluateConfig(str(run_dir), ("cem-gd",), quick=True))


@pytest.mark.parametrize("spec", ["cem-gd", "icem"])  # icem: extra state
def test_killed_episode_resumes_to_the_uninterrupted_one(model: FrozenModel, tmp_path: Path,
                                                         spec: str) -> None:
    run = compile_planner(model, spec, quick=True)
    whole = play(model, run, SEED)
    keep = episode_checkpoint(tmp_path, model, spec, 0, SEED)
    keep.every_s = 0.0  # save after every step
    with pytest.raises(Stop):
        _episode(model, run, keep, stop=6)
    assert keep.path.is_file()  # saved after step 5: the next attempt starts at step 6
    seen: list[int] = []
    resumed = _episode(model, run, keep, seen)
    assert seen[0] == 6 and seen[-1] == model.task.episode_length - 1
    _same(resumed, whole)
    assert float(np.sum(resumed.rewards)) == float(np.sum(whole.rewards))


def test_unusable_files_restart_the_episode(model: FrozenModel, tmp_path: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    run = compile_planner(model, "cem-50", quick=True)
    whole = play(model, run, SEED)
    keep = episode_checkpoint(tmp_path, model, "cem-50", 0, SEED)
    keep.every_s = 0.0
    with pytest.raises(Stop):
        _episode(model, run, keep, stop=4)
    saved = keep.path.read_bytes()

    # a replay that differs from the record (here: a tampered observation) restarts
    with np.load(keep.path) as data:
        arrays = dict(data)
    arrays["next_obs"][2, 0] += 1e-3
    arrays["digest"] = np.asarray(file_digest(arrays))  # consistent: the replay catches it
    np.savez(keep.path, **arrays)
    seen: list[int] = []
    _same(_episode(model, run, keep, seen), whole)
    assert seen[0] == 0 and "differs from its record at step 2" in capsys.readouterr().out

    # a damaged file, and another episode's (tag), are not resumed from
    for content, other in ((saved[:100], None), (saved, "cem-50-seed-2")):
        keep.path.write_bytes(content)
        if other is not None:
            keep = EpisodeCheckpoint(keep.path, other, every_s=0.0)
        seen = []
        _same(_episode(model, run, keep, seen), whole)
        assert seen[0] == 0

    # nor another planner's state (shapes differ), even under the same tag
    keep.path.write_bytes(saved)
    stranger = EpisodeCheckpoint(keep.path, episode_checkpoint(
        tmp_path, model, "cem-50", 0, SEED).tag)
    assert stranger.load(compile_planner(model, "icem", quick=True).state0) is None

    with pytest.raises(ValueError, match="checkpoint: an episode that renders"):
        run_episode(model.task, Controller(run.step, model.params, run.state0),
                    EpisodeSeeds.paired(SEED), frames=Frames(model.trial), checkpoint=keep)


def _returns(folder: Path) -> dict[str, str]:
    with (folder / "episodes.csv").open(newline="") as fh:
        return {r["episode"]: r["return"] for r in csv.DictReader(fh)}


def test_evaluate_resumes_an_episode_mid_way(run_dir: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    config = EvaluateConfig(str(run_dir), ("cem-50",), seeds=(0, 4), quick=True)
    whole = tmp_path / "whole"
    evaluate(config, whole, show_progress=False)
    assert not (whole / "partial").exists()  # removed once every row is written

    saves: list[int] = []
    original = EpisodeCheckpoint.save

    def save_then_die(self: EpisodeCheckpoint, progress, state) -> None:
        original(self, progress, state)
        saves.append(progress.steps)
        if len(saves) == 20:  # episode 1, step 5: killed right after a save
            raise KeyboardInterrupt

    monkeypatch.setattr(EpisodeCheckpoint, "due", lambda self: True)
    monkeypatch.setattr(EpisodeCheckpoint, "save", save_then_die)
    out = tmp_path / "eval"
    with pytest.raises(KeyboardInterrupt):
        evaluate(config, out, show_progress=False)
    assert saves[-1] == 6 and list(_returns(out)) == ["0"]
    assert len(list((out / "partial").glob("*.npz"))) == 1  # episode 0's was removed

    monkeypatch.setattr(EpisodeCheckpoint, "save", original)
    evaluate(config, out, show_progress=False)
    assert _returns(out) == _returns(whole)
    assert not (out / "partial").exists()
    # the model's predictions of the steps before the kill were kept with the episode
    steps = {f.name: f.read_text() for f in (whole / "steps").glob("*.csv")}
    assert steps and {f.name: f.read_text() for f in (out / "steps").glob("*.csv")} == steps


def test_train_resumes_its_trial_episode_mid_way(run_dir: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture) -> None:
    from cemgd import pets
    from cemgd.runs import read_metrics

    config = pets.quick(pets.PETSConfig(task="cartpole-swingup", trials=1, seed=3))  # run_dir's
    original = EpisodeCheckpoint.save

    def save_then_die(self: EpisodeCheckpoint, progress, state) -> None:
        original(self, progress, state)
        if progress.steps == 7:
            raise KeyboardInterrupt

    monkeypatch.setattr(EpisodeCheckpoint, "due", lambda self: True)
    monkeypatch.setattr(EpisodeCheckpoint, "save", save_then_die)
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        pets.run(config, out, show_progress=False)
    assert (out / "partial" / "episode-000.npz").is_file() and not read_metrics(out)
    monkeypatch.setattr(EpisodeCheckpoint, "save", original)
    capsys.readouterr()
    pets.run(config, out, resume=True, show_progress=False)
    assert "resumed at step 7" in capsys.readouterr().out  # the model trained again alike
    (whole,), (resumed,) = read_metrics(run_dir), read_metrics(out)
    for name in ("episode_return", "episode_steps", "env_steps", "val_mse",
                 "rollouts_per_step", "grad_steps_per_step"):
        assert getattr(resumed, name) == getattr(whole, name), name
    assert not (out / "partial").exists()  # removed with the trial's commit


def test_tampered_files_restart_the_episode(model: FrozenModel, tmp_path: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    """The planner state in a file is checked (its digest; a finite mean and a step count
    matching the record, as ``plan()`` checks a state from outside), not trusted."""
    run = compile_planner(model, "cem-50", quick=True)
    keep = episode_checkpoint(tmp_path, model, "cem-50", 0, SEED)
    keep.every_s = 0.0
    with pytest.raises(Stop):
        _episode(model, run, keep, stop=4)
    with np.load(keep.path) as data:
        saved = dict(data)
    assert keep.load(run.state0) is not None and capsys.readouterr().out == ""

    def tampered(name: str, change, digest: bool) -> None:
        arrays = {k: v.copy() for k, v in saved.items()}
        arrays[name] = change(arrays[name])
        if digest:  # a forger who also rewrote the digest
            arrays["digest"] = np.asarray(file_digest(arrays))
        np.savez(keep.path, **arrays)

    cases = [("state_0", lambda m: m + 0.7, False, "digest does not match"),  # mean
             ("state_1", lambda k: k + np.uint32(1), False, "digest does not match"),  # key
             ("rollouts", lambda r: r * 1000, False, "digest does not match"),
             ("state_0", lambda m: m * np.nan, True, "mean holds NaN or inf"),
             ("state_2", lambda s: s + 1, True, "counts 5 steps, its record 4")]
    for name, change, digest, notice in cases:
        tampered(name, change, digest)
        assert keep.load(run.state0) is None, name
        assert notice in _one_line(capsys.readouterr().out), name
    seen: list[int] = []  # the last one, run: a fresh episode, as an uninterrupted one
    _same(_episode(model, run, keep, seen), play(model, run, SEED))
    assert seen[0] == 0 and "the episode restarts" in _one_line(capsys.readouterr().out)


def _one_line(text: str) -> str:
    """``text`` with the console's line wrapping undone (it wraps long paths anywhere)."""
    return " ".join(text.split())


def test_a_long_planner_spec_keeps_its_episode(model: FrozenModel, tmp_path: Path) -> None:
    """A spec of any length names a short file (a digest); the spec is in the file."""
    spec = "cem-50:alpha=0.1" + "0" * 240
    run = compile_planner(model, spec, quick=True)
    keep = episode_checkpoint(tmp_path, model, spec, 0, SEED)
    keep.every_s = 0.0
    assert len(keep.path.name) < 80
    with pytest.raises(Stop):
        _episode(model, run, keep, stop=3)
    with np.load(keep.path) as data:
        assert spec in str(data["tag"])
    seen: list[int] = []
    _episode(model, run, keep, seen)
    assert seen[0] == 3
