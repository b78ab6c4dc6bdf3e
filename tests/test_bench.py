"""``cemgd bench``: the quick configuration end to end, specs and resuming."""

from __future__ import annotations

import csv
import dataclasses

import pytest

from cemgd.experiments import bench, bench_report
from cemgd.planners import PLANNERS, PlannerSpec
from cemgd.runs import RunError


def test_parse_and_format_spec_round_trip():
    text = "cem-gd:n_replan=50,line_search=parallel,step_size=0.5,truncation=box@maxwork"
    spec, variant = bench.split_variant(text)
    assert spec.family == "cem-gd" and variant == "maxwork"
    assert spec.settings == {"n_replan": 50, "line_search": "parallel", "step_size": 0.5,
                             "truncation": "box"}
    assert bench.join_variant(spec, variant) == text
    assert bench.split_variant("cem") == (PlannerSpec("cem"), "model")
    # values are typed by the planner's config: an int written for a float is a float
    assert bench.split_variant("gd:step_size=1,warm_start=false")[0].settings == {
        "step_size": 1.0, "warm_start": False}
    assert isinstance(bench.split_variant("gd:step_size=1")[0].settings["step_size"], float)
    assert bench.label(bench.split_variant("cem-500")[0], "maxwork") == "CEM 500 (100x5) (max work)"


@pytest.mark.parametrize("spec", ["cem@fast", ":n=1", "cem:num_samples", "no-such-planner",
                                  "cem-gd:warm_start=True", "cem:num_samples=many"])
def test_bad_spec_is_a_value_error(spec):
    with pytest.raises(ValueError, match="planners"):
        bench.Config(planners=(spec,))


@pytest.mark.slow  # over 25 s on 2 cores; run with -m slow
def test_quick_bench_end_to_end(tmp_path):
    config = bench.quick(bench.Config())
    expected = list(config.planners)
    assert {bench.split_variant(s)[0].family for s in expected} == set(PLANNERS) & {
        bench.split_variant(s)[0].family for s in bench.DEFAULT_PLANNERS}

    rows = bench.run(config, tmp_path)

    assert [r["spec"] for r in rows] == expected
    with (tmp_path / "bench.csv").open() as fh:
        written = list(csv.DictReader(fh))
    assert [r["spec"] for r in written] == expected
    for row in written:
        for col in ("compile_s", "median_ms", "p10_ms", "p90_ms", "gflop", "roofline_ms"):
            assert float(row[col]) > 0, (row["spec"], col)
        assert float(row["p10_ms"]) <= float(row["median_ms"]) <= float(row["p90_ms"])
        assert float(row["num_rollouts"]) >= float(row["num_samples"]) > 0
    md = (tmp_path / "bench.md").read_text()
    table = [line for line in md.splitlines() if line.startswith("| ") and "Planner" not in line]
    assert len(table) == len(expected)

    maxwork = next(r for r in rows if r["variant"] == "maxwork")
    # every one of G = 3 steps is accepted at the last of J = 3 trials
    assert maxwork["grad_steps"] == 3 and maxwork["line_search_trials"] == 9
    assert maxwork["gradient_rollouts"] == 3

    again = bench.run(config, tmp_path)  # resumes: every row is already written
    assert [r["spec"] for r in again] == expected
    assert len(list(csv.DictReader((tmp_path / "bench.csv").open()))) == len(expected)
    stages = [r for r in written if r["grad_stage_ms"]]
    assert stages and all(  # the matrix-vector rate is at most the best rate (gap: 1 decimal)
        0 < float(r["grad_stage_gap_matvec"]) <= float(r["grad_stage_gap"]) + 0.05
        for r in stages)

    # a bench.csv of an earlier version (no grad_stage_gap_matvec), a planner left to run
    old = [{k: v for k, v in r.items() if k != "grad_stage_gap_matvec"} for r in written[:-1]]
    with (tmp_path / "bench.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(old[0]))
        writer.writeheader()
        writer.writerows(old)
    with pytest.raises(RunError, match="bench.csv: no column 'grad_stage_gap_matvec' "
                       r"\(written by an earlier cemgd"):
        bench.run(config, tmp_path)


def test_reject_variant_rejects_every_trial(tmp_path):
    config = bench.quick(bench.Config())
    config = dataclasses.replace(
        config, planners=("gd:grad_steps=3,line_search_trials=4@reject",), repeats=2, warmup=0)
    (row,) = bench.run(config, tmp_path)
    assert row["grad_steps"] == 0 and row["line_search_trials"] == 4
    assert list(row) == list(bench_report.TABLE.columns)  # what a resume checks it against


def test_gradient_stage_bound_is_weight_bytes_times_passes():
    """The bound reads the weights a row uses once per time step of every pass."""
    import jax
    import numpy as np

    from cemgd import Problem, make_planner
    from cemgd.experiments import steptime
    from cemgd.models import init_ensemble, make_rollout

    params = init_ensemble(jax.random.key(0), 3, 2, 4, 8, 2)  # S = 3, A = 2, E = 4
    member = 4 * (5 * 8 + 8 * 8 + 8 * 6 + 8 + 8 + 6)  # f32 weights and biases of one member
    assert steptime.weight_bytes(params, 1) == member
    assert steptime.weight_bytes(params, 3) == 3 * member
    problem = Problem(make_rollout(params, bench.reward, 1), 5, -np.ones(2), np.ones(2),
                      obs_shape=(3,))
    obs, key = np.full(3, 0.1, np.float32), jax.random.key(1)
    for line_search in ("sequential", "parallel"):
        planner = make_planner("gd", grad_steps=3, line_search_trials=2, line_search=line_search)
        stage = steptime.gradient_stage(planner, problem, obs, key, 1000, 2.0, repeats=1)
        assert stage.gradients >= 1 and stage.trials >= stage.gradients
        assert stage.backwards == stage.gradients
        if line_search == "sequential":  # one pass per trial
            assert stage.forwards == 1 + stage.trials
        else:  # one pass per batch of J trials, one per gradient after it (all 3 accepted)
            assert stage.trials == 2 * stage.gradients
            assert stage.forwards == 1 + stage.gradients + stage.gradients - 1
        assert stage.bound_ms == pytest.approx(
            1000 * 5 * (stage.forwards + stage.backwards) / 2e9 * 1e3)
    assert steptime.gradient_stage(make_planner("cem"), problem, obs, key, 1, 1.0, 1) is None
