"""Paired planning time per step on one frozen model: every planner timed in the same
rounds on the same observations, so Table 1's ratios compare like with like.

Episodes of ``cemgd evaluate`` time each step where they run, so planners that ran at
different hours (or beside other work) are not paired. Here each round times every
planner on the same observations (taken from the real environment under uniform random
actions, one seed), in an order rotated from round to round; each planner first makes
its first step (CEM-GD's N_init step, timed apart), then ``--steps`` replan steps with
its state carried as in MPC. Each round records the CPU time other processes used
while it ran (the machine's busy time from ``/proc/stat`` less this process's own, in
cores), and is marked ``idle`` when that stayed under ``--idle-cores`` (default 0.1), so
the output says whether the machine was otherwise idle. (The load average cannot say
it: this process's own threads raise it.) ``/proc/stat`` counts the whole host in clock
ticks (usually 10 ms per core): in a container on a shared host a round can read as busy,
and a round much shorter than a second is too short to tell 0.1 cores apart.

    python benchmarks/paired_step_time.py RUN --planners cem-gd,cem-500,cem-5000 \
        [--rounds 5] [--steps 10] [--episode-length 100] [--out timing]

RUN is a run folder (``cemgd train``) or a model folder (``cemgd export-model``).
Writes ``OUT/paired_times.csv`` (one row per planner and round) and
``OUT/paired_times.md`` (medians, and each planner's ratio to the first planner within
each round).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from pathlib import Path

import jax
import numpy as np

from cemgd.evaluate import compile_planner, load_frozen_model
from cemgd.evaluate.core import FrozenModel, PlannerRun
from cemgd.runtime import code_version, hardware_info

COLUMNS = ("round", "planner", "order", "first_ms", "replan_ms_median", "replan_ms_p90",
           "other_cores", "load_before", "load_after", "idle")


def busy_seconds() -> float | None:
    """CPU seconds the whole machine has been busy (all cores, ``/proc/stat``); ``None``
    where there is no ``/proc/stat``."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    ticks = [int(x) for x in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    busy = sum(ticks[:8]) - idle  # user .. steal; guest time is counted in user
    return busy / os.sysconf("SC_CLK_TCK")


class OtherLoad:
    """The CPU used by other processes over a stretch of time, in cores (``None`` where
    the machine's busy time cannot be read)."""

    def __enter__(self) -> OtherLoad:
        self.busy, self.own, self.wall = busy_seconds(), time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        busy, wall = busy_seconds(), time.perf_counter() - self.wall
        own = time.process_time() - self.own
        self.cores = None if busy is None or self.busy is None else round(
            max(0.0, busy - self.busy - own) / max(wall, 1e-9), 3)


def observations(model: FrozenModel, steps: int, seed: int = 0) -> list[np.ndarray]:
    """``steps + 1`` observations of the real environment under uniform random actions."""
    env = model.task.make_env(seed=seed)
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    out = [np.asarray(obs, np.float32)]
    low, high = np.asarray(model.task.action_low), np.asarray(model.task.action_high)
    while len(out) < steps + 1:
        obs, _, terminated, truncated, _ = env.step(rng.uniform(low, high))
        out.append(np.asarray(obs, np.float32))
        if terminated or truncated:
            obs, _ = env.reset(seed=seed + len(out))
            out.append(np.asarray(obs, np.float32))
    env.close()
    return out[: steps + 1]


def time_planner(model: FrozenModel, run: PlannerRun,
                 obs: list[np.ndarray]) -> tuple[float, list[float]]:
    """``(first step ms, [replan step ms])`` of ``run`` over ``obs``."""
    def call(state: object, o: np.ndarray) -> tuple[object, float]:
        t = time.perf_counter()
        out = run.step(state, jax.numpy.asarray(o), model.params)
        jax.block_until_ready(out)
        return out[1], (time.perf_counter() - t) * 1e3

    state, first = call(run.state0, obs[0])
    times = []
    for o in obs[1:]:
        state, ms = call(state, o)
        times.append(ms)
    return first, times


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", help="run folder or model folder")
    p.add_argument("--planners", default="cem-gd,cem-500,cem-5000")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--episode-length", type=int, default=0)
    p.add_argument("--idle-cores", type=float, default=0.1,
                   help="a round is idle when other processes used fewer cores than this")
    p.add_argument("--quick", action="store_true", help="planners shrunk (a smoke test)")
    p.add_argument("--out", default="timing")
    args = p.parse_args(argv)
    model = load_frozen_model(args.run, None, args.episode_length)
    specs = args.planners.split(",")
    runs = {s: compile_planner(model, s, args.quick) for s in specs}
    obs = observations(model, args.steps)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for r in range(args.rounds):
        order = specs[r % len(specs):] + specs[: r % len(specs)]
        before = os.getloadavg()[0]
        with OtherLoad() as other:
            timed = {s: time_planner(model, runs[s], obs) for s in order}
        after = os.getloadavg()[0]
        for s in order:
            first, times = timed[s]
            rows.append({"round": r, "planner": s, "order": order.index(s),
                         "first_ms": round(first, 3),
                         "replan_ms_median": round(float(np.median(times)), 3),
                         "replan_ms_p90": round(float(np.percentile(times, 90)), 3),
                         "other_cores": other.cores, "load_before": before,
                         "load_after": after, "idle": other.cores is not None
                         and other.cores < args.idle_cores})
    with (out / "paired_times.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    (out / "paired_times.md").write_text(summary(rows, specs, model, args))
    print((out / "paired_times.md").read_text())


def summary(rows: list[dict], specs: list[str], model: FrozenModel,
            args: argparse.Namespace) -> str:
    """Medians over rounds, and each planner's within-round ratio to the first planner."""
    ref = specs[0]
    lines = [f"# Paired planning time per step: {model.config.task}, trial {model.trial}", "",
             f"`python benchmarks/paired_step_time.py {args.run} --planners {args.planners} "
             f"--rounds {args.rounds} --steps {args.steps}`; cemgd {code_version()}; "
             f"hardware {json.dumps(hardware_info().get('cpu_model'))}; rounds on an "
             f"otherwise idle machine (other processes using under {args.idle_cores} cores "
             f"while the round ran): {sum(r['idle'] for r in rows if r['planner'] == ref)} "
             f"of {args.rounds}; the most any round saw: {max_other(rows)} cores.", "",
             f"| planner | first step ms | replan ms (median over rounds) | ratio to {ref} "
             "(median [min, max] over rounds) |", "|---|---:|---:|---:|"]
    for s in specs:
        mine = [r for r in rows if r["planner"] == s]
        ratios = [r["replan_ms_median"] / x["replan_ms_median"] for r in mine
                  for x in rows if x["planner"] == ref and x["round"] == r["round"]]
        lines.append(f"| {s} | {np.median([r['first_ms'] for r in mine]):.1f} | "
                     f"{np.median([r['replan_ms_median'] for r in mine]):.1f} | "
                     f"{np.median(ratios):.2f} [{min(ratios):.2f}, {max(ratios):.2f}] |")
    return "\n".join(lines) + "\n"


def max_other(rows: list[dict]) -> str:
    """The largest CPU use by other processes over the rounds, in cores ("unknown" where
    it could not be read)."""
    seen = [r["other_cores"] for r in rows if r["other_cores"] is not None]
    return f"{max(seen):.2f}" if seen else "unknown"


if __name__ == "__main__":
    main()
