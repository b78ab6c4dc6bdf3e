"""Clear refusals on the command line: exit 2 with one line naming the argument or
file, never a traceback, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from cemgd.cli import main


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
