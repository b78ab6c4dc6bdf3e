"""An evaluation folder grown over several commands: more episodes for some planners only
(the way an undecided claim gets its sample size) is complete, not "Partial", and seeds
that disagree with the episodes already written are refused (exit 2, nothing written)."""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from cemgd.cli import main
from cemgd.evaluate import EvaluateConfig, evaluate
from cemgd.evaluate.core import spec_stem
from cemgd.planners.spec import PlannerSpec
from cemgd.report import write_report
from cemgd.report.episodes import (
    EPISODE_COLUMNS,
    MEASURED_COLUMNS,
    planner_codes,
    planner_machines,
    read_evaluation,
    upgrade_episodes_file,
)
from cemgd.runtime import code_version


def _evaluate(run_dir: Path, out: Path, planners: tuple[str, ...], **kwargs: object) -> None:
    evaluate(EvaluateConfig(str(run_dir), planners, quick=True, **kwargs), out,
             show_progress=False)


def _as_evaluated(report: str, spec: str) -> str:
    """The row of ``spec`` under "Planners as evaluated" (quick runs: CEM 20 (10x2))."""
    section = report.split("### Planners as evaluated")[1].split("##")[0]
    return next(line for line in section.splitlines()
                if f"| {spec} | cem | CEM 20 (10x2) |" in line)


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


def test_code_of_a_planner_is_derived_from_its_rows() -> None:
    """Each row names the code that ran it; a planner's code is its rows' distinct codes
    ("A + B" where the folder grew over two versions); a row written before rows
    recorded code counts as its planner's evaluate.json entry says."""
    description = {"planners": [{"spec": "cem", "code": "A"}, {"spec": "gd"},
                                {"spec": "mppi", "code": "C"}]}
    rows = [{"planner": "cem", "code": ""}, {"planner": "cem", "code": "B"},
            {"planner": "cem", "code": "B"}, {"planner": "gd", "code": "B"}]
    assert planner_codes(description, rows) == {"cem": "A + B", "gd": "B", "mppi": "C"}
    assert planner_codes({}, [{"planner": "gd"}]) == {}  # not recorded anywhere


def test_machine_of_a_planner_is_derived_from_its_rows() -> None:
    """Each row names the machine that ran it; a planner's machines are its rows'
    distinct ones; rows written before rows recorded it name none."""
    a = {"cpu_model": "EPYC", "jax_backend": "cpu", "devices": "cpu x 1"}
    b = {"cpu_model": "Xeon", "jax_backend": "gpu", "devices": "cuda x 1"}
    rows = [{"planner": "cem", **a}, {"planner": "cem", **b}, {"planner": "cem", **a},
            {"planner": "gd", **b}, {"planner": "mppi", "cpu_model": ""}]
    assert planner_machines(rows) == {"cem": "EPYC, JAX cpu: cpu x 1 + Xeon, JAX gpu: cuda x 1",
                                      "gd": "Xeon, JAX gpu: cuda x 1"}


#: The evaluation folders committed with the results: written by earlier versions
#: (measured columns only) and by this one (a row's provenance on the row).
COMMITTED = sorted(Path(__file__).resolve().parents[1].glob("docs/results/**/episodes.csv"))


@pytest.mark.parametrize("episodes", COMMITTED, ids=lambda p: p.parent.parent.name)
def test_committed_evaluation_folders_still_read(episodes: Path, tmp_path: Path) -> None:
    folder = tmp_path / "eval"  # a copy: the committed folder is never written
    folder.mkdir()
    for name in ("episodes.csv", "evaluate.json"):
        shutil.copy(episodes.parent / name, folder / name)
    with episodes.open(newline="") as fh:
        lines = list(csv.DictReader(fh))
    described, rows = read_evaluation(folder)
    assert [r["return"] for r in rows] == [float(r["return"]) for r in lines]
    # a row has its code where it was written with one (a folder grown by a later version
    # holds both kinds)
    assert [bool(r["code"]) for r in rows] == [bool(line.get("code")) for line in lines]
    codes = planner_codes(described, rows)
    if all(line.get("code") for line in lines):  # every planner's code and machine: rows
        assert set(codes) == set(planner_machines(rows)) == {r["planner"] for r in rows}
    upgrade_episodes_file(folder / "episodes.csv")  # as a resumed evaluation does
    with (folder / "episodes.csv").open(newline="") as fh:
        assert csv.DictReader(fh).fieldnames == list(EPISODE_COLUMNS)
    assert read_evaluation(folder) == (described, rows)


