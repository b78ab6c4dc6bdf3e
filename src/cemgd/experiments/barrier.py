"""Figure 2 of the CEM-GD paper: how often CEM-GD passes below the barrier versus N_init.

For each planner (``cem-gd``, the paper's, and ``cem-gd-robust``) and N_init,
``trials`` closed-loop episodes of ``barrier2d`` are run (N_init rollouts at t = 0,
``n_replan`` afterwards), all trials of one N_init in one jitted, vmapped program.
Writes ``barrier.csv`` (one row per planner and N_init, appended as each finishes;
a rerun skips rows already there and refuses, before writing, a damaged row or
trajectories file), ``trajectories_n<N>.npz`` (the first planner's; the others' as
``trajectories_<planner>_n<N>.npz``), ``barrier_fraction.png`` (Figure 2c, one line
per planner) and ``barrier_trajectories.png`` (Figure 2a,b: the first CEM pick in red, its
gradient refinement in blue).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import time
from collections.abc import Mapping
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
    wilson_interval,
)
from cemgd.experiments.tables import INT, NUMBER, REDO, TEXT, CheckedFolder, Table, load_arrays
from cemgd.mpc import run_trials
from cemgd.planners import Planner, PlannerSpec, make_planner
from cemgd.runs import RunError
from cemgd.tasks import make_task
from cemgd.validate import check_distinct, check_int, check_seed

CSV = "barrier.csv"
COLUMNS = {"planner": TEXT, **dict.fromkeys(("n_init", "n_replan", "trials", "below", "above",
                                              "not_crossed"), INT),
           **dict.fromkeys(("fraction_below", "ci_low", "ci_high", "mean_return", "seconds"),
                           NUMBER)}
"""``barrier.csv``'s columns, in the order written."""
ARRAYS = ("obs", "first_plan", "cem_pick", "side")
"""The arrays of a trajectories file, each with a leading axis of ``trials``."""


@dataclass(frozen=True)
class Config:
    """Settings of the barrier study (defaults: the paper's Figure 2)."""

    planners: tuple[str, ...] = ("cem-gd", "cem-gd-robust")
    """CEM-GD planner specs; the study's n_init, n_replan, grad_steps and step_size fill
    the settings a spec and its preset leave unset."""
    n_init: tuple[int, ...] = (10, 50, 100, 500, 1000, 5000)
    """Rollouts at the first step, one point of the curve each."""
    n_replan: int = 50
    """Rollouts at every later step."""
    trials: int = 50
    """Episodes per N_init (different seeds)."""
    horizon: int = 30
    """Planning horizon T."""
    steps: int = 40
    """Steps of each episode."""
    grad_steps: int = 10
    """Gradient steps per refined sequence (G)."""
    step_size: float = 0.01
    """Initial line-search step size (eta_init)."""
    seed: int = 0
    """Base seed; trial i uses seed + i."""

    def __post_init__(self) -> None:
        for name in ("n_replan", "trials", "horizon", "steps"):
            check_int(name, getattr(self, name))
        check_int("grad_steps", self.grad_steps, 0)
        check_seed("seed", self.seed, self.trials)  # trial i: seed + i
        if not self.n_init:
            raise ValueError("n_init: expected at least one value")
        if not self.planners:
            raise ValueError("planners: expected at least one planner")
        check_distinct("n_init", self.n_init)
        check_distinct("planners", self.planners, what="planner",
                       key=lambda spec: PlannerSpec.parse(spec, where="planners").format())
        for spec in self.planners:
            if PlannerSpec.parse(spec, where="planners").family != "cem-gd":
                raise ValueError(f"planners: expected CEM-GD specs, got {spec!r}")
            for n in self.n_init:  # the planner's own checks, e.g. multiples of its iterations
                self.planner(spec, n, self.grad_steps)

    def planner(self, spec: str, n_init: int, grad_steps: int) -> Planner:
        """The planner of ``spec`` with this study's settings where the spec sets none."""
        return make_planner(PlannerSpec.parse(spec, where="planners").with_defaults(
            n_init=n_init, n_replan=self.n_replan, step_size=self.step_size),
            grad_steps=grad_steps)


def quick(config: Config) -> Config:
    """A tiny version for smoke tests (seconds)."""
    return dataclasses.replace(config, n_init=(10, 500), trials=4, steps=14, horizon=20)


def run(config: Config, out: str | Path) -> list[dict]:
    """Run the study into ``out``; return one row per N_init."""
    table = Table(CSV, COLUMNS, ("planner", "n_init"), functools.partial(_check_files, config))
    with CheckedFolder(out, config, [table],
                       settings=resolved_settings(config.planners)) as run_dir:
        return _run(config, out, run_dir)


def _check_files(config: Config, folder: Path, i: int, row: Mapping[str, str]) -> None:
    """Refuse row ``i`` of ``barrier.csv`` (one of ``config``'s) if its trajectories file
    is missing, damaged or of another number of trials."""
    if row["planner"] not in config.planners or int(row["n_init"]) not in config.n_init:
        return
    file = folder / _trajectories(config, row["planner"], int(row["n_init"]))
    note = f" (the trajectories of row {i} of {folder / CSV}); {REDO}"
    for name, array in load_arrays(file, ARRAYS, note).items():
        if array.shape[:1] != (config.trials,):
            raise RunError(f"{file}: array {name!r} of shape {array.shape}, expected "
                           f"{config.trials} trials first{note}")


