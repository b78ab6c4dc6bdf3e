"""benchmarks/gpu_check.sh in its reduced CPU form: every stage runs and the times are printed."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.sh"


def test_unknown_argument_exits_2() -> None:
    done = subprocess.run(["bash", str(SCRIPT), "--gpu-please"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 2 and "unknown argument --gpu-please" in done.stderr


@pytest.mark.slow  # over 25 s on 2 cores (contract subset, quick bench, two PETS trials)
def test_cpu_form_runs_every_stage_and_prints_step_times(tmp_path: Path) -> None:
    pytest.importorskip("mujoco")
    env = {**os.environ, "OUT": str(tmp_path / "out"), "MUJOCO_GL": "egl"}
    done = subprocess.run(["bash", str(SCRIPT), "--cpu"], capture_output=True, text=True,
                          timeout=2400, check=False, cwd=tmp_path, env=env)
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-2000:]
    for stage in ("contract", "bench", "pets-cem-gd", "pets-cem-5000"):
        assert re.search(rf"stage {stage}: passed in \d+ s", out), stage
    assert "backend cpu" in out and "cpu x" in out  # the devices it ran on
    bench = re.findall(r"^  (\S+)\s+median\s+([\d.]+) ms", out, re.M)
    assert {name for name, _ in bench} == {"cem-50", "cem-gd:n_init=50,n_replan=50"}
    assert all(float(ms) > 0 for _, ms in bench)
    for planner in ("cem-gd", "cem-5000"):
        match = re.search(rf"PETS half-cheetah {planner} trial 0: plan ([\d.]+) ms/step", out)
        assert match and float(match.group(1)) > 0, planner
    assert "all stages passed" in out
    summary = (tmp_path / "out" / "gpu_check.txt").read_text()
    assert "PETS half-cheetah cem-5000 trial 0" in summary
    assert (tmp_path / "out" / "bench" / "bench.csv").is_file()
