"""``cemgd evaluate`` and ``cemgd export-model`` refuse bad input in one line, exit 2,
before anything is written: seeds out of range, a corrupt ``episodes.csv`` row, an
``--out`` that is a run or model folder, a model folder without ``model.json``, a
``metrics.csv`` cut mid-row; and a run whose task is code exports once ``--task`` names it."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cemgd.cli import main
from cemgd.evaluate import EvaluateConfig, evaluate

pytest.importorskip("gymnasium")

EVALUATE = ["evaluate", "--planners", "cem-50", "--quick", "--no-progress"]


def _one_line_error(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones, the lock, included) and its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("seeds", ["99999999999999999999", "4294967296", "1,-1"])
def test_a_seed_out_of_range_is_refused_before_out_is_written(
    seeds: str, run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
) -> None:
    """Refused with one line before config.json or evaluate.json is written, not an
    OverflowError from the generators."""
    out = tmp_path / "eval"
    assert main([*EVALUATE, str(run_dir), "--seeds", seeds, "--out", str(out)]) == 2
    err = _one_line_error(capsys)
    assert err.startswith("cemgd evaluate: --seeds: expected an int in [0, 4294967295]"), err
    assert not out.exists()
    with pytest.raises(ValueError, match=r"seeds: expected an int in \[0, 4294967295\]"):
        EvaluateConfig(str(run_dir), ("cem-50",), seeds=(2**32,))
    assert EvaluateConfig(str(run_dir), ("cem-50",), seeds=(2**32 - 1,)).seeds == (2**32 - 1,)


@pytest.fixture(scope="module")
def evaluation(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An evaluation folder holding one episode of cem-50."""
    out = tmp_path_factory.mktemp("evaluation") / "eval"
    evaluate(EvaluateConfig(str(run_dir), ("cem-50",), episodes=1, quick=True), out,
             show_progress=False)
    return out


def _damage(text: str, how: str) -> str:
    header, row = text.splitlines()[:2]
    cells = row.split(",")
    if how == "duplicate":
        return f"{header}\n{row}\n{row}\n"
    column = {"return": 4, "episode": 2, "seed": 3, "steps": 5}[how]
    cells[column] = {"return": "abc", "episode": "x", "seed": "4294967296", "steps": ""}[how]
    return f"{header}\n{','.join(cells)}\n"


