"""``cemgd report`` on a synthetic sweep folder: figures, tables with the right numbers,
damaged and unfinished runs listed and skipped."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from cemgd import pets, report
from cemgd.cli import main
from cemgd.report import tables

TASKS = ("cartpole-swingup", "halfcheetah")
PLANNERS = ("cem-50", "cem-500", "cem-5000", "gd", "cem-gd")
SEEDS = (0, 1, 2)
TRIALS = 3
STEPS = 10
ROLLOUTS = {"cem-50": 50.0, "cem-500": 500.0, "cem-5000": 5000.0, "gd": 22.0, "cem-gd": 71.5}
MEMORY = {"cem-50": 0.1, "cem-500": 0.5, "cem-5000": 0.5, "gd": 0.3, "cem-gd": 0.33}


def episode_return(task: str, planner: str, seed: int, trial: int) -> float:
    base = {"cem-50": 10.0, "cem-500": 20.0, "cem-5000": 40.0, "gd": 5.0, "cem-gd": 30.0}[planner]
    return base * (1 + TASKS.index(task)) + 2.0 * trial + seed


def plan_ms(task: str, planner: str, seed: int, trial: int) -> float:
    return {"cem-50": 5.0, "cem-500": 30.0, "cem-5000": 300.0, "gd": 8.0,
            "cem-gd": 15.0}[planner] + seed + trial


def write_run(folder: Path, task: str, planner: str, seed: int, trials: int = TRIALS) -> None:
    folder.mkdir(parents=True)
    config = pets.PETSConfig(task=task, planner=planner, seed=seed, trials=TRIALS)
    (folder / "config.json").write_text(json.dumps(pets.config_to_json(config), default=str))
    with (folder / "metrics.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=pets.METRIC_COLUMNS)
        writer.writeheader()
        for t in range(trials):
            row = {c: 0.0 for c in pets.METRIC_COLUMNS}
            row.update(trial=t, episode_return=episode_return(task, planner, seed, t),
                       episode_steps=STEPS, env_steps=500 + STEPS * (t + 1),
                       plan_ms_mean=plan_ms(task, planner, seed, t), plan_ms_first=100.0,
                       rollouts_per_step=ROLLOUTS[planner], plan_memory_mb=MEMORY[planner],
                       peak_rss_mb=400.0 + 10 * seed + t, train_s=1.0 + t + seed,
                       val_mse=0.5 / (t + 1) + 0.01 * seed, episode_s=2.0)
            writer.writerow(row)


@pytest.fixture(scope="module")
def fixture_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sweep")
    for task in TASKS:
        for planner in PLANNERS:
            for seed in SEEDS:
                write_run(root / task / planner / f"seed-{seed}", task, planner, seed)
    # damaged and unfinished folders: listed, never used
    bad = root / "halfcheetah" / "cem-gd" / "seed-7"
    write_run(bad, "halfcheetah", "cem-gd", 7)
    lines = (bad / "metrics.csv").read_text().splitlines()
    cells = lines[1].split(",")
    cells[pets.METRIC_COLUMNS.index("episode_return")] = "abc"
    (bad / "metrics.csv").write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n")
    write_run(root / "halfcheetah" / "cem-50" / "seed-8", "halfcheetah", "cem-50", 8)
    (root / "halfcheetah" / "cem-50" / "seed-8" / "config.json").write_text("{not json")
    write_run(root / "halfcheetah" / "gd" / "seed-9", "halfcheetah", "gd", 9, trials=1)
    (root / "halfcheetah" / "gd" / "seed-10").mkdir()
    (root / "sweep.json").write_text(json.dumps({
        "hardware": {"cpu_model": "Test CPU 9000", "usable_cpus": 2, "memory_gb": 8.0,
                     "jax": "0.0"},
        "config": {"workers": 2, "ray": None}}))
    return root


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def report_out(fixture_sweep: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture sweep's report, written once by the CLI into its own folder."""
    out = tmp_path_factory.mktemp("report") / "report"
    assert main(["report", str(fixture_sweep), "--out", str(out)]) == 0
    return out


