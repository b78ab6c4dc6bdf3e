"""Chaos run of issues 12 and 25: kill runs at random instants, damage files, race writers.

``python benchmarks/chaos.py [--kills N] [--corruptions M] [--only PART ...] [--seed S]
[--out DIR]`` drives the ``cemgd`` command line in subprocesses, as a hostile user would:

1. **Concurrent writers.** The reference ``cemgd train --quick`` run, the reference
   ``cemgd sweep --quick`` and a ``cemgd evaluate --quick`` are each started twice at
   once on one folder: exactly one must finish (exit 0), the other must exit 2 with
   ``in use by pid``.
2. **Kills.** ``N`` train runs and one sweep are SIGKILLed after a random delay (run ``i``
   uniform in the ``i``-th of ``N`` equal slices of 0.5 s to 80% of the reference's
   duration; if the run ends first, at the same point of its own duration), then resumed
   (the sweep by rerunning its command); each resumed run's metrics (timing columns
   aside) must equal the reference's, no stale checkpoint may stay, and a killed sweep
   driver's workers must die with it.
3. **Bad inputs.** ``M`` kinds of damaged file (chosen at random from :data:`DAMAGES`) in
   a copy of a finished run or evaluation: each resume must exit 2 with one line naming
   the damaged file and leave the folder byte-for-byte as it was; a torn last row (what
   power loss leaves) must instead be recovered; a damaged run inside a sweep must be
   reported in ``failures.csv`` (exit 1) with its folder untouched, the other runs kept.

4. **Folder attacks** (:mod:`chaos_attacks`): task code named by a folder, tampered
   partial-episode files. 5. **Evaluate and Ray** (:mod:`chaos_evaluate`): ``cemgd
   evaluate`` killed mid-episode, a dead ``--workers 2`` worker, the Ray sweep's lock.

``--only PART ...`` runs some parts alone (:data:`PARTS`). It prints what it tried and
the figures; exit status 1 if anything was lost or misbehaved.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import chaos_attacks
import chaos_evaluate
from chaos_attacks import replace_bytes, torn_last_row, truncate

from cemgd.runs import read_metrics

#: Columns that depend on the machine's speed, not on the computation.
TIMING = {"train_s", "plan_ms_mean", "plan_ms_max", "plan_ms_first", "peak_rss_mb",
          "compile_s", "episode_s", "plan_memory_mb"}
TRAIN = ["train", "--task", "cartpole-swingup", "--quick", "--no-progress"]
SWEEP = ["sweep", "--quick", "--tasks", "cartpole-swingup", "--planners", "cem-50",
         "--seeds", "0-1", "--workers", "2", "--max-retries", "0", "--no-progress"]
EVALUATE = ["evaluate", "--planners", "cem-50", "--episodes", "1", "--quick", "--no-progress"]
PARTS = ("writers", "kills", "damages", "attacks", "evaluate", "ray")


def cemgd(*args: str) -> list[str]:
    return [sys.executable, "-m", "cemgd.cli", *args]


def start(argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    _, err = proc.communicate()
    return proc.returncode, err


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` by hash (byte-for-byte comparison)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def metrics(folder: Path) -> list[dict]:
    return [{k: v for k, v in r.as_row().items() if k not in TIMING} for r in read_metrics(folder)]


def checkpoint_names(folder: Path) -> list[str]:
    ckpt = folder / "checkpoints"
    return sorted(p.name for p in ckpt.iterdir()) if ckpt.is_dir() else []


class Tally:
    """What was tried and what went wrong."""

    def __init__(self) -> None:
        self.kills: list[str] = []
        self.bad: list[str] = []
        self.writers: list[str] = []
        self.attacks: list[str] = []
        self.lost: list[str] = []
        self.problems: list[str] = []

    def check(self, ok: bool, what: str) -> bool:
        if not ok:
            self.problems.append(what)
            print(f"  PROBLEM: {what}", flush=True)
        return ok


# ----------------------------------------------------------------------------- writers
def race(argv: list[str], what: str, tally: Tally) -> float:
    """Start ``argv`` twice at once; one must finish, one be refused. Returns seconds."""
    t0 = time.perf_counter()
    a, b = start(argv), start(argv)
    (ca, ea), (cb, eb) = finish(a), finish(b)
    seconds = time.perf_counter() - t0
    codes = sorted([ca, cb])
    refused = ea if ca == 2 else eb
    ok = codes == [0, 2] and "in use by pid" in refused and len(refused.strip().splitlines()) == 1
    tally.writers.append(f"{what}: exits {ca}, {cb}; refused with: {refused.strip()[:90]}")
    print(f"  concurrent {what}: exits {ca} and {cb} ({seconds:.0f} s)", flush=True)
    tally.check(ok, f"concurrent {what}: expected exits 0 and 2 ('in use by pid'), got "
                    f"{ca}, {cb}: {(ea + eb).strip()[-300:]}")
    return seconds


# ----------------------------------------------------------------------------- kills
def children(pid: int) -> list[int]:
    """Pids whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def kill_after(argv: list[str], delay: float) -> tuple[bool, list[int], float]:
    """Run ``argv`` and SIGKILL it after ``delay`` s; (killed before it ended, its children
    at the kill, seconds it ran)."""
    t0 = time.perf_counter()
    proc = start(argv)
    try:
        proc.wait(timeout=delay)
        return False, [], time.perf_counter() - t0
    except subprocess.TimeoutExpired:
        kids = children(proc.pid)
        proc.kill()
        proc.communicate()
        return True, kids, time.perf_counter() - t0


