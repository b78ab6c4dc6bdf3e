"""The uniform-random policy: its returns (``cemgd.experiments.baseline``) and
``cemgd report --random-episodes N``, which measures it for every task and episode length
a report uses and draws it on the figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_report import _csv, write_run
from test_report_stats import _values, write_evaluation

from cemgd import plots, report
from cemgd.cli import main
from cemgd.experiments.baseline import random_baselines, random_policy_returns
from cemgd.tasks import make_env_task

TASK = "cartpole-swingup"  # no simulator extra needed


def test_random_returns_are_seeded_per_episode_and_honour_the_length() -> None:
    five = random_policy_returns(TASK, 5, episode_length=20)
    assert five.shape == (5,)
    np.testing.assert_array_equal(random_policy_returns(TASK, 3, episode_length=20), five[:3])
    assert len(set(five.tolist())) == 5  # each episode its own seed
    task = make_env_task(TASK, episode_length=20)
    np.testing.assert_array_equal(random_policy_returns(task, 2), five[:2])
    longer = random_policy_returns(TASK, 2, episode_length=60)
    assert not np.allclose(longer, five[:2])


@pytest.mark.parametrize("kwargs, message", [
    ({"episodes": 0}, "episodes: expected an int >= 1"),
    ({"episodes": 2, "episode_length": -1}, "episode_length: expected an int >= 0"),
])
def test_bad_baseline_arguments_are_named(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        random_policy_returns(TASK, **kwargs)


def test_baselines_one_row_per_resolved_cell() -> None:
    default = make_env_task(TASK).episode_length
    rows = random_baselines([(TASK, 0), (TASK, default), (TASK, 30)], 2)
    assert [(r["task"], r["episode_length"]) for r in rows] == [(TASK, default), (TASK, 30)]
    returns = random_policy_returns(TASK, 2, 30)
    assert rows[1]["mean"] == pytest.approx(returns.mean())
    assert rows[1]["min"] == pytest.approx(returns.min()) and rows[1]["episodes"] == 2


def _capture(monkeypatch: pytest.MonkeyPatch, name: str) -> list[Any]:
    """Record the arguments of ``plots.<name>`` (the figure is still drawn)."""
    calls: list[Any] = []
    real = getattr(plots, name)

    def spy(*args: Any) -> None:
        calls.append(args)
        real(*args)

    monkeypatch.setattr(plots, name, spy)
    return calls


def test_report_draws_the_floor_on_learning_curves(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "sweep"
    for seed in (0, 1):
        write_run(root / TASK / "cem-gd" / f"seed-{seed}", TASK, "cem-gd", seed)
    panels = _capture(monkeypatch, "sweep_returns")
    result = report.write_report(root, tmp_path / "out", random_episodes=3)
    (row,) = _csv(tmp_path / "out" / "random_policy.csv")
    expected = random_policy_returns(TASK, 3)
    assert row["task"] == TASK and int(row["episodes"]) == 3
    assert float(row["mean"]) == pytest.approx(expected.mean(), rel=1e-6)
    ((_, drawn),) = panels
    assert drawn[0]["floors"] == [("uniform random, 100 steps (n=3)",
                                   pytest.approx(expected.mean()))]
    text = result.path.read_text()
    assert "## Uniform-random policy" in text
    assert tmp_path / "out" / "random_policy.csv" in result.files
    # without the option nothing is measured, nothing drawn
    panels.clear()
    report.write_report(root, tmp_path / "plain")
    assert not panels[0][1][0]["floors"]
    assert not (tmp_path / "plain" / "random_policy.csv").exists()
    assert "Uniform-random" not in (tmp_path / "plain" / "REPORT.md").read_text()


def test_report_draws_the_floor_on_evaluations_at_their_length(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = tmp_path / "compare"
    write_evaluation(root, TASK, {"cem-gd": _values(5.0, 1.0, 2),
                                  "cem-500": _values(0.0, 1.0, 3)})
    calls = _capture(monkeypatch, "returns_per_planner")
    assert main(["report", str(root), "--out", str(tmp_path / "out"),
                 "--random-episodes", "2"]) == 0
    mean = random_policy_returns(TASK, 2, 100).mean()
    ((_, _, _, floors),) = calls
    assert floors == [("uniform random, 100 steps (n=2)", pytest.approx(mean))]


def test_bad_random_episodes_is_refused_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture,
) -> None:
    root = tmp_path / "sweep"
    write_run(root / TASK / "cem-gd" / "seed-0", TASK, "cem-gd", 0)
    out = tmp_path / "out"
    assert main(["report", str(root), "--out", str(out), "--random-episodes", "-2"]) == 2
    err = capsys.readouterr().err
    assert "--random-episodes: expected an int >= 0, got -2" in err  # the flag typed
    assert not out.exists()


def test_each_figure_gets_the_floor_of_its_own_length_and_unbuildable_cells_are_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Runs of cart-pole at the task's length (recorded as 0: 100 steps) and at 40 steps,
    evaluations of it at 30 steps and of pendulum at 20, and a task that cannot be built:
    each figure draws only its own lengths; the unbuildable cell is listed, not fatal."""
    root = tmp_path / "mixed"
    write_run(root / "runs" / TASK / "cem-gd" / "seed-0", TASK, "cem-gd", 0)
    write_run(root / "runs" / TASK / "cem-50" / "seed-0", TASK, "cem-50", 0)
    config = root / "runs" / TASK / "cem-50" / "seed-0" / "config.json"
    config.write_text(config.read_text().replace('"episode_length": 0', '"episode_length": 40'))
    write_evaluation(root / "cp", TASK, {"cem-gd": _values(5.0, 1.0, 2)})
    write_evaluation(root / "pend", "pendulum", {"cem-gd": _values(5.0, 1.0, 3)})
    write_evaluation(root / "ghost", "no.such.module:task", {"cem-gd": _values(5.0, 1.0, 4)})
    for name, length in (("cp", 30), ("pend", 20), ("ghost", 20)):
        described = root / name / "evaluate.json"
        described.write_text(described.read_text().replace('"episode_length": 100',
                                                           f'"episode_length": {length}'))
    learning = _capture(monkeypatch, "sweep_returns")
    evaluated = _capture(monkeypatch, "returns_per_planner")
    result = report.write_report(root, tmp_path / "out", random_episodes=2)
    rows = {(r["task"], int(r["episode_length"])) for r in _csv(tmp_path / "out"
                                                                  / "random_policy.csv")}
    assert rows == {(TASK, 100), (TASK, 40), (TASK, 30), ("pendulum", 20)}
    ((_, panels),) = learning
    assert sorted(label for label, _ in panels[0]["floors"]) == [
        "uniform random, 100 steps (n=2)", "uniform random, 40 steps (n=2)"]
    drawn = {call[1].split(",")[0]: [label for label, _ in call[3]] for call in evaluated}
    assert drawn == {TASK: ["uniform random, 30 steps (n=2)"],
                     "pendulum": ["uniform random, 20 steps (n=2)"],
                     "no.such.module:task": []}
    text = result.path.read_text()
    assert "Not measured here:" in text
    assert "- no.such.module:task, 20 steps: task: cannot run 'no.such.module:task'" in text
    mean = random_policy_returns("pendulum", 2, 20).mean()
    assert [b["mean"] for b in result_rows(tmp_path / "out") if b["task"] == "pendulum"] \
        == [pytest.approx(mean, rel=1e-6)]


def result_rows(folder: Path) -> list[dict[str, float | str]]:
    """random_policy.csv with numbers as floats."""
    return [{k: (v if k == "task" else float(v)) for k, v in row.items()}
            for row in _csv(folder / "random_policy.csv")]


def test_a_missing_simulator_is_a_value_error_naming_the_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cemgd.experiments import baseline

    def missing(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("simulator not installed")  # what gymnasium may raise instead

    monkeypatch.setattr(baseline, "random_policy_returns", missing)
    with pytest.raises(ValueError, match=r"task: cannot run 'halfcheetah' here \(simulator"):
        random_baselines([("halfcheetah", 5)], 1)
