"""The PETS parity page's per-seed table (docs/results/pets-parity/table.py): each seed's
mean over trials 12-15, the t interval of their mean and the first balanced trial, and
the committed ablation.md is what the script writes from the committed runs."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np

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