def kill_somewhere(argv: list[str], folder: Path, limit: float, fraction: float,
                   tries: int = 3) -> tuple[bool, list[int], float]:
    """SIGKILL ``argv`` at ``fraction`` of the way through ``[0.5, limit]`` s; when it ended
    first (the reference, raced by a second writer, ran slower), retry at the same
    fraction of its own duration."""
    for _ in range(tries):
        delay = 0.5 + fraction * (max(limit, 1.0) - 0.5)
        killed, kids, seconds = kill_after(argv, delay)
        if killed:
            return True, kids, delay
        shutil.rmtree(folder, ignore_errors=True)
        limit = 0.9 * seconds
    return False, [], delay


def phase(folder: Path) -> str:
    """Where a killed run stood: its committed trials and the files it had written."""
    if not (folder / "config.json").exists():
        return "before config.json"
    done = len(read_metrics(folder)) if (folder / "metrics.csv").exists() else 0
    state = (folder / "checkpoints" / "state.json").exists()
    return f"{done} trial(s) committed{'' if state else ', no state.json yet'}"


def kill_train(i: int, limit: float, fraction: float, ref: Path, root: Path,
               tally: Tally) -> None:
    folder = root / f"killed-{i}"
    killed, _, delay = kill_somewhere(cemgd(*TRAIN, "--out", str(folder)), folder, limit,
                                      fraction)
    where = phase(folder) if killed else "run ended first"
    code, err = finish(start(cemgd(*TRAIN, "--out", str(folder), "--resume")))
    same = code == 0 and metrics(folder) == metrics(ref)
    clean = same and checkpoint_names(folder) == checkpoint_names(ref)
    print(f"  train kill {i}: SIGKILL at {delay:.1f} s ({where}); resume exit {code}, "
          f"metrics {'equal' if same else 'DIFFER'}", flush=True)
    if killed:
        tally.kills.append(f"train at {delay:.1f} s: {where}")
    if not same:
        tally.lost.append(f"train kill {i} at {delay:.1f} s ({where}): exit {code} "
                          f"{err.strip()[-200:]}")
    tally.check(clean or not same, f"train kill {i}: stale files {checkpoint_names(folder)}")


def run_folders(sweep: Path) -> list[Path]:
    return sorted(p.parent for p in sweep.rglob("config.json") if p.parent != sweep)


def kill_sweep(limit: float, fraction: float, ref: Path, root: Path, tally: Tally) -> None:
    folder = root / "sweep-killed"
    killed, kids, delay = kill_somewhere(cemgd(*SWEEP, "--out", str(folder)), folder, limit,
                                         fraction)
    time.sleep(3.0)  # a parent-death signal is delivered at once; give the kernel time
    orphans = [k for k in kids if alive(k)]
    where = (f"{sum(len(read_metrics(r)) for r in run_folders(folder))} trial(s) committed"
             if killed else "sweep ended first")
    code, err = finish(start(cemgd(*SWEEP, "--out", str(folder))))
    print(f"  sweep kill: SIGKILL at {delay:.1f} s ({where}, {len(kids)} child process(es), "
          f"{len(orphans)} left alive); rerun exit {code}", flush=True)
    if killed:
        tally.kills.append(f"sweep at {delay:.1f} s: {where}")
    tally.check(not orphans, f"sweep kill: worker processes {orphans} outlived the driver")
    for pid in orphans:
        os.kill(pid, signal.SIGKILL)
    names = [r.relative_to(ref) for r in run_folders(ref)]
    for name in names:
        if code != 0 or metrics(folder / name) != metrics(ref / name):
            tally.lost.append(f"sweep run {name} after a kill at {delay:.1f} s: exit {code} "
                              f"{err.strip()[-200:]}")
    tally.check(code == 0 and [r.relative_to(folder) for r in run_folders(folder)] == names,
                f"sweep kill: rerun exit {code}, runs {run_folders(folder)}")


