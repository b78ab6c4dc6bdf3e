"""`evaluate --workers N`: workers die with the driver (nothing else is left running),
and a worker that dies charges only its planner, which is run again."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cemgd.evaluate import EvaluateConfig, evaluate


def _children(parent: int) -> dict[int, str]:
    """Live children of ``parent``: pid -> command line."""
    found: dict[int, str] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(fields[1]) == parent and fields[0] != "Z":
            found[int(stat.parent.name)] = cmdline
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def _workers(parent: int, count: int, timeout: float = 120.0) -> list[int]:
    """The first ``count`` spawned worker processes of ``parent`` (multiprocessing's
    resource tracker aside), once they exist."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(pid for pid, cmd in _children(parent).items() if "spawn_main" in cmd)
        if len(found) >= count:
            return found[:count]
        time.sleep(0.05)
    raise AssertionError(f"no {count} worker processes of {parent} within {timeout} s")


def test_a_killed_driver_leaves_no_process(run_dir: Path, tmp_path: Path) -> None:
    """SIGKILL the driver of `evaluate --workers 2`: soon nothing it started runs (no
    multiprocessing manager, no worker)."""
    argv = ["evaluate", str(run_dir), "--planners", "cem-50,gd", "--episodes", "2",
            "--quick", "--workers", "2", "--no-progress", "--out", str(tmp_path / "ev")]
    driver = subprocess.Popen([sys.executable, "-m", "cemgd.cli", *argv],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _workers(driver.pid, 2)
        time.sleep(0.5)  # let anything else the driver starts come up
        started = list(_children(driver.pid))
    finally:
        driver.kill()  # the driver only: no chance to clean up
        driver.wait()
    # a worker still starting (importing JAX) when its driver died exits as soon as it
    # can ask to die with it and sees that it is gone; a running one is killed at once
    deadline = time.monotonic() + 60
    while any(map(_alive, started)) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = {pid: cmd[:120] for pid, cmd in _children(1).items() if pid in started}
    assert not [pid for pid in started if _alive(pid)], f"outlived their driver: {left}"


@pytest.mark.slow
def test_a_dead_worker_charges_only_its_planner(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
) -> None:
    """One worker is SIGKILLed: its planner is run again (its episodes resumed), the other
    planner is not disturbed, every episode is written once, no BrokenProcessPool."""
    out = tmp_path / "ev"
    killed: list[int] = []

    def kill_one() -> None:
        victim = _workers(os.getpid(), 1)[0]
        time.sleep(2.0)  # mid-way: importing, compiling or playing its first episode
        os.kill(victim, signal.SIGKILL)
        killed.append(victim)

    killer = threading.Thread(target=kill_one, daemon=True)
    killer.start()
    evaluate(EvaluateConfig(str(run_dir), ("cem-50", "gd"), episodes=2, quick=True,
                            workers=2), out, show_progress=False)
    killer.join(5)
    assert killed, "no worker was killed"
    with (out / "episodes.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted((r["planner"], r["episode"]) for r in rows) == [
        ("cem-50", "0"), ("cem-50", "1"), ("gd", "0"), ("gd", "1")]
    printed = capsys.readouterr().out
    assert printed.count("retrying planner") == 1, printed
    assert "worker process died (killed by signal 9)" in printed
