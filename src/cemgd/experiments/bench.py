"""Plan-step time and memory per planner on the paper's workload, with a roofline.

The CEM-GD paper's Tables 1 and 2 (Sec. 3.3) on this machine: a PETS ensemble
with random weights (5 members, 3 hidden layers of 200, SiLU; 18-D state, 6-D
action, half-cheetah sizes) rolled out over T = 45 steps, and every planner's
jitted replan step (``plan_fn(problem, first=False)``: for CEM-GD the step after
the first, with ``n_replan`` rollouts).

For each planner it records the compile time (trace + lower + compile, and the
first call), the median, p10 and p90 of ``repeats`` timed steps (each waited for
with ``block_until_ready``, state carried from step to step as in MPC), the
compiled step's memory (XLA's ``memory_analysis``: temp + argument + output
bytes) and the growth of the process's peak RSS, Info's counters, and a
roofline: the ensemble matmul FLOPs of the step (``2 * in * out`` per layer, per
row and time step, times ``rows = forward rollouts + 3 * gradient rollouts``,
times particles and T) over the matmul throughput measured in the same process
(a jitted square f32 matmul), so ``ratio = measured / roofline`` says how far a
step is from compute-bound. Beside the replan step it compiles and times the first step
(``plan_fn(first=True)``: CEM-GD's ``N_init`` step) with its compiled memory, and one
sequence's gradient stage beside a lower bound (the weight bytes a rollout row reads per
time step x T x forward and backward passes / the fastest measured read of a buffer that
size, and the same at a matrix-vector product's read rate), with a trivial jitted call's
and a scan step's own time.

Planners are given as ``NAME[:KEY=VALUE,...][@VARIANT]`` (NAME may be a paper
variant such as ``cem-500``); a bad spec is a ValueError.
Variants replace the return by a surrogate ``-sum(a^2) +
1e-9 * ensemble return`` (the ensemble is still rolled out and differentiated,
so the work is the same, but the surrogate decides every comparison):
``@reject`` also flips the sign of its gradient, so every line-search trial
raises ``sum(a^2)`` and is rejected (1 gradient + J trials, then the sequence
stops: the case where the first trial is never accepted); ``@maxwork`` sets
``step_size = 1 / step_decay^(J - 3/2)``, so trials 1..J-1 overshoot and only
trial J is accepted, at every one of the G steps (G gradients + G * J trials: the
most work a step can do). With random weights the first trial is usually
accepted, which is the plain row.

Writes ``bench.csv`` (a row per planner, appended as it goes; a rerun into the
same folder with the same config skips the rows done and refuses, before writing, a
damaged row) and ``bench.md``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cemgd.experiments import common
from cemgd.experiments.bench_report import CSV, TABLE, done_rows, write_markdown
from cemgd.experiments.common import console, print_table, progress, time_plan_step
from cemgd.experiments.steptime import (
    Machine,
    first_step,
    gradient_rollouts,
    gradient_stage,
    max_rss_mb,
    measure_machine,
    memory_mb,
)
from cemgd.experiments.tables import CheckedFolder
from cemgd.models import forward_flops, init_ensemble, make_rollout
from cemgd.planners import PlannerSpec, make_planner, quick_config
from cemgd.problem import Array, Problem
from cemgd.sharding import default_cpu_devices, shard_rollout, use_cpu_devices
from cemgd.validate import check_distinct, check_seed

DEFAULT_PLANNERS: tuple[str, ...] = (
    "cem-50",
    "cem-500",
    "cem-5000",
    "cem-gd:n_init=50,n_replan=50",
    "cem-gd:n_init=50,n_replan=50,line_search=parallel",
    "cem-gd:n_init=50,n_replan=50@reject",
    "cem-gd:n_init=50,n_replan=50@maxwork",
    "cem-gd:n_init=50,n_replan=50,line_search=parallel@maxwork",
    "cem-gd-robust:n_init=50,n_replan=50",
    "cem-gd",
    "cem-gd:max_batch=100",
    "gd",
    "random-shooting",
    "mppi",
    "icem",
    "gradcem",
)
VARIANTS = ("model", "reject", "maxwork")
SURROGATE_WEIGHT = 1e-9
MD = "bench.md"


@dataclass(frozen=True)
class Config:
    """Settings of ``cemgd bench``."""

    planners: tuple[str, ...] = DEFAULT_PLANNERS
    """Planners to time, as NAME[:KEY=VALUE,...][@model|reject|maxwork]."""
    repeats: int = 30
    """Timed plan steps per planner."""
    warmup: int = 3
    """Untimed plan steps after the first call (which compiles)."""
    seed: int = 0
    """Seed of the ensemble weights, the observation and the planners' keys."""
    num_particles: int = 1
    """Particles per sequence in the ensemble rollout (P)."""
    obs_dim: int = 18
    """State dimension S (half-cheetah: 18)."""
    action_dim: int = 6
    """Action dimension A (half-cheetah: 6)."""
    horizon: int = 45
    """Planning horizon T."""
    members: int = 5
    """Ensemble members E."""
    hidden: int = 200
    """Width of each hidden layer."""
    layers: int = 3
    """Hidden layers."""
    matmul_size: int = 2048
    """Side of the square f32 matmul that measures the machine's throughput."""
    cpu_devices: int = 0
    """Host CPU devices that batches of >= 64 rollouts are split over (0: one per core)."""

    def __post_init__(self) -> None:
        for name in ("repeats", "num_particles", "obs_dim", "action_dim", "horizon", "members",
                     "hidden", "layers", "matmul_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected an int >= 1, got {value!r}")
        if isinstance(self.cpu_devices, bool) or not isinstance(self.cpu_devices, int) or (
                self.cpu_devices < 0):
            raise ValueError(f"cpu_devices: expected an int >= 0, got {self.cpu_devices!r}")
        if isinstance(self.warmup, bool) or not isinstance(self.warmup, int) or self.warmup < 0:
            raise ValueError(f"warmup: expected an int >= 0, got {self.warmup!r}")
        check_seed("seed", self.seed)
        if not self.planners:
            raise ValueError("planners: expected at least one planner spec")
        check_distinct("planners", self.planners,
                       lambda text: join_variant(*split_variant(text)), "planner")
        for spec in self.planners:
            parsed, variant = split_variant(spec)
            planner = make_planner(parsed)
            if variant != "model" and not hasattr(planner.config, "line_search_trials"):
                raise ValueError(
                    f"planners: @{variant} needs a planner with a line search, got {spec!r}"
                )


