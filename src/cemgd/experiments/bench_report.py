"""``bench.csv``'s columns (:data:`TABLE`) and ``bench.md``, the markdown table of ``cemgd bench``
(see :mod:`cemgd.experiments.bench`)."""

from __future__ import annotations

import math
import os
import platform
from pathlib import Path
from typing import Any

import jax

from cemgd.experiments.tables import INT, NUMBER, TEXT, Column, Table, number_or

CSV = "bench.csv"
COLUMNS = ("planner", "num_rollouts", "grad_steps", "line_search_trials", "compile_s",
           "median_ms", "p10_ms", "p90_ms", "mem_mb", "first_median_ms", "first_mem_mb",
           "grad_stage_ms", "grad_stage_bound_ms", "grad_stage_passes", "grad_stage_gap",
           "grad_stage_gap_matvec", "rss_delta_mb", "gflop", "roofline_ms", "ratio")
HEADERS = ("Planner", "rollouts/step", "grad steps", "LS trials", "compile (s)",
           "step median (ms)", "p10 (ms)", "p90 (ms)", "compiled mem (MB)",
           "first step (ms)", "first step mem (MB)", "gradient stage (ms)",
           "gradient-stage bound (ms)", "passes (fwd+bwd)", "stage/bound", "stage/matvec bound",
           "RSS delta (MB)",
           "GFLOP/step", "roofline (ms)", "measured/roofline")


def _passes(cell: str) -> str:
    if cell:
        forwards, backwards = cell.split("+")  # ValueError unless two parts
        int(forwards), int(backwards)
    return cell


_STAGE = number_or("")  # empty without a gradient stage
_MEMORY = number_or("unavailable")  # a backend's memory_analysis may give none
TABLE = Table(CSV, {
    **dict.fromkeys(("spec", "planner", "name", "variant"), TEXT),
    **dict.fromkeys(("compile_s", "first_call_s", "median_ms", "p10_ms", "p90_ms"), NUMBER),
    "mem_mb": _MEMORY, "first_compile_s": NUMBER, "first_median_ms": NUMBER,
    "first_mem_mb": _MEMORY, "grad_stage_ms": _STAGE, "grad_stage_bound_ms": _STAGE,
    "grad_stage_passes": Column("'FORWARDS+BACKWARDS' or empty", _passes),
    "grad_stage_gap": _STAGE, "grad_stage_gap_matvec": _STAGE,
    **dict.fromkeys(("matmul_gflops", "read_gbs", "call_us", "scan_step_us", "rss_delta_mb",
                     "num_samples", "num_rollouts", "grad_steps", "line_search_trials",
                     "gradient_rollouts"), NUMBER),
    "fallbacks": INT,
    **dict.fromkeys(("gflop", "roofline_ms", "ratio", "load_avg"), NUMBER),
}, keys=("spec",))
"""``bench.csv``: its columns, in the order :func:`~cemgd.experiments.bench.bench_planner`
writes them, and a row per planner spec."""


def done_rows(rows: list[dict[str, str]]) -> dict[str, dict[str, Any]]:
    """The rows of a ``bench.csv`` being resumed (read through a folder that checks them
    against :data:`TABLE`), by spec, each cell a float where it is a number."""
    return {row["spec"]: {k: _number(v) for k, v in row.items()} for row in rows}


def _number(cell: str) -> float | str:
    try:
        return float(cell)
    except ValueError:
        return cell


def write_markdown(file: Path, config: Any, rows: list[dict[str, Any]], machine: Any) -> None:
    """``bench.md``: the workload, the machine (a :class:`~cemgd.experiments.steptime.Machine`)
    and one table row per planner."""
    c, m = config, machine
    lines = [
        "# Plan-step benchmark (cf. CEM-GD paper, Tables 1 and 2)",
        "",
        f"Workload: {c.members}-member ensemble, {c.layers} hidden layers of {c.hidden} (SiLU), "
        f"S = {c.obs_dim}, A = {c.action_dim}, T = {c.horizon}, {c.num_particles} particle(s); "
        f"random weights. Replan step (`plan_fn(first=False)`), {c.repeats} timed steps after "
        f"{c.warmup} warm-up.",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"JAX {jax.__version__} on {jax.default_backend()}, {jax.device_count()} device(s), "
        f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}; matmul {m.gflops:.1f} GFLOP/s "
        f"({c.matmul_size}^2 f32); read bandwidth {m.bandwidth_gbs:.1f} GB/s (best of a copy, "
        f"bytes read + written, and a matrix-vector product, bytes read; the product alone "
        f"{m.matvec_gbs:.1f} GB/s) on a buffer of "
        f"{m.step_bytes / 1e3:.0f} kB (the weights a rollout row reads per time step); a "
        f"trivial jitted call {m.call_us:.1f} us, one scan step of {c.layers + 1} tiny (8x8) "
        f"layers {m.scan_us:.2f} us; load "
        f"average {os.getloadavg()[0]:.2f} at the end.",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(HEADERS) - 1)) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(_md(row.get(col, "")) for col in COLUMNS) + " |")
    lines += [
        "",
        "Compile: trace + lower + compile of the step. Memory: XLA's memory_analysis of the "
        "compiled step (temp + argument + output); RSS delta: growth of the process's peak "
        "RSS while compiling and running this row (0 when below an earlier peak). Roofline: "
        "ensemble matmul FLOPs (forward rollouts + 3 x gradient rollouts) over the matmul "
        "throughput. First step: `plan_fn(first=True)` (CEM-GD's N_init step), median of up to "
        "5 calls from fresh states, and its compiled memory. Gradient stage: one sequence's "
        "line-search ascent with the planner's settings, timed alone, beside a lower bound: "
        "every pass over the horizon (a forward for the start and per sequential trial or "
        "parallel batch of J trials, a backward per "
        "gradient) reads at least the weights a row uses once per time step, so bound = "
        "weight bytes x T x passes / read bandwidth. Stage/bound is the gap; stage/matvec "
        "bound is the gap to the same bound at the matrix-vector product's read rate (the "
        "kernel a one-row layer is; `python benchmarks/gradient_passes.py` times the "
        "rollout's own products against it). What the bound "
        "leaves out is the per-operation cost of small kernels inside the compiled loops "
        "(a scan step of as many tiny layers costs the time above) and one jitted call's "
        "dispatch. "
        "Counters are means over the timed steps. With more than one device, "
        "batches of 64 rollouts or more are split over them (`cemgd.sharding.shard_rollout`), "
        "for every planner alike.",
        "",
    ]
    file.write_text("\n".join(lines))


def _md(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if value == int(value) and abs(value) < 1e6:
            return str(int(value))
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)
