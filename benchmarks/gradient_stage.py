"""One sequence's gradient stage (k = 1, the paper's G = 10, J = 8) on the bench ensemble:
this ``cemgd.planners.gradient`` against another copy of the file, interleaved in one process.

    python benchmarks/gradient_stage.py --old OLD/src/cemgd/planners/gradient.py

``--old`` is a ``planners/gradient.py`` of another version of cemgd; it is loaded
beside this one and must import from this ``cemgd.problem`` and take its settings
whole (``gradient_ascent(..., settings)``, returning ``(actions, returns, info)``).
Without ``--old`` only this version is timed.
Each of ``--reps`` rounds times ``--calls`` jitted calls of each version in turn (the
order alternates) for every case: the bench's plain model (first trial usually
accepted), ``@maxwork`` (every step accepted at its last trial) and ``@reject`` (every
trial rejected), with the sequential and the parallel line search. Prints per case both
medians, the per-round ratios new/old (median, min, max) and both versions' counters,
which must agree.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from collections.abc import Callable, Iterator
from types import ModuleType

import jax
import jax.numpy as jnp
import numpy as np

from cemgd.experiments.bench import reward, surrogate
from cemgd.models import init_ensemble, make_rollout
from cemgd.planners import gradient as new_linesearch
from cemgd.problem import Problem

G, ETA, RHO, J, T, S, A = 10, 0.01, 0.67, 8, 45, 18, 6


def load(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location("old_linesearch", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_linesearch"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def cases(rollout: Callable[..., jax.Array]) -> Iterator[tuple[str, Problem, float, str]]:
    """``(name, problem, step_size, line_search)`` of every timed case."""
    ones = np.ones(A, np.float32)
    for variant in ("model", "maxwork", "reject"):
        f = rollout if variant == "model" else surrogate(rollout, variant == "reject")
        eta = 1.0 / RHO ** (J - 1.5) if variant == "maxwork" else ETA
        for line_search in ("sequential", "parallel"):
            yield f"{variant} {line_search}", Problem(f, T, -ones, ones), eta, line_search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", default="", help="path of another linesearch.py")
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--calls", type=int, default=10)
    args = parser.parse_args()
    versions = {"new": new_linesearch}
    if args.old:
        versions = {"old": load(args.old), "new": new_linesearch}
    params = init_ensemble(jax.random.key(0), S, A, 5, 200, 3)
    rollout = make_rollout(params, reward, 1)
    obs = 0.1 * jax.random.normal(jax.random.key(1), (S,), jnp.float32)
    key = jax.random.key(2)
    start = jax.random.uniform(jax.random.key(3), (1, T, A), minval=-1.0, maxval=1.0)

    print(f"| case | {' | '.join(f'{v} ms' for v in versions)} | new/old median [min, max] "
          "| grad steps, trials (per version) |")
    print("|---|" + "---:|" * len(versions) + "---:|---|")
    for name, problem, eta, line_search in cases(rollout):
        r0 = problem.rollout(obs, start, key)
        fns = {v: jax.jit(lambda a, r, m=m, p=problem, e=eta, ls=line_search: m.gradient_ascent(
            p, obs, a, r, key, m.GradientSettings(grad_steps=G, step_size=e, step_decay=RHO,
                                                  line_search_trials=J, line_search=ls)))
               for v, m in versions.items()}
        outs = {v: jax.block_until_ready(f(start, r0))[2] for v, f in fns.items()}
        times: dict[str, list[float]] = {v: [] for v in versions}
        for rep in range(args.reps):
            for v in (list(versions) if rep % 2 == 0 else list(versions)[::-1]):
                block = []
                for _ in range(args.calls):
                    t0 = time.perf_counter()
                    jax.block_until_ready(fns[v](start, r0))
                    block.append((time.perf_counter() - t0) * 1e3)
                times[v].append(float(np.median(block)))
        counts = ", ".join(f"{v}: {int(o.grad_steps)}, {int(o.line_search_trials)}"
                           for v, o in outs.items())
        ms = " | ".join(f"{np.median(t):.2f}" for t in times.values())
        ratio = "n/a"
        if "old" in times:
            rs = np.asarray(times["new"]) / np.asarray(times["old"])
            ratio = f"{np.median(rs):.2f} [{rs.min():.2f}, {rs.max():.2f}]"
        print(f"| {name} | {ms} | {ratio} | {counts} |", flush=True)


if __name__ == "__main__":
    main()