def quick(config: Config) -> Config:
    """A tiny bench that runs in seconds: small model, T = 8, few samples and steps.

    Keeps the first spec of each planner family and the first ``@maxwork`` one
    (compiling dominates a tiny bench) and shrinks every planner with
    :func:`~cemgd.planners.spec.quick_config` (the one ``--quick`` table).
    """
    specs: list[str] = []
    seen: set[str] = set()
    for text in config.planners:
        spec, variant = split_variant(text)
        kind = "@maxwork" if variant == "maxwork" else spec.family
        if kind in seen or variant == "reject":
            continue
        seen.add(kind)
        full = spec.config()
        small = quick_config(full)
        changed = {f.name: getattr(small, f.name) for f in dataclasses.fields(small)
                   if getattr(small, f.name) != getattr(full, f.name)}
        specs.append(join_variant(spec.with_settings(**changed), variant))
    return dataclasses.replace(
        config, planners=tuple(specs), repeats=3, warmup=1, horizon=8, hidden=32, layers=2,
        matmul_size=256,
    )


# ---- planner specs ----------------------------------------------------------------


def split_variant(text: str) -> tuple[PlannerSpec, str]:
    """``"NAME[:K=V,...][@VARIANT]"`` -> ``(PlannerSpec, variant)``.

    Raises:
        ValueError: naming ``planners``: a bad planner spec or an unknown variant.
    """
    body, _, variant = text.partition("@")
    variant = variant.strip() or "model"
    if variant not in VARIANTS:
        raise ValueError(f"planners: unknown variant {variant!r} in {text!r}; "
                         f"expected one of {VARIANTS}")
    return PlannerSpec.parse(body.strip(), where="planners"), variant


def join_variant(spec: PlannerSpec, variant: str = "model") -> str:
    """Inverse of :func:`split_variant`."""
    text = spec.format()
    return text if variant == "model" else f"{text}@{variant}"


def label(spec: PlannerSpec, variant: str) -> str:
    """``spec.label`` with the variant, e.g. ``CEM-GD 50 parallel (max work)``."""
    suffix = {"reject": " (all rejected)", "maxwork": " (max work)"}.get(variant, "")
    return spec.label + suffix


# ---- workload ---------------------------------------------------------------------


def reward(obs: Array, action: Array, next_obs: Array) -> Array:
    """Half-cheetah-like reward: forward progress of state 0 minus 0.1 |a|^2. ``[...]``."""
    del obs
    return next_obs[..., 0] - 0.1 * jnp.sum(action**2, axis=-1)


