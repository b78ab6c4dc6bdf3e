"""Dimension scaling: the return CEM reaches at fixed budgets versus CEM-GD, as d grows.

The CEM-GD paper argues (Sec. 2.3, 3.2) that CEM needs more and more samples as
the action dimension grows while CEM-GD keeps a constant, small ``n_replan``;
it never plots it. This study measures it on the ``scaling`` task (``d``
independent copies of one nonconvex 1-D problem, so the optimum is known): for
every ``d`` and planner, ``trials`` closed-loop episodes (vmapped, jitted) and
the median time of one replan step. Returns are normalised by the optimum
(1 = optimal; standing still, the local optimum, is about 0.6).

Writes ``scaling.csv`` (a row per (d, planner), appended as each finishes; a
rerun skips rows already there and refuses, before writing, a damaged row) and
``scaling.png``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np

from cemgd import plots
from cemgd.experiments.common import (
    console,
    print_table,
    progress,
    resolved_settings,
    time_plan_step,
)
from cemgd.experiments.tables import INT, NUMBER, TEXT, CheckedFolder, Table
from cemgd.mpc import run_trials
from cemgd.planners import Planner, PlannerSpec, make_planner
from cemgd.tasks import make_task
from cemgd.validate import check_distinct, check_int, check_seed

CSV = "scaling.csv"
TABLE = Table(CSV, {
    "d": INT, "planner": TEXT, "rollouts_per_step": INT,
    **dict.fromkeys(("normalized_return", "normalized_return_std", "first_plan_normalized",
                     "local_optimum_normalized", "step_ms", "compile_s"), NUMBER),
    "trials": INT,
}, keys=("d", "planner"))
"""``scaling.csv``: its columns, in the order written, and a row per (d, planner)."""


@dataclass(frozen=True)
class Config:
    """Settings of the scaling study."""

    dims: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
    """Action dimensions d."""
    planners: tuple[str, ...] = ("cem-50", "cem-500", "cem-5000", "cem-gd", "cem-gd-robust")
    """Planner specs: a paper variant, a registry name, or 'name:key=value,...'."""
    n_init: int = 15000
    """CEM-GD's rollouts at the first step (paper default)."""
    n_replan: int = 50
    """CEM-GD's rollouts at later steps."""
    horizon: int = 30
    """Planning horizon T."""
    steps: int = 30
    """Steps of each episode (returns are normalised by the optimum over this many)."""
    trials: int = 3
    """Episodes per (d, planner)."""
    repeats: int = 5
    """Timed replan steps per (d, planner)."""
    seed: int = 0
    """Base seed; trial i uses seed + i."""

    def __post_init__(self) -> None:
        if not self.dims:
            raise ValueError("dims: expected at least one action dimension")
        for d in self.dims:
            check_int("dims", d)
        check_distinct("dims", self.dims)
        for name in ("n_init", "n_replan", "horizon", "steps", "trials", "repeats"):
            check_int(name, getattr(self, name))
        check_seed("seed", self.seed, self.trials)  # trial i: seed + i
        if not self.planners:
            raise ValueError("planners: expected at least one planner")
        check_distinct("planners", self.planners, what="planner",
                       key=lambda spec: PlannerSpec.parse(spec, where="planners").format())
        for spec in self.planners:  # build each once, so a bad setting fails before a run
            self.planner(spec)

    def planner(self, spec: str) -> Planner:
        """The planner of ``spec``; n_init and n_replan fill what the spec and preset leave."""
        return make_planner(PlannerSpec.parse(spec, where="planners").with_defaults(
            n_init=self.n_init, n_replan=self.n_replan))


def quick(config: Config) -> Config:
    """A tiny version for smoke tests (seconds)."""
    return dataclasses.replace(
        config, dims=(1, 4), planners=("cem-50", "cem-gd", "cem-gd-robust"), n_init=500,
        horizon=10, steps=6, trials=2, repeats=2,
    )


def run(config: Config, out: str | Path) -> list[dict]:
    """Run the study into ``out``; return one row per (d, planner)."""
    with CheckedFolder(out, config, [TABLE],
                       settings=resolved_settings(config.planners)) as run_dir:
        return _run(config, out, run_dir)


def _run(config: Config, out: str | Path, run_dir: CheckedFolder) -> list[dict]:
    done = {(int(d), planner) for d, planner in run_dir.done_keys(CSV, ["d", "planner"])}
    keys = jax.vmap(jax.random.key)(config.seed + np.arange(config.trials))
    with progress() as bar:
        job = bar.add_task("scaling: (d, planner)", total=len(config.dims) * len(config.planners))
        for d in config.dims:
            task = make_task("scaling", action_dim=int(d))
            problem = task.problem(config.horizon)
            optimum_episode = task.optimal_return(config.steps)
            optimum_plan = task.optimal_return(config.horizon)
            for spec in config.planners:
                if (d, spec) in done:
                    bar.advance(job)
                    continue
                planner = config.planner(spec)
                ep = jax.block_until_ready(run_trials(planner, task, problem, config.steps, keys))
                episode_returns = np.sum(np.asarray(ep.rewards), axis=1)
                first_returns = np.asarray(ep.infos.best_return[:, 0])
                timing = time_plan_step(
                    config.planner(spec), problem,
                    np.asarray(task.reset(jax.random.key(0))), jax.random.key(config.seed),
                    config.repeats,
                ).summary()
                score = episode_returns / optimum_episode
                run_dir.append(CSV, {
                    "d": d, "planner": spec,
                    "rollouts_per_step": int(np.median(np.asarray(ep.infos.num_rollouts[:, 1:])))
                    if config.steps > 1 else int(ep.infos.num_rollouts[0, 0]),
                    "normalized_return": float(np.mean(score)),
                    "normalized_return_std": float(np.std(score)),
                    "first_plan_normalized": float(np.mean(first_returns) / optimum_plan),
                    "local_optimum_normalized": task.local_return(config.steps) / optimum_episode,
                    "step_ms": timing["median_ms"], "compile_s": timing["compile_s"],
                    "trials": config.trials,
                })
                bar.advance(job)
    rows = [r for r in run_dir.read(CSV)
            if int(r["d"]) in config.dims and r["planner"] in config.planners]
    _plot(config, Path(out), rows)
    print_table("scaling: normalised episode return (1 = optimal) and time per step", rows,
                ["d", "planner", "rollouts_per_step", "normalized_return",
                 "normalized_return_std", "first_plan_normalized", "step_ms", "compile_s"])
    console.print(f"wrote {out}/{CSV} and scaling.png")
    return rows


def _plot(config: Config, out: Path, rows: list[dict]) -> None:
    curves: dict[str, list[float]] = {}
    times: dict[str, list[float]] = {}
    dims = sorted({int(r["d"]) for r in rows})
    for spec in config.planners:
        by_d = {int(r["d"]): r for r in rows if r["planner"] == spec}
        if set(by_d) >= set(dims):
            curves[spec] = [float(by_d[d]["normalized_return"]) for d in dims]
            times[spec] = [float(by_d[d]["step_ms"]) for d in dims]
    if curves:
        plots.scaling(out / "scaling.png", dims, curves, times,
                      "episode return / optimum")
