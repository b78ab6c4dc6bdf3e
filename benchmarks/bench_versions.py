"""``cemgd bench``'s replan (or first) step, two versions of the code side by side, interleaved.

    python benchmarks/bench_versions.py OLD/src src    # OLD: a checkout of the other version

Absolute step times on a shared machine drift with its load, so comparing with an old
``bench.md`` says little. Where the kernel groups tasks by session (Linux autogroup), a
``nice`` on either side does not reach across sessions: lower the background jobs'
groups instead (``echo 19 > /proc/PID/autogroup``), and the benchmark gets nearly the
whole machine. Here one child process per version (``PYTHONPATH`` = that
``src``) builds the bench workload with that version's own modules (the 5-member 3x200
ensemble, T = 45, the same seed) and compiles every planner's replan step; then the
parent asks them in turn for a block of timed steps (state carried, as in MPC), planner
by planner, the version order alternating, ``--reps`` rounds. Prints, per planner, each
version's median block time, the per-round ratios new/old (median, min, max) and both
versions' counters (rollouts, gradient steps, line-search trials per step).

``--first`` times the first step instead (``plan_fn(problem, first=True)``: CEM-GD's
N_init step), each call from a fresh key, not carried; ``--particles P`` rolls out P
particles per sequence (PETS and the paper: 20). A variant ``@model`` plans on the
ensemble itself rather than the bench's surrogate objective, e.g.

    python benchmarks/bench_versions.py OLD/src src --first --reps 6 \
        --planners 'cem-gd@model;cem-5000@model' --particles 1 --devices 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

#: The planners of docs/results/bench/bench.md (the bench's defaults before the redesign).
PLANNERS = (
    "cem-50", "cem-500", "cem-5000", "cem-gd:n_init=50,n_replan=50",
    "cem-gd:n_init=50,n_replan=50,line_search=parallel", "cem-gd:n_init=50,n_replan=50@reject",
    "cem-gd:n_init=50,n_replan=50@maxwork",
    "cem-gd:n_init=50,n_replan=50,line_search=parallel@maxwork",
    "gd", "random-shooting", "mppi", "icem", "gradcem",
)


def _planner(bench: Any, make_planner: Callable[..., Any],
             text: str) -> tuple[Any, str]:  # either version's API: not typed further
    """``(planner, variant)`` from a bench spec with this version's parser."""
    if hasattr(bench, "split_variant"):
        spec, variant = bench.split_variant(text)
        make = lambda **kw: make_planner(spec, **kw)  # noqa: E731
    else:
        name, overrides, variant = bench.parse_spec(text)
        make = lambda **kw: make_planner(name, **{**overrides, **kw})  # noqa: E731
    planner = make()
    if variant == "maxwork":
        c = planner.config
        planner = make(step_size=1.0 / c.step_decay ** (c.line_search_trials - 1.5))
    return planner, variant