# ----------------------------------------------------------------------------- bad inputs
SWEEP_RUN = "cartpole-swingup/cem-50/seed-0"

#: ``kind: (folder kind, file, damage, expected)``: expected is "refuse" (exit 2, one line
#: naming the file, folder unchanged), "recover" (exit 0, nothing lost) or "fail-run" (a
#: sweep: exit 1, failures.csv names the file, the damaged run's folder unchanged).
DAMAGES: dict[str, tuple[str, str, Callable[[Path], None], str]] = {
    "config.json not JSON": ("run", "config.json", replace_bytes(b"", b"{not json"), "refuse"),
    "config.json a list": ("run", "config.json", replace_bytes(b"", b"[]"), "refuse"),
    "state.json not UTF-8": ("run", "checkpoints/state.json",
                             replace_bytes(b'"completed"', b'"\xffcompleted"'), "refuse"),
    "state.json completed 99": ("run", "checkpoints/state.json",
                                replace_bytes(b'"completed": 2', b'"completed": 99'), "refuse"),
    "metrics.csv not UTF-8": ("run", "metrics.csv", replace_bytes(b"\n1,", b"\n\xff1,"),
                              "refuse"),
    "metrics.csv row changed": ("run", "metrics.csv", replace_bytes(b"\n1,", b"\n7,"),
                                "refuse"),
    "metrics.csv torn last row": ("run", "metrics.csv", torn_last_row, "recover"),
    "model .npz garbage": ("run", "checkpoints/model-001.npz",
                           replace_bytes(b"", b"\x80\x04garbage pickle"), "refuse"),
    "buffer .npz truncated": ("run", "checkpoints/buffer-001.npz", truncate(0.6), "refuse"),
    "evaluate config.json not JSON": ("eval", "config.json", replace_bytes(b"", b"{"),
                                      "refuse"),
    "episodes.csv not UTF-8": ("eval", "episodes.csv", replace_bytes(b"\ncartpole",
                                                                      b"\n\xffcartpole"),
                               "refuse"),
    "episodes.csv torn last row": ("eval", "episodes.csv", torn_last_row, "recover"),
    "sweep run's metrics.csv not UTF-8": ("sweep", f"{SWEEP_RUN}/metrics.csv",
                                          replace_bytes(b"\n1,", b"\n\xff1,"), "fail-run"),
}


def _damage_command(where: str, folder: Path, ref: Path) -> list[str]:
    if where == "run":
        return cemgd(*TRAIN, "--out", str(folder), "--resume")
    if where == "eval":
        return cemgd(*EVALUATE[:1], str(ref), *EVALUATE[1:], "--out", str(folder))
    return cemgd(*SWEEP, "--out", str(folder))


def damage_one(kind: str, sources: dict[str, Path], root: Path, tally: Tally) -> None:
    """Damage one file of a copy of a finished folder and rerun its command."""
    where, name, damage, expected = DAMAGES[kind]
    folder = root / ("bad-" + "".join(c if c.isalnum() else "-" for c in kind))
    shutil.copytree(sources[where], folder)
    damage(folder / name)
    watched = folder / SWEEP_RUN if where == "sweep" else folder
    before = snapshot(watched)
    code, err = finish(start(_damage_command(where, folder, sources["run"])))
    line = err.strip().replace(str(root), "$OUT")
    last = line.splitlines()[-1] if line else ""
    if expected == "fail-run" and (folder / "failures.csv").exists():  # the sweep's record
        last = (folder / "failures.csv").read_text(errors="replace").strip().splitlines()[-1]
        last = "failures.csv: " + last.replace(str(root), "$OUT")
    tally.bad.append(f"{kind}: exit {code}: {last[:150]}")
    print(f"  {kind}: exit {code}: {last[:150]}", flush=True)
    if expected == "refuse":
        tally.check(code == 2 and len(line.splitlines()) == 1 and Path(name).name in line,
                    f"{kind}: expected exit 2 with one line naming {name}, got {code}: {line}")
        tally.check(snapshot(watched) == before, f"{kind}: the refused folder was modified")
    elif expected == "fail-run":  # a sweep: the damaged run is reported, the others kept
        failures = (folder / "failures.csv").read_text(errors="replace")
        tally.check(code == 1 and Path(name).name in failures,
                    f"{kind}: expected exit 1 and failures.csv naming {name}, got {code}")
        tally.check(snapshot(watched) == before, f"{kind}: the damaged run folder was modified")
    else:
        same = (metrics(folder) == metrics(sources["run"]) if where == "run" else
                chaos_evaluate.rows(folder) == chaos_evaluate.rows(sources["eval"]))
        tally.check(code == 0 and same, f"{kind}: expected recovery, got exit {code}: {line}")


