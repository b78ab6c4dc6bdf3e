"""An evaluation folder grown over several commands: more episodes for some planners only
(the way an undecided claim gets its sample size) is complete, not "Partial", and seeds
that disagree with the episodes already written are refused (exit 2, nothing written)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cemgd.cli import main
from cemgd.evaluate import EvaluateConfig, evaluate
from cemgd.report import write_report


def _evaluate(run_dir: Path, out: Path, planners: tuple[str, ...], **kwargs: object) -> None:
    evaluate(EvaluateConfig(str(run_dir), planners, quick=True, **kwargs), out,
             show_progress=False)


def _entries(out: Path) -> dict[str, dict]:
    return {p["spec"]: p for p in json.loads((out / "evaluate.json").read_text())["planners"]}


def test_more_episodes_for_some_planners_is_a_complete_evaluation(
    run_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "eval"
    _evaluate(run_dir, out, ("cem-50", "gd"), episodes=2)
    assert _entries(out)["gd"]["seeds"] == [0, 1]
    described = json.loads((out / "evaluate.json").read_text())
    for entry in described["planners"]:
        del entry["seeds"]  # as versions before per-planner seeds wrote it
    (out / "evaluate.json").write_text(json.dumps(described))
    assert "**Partial**" not in write_report(out, tmp_path / "r1").path.read_text()
    _evaluate(run_dir, out, ("cem-50",), episodes=3)  # one planner only
    entries = _entries(out)
    # gd's entry, written without seeds, takes the folder's seeds before this command
    assert entries["cem-50"]["seeds"] == [0, 1, 2] and entries["gd"]["seeds"] == [0, 1]
    text = write_report(out, tmp_path / "r2").path.read_text()
    assert "**Partial**" not in text and "3 episode seed(s)" in text
    # a planner asked for more than it has is still reported as partial, by its own count
    described = json.loads((out / "evaluate.json").read_text())
    for entry in described["planners"]:
        if entry["spec"] == "gd":
            entry["seeds"] = [0, 1, 2, 3]
    (out / "evaluate.json").write_text(json.dumps(described))
    text = write_report(out, tmp_path / "r3").path.read_text()
    assert "**Partial**: episodes so far: gd 2 of 4." in text


def test_seeds_that_disagree_with_the_written_episodes_are_refused(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "eval"
    _evaluate(run_dir, out, ("cem-50",), seeds=(4, 5))
    before = {name: (out / name).read_bytes() for name in ("episodes.csv", "evaluate.json")}
    args = ["evaluate", str(run_dir), "--planners", "cem-50", "--quick", "--no-progress",
            "--out", str(out)]
    # --episodes 3 asks seeds 0, 1, 2: episodes 0 and 1 ran seeds 4 and 5
    assert main([*args, "--episodes", "3"]) == 2
    err = capsys.readouterr().err
    assert "--seeds" in err and "episode 0 of cem-50 already ran with seed 4" in err
    assert "4, 5" in err and len(err.strip().splitlines()) == 1
    assert {name: (out / name).read_bytes() for name in before} == before
    # the same seeds first, then new ones: accepted, one row added; another planner may
    # start on any seeds
    assert main([*args, "--seeds", "4,5,7"]) == 0
    assert main(["evaluate", str(run_dir), "--planners", "gd", "--seeds", "9", "--quick",
                 "--no-progress", "--out", str(out)]) == 0
    entries = _entries(out)
    assert entries["cem-50"]["seeds"] == [4, 5, 7] and entries["gd"]["seeds"] == [9]
    rows = (out / "episodes.csv").read_text().splitlines()[1:]
    assert len(rows) == 4


def test_code_of_a_planner_changes_only_when_it_runs_episodes() -> None:
    from cemgd.evaluate.driver import _codes

    assert _codes(None, "B", runs=False) == "B"  # a new entry names this code
    assert _codes("A", "B", runs=False) == "A"  # a resumed command that ran nothing
    assert _codes("A", "B", runs=True) == "A + B"  # episodes of both versions
    assert _codes("A + B", "B", runs=True) == "A + B"
