"""The paper's claims, checked at the study's sizes (the slowest with ``-m slow``)."""

from __future__ import annotations

import dataclasses

import pytest

from cemgd.experiments import barrier, scaling


@pytest.mark.slow  # over 25 s on 2 cores; run with -m slow
def test_more_initial_samples_pass_below_the_barrier_more_often(tmp_path):
    """Figure 2(c): the fraction below grows from N_init = 10 to N_init = 1000."""
    config = dataclasses.replace(barrier.Config(), n_init=(10, 1000), trials=50)
    rows = {int(r["n_init"]): r for r in barrier.run(config, tmp_path)}
    low, high = float(rows[10]["fraction_below"]), float(rows[1000]["fraction_below"])
    assert high >= 0.95
    assert high - low >= 0.1
    # the intervals separate: not a fluke of 50 trials
    assert float(rows[1000]["ci_low"]) > low


@pytest.mark.slow  # over 25 s on 2 cores; run with -m slow
def test_cem_gd_beats_cem_500_at_high_dimension(tmp_path):
    """Sec. 2.3: with 50 samples per step CEM-GD beats CEM with 500 when d is large."""
    config = dataclasses.replace(scaling.Config(), dims=(32,),
                                 planners=("cem-500", "cem-gd"), trials=3, repeats=2)
    rows = {r["planner"]: float(r["normalized_return"]) for r in scaling.run(config, tmp_path)}
    assert rows["cem-gd"] > rows["cem-500"] + 0.03, rows


@pytest.mark.slow
def test_cem_gd_beats_cem_5000_at_d_64(tmp_path):
    """The headline: 71 rollouts per step with gradients beat 5000 without, at d = 64."""
    config = dataclasses.replace(scaling.Config(), dims=(64,),
                                 planners=("cem-5000", "cem-gd"), trials=3, repeats=2)
    rows = {r["planner"]: float(r["normalized_return"]) for r in scaling.run(config, tmp_path)}
    assert rows["cem-gd"] > rows["cem-5000"], rows
