"""The studies run end to end at a tiny size, write their files, and resume."""

from __future__ import annotations

import csv
import dataclasses
import json

import pytest

from cemgd import cli
from cemgd.experiments import barrier, scaling
from cemgd.experiments.common import wilson_interval
from cemgd.planners.spec import PlannerSpec, field_docs


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow  # over 25 s on 2 cores; run with -m slow
def test_barrier_quick_writes_csv_and_plots_and_resumes(tmp_path):
    config = dataclasses.replace(barrier.quick(barrier.Config()), trials=3)
    rows = barrier.run(config, tmp_path)
    assert config.planners == ("cem-gd", "cem-gd-robust")
    for spec in config.planners:
        assert [int(r["n_init"]) for r in rows if r["planner"] == spec] == list(config.n_init)
    assert len(rows) == len(config.n_init) * len(config.planners)
    for r in rows:
        assert int(r["below"]) + int(r["above"]) + int(r["not_crossed"]) == 3
        assert 0.0 <= float(r["ci_low"]) <= float(r["fraction_below"]) <= float(r["ci_high"])
    for name in ("barrier.csv", "config.json", "barrier_fraction.png",
                 "barrier_trajectories.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert list(_rows(tmp_path / "barrier.csv")[0]) == list(barrier.COLUMNS)
    # a rerun finds every row done and adds none
    barrier.run(config, tmp_path)
    assert len(_rows(tmp_path / "barrier.csv")) == len(config.n_init) * len(config.planners)


def test_scaling_quick_runs_through_the_cli(tmp_path):
    out = tmp_path / "scaling"
    assert cli.main(["scaling", "--quick", "--out", str(out), "--dims", "2"]) == 0
    rows = _rows(out / "scaling.csv")
    assert list(rows[0]) == list(scaling.TABLE.columns)  # what a resume checks it against
    assert {(r["d"], r["planner"]) for r in rows} == {
        ("2", "cem-50"), ("2", "cem-gd"), ("2", "cem-gd-robust")}
    for r in rows:
        assert 0.0 < float(r["normalized_return"]) <= 1.0 + 1e-4
        assert float(r["step_ms"]) > 0
    # 50 samples and CEM's final mean (return_mean, the default), evaluated once
    assert int(next(r for r in rows if r["planner"] == "cem-50")["rollouts_per_step"]) == 51
    assert (out / "scaling.png").stat().st_size > 0


def test_a_study_refuses_a_planner_that_resolves_otherwise_than_it_recorded(tmp_path,
                                                                          capsys):
    """A preset changed between two runs of one study would mix its rows: refused, exit 2,
    naming the spec and the setting."""
    out = tmp_path / "scaling"
    args = ["scaling", "--quick", "--out", str(out), "--dims", "2"]
    assert cli.main(args) == 0
    payload = json.loads((out / "config.json").read_text())
    assert payload["resolved_settings"]["cem-gd-robust"]["return_mean"] is True
    payload["resolved_settings"]["cem-gd-robust"]["return_mean"] = False
    (out / "config.json").write_text(json.dumps(payload))
    rows = (out / "scaling.csv").read_bytes()
    capsys.readouterr()
    assert cli.main(args) == 2
    assert "cem-gd-robust: return_mean False -> True" in capsys.readouterr().err
    assert (out / "scaling.csv").read_bytes() == rows


def test_cli_rejects_bad_settings(tmp_path, capsys):
    assert cli.main(["barrier", "--out", str(tmp_path), "--trials", "0"]) == 2
    assert "trials" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["nope"])


def _family_settings(text):
    spec = PlannerSpec.parse(text, where="planners")
    return spec.family, {**spec.preset, **spec.settings}


def test_planner_specs():
    assert _family_settings("cem-500") == ("cem", {"num_samples": 100, "num_iterations": 5})
    assert _family_settings("cem-gd:n_replan=20,line_search=parallel") == (
        "cem-gd", {"n_replan": 20, "line_search": "parallel"})
    with pytest.raises(ValueError, match="planners"):
        _family_settings("nope")
    with pytest.raises(ValueError, match="key=value"):
        _family_settings("cem:num_samples")


def test_wilson_interval():
    low, high = wilson_interval(5, 10)
    assert low < 0.5 < high
    assert wilson_interval(0, 50)[0] == 0.0
    assert wilson_interval(50, 50)[1] == pytest.approx(1.0)
    assert wilson_interval(49, 50)[0] > 0.85


def test_config_flags_carry_field_docs_from_base_classes():
    from cemgd.planners.gradcem import GradCEMConfig

    docs = field_docs(GradCEMConfig)
    assert "per iteration" in docs["num_samples"]  # declared on CEMConfig
    assert "Adam" in docs["learning_rate"]  # declared on GradCEMConfig


# test_run_dir_keeps_rows...: moved to tests/test_runs.py (the study folder now refuses another
# configuration instead of setting the old tables aside).
