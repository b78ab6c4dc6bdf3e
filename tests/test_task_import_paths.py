"""A folder never runs code: a task given by import path (``file.py:factory``) is imported
only when the command line names it, whatever a run's or an evaluation's ``config.json``
records (``evaluate``, ``train --resume``, ``report --random-episodes``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cemgd.cli import main

#: A task module that, imported, leaves a marker file: proof that the code ran.
PAYLOAD = '''
from pathlib import Path
Path(__file__).with_name("MARKER").write_text("payload ran")
from cemgd.tasks import CartPoleSwingUpTask
def make(**kwargs):
    return CartPoleSwingUpTask(**kwargs)
'''


@pytest.fixture
def hostile_run(run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of a finished run whose ``config.json`` names ``payload.py:make`` (beside
    it, in the working directory)."""
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    config = json.loads((run / "config.json").read_text())
    config["task"] = "payload.py:make"
    (run / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (run / "payload.py").write_text(PAYLOAD)
    monkeypatch.chdir(run)
    return run


def test_a_folder_alone_never_imports_its_task_code(hostile_run: Path, capsys) -> None:
    run, marker = hostile_run, hostile_run / "MARKER"
    evaluate = ["evaluate", str(run), "--planners", "cem-50", "--episodes", "1", "--quick",
                "--episode-length", "3", "--no-progress"]
    assert main([*evaluate, "--out", "ev"]) == 2
    err = capsys.readouterr().err
    assert "config.json names the task 'payload.py:make'" in err
    assert "pass --task payload.py:make" in err and "Traceback" not in err
    assert not marker.exists() and not (run / "ev").exists()
    # another --task is refused too (checked against the record; nothing imported)
    assert main([*evaluate, "--out", "ev", "--task", "cartpole-swingup"]) == 2
    assert "pass --task payload.py:make" in capsys.readouterr().err
    assert not marker.exists()
    # train --resume reads the folder's record as data: it names the --task, imports nothing
    assert main(["train", "--out", str(run), "--resume", "--quick", "--trials", "2",
                 "--no-progress"]) == 2
    assert "pass --task payload.py:make" in capsys.readouterr().err
    assert not marker.exists()
    # named on the command line, the same folder evaluates (the user trusts that code)
    assert main([*evaluate, "--out", "ev", "--task", "payload.py:make"]) == 0, \
        capsys.readouterr().err
    assert marker.read_text() == "payload ran"
    marker.unlink()
    # report --random-episodes builds the evaluation's task: only when named
    report = ["report", "ev", "--out", "rep", "--random-episodes", "1"]
    assert main(report) == 2
    err = capsys.readouterr().err
    assert "pass --task payload.py:make" in err and "Traceback" not in err
    assert not marker.exists()
    assert main([*report, "--task", "payload.py:make"]) == 0, capsys.readouterr().err
    assert "| payload.py:make | 3 | 1 |" in (run / "rep" / "REPORT.md").read_text()