def surrogate(rollout: Callable, flip_gradient: bool) -> Callable:
    """``-sum(a^2) + 1e-9 * rollout``: same work, comparisons decided by ``sum(a^2)``.

    With ``flip_gradient`` the value is unchanged and the gradient negated.
    """

    def wrapped(obs: Array, actions: Array, key: Array) -> Array:
        value = -jnp.sum(actions**2, axis=(1, 2)) + SURROGATE_WEIGHT * rollout(obs, actions, key)
        if flip_gradient:
            value = 2.0 * jax.lax.stop_gradient(value) - value
        return value

    return wrapped


# ---- one planner ------------------------------------------------------------------


def bench_planner(
    spec: str, config: Config, rollout: Callable, obs: Array, key: Array, machine: Machine,
    params: Any,
) -> dict[str, Any]:
    """Compile and time one planner's replan step, its first step and its gradient stage."""
    parsed, variant = split_variant(spec)
    planner = make_planner(parsed)
    if variant == "maxwork":
        c = planner.config
        # eta_j = step_size * decay^j: eta_{J-2} > 1 > eta_{J-1}; a step of eta
        # scales a by (1 - 2 eta), so only the last trial lowers sum(a^2).
        step_size = 1.0 / c.step_decay ** (c.line_search_trials - 1.5)
        planner = make_planner(parsed, step_size=step_size)
    if variant != "model":
        rollout = surrogate(rollout, flip_gradient=variant == "reject")
    ones = np.ones(config.action_dim, np.float32)
    problem = Problem(rollout, config.horizon, -ones, ones, obs_shape=(config.obs_dim,),
                      rollout_rows=config.num_particles)
    rss0 = max_rss_mb()
    timing = time_plan_step(planner, problem, obs, key, config.repeats, config.warmup)
    compile_s, first_call_s, infos = timing.compile_s, timing.first_call_s, timing.infos
    mem_mb = memory_mb(timing.compiled)
    rss1 = max_rss_mb()
    first = first_step(planner, problem, obs, key, min(config.repeats, 5))
    stage = gradient_stage(planner, problem, obs, key, machine.step_bytes,
                           machine.bandwidth_gbs, min(config.repeats, 10)) if (
        variant == "model") else None

    counters = {f: float(np.mean([float(getattr(i, f)) for i in infos]))
                for f in ("num_samples", "num_rollouts", "grad_steps", "line_search_trials")}
    fallbacks = int(sum(bool(i.fallback) for i in infos))
    grads = gradient_rollouts(planner, counters)
    forwards = counters["num_rollouts"] - grads
    flops = forward_flops(params) * config.horizon * config.num_particles * (forwards + 3.0 * grads)
    roofline_ms = flops / (machine.gflops * 1e9) * 1e3
    ms = np.asarray(timing.times_ms)
    median = float(np.median(ms))
    return {
        "spec": spec, "planner": label(parsed, variant), "name": parsed.family,
        "variant": variant,
        "compile_s": round(compile_s, 3),
        "first_call_s": round(first_call_s, 3),
        "median_ms": round(median, 3),
        "p10_ms": round(float(np.percentile(ms, 10)), 3),
        "p90_ms": round(float(np.percentile(ms, 90)), 3),
        "mem_mb": _round(mem_mb),
        "first_compile_s": round(first.compile_s, 3), "first_median_ms": round(first.median_ms, 3),
        "first_mem_mb": _round(first.mem_mb),
        **_stage_columns(stage, machine),
        "rss_delta_mb": round(rss1 - rss0, 1),
        **counters,
        "gradient_rollouts": grads,
        "fallbacks": fallbacks,
        "gflop": round(flops / 1e9, 4),
        "roofline_ms": round(roofline_ms, 3),
        "ratio": round(median / roofline_ms, 2) if roofline_ms > 0 else float("nan"),
        "load_avg": round(os.getloadavg()[0], 2),
    }


def _stage_columns(stage: Any, machine: Machine) -> dict[str, Any]:
    """The gradient stage's columns (empty without one) and the machine's measurements."""
    return {
        "grad_stage_ms": round(stage.median_ms, 3) if stage else "",
        "grad_stage_bound_ms": round(stage.bound_ms, 4) if stage else "",
        "grad_stage_passes": f"{stage.forwards}+{stage.backwards}" if stage else "",
        "grad_stage_gap": round(stage.median_ms / stage.bound_ms, 1) if stage else "",
        "grad_stage_gap_matvec": round(stage.median_ms / stage.bound_ms * machine.matvec_gbs
                                       / machine.bandwidth_gbs, 2) if stage else "",
        "matmul_gflops": round(machine.gflops, 1),
        "read_gbs": round(machine.bandwidth_gbs, 1),
        "call_us": round(machine.call_us, 1),
        "scan_step_us": round(machine.scan_us, 2),
    }