def _run(config: Config, out: str | Path, run_dir: CheckedFolder) -> list[dict]:
    task = make_task("barrier2d")
    problem = task.problem(config.horizon)
    done = {(planner, int(n)) for planner, n in run_dir.done_keys(CSV, ["planner", "n_init"])}
    keys = jax.vmap(jax.random.key)(config.seed + np.arange(config.trials))
    with progress() as bar:
        job = bar.add_task("barrier: N_init", total=len(config.n_init) * len(config.planners))
        for spec, n_init in itertools.product(config.planners, config.n_init):
            if (spec, n_init) in done:
                bar.advance(job)
                continue
            planner = config.planner(spec, n_init, config.grad_steps)
            start = time.perf_counter()
            ep = jax.block_until_ready(run_trials(planner, task, problem, config.steps, keys))
            seconds = time.perf_counter() - start
            # the same first step without gradient steps: the CEM pick it started from
            no_grad = config.planner(spec, n_init, 0)
            cem_pick = np.asarray(run_trials(no_grad, task, problem, 1, keys).first_plan)
            side = np.asarray(task.crossing_side(ep.obs))
            below, above = int(np.sum(side == -1)), int(np.sum(side == 1))
            low, high = wilson_interval(below, config.trials)
            np.savez_compressed(
                Path(out) / _trajectories(config, spec, n_init), obs=np.asarray(ep.obs),
                first_plan=np.asarray(ep.first_plan), cem_pick=cem_pick, side=side,
            )
            run_dir.append(CSV, {
                "planner": spec,
                "n_init": n_init, "n_replan": config.n_replan, "trials": config.trials,
                "below": below, "above": above, "not_crossed": config.trials - below - above,
                "fraction_below": below / config.trials, "ci_low": low, "ci_high": high,
                "mean_return": float(np.mean(np.sum(np.asarray(ep.rewards), axis=1))),
                "seconds": seconds,
            })
            bar.advance(job)
    rows = [r for r in run_dir.read(CSV)
            if int(r["n_init"]) in config.n_init and r["planner"] in config.planners]
    rows.sort(key=lambda r: (config.planners.index(r["planner"]), int(r["n_init"])))
    plot_fraction(config, Path(out), rows)
    _plot_trajectories(Path(out), task, [int(r["n_init"]) for r in rows
                                                 if r["planner"] == config.planners[0]])
    print_table("barrier2d: fraction of trials passing below (Figure 2c)", rows,
                ["planner", "n_init", "trials", "below", "above", "not_crossed", "fraction_below",
                 "ci_low", "ci_high", "mean_return", "seconds"])
    console.print(f"wrote {out}/{CSV}, barrier_fraction.png, barrier_trajectories.png")
    return rows


def _trajectories(config: Config, spec: str, n_init: int) -> str:
    """File name of the trajectories of ``spec`` at ``n_init``."""
    if spec == config.planners[0]:
        return f"trajectories_n{n_init}.npz"
    return f"trajectories_{spec.replace(':', '_').replace(',', '_')}_n{n_init}.npz"


def plot_fraction(config: Config, out: Path, rows: list[dict]) -> Path:
    """``out/barrier_fraction.png`` from ``barrier.csv``'s rows, one line per planner."""
    curves = []
    for spec in config.planners:
        mine = [r for r in rows if r["planner"] == spec]
        curves.append({"label": spec, "n_init": [int(r["n_init"]) for r in mine],
                       **{key: [float(r[col]) for r in mine] for key, col in (
                           ("fraction", "fraction_below"), ("low", "ci_low"),
                           ("high", "ci_high"))},
                       "trials": [int(r["trials"]) for r in mine]})
    plots.barrier_fraction(out / "barrier_fraction.png", [c for c in curves if c["n_init"]],
                           config.n_replan)
    return out / "barrier_fraction.png"


def _plot_trajectories(out: Path, task: object, n: list[int]) -> None:
    """barrier_trajectories.png from the first planner's trajectory files."""
    panels = []
    # (a) a trial of the smallest N_init that went above; (b) one of the largest that went below
    for n_init, want, label in ((n[0], 1, "a"), (n[-1], -1, "b")):
        data = load_arrays(out / f"trajectories_n{n_init}.npz", ARRAYS)
        hits = np.flatnonzero(data["side"] == want)
        i = int(hits[0]) if hits.size else 0
        obs0 = data["obs"][i, 0]
        panels.append({
            "title": f"({label}) N_init = {n_init}, trial {i}: "
                     f"{'above' if data['side'][i] == 1 else 'below'}",
            "cem": np.asarray(task.episode(obs0, data["cem_pick"][i])[0]),
            "refined": np.asarray(task.episode(obs0, data["first_plan"][i])[0]),
            "executed": data["obs"][i],
        })
    centre, radius = task.barrier
    plots.barrier_trajectories(out / "barrier_trajectories.png", panels, centre, radius,
                               task.start, task.goal)