# ----------------------------------------------------------------------------- main
def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kills", type=int, default=3, help="train runs to kill (default 3)")
    p.add_argument("--evaluate-kills", type=int, default=2,
                   help="evaluations to kill mid-episode (default 2)")
    p.add_argument("--corruptions", type=int, default=len(DAMAGES),
                   help=f"kinds of damaged file to try (default all {len(DAMAGES)})")
    p.add_argument("--no-sweep", action="store_true", help="skip the sweep (race and kill)")
    p.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS), metavar="PART",
                   help=f"run only these parts ({', '.join(PARTS)}; default all)")
    p.add_argument("--seed", type=int, default=0, help="seed of the kill delays and choices")
    p.add_argument("--out", default=None, help="work folder (default: a temporary one)")
    args = p.parse_args(argv)
    if min(args.kills, args.evaluate_kills) < 0 or not 0 <= args.corruptions <= len(DAMAGES):
        p.error(f"--kills, --evaluate-kills >= 0 and 0 <= --corruptions <= {len(DAMAGES)}")
    args.only = set(args.only)
    args.sweep = not args.no_sweep and bool(args.only & {"writers", "kills", "damages"})
    return args


def reference(argv: list[str], what: str, race_it: bool, tally: Tally) -> float:
    """Run a reference ``argv`` (raced by a second writer when ``race_it``); seconds."""
    if race_it:
        return race(argv, what, tally)
    t0 = time.perf_counter()
    code, err = finish(start(argv))
    tally.check(code == 0, f"reference {what}: exit {code}: {err.strip()[-300:]}")
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    root = Path(args.out or tempfile.mkdtemp(prefix="cemgd-chaos-"))
    root.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ.setdefault("CEMGD_CACHE_DIR", str(root / "jax-cache"))
    rng, tally, parts, t0 = random.Random(args.seed), Tally(), args.only, time.perf_counter()
    print(f"chaos in {root} (seed {args.seed}; {', '.join(sorted(parts))})", flush=True)
    ref, evaluation, sweep = root / "reference", root / "evaluation", root / "sweep-reference"
    race_it = "writers" in parts
    train_s = (reference(cemgd(*TRAIN, "--out", str(ref)), "cemgd train", race_it, tally)
               if parts - {"ray"} else 0.0)
    if parts & {"writers", "damages", "attacks"}:
        reference(cemgd(*EVALUATE[:1], str(ref), *EVALUATE[1:], "--out", str(evaluation)),
                  "cemgd evaluate", race_it, tally)
    sweep_s = (reference(cemgd(*SWEEP, "--out", str(sweep)), "cemgd sweep", race_it, tally)
               if args.sweep else 0.0)
    for i in range(args.kills if "kills" in parts else 0):  # kill i in the i-th of N slices
        kill_train(i, 0.8 * train_s, (i + rng.random()) / args.kills, ref, root, tally)
    if args.sweep and "kills" in parts:
        kill_sweep(0.8 * sweep_s, rng.random(), sweep, root, tally)
    kinds = sorted(k for k, v in DAMAGES.items() if args.sweep or v[0] != "sweep")
    sources = {"run": ref, "eval": evaluation, "sweep": sweep}
    for kind in rng.sample(kinds, min(args.corruptions, len(kinds)) * ("damages" in parts)):
        damage_one(kind, sources, root, tally)
    if "attacks" in parts:
        tally.attacks += chaos_attacks.code_in_folder(ref, evaluation, root, tally.check)
        tally.attacks += chaos_attacks.tampered_partial(ref, evaluation, root, tally.check)
    if "evaluate" in parts:
        chaos_evaluate.evaluate_kills(ref, root, args.evaluate_kills, rng, tally)
        chaos_evaluate.dead_worker(ref, root, rng, tally)
    if "ray" in parts:
        chaos_evaluate.ray_lock(root, tally)
    report(tally, time.perf_counter() - t0)
    if not args.out:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if tally.problems or tally.lost else 0


def report(tally: Tally, seconds: float) -> None:
    sections = [("kill points tried", tally.kills, ""), ("bad inputs tried", tally.bad, ""),
                ("concurrent writers tried", tally.writers, " pairs"),
                ("folder attacks tried", tally.attacks, ""),
                ("runs lost", tally.lost, ""), ("problems", tally.problems, "")]
    print()
    for title, items, unit in sections:
        print(f"{title}: {len(items)}{unit}")
        for item in items:
            print(f"  {item}")
    print(f"({seconds:.0f} s)")


if __name__ == "__main__":
    sys.exit(main())