# ---- the study --------------------------------------------------------------------

SUMMARY = ("planner", "num_rollouts", "compile_s", "median_ms", "mem_mb", "first_median_ms",
           "first_mem_mb", "grad_stage_ms", "grad_stage_bound_ms", "grad_stage_gap",
           "grad_stage_gap_matvec", "ratio")


def run(config: Config, out: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Time every planner of ``config``; write ``bench.csv`` and ``bench.md`` into ``out``."""
    specs = (split_variant(text)[0].format() for text in config.planners)
    with CheckedFolder(out, config, [TABLE], settings=common.resolved_settings(specs)) as run_dir:
        return _run(config, out, run_dir)


def _run(config: Config, out: str | os.PathLike[str],
         run_dir: CheckedFolder) -> list[dict[str, Any]]:
    path = Path(out)
    done = done_rows(run_dir.read(CSV))

    devices = use_cpu_devices(config.cpu_devices or default_cpu_devices())
    key = jax.random.key(config.seed)
    model_key, obs_key, plan_key = jax.random.split(key, 3)
    params = init_ensemble(model_key, config.obs_dim, config.action_dim, config.members,
                           config.hidden, config.layers)
    rollout = make_rollout(params, reward, config.num_particles)
    if devices > 1:
        rollout = shard_rollout(rollout)
    obs = 0.1 * jax.random.normal(obs_key, (config.obs_dim,), jnp.float32)
    machine = measure_machine(params, min(config.num_particles, config.members),
                              config.matmul_size)
    console.print(f"bench: {machine.gflops:.1f} GFLOP/s on a {config.matmul_size}^2 f32 matmul; "
                  f"{machine.bandwidth_gbs:.1f} GB/s reading {machine.step_bytes / 1e3:.0f} kB "
                  f"(the weights a row reads per time step); a trivial jitted call "
                  f"{machine.call_us:.1f} us, a scan step of tiny layers {machine.scan_us:.2f} us; "
                  f"{jax.device_count()} device(s), {os.cpu_count()} CPUs, "
                  f"load {os.getloadavg()[0]:.2f}")

    rows: list[dict[str, Any]] = []
    with progress() as bar:
        task = bar.add_task("bench", total=len(config.planners))
        for spec in config.planners:
            bar.update(task, description=f"bench {spec}")
            if spec in done:
                rows.append(done[spec])
            else:
                row = bench_planner(spec, config, rollout, obs, plan_key, machine, params)
                run_dir.append(CSV, row)
                rows.append(row)
            bar.advance(task)

    print_table("plan step (replan path), first step and gradient stage", rows, SUMMARY)
    _print_notes(rows, config, machine)
    write_markdown(path / MD, config, rows, machine)
    return rows


def _print_notes(rows: list[dict[str, Any]], config: Config, machine: Machine) -> None:
    """cem-gd-robust's replan step against cem-gd's; each gradient stage against its bound."""
    for row in rows:
        twin = next((r for r in rows if r["spec"] == str(row["spec"]).replace(
            "cem-gd-robust", "cem-gd", 1) and r is not row), None)
        if str(row["spec"]).startswith("cem-gd-robust") and twin:
            console.print(f"bench: {row['spec']} replan step {row['median_ms']:.3g} ms = "
                          f"{float(row['median_ms']) / float(twin['median_ms']):.2f} x "
                          f"{twin['spec']}'s")
        if row.get("grad_stage_ms", "") != "":
            passes = sum(int(p) for p in str(row["grad_stage_passes"]).split("+"))
            loop_ms = passes * config.horizon * machine.scan_us / 1e3
            console.print(
                f"bench: {row['spec']} gradient stage (one sequence) {row['grad_stage_ms']} ms "
                f"vs bound {row['grad_stage_bound_ms']} ms = {machine.step_bytes / 1e3:.0f} kB "
                f"x T = {config.horizon} x ({row['grad_stage_passes']} forward+backward "
                f"passes) / {machine.bandwidth_gbs:.1f} GB/s: {row['grad_stage_gap']} x the "
                f"bound ({row.get('grad_stage_gap_matvec', '?')} x at the matrix-vector rate, "
                f"{machine.matvec_gbs:.1f} GB/s); a jitted call {machine.call_us:.1f} us, the "
                f"passes' time steps with tiny layers {loop_ms:.2f} ms")
            if float(row["grad_stage_gap"]) < 1:
                console.print("bench: [yellow]the stage ran faster than the bound: the "
                              "bandwidth probe met more load than the stage; rerun[/yellow]")


def _round(value: float | str) -> float | str:
    return round(value, 3) if isinstance(value, float) else value
