"""benchmarks/chaos.py run as a test (slow): kills, damaged files, racing writers, folder
attacks, evaluate killed mid-episode, a dead evaluate worker and the Ray path's lock."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_chaos_benchmark_smallest_form_loses_nothing(tmp_path: Path) -> None:
    """benchmarks/chaos.py at its smallest (one kill, two damaged files, the train and
    evaluate writer races, the folder attacks; no sweep, no evaluate kills, no Ray):
    about 3 min on 2 loaded cores, so slow."""
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "chaos.py"
    env = {**os.environ, "MUJOCO_GL": "egl", "CEMGD_NO_PROGRESS": "1"}
    done = subprocess.run([sys.executable, str(script), "--kills", "1", "--corruptions", "2",
                           "--no-sweep", "--only", "writers", "kills", "damages", "attacks",
                           "--seed", "1", "--out", str(tmp_path / "chaos")],
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    out = done.stdout
    assert "kill points tried: 1" in out and "bad inputs tried: 2" in out
    assert "concurrent writers tried: 2 pairs" in out
    assert "runs lost: 0" in out and "problems: 0" in out


@pytest.mark.slow
def test_chaos_benchmark_evaluate_and_ray_parts_lose_nothing(tmp_path: Path) -> None:
    """benchmarks/chaos.py's evaluate and Ray parts (one evaluation killed mid-episode,
    one dead ``--workers 2`` worker, the Ray sweep on a locked run folder): about 2 min."""
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "chaos.py"
    env = {**os.environ, "MUJOCO_GL": "egl", "CEMGD_NO_PROGRESS": "1"}
    done = subprocess.run([sys.executable, str(script), "--only", "evaluate", "ray",
                           "--evaluate-kills", "1", "--seed", "2",
                           "--out", str(tmp_path / "chaos")],
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    out = done.stdout
    assert "kill points tried: 2" in out and "resumed at step" in out
    assert "planners retried: cem-" in out and "runs lost: 0" in out and "problems: 0" in out
