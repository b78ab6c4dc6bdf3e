"""The attacks of ``benchmarks/chaos.py`` on what a folder holds (issue 25).

1. **Code in a folder.** A copy of a finished run (and of an evaluation) whose record
   names ``payload.py:make``, ``/abs/path/payload.py:make`` or ``payload_mod:make``, the
   payload beside it (in the working directory) writing a marker file when imported:
   ``cemgd evaluate``, ``cemgd train --resume`` and ``cemgd report --random-episodes``
   must each exit 2 telling the user to pass ``--task``, and no marker may appear; the
   same evaluation with ``--task`` named must run the payload (the control).
2. **Tampered partial episodes.** An evaluation folder holding episode 0 in progress
   (``OUT/partial/``, its first 4 steps saved) with its planner state or counters edited (mean
   +0.7, key +1, rollouts x1000, a NaN mean with a recomputed digest, the step count):
   the rerun must restart the episode (one-line notice) and end with the untampered
   evaluation's return; the untouched file must resume.

It also holds the damages of ``chaos.DAMAGES`` (bytes replaced, a file truncated, a
torn last row).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

#: ``cemgd evaluate``'s settings of ``chaos.py``'s reference evaluation (after RUN_DIR).
EVALUATE = ["--planners", "cem-50", "--episodes", "1", "--quick", "--no-progress"]

PAYLOAD = '''
from pathlib import Path
Path({marker!r}).write_text("payload ran")
from cemgd.tasks import CartPoleSwingUpTask
def make(**kwargs):
    return CartPoleSwingUpTask(**kwargs)
'''

Check = Callable[[bool, str], bool]


def cli(args: list[str], cwd: Path | None = None) -> tuple[int, str]:
    """``cemgd ARGS`` in a subprocess: (exit status, stdout and stderr on one line: the
    console wraps a long notice at its width)."""
    done = subprocess.run([sys.executable, "-m", "cemgd.cli", *args], cwd=cwd,
                          capture_output=True, text=True)
    return done.returncode, " ".join((done.stdout + done.stderr).split())


# ----------------------------------------------------------------- damaged files (chaos.DAMAGES)
def replace_bytes(old: bytes, new: bytes) -> Callable[[Path], None]:
    def damage(file: Path) -> None:
        data = file.read_bytes()
        file.write_bytes(data.replace(old, new, 1) if old else new)
    return damage


def truncate(fraction: float) -> Callable[[Path], None]:
    def damage(file: Path) -> None:
        data = file.read_bytes()
        file.write_bytes(data[: int(len(data) * fraction)])
    return damage


def torn_last_row(file: Path) -> None:
    data = file.read_bytes()
    file.write_bytes(data[: len(data) - 5])  # the last row without its end (power loss)


def _record(file: Path, change: Callable[[dict[str, Any]], None]) -> None:
    payload = json.loads(file.read_text())
    change(payload)
    file.write_text(json.dumps(payload, indent=1) + "\n")


def code_in_folder(ref: Path, evaluation: Path, root: Path, check: Check) -> list[str]:
    """Attack 1; returns one line per command tried (``code executed`` counts markers)."""
    tried: list[str] = []
    executed = 0
    for i, form in enumerate(("payload.py:make", "{abs}/payload.py:make", "payload_mod:make")):
        folder, ev = root / f"code-run-{i}", root / f"code-eval-{i}"
        shutil.copytree(ref, folder)
        shutil.copytree(evaluation, ev)
        marker = root / f"MARKER-{i}"
        for name in ("payload.py", "payload_mod.py"):
            (folder / name).write_text(PAYLOAD.format(marker=str(marker)))
        spec = form.format(abs=folder)
        _record(folder / "config.json", lambda c, s=spec: c.update(task=s))
        _record(ev / "evaluate.json", lambda d, s=spec: d["config"].update(task=s))
        commands = {
            "evaluate": ["evaluate", str(folder), *EVALUATE, "--out", str(folder / "ev")],
            "train --resume": ["train", "--task", "cartpole-swingup", "--quick", "--resume",
                               "--no-progress", "--out", str(folder)],
            "report --random-episodes": ["report", str(ev), "--random-episodes", "1",
                                         "--out", str(root / f"code-report-{i}")],
        }
        for what, args in commands.items():
            code, out = cli(args, cwd=folder)
            ran = marker.exists()
            executed += ran
            tried.append(f"{what} of a folder naming {form}: exit {code}, code ran: {ran}")
            print(f"  {tried[-1]}", flush=True)
            check(code == 2 and "pass --task" in out and not ran,
                  f"{what} of a folder naming {spec}: exit {code}, code ran: {ran}: "
                  f"{out.strip()[-200:]}")
            marker.unlink(missing_ok=True)
    folder = root / "code-run-0"  # the control: named, the payload runs
    code, out = cli(["evaluate", str(folder), *EVALUATE, "--task", "payload.py:make",
                     "--out", str(folder / "ev")], cwd=folder)
    check(code == 0 and (root / "MARKER-0").exists(),
          f"evaluate --task payload.py:make (the control): exit {code}: {out.strip()[-200:]}")
    tried.append(f"control, --task named: exit {code}, code ran: "
                 f"{(root / 'MARKER-0').exists()}")
    print(f"  {tried[-1]}\n  code executed from a folder alone: {executed}", flush=True)
    return tried


def _partial_folder(ref: Path, evaluation: Path, out: Path) -> Path:
    """A copy of ``evaluation`` whose episode 0 is in progress (its row removed, its
    partial file saved after step 4); returns that file."""
    from cemgd.evaluate import EvaluateConfig, compile_planner, frozen_model
    from cemgd.evaluate.core import episode_checkpoint
    from cemgd.pets import Controller, EpisodeSeeds, run_episode

    shutil.copytree(evaluation, out)
    rows = (out / "episodes.csv").read_text().splitlines(keepends=True)
    (out / "episodes.csv").write_text(rows[0])
    model = frozen_model(EvaluateConfig(str(ref), ("cem-50",), quick=True))
    run = compile_planner(model, "cem-50", quick=True)
    keep = episode_checkpoint(out / "partial", model, "cem-50", 0, 0)
    keep.every_s = 0.0

    class Stop(Exception):
        pass

    def stop(step: int, total: float, ms: float) -> None:
        if step == 4:
            raise Stop

    try:
        run_episode(model.task, Controller(run.step, model.params, run.state0),
                    EpisodeSeeds.paired(0), checkpoint=keep, on_step=stop)
    except Stop:
        pass
    return keep.path


#: ``what: (array, change, recompute the digest)``.
TAMPERS: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray], bool]] = {
    "none (resumes)": ("state_0", lambda a: a, False),
    "mean +0.7": ("state_0", lambda a: a + 0.7, False),
    "key +1": ("state_1", lambda a: a + np.uint32(1), False),
    "rollouts x1000": ("rollouts", lambda a: a * 1000, False),
    "NaN mean, digest recomputed": ("state_0", lambda a: a * np.nan, True),
    "step count +1, digest recomputed": ("state_2", lambda a: a + 1, True),
}


def tampered_partial(ref: Path, evaluation: Path, root: Path, check: Check) -> list[str]:
    """Attack 2; returns one line per tampered file."""
    from cemgd.pets.resume import file_digest

    base = root / "partial-base"
    file = _partial_folder(ref, evaluation, base)
    with np.load(file) as data:
        saved = dict(data)
    want = (evaluation / "episodes.csv").read_text().splitlines()[1].split(",")[4]
    tried = []
    for i, (what, (name, change, digest)) in enumerate(TAMPERS.items()):
        out = root / f"partial-{i}"
        shutil.copytree(base, out)
        arrays = {k: v.copy() for k, v in saved.items()}
        arrays[name] = change(arrays[name])
        if digest:
            arrays["digest"] = np.asarray(file_digest(arrays))
        np.savez(out / "partial" / file.name, **arrays)
        code, text = cli(["evaluate", str(ref), *EVALUATE, "--out", str(out)])
        rows = (out / "episodes.csv").read_text().splitlines()
        got = rows[1].split(",")[4] if len(rows) > 1 else "none"
        expect = "resumed at step 4" if what.startswith("none") else "the episode restarts"
        tried.append(f"partial file, {what}: exit {code}, "
                     f"{'resumed' if 'resumed at' in text else 'restarted'}, return {got}")
        print(f"  {tried[-1]}", flush=True)
        check(code == 0 and expect in text and got == want,
              f"partial file, {what}: exit {code}, return {got} (want {want}): "
              f"{text.strip()[-200:]}")
    return tried
