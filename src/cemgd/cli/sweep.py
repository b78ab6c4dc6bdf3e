"""``cemgd sweep``: tasks x planners x seeds of PETS runs, on a local pool or Ray."""

from __future__ import annotations

import argparse
from typing import Any

from cemgd import pets, sweep
from cemgd.cli import descriptions
from cemgd.cli.base import Context, Subparsers, add_command
from cemgd.cli.flags import add_config_arguments, add_train_arguments, planner_flags, train_flags
from cemgd.cli.paths import check_out
from cemgd.runs.tensorboard import check_tensorboard


def register(sub: Subparsers) -> None:
    """Add ``cemgd sweep``."""
    presets = "\n".join(f"  {name}: {sweep.describe_preset(name)}"
                        for name in sweep.SWEEP_PRESETS)
    p = add_command(
        sub, "sweep", _run, extra=True,
        help="tasks x planners x seeds of PETS runs, on a local pool or Ray",
        description=descriptions.SWEEP,
        epilog=f"presets (explicit flags override their values):\n{presets}\n"
               "planner settings of every planner that has them: --planner.<setting> VALUE",
    )
    p.add_argument("--preset", choices=sorted(sweep.SWEEP_PRESETS),
                   help="start from a named protocol (paper: the paper's; laptop: reduced)")
    p.add_argument("--out", help="sweep folder (default: sweeps/<preset>)")
    p.add_argument("--tasks", nargs="+", help="tasks, comma-separated")
    p.add_argument("--planners", nargs="+",
                   help="planners or presets, comma-separated; NAME:key=value,... for variants")
    p.add_argument("--seeds", help="seeds: '0-19', '0,1,5' or '0-4,10' (each once, in "
                                   "0..4294967295)")
    p.add_argument("--workers", type=int, help="local worker processes (default: cores)")
    p.add_argument("--max-retries", type=int, help="retries of a failing run (default: 2)")
    p.add_argument("--ray", metavar="ADDRESS",
                   help="run on Ray: 'auto' (a running cluster, else a local one), 'local' "
                        "(a new local one) or a cluster address")
    p.add_argument("--ray-shared-fs", action="store_true",
                   help="with --ray: Ray tasks write into --out directly (same path on every "
                        "node)")
    p.add_argument("--quick", action="store_true",
                   help="tiny runs (two short trials each), a smoke test")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--tensorboard", action="store_true",
                   help="also write TensorBoard events into every run folder (needs the "
                        "'tensorboard' extra); metrics.csv stays the record")
    add_config_arguments(p, pets.PETSConfig,
                         skip=("task", "planner", "seed", "train"))
    add_train_arguments(p)


def build_config(args: argparse.Namespace, extra: list[str]) -> sweep.SweepConfig:
    """The SweepConfig of the flags (a preset first, when named).

    Raises:
        ValueError: naming the flag or setting that is wrong.
    """
    changes: dict[str, Any] = {}
    if args.tasks:
        changes["tasks"] = sweep.parse_list("tasks", args.tasks)
    if args.planners:
        changes["planners"] = sweep.parse_list("planners", args.planners)
    if args.seeds is not None:
        changes["seeds"] = sweep.parse_seeds(args.seeds)
    for name in ("workers", "max_retries", "ray"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    changes["ray_shared_fs"] = args.ray_shared_fs
    changes["quick"] = args.quick
    if args.tensorboard:
        check_tensorboard()
        changes["tensorboard"] = True
    changes["overrides"] = {name: getattr(args, name) for name in sweep.RUN_FIELDS
                            if getattr(args, name, None) is not None}
    changes["train"] = train_flags(args)
    if args.preset:
        planners = changes.get("planners", sweep.SWEEP_PRESETS[args.preset]["planners"])
        changes["planner_options"] = planner_flags(extra, planners)
        return sweep.SweepConfig.from_preset(args.preset, **changes)
    for name in ("tasks", "planners"):
        if name not in changes:
            raise ValueError(f"--{name}: required without --preset")
    changes["planner_options"] = planner_flags(extra, changes["planners"])
    return sweep.SweepConfig(**changes)


def _run(args: argparse.Namespace, ctx: Context) -> int:
    config = build_config(args, ctx.extra)
    if args.out is None and not args.preset:
        raise ValueError("--out: required without --preset")
    out = check_out(args.out if args.out is not None else f"sweeps/{args.preset}")
    summary = sweep.run_sweep(config, out, show_progress=ctx.progress and not args.no_progress,
                              cache_dir=ctx.cache_dir)
    return 0 if summary.ok else 1