def child(planners: list[str], budget_s: float, first: bool = False, particles: int = 1,
          devices: int = 0) -> None:
    """Compile every planner, then answer ``INDEX`` lines with a timed block (JSON)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from cemgd import Problem, make_planner
    from cemgd.experiments import bench
    from cemgd.models import init_ensemble, make_rollout
    from cemgd.sharding import default_cpu_devices, shard_rollout, use_cpu_devices

    devices = use_cpu_devices(devices or default_cpu_devices())
    model_key, obs_key, plan_key = jax.random.split(jax.random.key(0), 3)
    params = init_ensemble(model_key, 18, 6, 5, 200, 3)
    rollout = make_rollout(params, bench.reward, particles)
    if devices > 1:
        rollout = shard_rollout(rollout)
    obs = 0.1 * jax.random.normal(obs_key, (18,), jnp.float32)
    ones = np.ones(6, np.float32)
    steps, counters = [], []
    # the particles size the default chunk where this version knows Problem.rollout_rows
    rows = {"rollout_rows": particles} if "rollout_rows" in Problem.__dataclass_fields__ else {}
    for text in planners:
        planner, variant = _planner(bench, make_planner, text)
        f = rollout if variant == "model" else bench.surrogate(rollout, variant == "reject")
        problem = Problem(f, 45, -ones, ones, obs_shape=(18,), **rows)
        state = planner.init(problem, plan_key)
        step = jax.jit(planner.plan_fn(problem, first=first)).lower(state, obs).compile()
        start = state
        for _ in range(1 if first else 3):
            _, state, info = jax.block_until_ready(step(state, obs))
        t0 = time.perf_counter()
        _, state, info = jax.block_until_ready(step(start if first else state, obs))
        calls = int(min(30, max(3, budget_s / (time.perf_counter() - t0))))
        steps.append([step, start if first else state, calls])
        counters.append([float(info.num_rollouts), float(info.grad_steps),
                         float(info.line_search_trials)])
    print(json.dumps({"ready": counters, "devices": devices}), flush=True)
    for line in sys.stdin:
        i = int(line)
        step, state, calls = steps[i]
        times = []
        for _ in range(calls):
            t0 = time.perf_counter()
            _, after, _ = jax.block_until_ready(step(state, obs))
            times.append((time.perf_counter() - t0) * 1e3)
            # the first step from a fresh key each call; a replan step carries its state
            state = state._replace(key=after.key) if first else after
        steps[i][1] = state
        print(json.dumps({"ms": float(np.median(times))}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", nargs="?", help="src folder of the old version")
    parser.add_argument("new", nargs="?", help="src folder of the new version")
    parser.add_argument("--reps", type=int, default=6)
    parser.add_argument("--block-s", type=float, default=0.6, help="seconds per timed block")
    parser.add_argument("--planners", default="", help="';'-separated specs (default: PLANNERS)")
    parser.add_argument("--first", action="store_true",
                        help="time the first step (CEM-GD's N_init step), a fresh key each call")
    parser.add_argument("--particles", type=int, default=1, help="particles per sequence")
    parser.add_argument("--devices", type=int, default=0,
                        help="CPU devices the rollouts are split over (0: cemgd's default)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    planners = args.planners.split(";") if args.planners else list(PLANNERS)
    if args.child:
        child(planners, args.block_s, args.first, args.particles, args.devices)
        return
    procs = {}
    for name, src in (("old", args.old), ("new", args.new)):
        env = {**os.environ, "PYTHONPATH": src, "CEMGD_NO_PROGRESS": "1"}
        procs[name] = subprocess.Popen(
            [sys.executable, __file__, "--child", "--block-s", str(args.block_s),
             "--planners", ";".join(planners), "--particles", str(args.particles),
             "--devices", str(args.devices),
             *(["--first"] if args.first else [])], env=env, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, cwd="/")
    ready = {name: json.loads(p.stdout.readline()) for name, p in procs.items()}
    times: dict[str, list[list[float]]] = {n: [[] for _ in planners] for n in procs}
    for rep in range(args.reps):
        for i in range(len(planners)):
            for name in (["old", "new"] if (rep + i) % 2 == 0 else ["new", "old"]):
                procs[name].stdin.write(f"{i}\n")
                procs[name].stdin.flush()
                times[name][i].append(json.loads(procs[name].stdout.readline())["ms"])
    for p in procs.values():
        p.stdin.close()
        p.wait()
    _report(planners, times, ready, args)


def _report(planners: list[str], times: dict[str, list[list[float]]],
            ready: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    import numpy as np

    what = "first step" if args.first else "replan step"
    print(f"{what}, {args.particles} particle(s); old = {args.old}, new = {args.new}; "
          f"{args.reps} interleaved rounds; load "
          f"{os.getloadavg()[0]:.1f}; devices {ready['old']['devices']}/{ready['new']['devices']}")
    print("\n| planner | old ms | new ms | new/old median [min, max] "
          "| rollouts, grad steps, trials: old / new |")
    print("|---|---:|---:|---:|---|")
    for i, spec in enumerate(planners):
        old, new = np.asarray(times["old"][i]), np.asarray(times["new"][i])
        r = new / old
        c = " / ".join(", ".join(f"{x:g}" for x in ready[v]["ready"][i]) for v in ("old", "new"))
        print(f"| {spec} | {np.median(old):.2f} | {np.median(new):.2f} | {np.median(r):.2f} "
              f"[{r.min():.2f}, {r.max():.2f}] | {c} |")


if __name__ == "__main__":
    main()