def test_a_folder_written_before_rows_had_provenance_reads_and_grows(
    run_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "eval"
    _evaluate(run_dir, out, ("cem-50",), episodes=1)
    # as versions before per-row provenance wrote it: measured columns only, the code
    # on the planner's entry in evaluate.json
    with (out / "episodes.csv").open(newline="") as fh:
        old = [{c: r[c] for c in MEASURED_COLUMNS} for r in csv.DictReader(fh)]
    with (out / "episodes.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=MEASURED_COLUMNS)
        writer.writeheader()
        writer.writerows(old)
    described = json.loads((out / "evaluate.json").read_text())
    described["planners"][0]["code"] = "0.0.1 (git 1234567)"
    (out / "evaluate.json").write_text(json.dumps(described))
    _, rows = read_evaluation(out)
    assert rows[0]["code"] == "" and rows[0]["return"] == float(old[0]["return"])
    text = write_report(out, tmp_path / "r1").path.read_text()
    assert "| 0.0.1 (git 1234567) |" in _as_evaluated(text, "cem-50")
    _evaluate(run_dir, out, ("cem-50",), episodes=2)  # resumed: one header, a new row
    with (out / "episodes.csv").open(newline="") as fh:
        reader = csv.DictReader(fh)
        grown = list(reader)
    assert reader.fieldnames == list(EPISODE_COLUMNS) and len(grown) == 2
    assert grown[0]["return"] == old[0]["return"] and grown[0]["code"] == ""
    assert grown[1]["code"] == code_version() and grown[1]["model_hash"]
    text = write_report(out, tmp_path / "r2").path.read_text()
    assert f"| 0.0.1 (git 1234567) + {code_version()} |" in _as_evaluated(text, "cem-50")


def test_the_settings_label_has_one_name_and_the_old_one_warns() -> None:
    import cemgd.evaluate as evaluate_package
    from cemgd.evaluate import build_planner, settings_label, spec_as_run
    from cemgd.planners.spec import make_planner

    planner = build_planner("cem-50", quick=True)
    assert settings_label("cem-50", planner) == "CEM 20 (10x2)"  # the settings it ran with
    assert make_planner(spec_as_run("cem-50", planner)).config == planner.config
    with pytest.warns(DeprecationWarning, match=r"cemgd\.evaluate\.settings_label"):
        old = evaluate_package.planner_label
    assert old is settings_label


def test_planners_are_specs_parsed_once_rows_and_files_keyed_by_the_canonical_text(
    run_dir: Path, tmp_path: Path
) -> None:
    config = EvaluateConfig(str(run_dir), ("cem-50:num-samples=6", PlannerSpec("gd")),
                            quick=True, episodes=1, reference="gd")
    assert config.planners == (PlannerSpec("cem-50", {"num_samples": 6}), PlannerSpec("gd"))
    assert config.reference == PlannerSpec("gd")
    with pytest.raises(ValueError, match="planners: 'cem-50:num_samples=6' and "
                                         "'cem-50:num-samples=6' are the same planner"):
        EvaluateConfig(str(run_dir), ("cem-50:num_samples=6", "cem-50:num-samples=6"))
    with pytest.raises(ValueError, match="seeds: 3 is given twice"):
        EvaluateConfig(str(run_dir), ("cem-50",), seeds=(1, 3, 3))
    with pytest.raises(ValueError, match=r"episodes: expected an int in \[1, 10000\]"):
        EvaluateConfig(str(run_dir), ("cem-50",), episodes=2**33)
    with pytest.raises(ValueError, match="expected a sequence of planners"):
        EvaluateConfig(str(run_dir), "cem-gd")  # a lone string is not split into letters
    out = tmp_path / "eval"
    first = dataclasses.replace(config, planners=config.planners[:1], reference=None)
    evaluate(first, out, show_progress=False)
    key = "cem-50:num_samples=6"  # str(spec), whatever text gave it
    assert [(r["planner"], r["episode"]) for r in _read(out)] == [(key, "0")]
    assert list(_entries(out)) == [key]
    assert (out / "steps" / f"{spec_stem(key)}-0.csv").is_file()
    assert spec_stem(config.planners[0]) == spec_stem(key)
    _evaluate(run_dir, out, (key,), episodes=1)  # the same planner: resumed, nothing to run
    assert len(_read(out)) == 1


def _read(out: Path) -> list[dict[str, str]]:
    with (out / "episodes.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_a_planner_whose_settings_changed_since_its_episodes_is_refused(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A default that changes makes the same spec another planner: its new episodes are
    refused (exit 2, nothing written), naming each setting and the spec that pins it; with
    none to add, the folder keeps describing the settings its episodes ran with."""
    out = tmp_path / "eval"
    _evaluate(run_dir, out, ("cem-50",), episodes=1)
    recorded = (out / "evaluate.json").read_text()
    described = json.loads(recorded)
    described["planners"][0]["settings"]["alpha"] = 0.5  # as if recorded under other defaults
    (out / "evaluate.json").write_text(json.dumps(described))
    before = {name: (out / name).read_bytes() for name in ("episodes.csv", "evaluate.json")}
    args = ["evaluate", str(run_dir), "--planners", "cem-50", "--quick", "--no-progress",
            "--out", str(out), "--episodes", "2"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--planners: cem-50 ran in this folder with other settings" in err
    assert "alpha 0.5 -> 0.9" in err and "'cem-50:alpha=0.5" in err
    assert len(err.strip().splitlines()) == 1
    assert {name: (out / name).read_bytes() for name in before} == before
    assert main([*args[:-1], "1"]) == 0  # nothing to add: the recorded entry stays
    assert _entries(out)["cem-50"]["settings"]["alpha"] == 0.5
    assert (out / "episodes.csv").read_bytes() == before["episodes.csv"]
    (out / "evaluate.json").write_text(recorded)  # the same settings: the folder grows
    _evaluate(run_dir, out, ("cem-50",), episodes=2)
    assert _entries(out)["cem-50"]["seeds"] == [0, 1]


def test_a_setting_added_since_counts_at_its_old_value_and_unrun_entries_are_replaced(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A record written before a setting existed (``warm_fill``) matches a spec whose value
    is the one planners ran with then ('last'), and is refused where the default moved on
    (``cem``: 'initial'); a recorded planner with no episodes takes the settings of now."""
    out = tmp_path / "eval"
    pinned = "cem-50:return_mean=false,warm_fill=last"
    _evaluate(run_dir, out, (pinned, "cem-50"), episodes=1)
    described = json.loads((out / "evaluate.json").read_text())
    for entry in described["planners"]:
        del entry["settings"]["warm_fill"]  # as written before the setting existed
    described["planners"].append({**described["planners"][1], "spec": "cem-500"})
    described["planners"][-1]["settings"] = {"num_samples": 3}  # recorded, never ran
    (out / "evaluate.json").write_text(json.dumps(described))
    _evaluate(run_dir, out, (pinned, "cem-500"), episodes=2)  # grows; cem-500 starts
    assert _entries(out)[pinned]["settings"]["warm_fill"] == "last"
    assert _entries(out)["cem-500"]["settings"]["num_samples"] != 3
    args = ["evaluate", str(run_dir), "--planners", "cem-50", "--quick", "--no-progress",
            "--out", str(out), "--episodes", "2"]
    assert main(args) == 2
    assert "warm_fill 'last' -> 'initial'" in capsys.readouterr().err
    # a spec whose only episode was saved mid-way has started: still checked
    described = json.loads((out / "evaluate.json").read_text())
    spec = "cem-50:num_samples=4"
    described["planners"].append({**described["planners"][0], "spec": spec,
                                  "settings": {"num_samples": 3}})
    (out / "evaluate.json").write_text(json.dumps(described))
    (out / "partial").mkdir(exist_ok=True)
    (out / "partial" / f"{spec_stem(spec)}-0.npz").write_bytes(b"")
    assert main([*args[:3], spec, *args[4:]]) == 2
    assert f"--planners: {spec} ran in this folder" in capsys.readouterr().err
