"""The README's results table is what scripts/results_table.py computes from the
committed episodes (else: run the script), and the script computes what it says."""

from __future__ import annotations

import importlib.util
import statistics
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("results_table",
                                                  ROOT / "scripts" / "results_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_table_matches_the_committed_csvs():
    script = _script()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert script.render(readme) == readme, (
        "README.md's results table is stale: run python scripts/results_table.py")
    assert script.main(["--check"]) == 0


def _write(path: Path, header: str, rows: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")


def test_table_cells_are_mean_and_std_of_the_episodes(tmp_path: Path):
    script = _script()
    returns = {"cem-gd": [10.0, 12.0, 17.0], "cem-5000": [1.5, 2.5, 3.5, 4.25],
               "gd": [-1.0, 0.0, 4.0]}
    rows = [f"toy,{p},{i},{i},{r},50" for p, rs in returns.items() for i, r in enumerate(rs)]
    _write(tmp_path / "toy" / "eval" / "episodes.csv", "task,planner,episode,seed,return,steps",
           rows)
    _write(tmp_path / "toy" / "report" / "random_policy.csv",
           "task,episode_length,episodes,mean,std,min,max",
           ["toy,50,10,-1.25,0.5,-2,0", "toy,100,10,-9,1,-10,-8"])
    text = script.table(tmp_path)
    mean, std = statistics.fmean(returns["cem-gd"]), statistics.stdev(returns["cem-gd"])
    assert f"| `cem-gd` | {mean:.1f} ± {std:.1f} |" in text
    few = returns["cem-5000"]  # 4 episodes where the others have 3: the count is shown
    assert (f"| `cem-5000` | {statistics.fmean(few):.2f} ± {statistics.stdev(few):.2f} (n=4) |"
            in text)
    assert "| uniform random | -1.25 ± 0.50 (n=10) |" in text
    assert "[toy](docs/results/toy/README.md), 50 steps" in text


def test_a_changed_episode_makes_the_readme_stale(tmp_path: Path):
    script = _script()
    path = tmp_path / "toy" / "eval" / "episodes.csv"
    _write(path, "task,planner,episode,seed,return,steps", ["toy,gd,0,0,1.0,10",
                                                             "toy,gd,1,1,3.0,10"])
    readme = "# x\n<!-- results-table:begin -->\nold\n<!-- results-table:end -->\n"
    fresh = script.render(readme, tmp_path)
    assert "| `gd` | 2.00 ± 1.41 |" in fresh
    assert script.render(fresh, tmp_path) == fresh
    _write(path, "task,planner,episode,seed,return,steps", ["toy,gd,0,0,1.0,10",
                                                             "toy,gd,1,1,5.0,10"])
    assert script.render(fresh, tmp_path) != fresh


def test_bad_inputs_name_the_file(tmp_path: Path):
    script = _script()
    with pytest.raises(ValueError, match="README.md: no"):
        script.render("# no markers\n", tmp_path)
    with pytest.raises(ValueError, match="results: no"):
        script.table(tmp_path)
    _write(tmp_path / "mixed" / "eval" / "episodes.csv", "task,planner,episode,seed,return,steps",
           ["a,gd,0,0,1.0,10", "b,gd,0,0,1.0,10"])
    with pytest.raises(ValueError, match="episodes.csv: expected the episodes of one task"):
        script.table(tmp_path)


def test_study_pages_and_csv_tables_are_current():
    script = _script()
    stale = [path.name for path, text in script.pages().items()
             if path.read_text(encoding="utf-8") != text]
    assert not stale, f"stale: {stale}; run python scripts/results_table.py"


def test_csv_table_shows_the_named_columns(tmp_path: Path):
    script = _script()
    _write(tmp_path / "data.csv", "name,value,count", ["a,0.123456,3", "b,1234.5,4.0"])
    page = tmp_path / "README.md"
    page.write_text("x\n<!-- csv-table:begin data.csv name,value -->\nold\n"
                    "<!-- csv-table:end -->\n", encoding="utf-8")
    text = script.csv_tables(page, page.read_text(encoding="utf-8"))
    assert "| name | value |\n|---|---|\n| a | 0.123 |\n| b | 1234 |\n" in text
    assert "old" not in text and "count" not in text
    with pytest.raises(ValueError, match="data.csv: no column"):
        script.csv_table(tmp_path / "data.csv", ["name", "missing"])


def test_a_study_without_its_page_or_columns_is_named(tmp_path: Path):
    script = _script()
    _write(tmp_path / "results" / "toy" / "eval" / "episodes.csv",
           "task,planner,episode,seed,return,steps", ["toy,gd,0,0,1.0,10"])
    readme = tmp_path / "README.md"
    readme.write_text("<!-- results-table:begin -->\n<!-- results-table:end -->\n",
                      encoding="utf-8")
    with pytest.raises(ValueError, match="README.md: missing; a study"):
        script.pages(tmp_path / "results", readme)
    (tmp_path / "results" / "toy" / "README.md").write_text(
        "<!-- study-tables:begin -->\n<!-- study-tables:end -->\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"episodes.csv: no column\(s\) \['plan_ms_mean'"):
        script.pages(tmp_path / "results", readme)
