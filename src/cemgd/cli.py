"""Command line: ``cemgd <command> [--out DIR] [--quick] [--<setting> VALUE ...]``.

``cemgd train`` runs PETS with any planner (:mod:`cemgd.pets`); planner settings are
given as ``--planner.<setting> VALUE`` (e.g. ``--planner.n-replan 20``) and model
training settings as ``--train.<setting> VALUE``.

Each study is a module in :mod:`cemgd.experiments` with a ``Config`` dataclass
(whose fields become the flags), ``quick(config) -> config`` (a tiny version for
smoke tests) and ``run(config, out) -> list[dict]``, which writes CSV and PNG
into ``out`` and prints a summary table.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from cemgd.experiments.common import add_config_arguments, config_from_args, field_docs

STUDIES: dict[str, tuple[str, str]] = {
    "barrier": ("cemgd.experiments.barrier", "Figure 2: how often CEM-GD passes below the barrier"),
    "scaling": ("cemgd.experiments.scaling", "return of CEM vs CEM-GD as action dimension grows"),
    "bench": ("cemgd.experiments.bench", "plan-step time and memory per planner, with a roofline"),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-command per study, ``train``, ``sweep``, ``report``."""
    parser = argparse.ArgumentParser(prog="cemgd", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="study", required=True)
    _add_train_parser(sub)
    _add_sweep_parser(sub)
    _add_report_parser(sub)
    for name, (module_name, help_text) in STUDIES.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=help_text, description=module.__doc__)
        p.add_argument("--out", default=f"runs/{name}", help="results folder (%(default)s)")
        p.add_argument("--quick", action="store_true", help="tiny configuration, under a minute")
        add_config_arguments(p, module.Config)
    return parser


def enable_compilation_cache() -> str | None:
    """Turn on JAX's persistent compilation cache (``CEMGD_CACHE_DIR``; empty disables).

    Compiling a planning step takes seconds; with the cache a second run of the
    same configuration starts planning at once.
    """
    import jax

    path = os.environ.get("CEMGD_CACHE_DIR", os.path.expanduser("~/.cache/cemgd/jax"))
    if not path:
        return None
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    return path


#: TrainConfig fields set by the run, not by flags (``--activation``, ``--seed``).
_TRAIN_DERIVED = ("activation", "seed")


def _add_train_flags(parser: argparse.ArgumentParser) -> None:
    """``--train.<setting>`` flags, one per TrainConfig field a user may set."""
    from cemgd.models import TrainConfig

    docs = field_docs(TrainConfig)
    for f in fields(TrainConfig):
        if f.name in _TRAIN_DERIVED:
            continue
        parser.add_argument(f"--train.{f.name.replace('_', '-')}", dest=f"train__{f.name}",
                            type=type(f.default), default=None,
                            help=f"{docs.get(f.name, '')} (default: {f.default})")