def test_report_writes_figures_tables_and_csv(fixture_sweep: Path, report_out: Path) -> None:
    out = report_out
    for name in ("REPORT.md", "figure3_returns.png", "figure4_sample_efficiency.png",
                 "table1_time.csv", "table2_memory.csv", "runs.csv", "figure3.csv",
                 "figure4.csv"):
        assert (out / name).stat().st_size > 0, name
    for name in ("figure3_returns.png", "figure4_sample_efficiency.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (fixture_sweep / "REPORT.md").exists()  # --out respected
    runs = _csv(out / "runs.csv")
    assert len(runs) == len(TASKS) * len(PLANNERS) * len(SEEDS)


def test_report_table1_times(fixture_sweep: Path, report_out: Path) -> None:
    t1 = {(r["task"], r["planner"]): r for r in _csv(report_out / "table1_time.csv")}
    for task in TASKS:
        for planner in PLANNERS:
            per_run = [np.mean([plan_ms(task, planner, s, t) for t in range(TRIALS)]) / 1e3
                       for s in SEEDS]
            row = t1[(task, planner)]
            assert row["runs"] == "3"
            assert float(row["plan_s_mean"]) == pytest.approx(np.mean(per_run), abs=1e-6)
            assert float(row["plan_s_std"]) == pytest.approx(np.std(per_run, ddof=1), abs=1e-6)
            paper = report.PAPER_TABLE1_S.get(planner, {}).get(task)
            assert row["paper_s"] == ("" if paper is None else repr(paper))
    # first step 100 ms, the other 9 at (10 * mean - 100) / 9
    later = [(STEPS * plan_ms("halfcheetah", "cem-gd", s, t) - 100) / (STEPS - 1)
             for s in SEEDS for t in range(TRIALS)]
    assert float(t1[("halfcheetah", "cem-gd")]["first_step_s"]) == pytest.approx(0.1)
    assert float(t1[("halfcheetah", "cem-gd")]["later_steps_s"]) == pytest.approx(
        np.mean(later) / 1e3, abs=1e-6)

    # Tables 1 and 2 share one per-group helper: their columns are exactly the CSVs'
    groups = report.group_runs(report.load_runs(fixture_sweep)[0])
    assert [list(r) for r in report.table1(groups)] == [tables.TABLE1_COLUMNS] * len(groups)
    assert [list(r) for r in report.table2(groups)] == [tables.TABLE2_COLUMNS] * len(groups)


def test_report_table2_and_figure4(report_out: Path) -> None:
    t2 = {(r["task"], r["planner"]): r for r in _csv(report_out / "table2_memory.csv")}
    row = t2[("cartpole-swingup", "cem-gd")]
    assert float(row["plan_memory_mb"]) == pytest.approx(0.33)
    assert float(row["peak_rss_mb"]) == pytest.approx(412.0)  # max over trials (402), +10/seed
    assert float(row["peak_rss_mb_std"]) == pytest.approx(10.0)
    assert float(row["paper_mb"]) == 11.4 and row["runs"] == "3"

    f4 = {(r["task"], r["planner"]): r for r in _csv(report_out / "figure4.csv")}
    assert {p for _, p in f4} == {"cem-50", "cem-500", "cem-5000", "cem-gd"}  # no gd
    gd_row = f4[("halfcheetah", "cem-gd")]
    assert float(gd_row["nominal_rollouts"]) == 50.0  # N_r from planner_config
    assert float(gd_row["measured_rollouts"]) == 71.5
    assert float(f4[("halfcheetah", "cem-500")]["nominal_rollouts"]) == 500.0
    best = [episode_return("halfcheetah", "cem-gd", s, TRIALS - 1) for s in SEEDS]
    assert float(gd_row["best_return_mean"]) == pytest.approx(np.mean(best))
    assert float(gd_row["best_return_std"]) == pytest.approx(np.std(best, ddof=1))


def test_report_figure3_and_text(report_out: Path) -> None:
    f3 = [r for r in _csv(report_out / "figure3.csv")
          if r["task"] == "cartpole-swingup" and r["planner"] == "cem-50"]
    assert [float(r["env_steps"]) for r in f3] == [510.0, 520.0, 530.0]
    assert [float(r["return_mean"]) for r in f3] == [11.0, 13.0, 15.0]

    # the model's held-out error and training time per trial, beside the returns
    for t, r in enumerate(f3):
        assert float(r["val_mse_mean"]) == pytest.approx(0.5 / (t + 1) + 0.01, abs=1e-6)
        assert float(r["val_mse_std"]) == pytest.approx(0.01, abs=1e-6)
        assert float(r["train_s_mean"]) == pytest.approx(2.0 + t)
    assert (report_out / "model_quality.png").read_bytes()[:4] == b"\x89PNG"

    text = (report_out / "REPORT.md").read_text()
    assert "| cartpole-swingup | cem-50 | 0 | 11 ± 1 | 0.51 ± 0.01 | 2 ± 1 | 3 |" in text
    assert "no GPU" not in text and "GPU: not recorded" in text  # never assumed
    assert "Test CPU 9000" in text and "2 CPU core(s)" in text
    assert "hardware not stated in the paper" in text
    assert "paper 2.63" in text and "paper 12.2" in text
    assert "(n=3)" in text
    assert "holds" in text  # CEM-GD beats CEM 500 in the fixture


def test_claim_verdicts(fixture_sweep: Path, tmp_path: Path) -> None:
    result = report.write_report(fixture_sweep, tmp_path)
    verdicts = {(c["claim"].rsplit(" (", 1)[0], c["task"]): c["verdict"]
                for c in report.check_claims(report.group_runs(result.runs))}
    # the fixture's CEM 5000 returns 40 (x task) against CEM-GD's 30: the claim fails
    for task in TASKS:
        assert verdicts[("CEM-GD (N_r = 50) performs as well as or better than CEM 5000",
                         task)] == "does not hold"
        assert verdicts[("CEM-GD performs as well as or better than CEM 500", task)] == "holds"
        assert verdicts[("CEM-GD plans faster per step than CEM 5000", task)] == "holds"
        assert verdicts[("CEM-GD's planning step uses less memory than CEM 5000's",
                         task)] == "holds"
    key = ("CEM 5000 is better than CEM 500 on Half-Cheetah and Humanoid Standup",
           "halfcheetah")
    assert verdicts[key] == "holds"
    assert ("CEM 5000 is better than CEM 500 on Half-Cheetah and Humanoid Standup",
            "cartpole-swingup") not in verdicts


def test_damaged_and_unfinished_runs_are_listed_and_skipped(fixture_sweep: Path,
                                                            tmp_path: Path) -> None:
    result = report.write_report(fixture_sweep, tmp_path)
    skipped = {s.folder: s.reason for s in result.skipped}
    assert skipped.pop("halfcheetah/cem-50/seed-8").startswith("config.json corrupt")
    assert skipped == {
        "halfcheetah/cem-gd/seed-7": "metrics.csv corrupt (row 1: episode_return = 'abc' is "
                                     "not a number)",
        "halfcheetah/gd/seed-9": "incomplete: 1 of 3 trials",
        "halfcheetah/gd/seed-10": "config.json missing",
    }
    skipped["halfcheetah/cem-50/seed-8"] = ""
    assert len(result.runs) == len(TASKS) * len(PLANNERS) * len(SEEDS)
    text = result.path.read_text()
    for folder in skipped:
        assert folder in text
    # with include_incomplete the unfinished run is used, the damaged ones still are not
    again = report.write_report(fixture_sweep, tmp_path / "all", include_incomplete=True)
    assert len(again.runs) == len(result.runs) + 1
    assert {s.folder for s in again.skipped} == set(skipped) - {"halfcheetah/gd/seed-9"}
    assert "> **Partial**: 1 run(s) used here have not finished: `halfcheetah/gd/seed-9` " \
           "1 of 3 trials." in again.path.read_text()
    assert "**Partial**" not in text


def test_report_of_nothing_and_bad_input(tmp_path: Path,
                                         capsys: pytest.CaptureFixture) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"sweep_dir: .*empty holds no usable run or "
                                         r"evaluation folder; nothing was written"):
        report.write_report(empty)
    assert list(empty.iterdir()) == []  # refused before anything is written
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "sweep_dir" in capsys.readouterr().err
