"""``cemgd report`` on bad input: a run whose config.json records a field of the wrong
type is skipped and listed (never a traceback), a folder with nothing usable is refused
without touching an earlier report, ``--task`` is checked as ``cemgd train`` checks it,
and a plan with an unknown key is refused naming the file, the key and the keys it takes."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_report import write_run
from test_report_plan import PLAN, _two_models

from cemgd.cli import main
from cemgd.report import read_run

TASK = "cartpole-swingup"
DAMAGED = f"{TASK}/cem-gd/seed-1"


def _damage(folder: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    """Rewrite ``folder/config.json`` with ``edit`` applied to its payload."""
    config = json.loads((folder / "config.json").read_text())
    edit(config)
    (folder / "config.json").write_text(json.dumps(config))


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda config: config.__setitem__(key, value)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(("edit", "reason"), [
    (_set("train", "x"), "train: expected an object, got 'x'"),
    (_set("planner_config", "x"), "planner_config: expected an object, got 'x'"),
    (_set("horizon", "x"), "horizon: expected an int >= 1, got 'x'"),
    (_set("trials", "x"), "trials: expected an int >= 1, got 'x'"),
    (_set("seed", None), "seed: expected an int in [0, 4294967295], got None"),
    (_set("seed", True), "seed: expected an int in [0, 4294967295], got True"),
    (_set("task", [1]), "task: expected a non-empty string, got [1]"),
    (_set("episode_length", -3), "episode_length: expected an int >= 0, got -3"),
    (_set("activation", 7), "activation: expected a non-empty string, got 7"),
    (lambda c: c["train"].__setitem__("epochs", "x"),
     "train.epochs: expected an int >= 1, got 'x'"),
    (lambda c: c.pop("planner"), "planner: missing"),
], ids=lambda v: v.split(":")[0] if isinstance(v, str) else "")
def test_a_config_field_of_the_wrong_type_skips_the_run_naming_file_and_field(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        edit: Callable[[dict[str, Any]], None], reason: str) -> None:
    root, out = tmp_path / "sweep", tmp_path / "out"
    write_run(root / TASK / "cem-gd" / "seed-0", TASK, "cem-gd", 0)
    write_run(root / DAMAGED, TASK, "cem-gd", 1)
    _damage(root / DAMAGED, edit)
    assert main(["report", str(root), "--out", str(out)]) == 0, capsys.readouterr().err
    text = (out / "REPORT.md").read_text()
    assert f"| {DAMAGED} | config.json corrupt ({reason}) |" in text
    with (out / "runs.csv").open(newline="") as fh:
        assert [r["folder"] for r in csv.DictReader(fh)] == [f"{TASK}/cem-gd/seed-0"]
    with pytest.raises(ValueError, match=r"^config\.json corrupt \("):
        read_run(root, root / DAMAGED)


def test_a_folder_of_damaged_runs_is_refused_and_an_earlier_report_stays(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root, out = tmp_path / "sweep", tmp_path / "out"
    write_run(root / TASK / "cem-gd" / "seed-0", TASK, "cem-gd", 0)
    assert main(["report", str(root), "--out", str(out)]) == 0
    before = _snapshot(out)
    assert "REPORT.md" in before and "figure3.csv" in before
    _damage(root / TASK / "cem-gd" / "seed-0", _set("train", "x"))
    assert main(["report", str(root), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{root} holds no usable run or evaluation folder" in err
    assert "config.json corrupt (train: expected an object, got 'x')" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert _snapshot(out) == before  # byte for byte, nothing added


@pytest.mark.parametrize("make", ["empty", "report-folder", "incomplete"])
def test_a_folder_with_no_usable_run_is_refused_naming_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], make: str) -> None:
    """An empty folder, a report's own folder (no runs) and a folder of unfinished runs:
    exit 2 naming the folder, and nothing written there or in --out."""
    root = tmp_path / "folder"
    root.mkdir()
    if make == "report-folder":
        write_run(tmp_path / "sweep" / TASK / "cem-500" / "seed-0", TASK, "cem-500", 0)
        assert main(["report", str(tmp_path / "sweep"), "--out", str(root)]) == 0
    elif make == "incomplete":
        write_run(root / TASK / "cem-500" / "seed-0", TASK, "cem-500", 0, trials=1)
    capsys.readouterr()
    before = _snapshot(root)
    assert main(["report", str(root)]) == 2
    err = capsys.readouterr().err
    assert f"cemgd report: sweep_dir: {root} holds no usable run" in err
    assert ("incomplete: 1 of 3 trials" in err) == (make == "incomplete")
    assert _snapshot(root) == before
    assert main(["report", str(root), "--out", str(tmp_path / "new")]) == 2
    assert not (tmp_path / "new").exists()


def test_a_blank_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    write_run(tmp_path / TASK / "cem-500" / "seed-0", TASK, "cem-500", 0)
    monkeypatch.chdir(tmp_path)
    assert main(["report", " "]) == 2
    assert "sweep_dir: expected a folder path" in capsys.readouterr().err
    assert not (tmp_path / "REPORT.md").exists()


@pytest.mark.parametrize(("task", "message"), [
    ("nope", "--task: unknown task 'nope'; known tasks: "),
    ("cartpole-swingp", "(did you mean 'cartpole-swingup'?)"),
    ("nosuch_module_xyz:f", "--task: cannot import 'nosuch_module_xyz'"),
    ("cemgd.tasks:no_such_factory", "--task: module 'cemgd.tasks' has no 'no_such_factory'"),
])
def test_an_unknown_or_unimportable_task_is_refused_naming_the_flag(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], task: str, message: str) -> None:
    root, out = tmp_path / "sweep", tmp_path / "out"
    write_run(root / TASK / "cem-500" / "seed-0", TASK, "cem-500", 0)
    assert main(["report", str(root), "--out", str(out), "--task", task,
                 "--random-episodes", "1"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize(("edit", "where", "key", "takes"), [
    (lambda t: t.replace("margin = 0.10", "margn = 0.5"), "[plan]", "margn",
     "(did you mean `margin`?); [plan] takes `title`, `level`, `correction`, `margin`"),
    (lambda t: t.replace('title = "synthetic"', "titl = 1"), "[plan]", "titl",
     "[plan] takes `title`"),
    (lambda t: t.replace("episodes = 8", "episode = 8"), "[[models]] 2", "episode",
     "[[models]] takes `name`, `task`, `folder`, `episodes`"),
    (lambda t: t.replace('kind = "better"', 'kind = "better"\nnote = "x"', 1),
     "[[claims]] 1", "note", "[[claims]] takes `id`, `text`, `task`, `a`, `b`, `kind`"),
    (lambda t: t + '\n[[claim]]\nid = "H3"\n', "", "claim",
     "the top level takes `plan`, `models`, `claims`"),
], ids=["margn", "titl", "models-episode", "claims-note", "top-claim"])
def test_a_plan_with_an_unknown_key_is_refused_naming_file_and_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        edit: Callable[[str], str], where: str, key: str, takes: str) -> None:
    root, out = tmp_path / "root", tmp_path / "out"
    _two_models(root)
    plan = root / "plan.toml"
    plan.write_text(edit(PLAN))
    assert main(["report", str(root), "--out", str(out), "--plan", str(plan)]) == 2
    err = capsys.readouterr().err
    assert f"{plan}{' ' + where if where else ''}: unknown key `{key}`" in err, err
    assert takes in err and "Traceback" not in err
    assert not out.exists()