@pytest.mark.parametrize(("how", "message"), [
    ("return", "episodes.csv: corrupt row 1 (return: expected a number, got 'abc')"),
    ("episode", "episodes.csv: corrupt row 1 (episode: expected a whole number >= 0"),
    ("seed", "episodes.csv: corrupt row 1 (seed: expected a whole number in [0, 4294967295]"),
    ("steps", "episodes.csv: corrupt row 1 (steps: expected a number, got ''"),
    ("duplicate", "episodes.csv: row 2 repeats cem-50 episode 0 of row 1"),
])
def test_a_corrupt_episodes_row_is_refused_before_any_episode_runs(
    how: str, message: str, evaluation: Path, run_dir: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    """Refused naming the row before any episode runs, the folder unchanged."""
    out = tmp_path / "eval"
    shutil.copytree(evaluation, out)
    episodes = out / "episodes.csv"
    episodes.write_text(_damage(episodes.read_text(), how))
    before = _snapshot(out)
    assert main([*EVALUATE, str(run_dir), "--episodes", "2", "--out", str(out)]) == 2
    err = _one_line_error(capsys)
    assert message in err and str(episodes) in err, err
    assert _snapshot(out) == before


def test_out_a_run_or_model_folder_is_refused_naming_it(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
) -> None:
    """The message says what --out is (a PETS run or model folder), not a model mismatch."""
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    before = _snapshot(run)
    assert main([*EVALUATE, str(run_dir), "--episodes", "1", "--out", str(run)]) == 2
    assert (f"--out: {run} is a PETS run folder (cemgd train), not an evaluation folder"
            in _one_line_error(capsys))
    assert _snapshot(run) == before
    model = tmp_path / "model"
    assert main(["export-model", str(run_dir), "--out", str(model)]) == 0
    before = _snapshot(model)
    assert main([*EVALUATE, str(run_dir), "--episodes", "1", "--out", str(model)]) == 2
    assert (f"--out: {model} is a model folder (cemgd export-model), not an evaluation folder"
            in _one_line_error(capsys))
    assert _snapshot(model) == before


def test_a_model_folder_without_model_json_says_so(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
) -> None:
    """The message names the missing model.json, not an empty metrics.csv."""
    model = tmp_path / "model"
    assert main(["export-model", str(run_dir), "--out", str(model)]) == 0
    capsys.readouterr()
    (model / "model.json").unlink()
    out = tmp_path / "eval"
    assert main([*EVALUATE, str(model), "--episodes", "1", "--out", str(out)]) == 2
    err = _one_line_error(capsys)
    assert f"run_dir: {model / 'model.json'} is missing" in err and "metrics.csv" not in err
    assert not out.exists()


def test_metrics_cut_mid_row_says_metrics_csv_is_damaged(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
) -> None:
    """A run killed while writing trial 1's row: the message names metrics.csv and its
    row, not a missing model file (the run keeps its last model only)."""
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    metrics = run / "metrics.csv"
    whole = metrics.read_text()
    checkpoints = run / "checkpoints"
    (checkpoints / "model-000.npz").rename(checkpoints / "model-001.npz")
    metrics.write_text(whole + "1,0.25,15,6")  # trial 1's row, cut off
    out = tmp_path / "eval"
    assert main([*EVALUATE, str(run), "--episodes", "1", "--out", str(out)]) == 2
    err = _one_line_error(capsys)
    assert (f"run_dir: {metrics} is damaged: row 2 (trial 1) is cut off mid-row, and the "
            f"model file {checkpoints / 'model-000.npz'} is not there") in err, err
    metrics.write_text(whole[:-10])  # the only row cut off
    assert main([*EVALUATE, str(run), "--episodes", "1", "--out", str(out)]) == 2
    assert "metrics.csv is damaged: row 1 (trial 0) is cut off mid-row" in _one_line_error(
        capsys)
    metrics.write_text(whole[:20])  # the header cut off
    assert main([*EVALUATE, str(run), "--episodes", "1", "--out", str(out)]) == 2
    assert "metrics.csv is damaged: its header is cut off" in _one_line_error(capsys)
    assert not out.exists()


TASK_MODULE = '''
from pathlib import Path

from cemgd.tasks import resolve_env_task

Path(__file__).with_name("TASK_MARKER").write_text("task code ran")


def make(**kwargs):
    return resolve_env_task("cartpole-swingup", **kwargs)
'''
TASK = "my_task.py:make"


@pytest.fixture
def code_task_run(run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                  ) -> Iterator[Path]:
    """A run folder whose task is code (``my_task.py:make``, a cart-pole)."""
    (tmp_path / "my_task.py").write_text(TASK_MODULE)
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "task": TASK}, indent=2))
    yield run
    for name in [n for n in sys.modules if n.startswith("cemgd_user_tasks.my_task")]:
        del sys.modules[name]


def test_export_model_of_a_code_task_run_takes_task(
    code_task_run: Path, capsys: pytest.CaptureFixture,
) -> None:
    """export-model names the task code with --task, as evaluate does."""
    work = code_task_run.parent
    assert main(["export-model", str(code_task_run), "--out", "md"]) == 2
    err = _one_line_error(capsys)
    assert f"pass --task {TASK}" in err
    assert not (work / "TASK_MARKER").exists() and not (work / "md").exists()
    assert main(["export-model", str(code_task_run), "--out", "md", "--task",
                 "other.py:make"]) == 2  # another task than the run's: nothing imported
    assert f"pass --task {TASK}" in _one_line_error(capsys)
    assert not (work / "TASK_MARKER").exists() and not (work / "md").exists()
    assert main(["export-model", str(code_task_run), "--out", "md", "--task", TASK]) == 0
    assert (work / "TASK_MARKER").exists()
    assert json.loads((work / "md" / "model.json").read_text())["task"] == TASK
    assert main([*EVALUATE, "md", "--episodes", "1", "--task", TASK, "--out", "ev"]) == 0
    assert len((work / "ev" / "episodes.csv").read_text().splitlines()) == 2
