"""The ``cemgd evaluate`` and Ray parts of ``benchmarks/chaos.py`` (issue 25).

1. **Evaluate killed mid-episode.** ``cemgd evaluate`` of two planners, two episodes
   each, is SIGKILLed at a random instant while an episode is in progress (an
   ``OUT/partial/`` file exists); rerunning the command must resume it from that file
   and end with every row equal to an uninterrupted evaluation's (timing columns aside).
2. **A dead worker.** The same evaluation with ``--workers 2``: one worker process is
   SIGKILLed at a random instant while an episode is in progress; the evaluation must
   end (exit 0) with only that worker's planner retried and every row equal.
3. **The Ray path's lock.** A sweep run folder locked by another process (which wrote
   ``my-notes.txt`` there) must be left byte-for-byte as it was by
   ``cemgd sweep --ray local`` (that run fails, naming the holder); skipped, with the
   reason printed, when Ray is missing or cannot start.

The killed processes are paced (:data:`PACE_S` per step, through a ``sitecustomize``
on their ``PYTHONPATH``) and save their episode after every step, so that a random
instant falls inside an episode; ``--quick`` episodes otherwise last milliseconds and
``cemgd`` saves every 30 s. The reference and the reruns are the plain command.
"""

from __future__ import annotations

import csv
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import chaos

#: Seconds each step of a killed evaluation sleeps.
PACE_S = 0.25
#: ``cemgd evaluate RUN_DIR ARGS``: two planners, two short episodes each.
EVALUATE = ["--planners", "cem-50", "cem-gd", "--episodes", "2", "--quick",
            "--episode-length", "8", "--no-progress"]
STEPS = 8 * 2 * 2
#: Columns of ``episodes.csv`` that depend on the machine's speed (and ``chaos.TIMING``),
#: or on the commit (``code``: a commit made while the chaos run runs).
TIMING = {"plan_ms_p90", "code"}
SITE = f"""import time
from cemgd.pets.resume import EpisodeCheckpoint
def _due(self):
    time.sleep({PACE_S})  # chaos pacing: every step is slow and saves
    return True
EpisodeCheckpoint.due = _due
"""


def rows(folder: Path) -> list[dict[str, str]]:
    """``episodes.csv``'s rows without their timing columns, by planner and episode."""
    file = folder / "episodes.csv"
    if not file.exists():
        return []
    timing = TIMING | chaos.TIMING  # chaos imports this module: read it here
    with file.open(newline="") as fh:
        found = [{k: v for k, v in r.items() if k not in timing} for r in csv.DictReader(fh)]
    return sorted(found, key=lambda r: (r["planner"], int(r["episode"])))


def paced_env(root: Path) -> dict[str, str]:
    """The environment of a paced process (:data:`SITE` first on its path)."""
    site = root / "pace"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SITE)
    return {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(site), *filter(None, [os.environ.get("PYTHONPATH")])])}


def partial_steps(out: Path) -> list[str]:
    """The episodes in progress in ``out``: ``file at step N``."""
    import numpy as np

    found = []
    for file in sorted((out / "partial").glob("*.npz")):
        try:
            with np.load(file) as data:
                found.append(f"{file.name} at step {len(data['rewards'])}")
        except (OSError, ValueError, KeyError, EOFError):
            found.append(f"{file.name} unreadable")
    return found


