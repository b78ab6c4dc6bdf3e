"""The PETS parity page's per-seed table (docs/results/pets-parity/table.py): each seed's
mean over trials 12-15, the t interval of their mean and the first balanced trial, and
the committed ablation.md is what the script writes from the committed runs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from cemgd.report.stats import mean_ci

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "docs" / "results" / "pets-parity"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("parity_table", HERE / "table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_first_balanced_trial_is_where_every_later_return_stays_above() -> None:
    table = _script()
    assert table.balanced_from(np.array([0, 150, 10, 141, 160, 170.0])) == "4"
    assert table.balanced_from(np.array([150, 160.0])) == "1"
    assert table.balanced_from(np.array([150, 160, 20.0])) == "-"


def test_seed_table_gives_each_seeds_late_mean_and_their_interval() -> None:
    table = _script()
    runs = {s: table.Run(np.r_[np.zeros(11), np.full(4, 150.0 + 10 * s)], np.ones(15))
            for s in range(3)}
    runs[3] = table.Run(np.zeros(10), np.ones(10))  # unfinished: the variant is left out
    text = table.seed_table({"a": dict(list(runs.items())[:3]), "b": runs})
    low, high = mean_ci(np.array([150.0, 160.0, 170.0]))
    assert f"| a | 0, 1, 2 | 150.0, 160.0, 170.0 | [{low:.1f}, {high:.1f}] | 12, 12, 12 |" in text
    assert "| b |" not in text


def test_committed_ablation_md_is_the_scripts_output(tmp_path: Path) -> None:
    table = _script()
    assert table.main(["--runs", str(HERE / "runs"), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "ablation.md").read_text() == (HERE / "ablation.md").read_text(), (
        "ablation.md is stale: run python docs/results/pets-parity/table.py "
        "--runs docs/results/pets-parity/runs")


def _plan_check() -> ModuleType:
    """plan_check.py imports table.py by name, as it does when run from its folder."""
    spec = importlib.util.spec_from_file_location("plan_check", HERE / "plan_check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    before = sys.modules.get("table")
    sys.modules["table"] = _script()
    try:
        spec.loader.exec_module(module)
    finally:  # leave no module named 'table' behind
        if before is None:
            del sys.modules["table"]
        else:
            sys.modules["table"] = before
    return module


def test_committed_plan_outcome_is_the_scripts_output() -> None:
    text = _plan_check().outcome(HERE / "runs")
    assert text == (HERE / "plan-robust-preset-result.md").read_text(), (
        "plan-robust-preset-result.md is stale: run python "
        "docs/results/pets-parity/plan_check.py")


def test_plan_check_refuses_an_unfinished_run(tmp_path: Path) -> None:
    """A run of the plan short of trial 15 is named, not averaged over fewer trials."""
    check = _plan_check()
    runs = {s: check.Run(np.full(15, 160.0), np.ones(15)) for s in (3, 4, 5)}
    short = {**runs, 5: check.Run(np.full(10, 160.0), np.ones(10))}
    data = {check.ARMS[0][1]: short, check.ARMS[0][2]: runs}
    with pytest.raises(LookupError, match=r"seeds \[5\] have not reached trial 15"):
        check.arm_lines(data, *check.ARMS[0])
    lines = check.arm_lines({check.ARMS[0][1]: runs, check.ARMS[0][2]: runs}, *check.ARMS[0])
    assert "C1: 160.0 >= 150: **holds**" in lines[0] and "0.0 [0.0, 0.0]" in lines[0]
