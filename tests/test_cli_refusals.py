"""Clear refusals on the command line: exit 2 with one line naming the argument or
file, never a traceback, nothing written."""

from __future__ import annotations

import errno
import os
import re
import shutil
import stat
from pathlib import Path

import pytest

from cemgd.cli import main
from cemgd.runs import write_atomic

#: a finished PETS run committed with the repository (its config.json and metrics.csv)
PARITY_RUN = (Path(__file__).resolve().parents[1] / "docs" / "results" / "pets-parity" / "runs"
              / "cem-gd" / "defaults" / "seed-0")


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_report_out_blank_or_a_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    sweep_dir = tmp_path / "sweep"
    sweep_dir.mkdir()
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    for blank in ("", " "):
        assert main(["report", str(sweep_dir), "--out", blank]) == 2
        line = _one_line(capsys.readouterr().err)
        assert "--out: expected a folder path, got an empty string" in line
    assert list(work.iterdir()) == [] and list(sweep_dir.iterdir()) == []
    file = tmp_path / "notes.md"
    file.write_text("mine\n")
    assert main(["report", str(sweep_dir), "--out", str(file)]) == 2
    assert f"--out: {file} exists and is not a folder" in _one_line(capsys.readouterr().err)
    assert file.read_text() == "mine\n" and list(sweep_dir.iterdir()) == []


FACTORIES = '''
def runtime():
    raise RuntimeError("no licence for the simulator")


def key():
    return {}["robot"]
'''


@pytest.mark.parametrize(("factory", "error"), [
    ("runtime", "RuntimeError: no licence for the simulator"), ("key", "KeyError: 'robot'")])
def test_a_task_factory_that_raises_is_one_line_naming_it(
    factory: str, error: str, tmp_path: Path, capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "broken_tasks.py").write_text(FACTORIES)
    spec = f"broken_tasks.py:{factory}"
    assert main(["train", "--task", spec, "--quick", "--trials", "1", "--episode-length", "6",
                 "--no-progress", "--out", str(tmp_path / "run")]) == 2
    line = _one_line(capsys.readouterr().err)
    assert f"task: the task factory {spec} raised {error}" in line


def test_two_tasks_with_one_folder_name_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`a/x/t.py:make` and `a/x-t.py:make` would both run in OUT/a-x-t.py_make."""
    monkeypatch.chdir(tmp_path)
    for file in ("a/x/t.py", "a/x-t.py"):
        (tmp_path / file).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / file).write_text("def make():\n    raise RuntimeError('not built')\n")
    out = tmp_path / "out"
    assert main(["sweep", "--tasks", "a/x/t.py:make,a/x-t.py:make", "--planners", "cem-50",
                 "--quick", "--no-progress", "--out", str(out)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert ("tasks: two tasks map to the same folder name: a-x-t.py_make "
            "(a/x/t.py:make, a/x-t.py:make)") in line
    assert not out.exists()


def test_a_full_disk_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ENOSPC surfaces at a write or at fsync, on a file descriptor: the message names the
    file all the same (exit 2, one line), and no temporary file is left."""
    real_fsync = os.fsync

    def full(fd: int) -> None:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full)
    out = tmp_path / "run"
    assert main(["train", "--task", "cartpole-swingup", "--quick", "--trials", "1",
                 "--episode-length", "6", "--no-progress", "--out", str(out)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert re.search(rf"{re.escape(str(out))}/[\w.-]+: No space left on device$", line), line
    assert not list(out.rglob(".cemgd-tmp-*"))  # no temporary file left


def test_a_non_utf8_path_is_written_escaped_or_refused_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture,
) -> None:
    """A folder name with non-UTF-8 bytes: the report shows it escaped; text that cannot
    be written as UTF-8 is refused naming the file."""
    folder = Path(os.fsdecode(bytes(tmp_path) + b"/sweep-\xff"))
    folder.mkdir()
    assert main(["report", str(folder)]) == 2  # no run in it: refused, naming it
    assert "sweep-" in _one_line(capsys.readouterr().err)
    run = folder / "run"  # one finished PETS run (its config and metrics) to report on
    run.mkdir()
    for name in ("config.json", "metrics.csv"):
        shutil.copy(PARITY_RUN / name, run / name)
    assert main(["report", str(folder)]) == 0, capsys.readouterr().err
    assert "sweep-\\xff" in (folder / "REPORT.md").read_text(encoding="utf-8")
    target = tmp_path / "notes.md"
    with pytest.raises(ValueError, match=rf"^{re.escape(str(target))}: cannot be written: "
                                         r"its text holds '\\udcff', which is not UTF-8"):
        write_atomic(target, f"run {folder}\n")
    assert list(tmp_path.iterdir()) == [folder]  # no temporary file left
