"""benchmarks/paired_step_time.py: every planner timed in the same rounds on one frozen
model, ratios within a round, the machine's load recorded beside each round."""

from __future__ import annotations

import csv
import runpy
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "paired_step_time.py"


def test_paired_rounds_time_every_planner_on_the_same_steps(run_dir: Path, tmp_path: Path,
                                                           monkeypatch) -> None:
    out = tmp_path / "timing"
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), str(run_dir), "--planners",
                                      "cem-gd,cem-50", "--rounds", "3", "--steps", "2",
                                      "--quick", "--out", str(out)])
    runpy.run_path(str(SCRIPT), run_name="__main__")
    rows = list(csv.DictReader((out / "paired_times.csv").open()))
    assert [(r["round"], r["planner"]) for r in rows] == [
        ("0", "cem-gd"), ("0", "cem-50"), ("1", "cem-50"), ("1", "cem-gd"),
        ("2", "cem-gd"), ("2", "cem-50")]  # the order rotates from round to round
    assert all(float(r["replan_ms_median"]) > 0 and float(r["first_ms"]) > 0 for r in rows)
    text = (out / "paired_times.md").read_text()
    assert "| cem-gd |" in text and "1.00 [1.00, 1.00]" in text and "idle machine" in text


def test_other_load_counts_other_processes_cpu_not_its_own(monkeypatch) -> None:
    import subprocess
    import time

    script = runpy.run_path(str(SCRIPT))
    if script["busy_seconds"]() is not None:  # a real child's CPU is counted
        spin = "import time\nt = time.perf_counter()\nwhile time.perf_counter() - t < 1.5: pass"
        with script["OtherLoad"]() as other:
            subprocess.run([sys.executable, "-c", spin], check=True)
        assert other.cores >= 0.3
    # the machine busy for exactly this process's CPU time plus 0.5 s of others'
    extra = [0.0]
    monkeypatch.setitem(script["OtherLoad"].__exit__.__globals__, "busy_seconds",
                        lambda: time.process_time() + extra[0])
    t = time.perf_counter()
    with script["OtherLoad"]() as own:
        while time.perf_counter() - t < 0.5:  # its own spinning is not counted
            pass
        extra[0] = 0.5
    wall = time.perf_counter() - t
    assert 0.9 < own.cores * wall / 0.5 < 1.1
