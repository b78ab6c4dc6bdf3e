"""``cemgd train``: one PETS run (model learning + MPC episodes) into a run folder."""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

from cemgd import pets, report
from cemgd.cli.base import Context, Subparsers, add_command
from cemgd.cli.flags import (
    add_config_arguments,
    add_train_arguments,
    config_from_args,
    flag_error,
    planner_flags,
    train_flags,
)
from cemgd.cli.listing import planners_epilog, tasks_help
from cemgd.cli.paths import check_out
from cemgd.planners.spec import PlannerSpec, quick_spec
from cemgd.report import figures
from cemgd.runs.tensorboard import check_tensorboard
from cemgd.runtime import enable_compilation_cache
from cemgd.tasks import is_code_spec, task_title


def register(sub: Subparsers) -> None:
    """Add ``cemgd train``."""
    p = add_command(
        sub, "train", _run, extra=True,
        help="PETS on a task with any planner (model learning + MPC episodes)",
        description=(pets.__doc__ or "").split("\n\n")[0], epilog=planners_epilog(),
    )
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--quick", action="store_true",
                   help="tiny sizes (two short trials), a smoke test")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last completed trial")
    p.add_argument("--video", action="store_true", help="write a GIF of every episode")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--tensorboard", action="store_true",
                   help="also write TensorBoard events into OUT/tensorboard (needs the "
                        "'tensorboard' extra); metrics.csv stays the record")
    add_config_arguments(p, pets.PETSConfig, skip=("task", "planner", "train"))
    p.add_argument("--planner", metavar="SPEC",
                   help="planner or preset (cemgd planners lists them), optionally with "
                        "settings: cem-gd:n_replan=10; a --planner.<setting> flag "
                        "overrides the spec's (default: cem-gd)")
    p.add_argument("--task", help=tasks_help())
    add_train_arguments(p)


def build_config(args: argparse.Namespace, extra: list[str]) -> pets.PETSConfig:
    """The run's PETSConfig: defaults, then ``--quick``, then every flag given.

    Raises:
        ValueError: naming the flag or setting that is wrong.
    """
    text = "cem-gd" if args.planner is None else args.planner
    name, settings = PlannerSpec.parse_settings(text, where="--planner")
    flagged = planner_flags(extra, [name])
    settings.update(flagged)  # a flag overrides the spec, as a later flag an earlier one
    config = config_from_args(pets.PETSConfig, args, pets.PETSConfig(), skip=("planner",))
    if args.quick:  # tiny sizes first; every explicit flag still wins
        config = config_from_args(pets.PETSConfig, args, pets.quick(config), skip=("planner",))
    named = {k: f"--planner ({text}): {k}" for k in settings}
    named.update({k: f"--planner.{k.replace('_', '-')}" for k in flagged})
    try:
        spec = quick_spec(name, settings) if args.quick else PlannerSpec(name, settings)
    except ValueError as err:
        raise flag_error(err, named) from None
    train = train_flags(args)
    try:
        return dataclasses.replace(
            config, planner=spec, train=dataclasses.replace(config.train, **train))
    except ValueError as err:
        raise flag_error(err, {k: f"--train.{k.replace('_', '-')}" for k in train}) from None


def _run(args: argparse.Namespace, ctx: Context) -> int:
    out = check_out(args.out)
    if args.tensorboard:
        check_tensorboard()
    config = build_config(args, ctx.extra)
    os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering for MuJoCo tasks
    enable_compilation_cache(ctx.cache_dir)
    title = task_title(config.task, config.make_task().name) if is_code_spec(config.task) \
        else config.task
    print(f"cemgd train: {title} with {config.planner}, {config.trials} trials, "
          f"writing to {out}")
    pets.run(config, out, resume=args.resume, video=args.video,
             show_progress=ctx.progress and not args.no_progress, tensorboard=args.tensorboard)
    for path in learning_curves(Path(out)):
        print(f"wrote {path}")
    print(f"the full report (tables, claims): cemgd report {out}")
    return 0


def learning_curves(folder: Path) -> list[Path]:
    """The report's Figure 3 of one finished run folder, written into it: return per
    trial (``figure3_returns.png``) and the model's held-out MSE and training time
    (``model_quality.png``), as ``cemgd report FOLDER`` draws them; the files written."""
    run = report.read_run(folder.parent, folder)
    return figures.figure3(folder, report.figure3_data(report.group_runs([run])))