def kill_mid_episode(argv: list[str], out: Path, env: dict[str, str], delay: float,
                     pick: random.Random | None = None) -> tuple[int | None, list[int], int, str]:
    """Run ``argv`` (paced) and, ``delay`` s after its first partial file appears, at the
    first instant an episode is in progress, SIGKILL it (``pick``: one of its worker
    processes, chosen with ``pick``, at the first instant each worker has an episode in
    progress); returns (the pid killed or None, the driver's children then, its exit
    status, its output). The driver runs to its end."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)
    first: float | None = None
    victim: int | None = None
    kids: list[int] = []
    while proc.poll() is None and victim is None:
        time.sleep(0.05)
        busy = len(list((out / "partial").glob("*.npz")))
        first = first if first is not None or not busy else time.perf_counter()
        if first is None or time.perf_counter() < first + delay or not busy:
            continue
        kids = chaos.children(proc.pid)
        workers = [k for k in kids if b"spawn_main" in _cmdline(k)]
        if pick is None:
            victim = proc.pid
        elif 0 < len(workers) <= busy:  # every worker is inside an episode
            victim = pick.choice(workers)
        if victim is not None:
            os.kill(victim, signal.SIGKILL)
    text, _ = proc.communicate()
    return victim, kids, proc.returncode, text


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def evaluate_kills(ref: Path, root: Path, kills: int, rng: random.Random,
                   tally: chaos.Tally) -> None:
    """Part 1: ``kills`` evaluations SIGKILLed mid-episode, each rerun to the end."""
    reference = root / "evaluate-reference"
    code, out = chaos.finish(chaos.start(chaos.cemgd("evaluate", str(ref), *EVALUATE,
                                                     "--out", str(reference))))
    if not tally.check(code == 0, f"reference evaluation: exit {code}: {out[-300:]}"):
        return
    env = paced_env(root)
    for i in range(kills):  # stratified over the paced steps, as the train kills
        out = root / f"evaluate-killed-{i}"
        delay = (i + rng.random()) / max(kills, 1) * 0.8 * STEPS * PACE_S
        argv = chaos.cemgd("evaluate", str(ref), *EVALUATE, "--out", str(out))
        victim, _, _, _ = kill_mid_episode(argv, out, env, delay)
        killed = victim is not None
        where = (f"{len(rows(out))} row(s) written, in progress: "
                 f"{', '.join(partial_steps(out)) or 'none'}")
        done = subprocess.run(argv, capture_output=True, text=True)
        text = " ".join((done.stdout + done.stderr).split())  # the console wraps notices
        resumed = re.search(r"resumed at step \d+", text)
        same = done.returncode == 0 and rows(out) == rows(reference)
        print(f"  evaluate kill {i}: SIGKILL {delay:.1f} s after the first partial file "
              f"({where}); rerun exit {done.returncode}, "
              f"{resumed.group(0) if resumed else 'not resumed'}, "
              f"rows {'equal' if same else 'DIFFER'}", flush=True)
        if killed:
            tally.kills.append(f"evaluate {delay:.1f} s into its episodes: {where}")
        if not same:
            tally.lost.append(f"evaluate kill {i} ({where}): exit {done.returncode} "
                              f"{text.strip()[-200:]}")
        tally.check(killed and resumed is not None and not (out / "partial").exists(),
                    f"evaluate kill {i}: killed {killed}, resumed {bool(resumed)}, "
                    f"partial left: {partial_steps(out)}")


def dead_worker(ref: Path, root: Path, rng: random.Random, tally: chaos.Tally) -> None:
    """Part 2: one ``--workers 2`` worker SIGKILLed mid-episode; one planner retried."""
    reference, out = root / "evaluate-reference", root / "evaluate-dead-worker"
    delay = rng.random() * STEPS * PACE_S / 2
    argv = chaos.cemgd("evaluate", str(ref), *EVALUATE, "--workers", "2", "--out", str(out))
    victim, kids, code, text = kill_mid_episode(argv, out, paced_env(root), delay, rng)
    text = " ".join(text.split())  # the console wraps a long notice at its width
    retried = sorted(set(re.findall(r"retrying\S* planner (\S+)", text)))
    resumed = re.search(r"resumed at step \d+", text)
    time.sleep(1.0)
    left = [k for k in kids if chaos.alive(k)]
    same = code == 0 and rows(out) == rows(reference)
    print(f"  dead worker: SIGKILL of a worker {delay:.1f} s after the first partial file;"
          f" exit {code}, planners retried: {', '.join(retried) or 'none'}, rows "
          f"{'equal' if same else 'DIFFER'}, {len(left)} process(es) left, the retry "
          f"{resumed.group(0) if resumed else 'started its episode again'}", flush=True)
    if victim is not None:
        how = f", {resumed.group(0)}" if resumed else ""
        tally.kills.append(f"evaluate --workers 2, one worker at {delay:.1f} s: retried "
                           f"{', '.join(retried) or 'none'}{how}")
    if not same:
        tally.lost.append(f"dead worker: exit {code}: {text.strip()[-200:]}")
    tally.check(victim is not None and len(retried) == 1 and not left,
                f"dead worker: killed {victim}, exit {code}, retried {retried}, "
                f"left alive {left}: {text.strip()[-300:]}")


#: ``python -c HOLD FOLDER``: lock FOLDER as a run's writer, write ``my-notes.txt``
#: there, say ``held`` and keep the lock until stdin closes.
HOLD = """import sys
from pathlib import Path
from cemgd.runs import lock_folder
lock = lock_folder(sys.argv[1])
(Path(sys.argv[1]) / "my-notes.txt").write_text("mine")
print("held", flush=True)
sys.stdin.read()
"""
RAY_SWEEP = ["sweep", "--quick", "--tasks", "cartpole-swingup", "--planners", "cem-50",
             "--seeds", "0", "--max-retries", "0", "--ray", "local", "--no-progress"]


def ray_lock(root: Path, tally: chaos.Tally) -> None:
    """Part 3: ``cemgd sweep --ray local`` on a sweep whose run folder another process
    holds; the folder must stay byte-for-byte as it was."""
    try:
        import ray  # noqa: F401
    except ImportError as err:
        print(f"  ray lock: SKIPPED, Ray cannot be imported ({err})", flush=True)
        return
    out = root / "ray-sweep"
    folder = out / chaos.SWEEP_RUN
    folder.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        before = chaos.snapshot(folder)
        done = subprocess.run(chaos.cemgd(*RAY_SWEEP, "--out", str(out)),
                              capture_output=True, text=True, timeout=600)
        after = chaos.snapshot(folder)
    finally:
        holder.communicate("")
    text = " ".join((done.stdout + done.stderr).split())  # the console wraps notices
    failures = out / "failures.csv"
    record = failures.read_text(errors="replace") if failures.exists() else ""
    if done.returncode == 2 and "in use" not in text and "ray" in text.lower():
        print(f"  ray lock: SKIPPED, Ray could not start: {text[-200:]}", flush=True)
        return
    named = f"in use by pid {holder.pid}" in record
    tally.attacks.append(f"sweep --ray local on a folder another process holds: exit "
                         f"{done.returncode}, holder named: {named}, folder "
                         f"{'unchanged' if before == after else 'CHANGED'}")
    print(f"  {tally.attacks[-1]}", flush=True)
    if before != after:
        tally.lost.append(f"ray lock: {folder} changed: {sorted(after)} (was {sorted(before)})")
    tally.check(done.returncode == 1 and named,
                f"ray lock: expected exit 1 and failures.csv naming pid {holder.pid}, got "
                f"{done.returncode}: {text[-300:]} {record[-200:]}")