def _train_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The ``--train.<setting>`` values given on the command line."""
    from cemgd.models import TrainConfig

    return {f.name: getattr(args, f"train__{f.name}") for f in fields(TrainConfig)
            if getattr(args, f"train__{f.name}", None) is not None}


def _add_train_parser(sub: Any) -> None:
    from cemgd import pets
    from cemgd.planners import PLANNERS, PRESETS

    lines = [f"  {name}: {', '.join(f.name.replace('_', '-') for f in fields(cls.Config))}"
             for name, cls in PLANNERS.items()]
    epilog = ("planner settings (--planner.<setting> VALUE), by planner:\n" + "\n".join(lines)
              + f"\npresets: {', '.join(f'{k} = {v[0]} {v[1]}' for k, v in PRESETS.items())}")
    p = sub.add_parser(
        "train", help="PETS on a task with any planner (model learning + MPC episodes)",
        description=pets.__doc__.split("\n\n")[0], epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--quick", action="store_true", help="tiny sizes: two trials in about a minute")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last completed trial")
    p.add_argument("--video", action="store_true", help="write a GIF of every episode")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_config_arguments(p, pets.PETSConfig, skip=("planner_options", "train"))
    _add_train_flags(p)


def _train_main(args: argparse.Namespace, extra: Sequence[str]) -> int:
    import dataclasses

    from cemgd import pets

    try:
        config = config_from_args(pets.PETSConfig, args, pets.PETSConfig())
        from cemgd.experiments.sweep import planner_flags

        options = planner_flags(extra, [config.planner])
        config = dataclasses.replace(config, planner_options=options)
        if args.quick:  # tiny sizes first; every explicit flag still wins
            config = config_from_args(pets.PETSConfig, args, pets.quick(config))
        config = dataclasses.replace(
            config, train=dataclasses.replace(config.train, **_train_flags(args))
        )
        pets.run(config, args.out, resume=args.resume, video=args.video,
                 show_progress=not args.no_progress)
    except ValueError as err:
        print(f"cemgd train: {err}", file=sys.stderr)
        return 2
    return 0


def _add_sweep_parser(sub: Any) -> None:
    from cemgd import pets
    from cemgd.experiments import sweep

    presets = "\n".join(f"  {name}: {sweep.describe_preset(name)}"
                         for name in sweep.SWEEP_PRESETS)
    p = sub.add_parser(
        "sweep", help="tasks x planners x seeds of PETS runs, on a local pool or Ray",
        description=sweep.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"presets (explicit flags override their values):\n{presets}\n"
               "planner settings of every planner that has them: --planner.<setting> VALUE",
    )
    p.add_argument("--preset", choices=sorted(sweep.SWEEP_PRESETS),
                   help="start from a named protocol (paper: the paper's; laptop: reduced)")
    p.add_argument("--out", help="sweep folder (default: sweeps/<preset>)")
    p.add_argument("--tasks", nargs="+", help="tasks, comma-separated")
    p.add_argument("--planners", nargs="+",
                   help="planners or presets, comma-separated; NAME:key=value,... for variants")
    p.add_argument("--seeds", help="seeds: '0-19', '0,1,5' or '0-4,10'")
    p.add_argument("--workers", type=int, help="local worker processes (default: cores)")
    p.add_argument("--max-retries", type=int, help="retries of a failing run (default: 2)")
    p.add_argument("--ray", metavar="ADDRESS",
                   help="run on Ray: 'auto' (a running cluster, else a local one), 'local' "
                        "(a new local one) or a cluster address")
    p.add_argument("--ray-shared-fs", action="store_true",
                   help="Ray tasks write into --out directly (same path on every node)")
    p.add_argument("--quick", action="store_true", help="tiny runs (pets.quick), for smoke tests")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_config_arguments(p, pets.PETSConfig,
                         skip=("task", "planner", "seed", "planner_options", "train"))
    _add_train_flags(p)


def _sweep_main(args: argparse.Namespace, extra: Sequence[str]) -> int:
    from cemgd.experiments import sweep

    try:
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
        changes["overrides"] = {name: getattr(args, name) for name in sweep.RUN_FIELDS
                                if getattr(args, name, None) is not None}
        changes["train"] = _train_flags(args)
        if args.preset:
            planners = changes.get("planners", sweep.SWEEP_PRESETS[args.preset]["planners"])
            changes["planner_options"] = sweep.planner_flags(extra, planners)
            config = sweep.SweepConfig.from_preset(args.preset, **changes)
        else:
            for name in ("tasks", "planners"):
                if name not in changes:
                    raise ValueError(f"--{name}: required without --preset")
            changes["planner_options"] = sweep.planner_flags(extra, changes["planners"])
            config = sweep.SweepConfig(**changes)
        out = args.out or (f"sweeps/{args.preset}" if args.preset else None)
        if out is None:
            raise ValueError("--out: required without --preset")
    except ValueError as err:
        print(f"cemgd sweep: {err}", file=sys.stderr)
        return 2
    try:
        summary = sweep.run_sweep(config, out, show_progress=not args.no_progress)
    except ValueError as err:
        print(f"cemgd sweep: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0 if summary.ok else 1


def _add_report_parser(sub: Any) -> None:
    from cemgd.experiments import report

    p = sub.add_parser(
        "report", help="REPORT.md, Figures 3 and 4, Tables 1 and 2 of a sweep folder",
        description=report.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("sweep_dir", metavar="SWEEP_DIR", help="folder written by `cemgd sweep`")
    p.add_argument("--out", help="where to write the report (default: SWEEP_DIR)")
    p.add_argument("--include-incomplete", action="store_true",
                   help="also use runs that have not finished all their trials")


def _report_main(args: argparse.Namespace) -> int:
    from cemgd.experiments import report

    try:
        result = report.write_report(args.sweep_dir, args.out,
                                     include_incomplete=args.include_incomplete)
    except ValueError as err:
        print(f"cemgd report: {err}", file=sys.stderr)
        return 2
    print(f"wrote {result.path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cemgd`` command."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.study == "train":
        if os.environ.get("MUJOCO_GL") is None:
            os.environ["MUJOCO_GL"] = "egl"
        enable_compilation_cache()
        return _train_main(args, extra)
    if args.study == "sweep":
        return _sweep_main(args, extra)
    if args.study == "report":
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        return _report_main(args)
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    enable_compilation_cache()
    module = importlib.import_module(STUDIES[args.study][0])
    base = module.quick(module.Config()) if args.quick else module.Config()
    try:
        config = config_from_args(module.Config, args, base)
    except ValueError as err:
        print(f"cemgd {args.study}: {err}", file=sys.stderr)
        return 2
    module.run(config, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
