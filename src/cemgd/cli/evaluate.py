"""``cemgd evaluate``: every planner on one frozen learned model, paired episodes."""

from __future__ import annotations

import argparse
import os

from cemgd import evaluate
from cemgd.cli import descriptions
from cemgd.cli.base import Context, Subparsers, add_command
from cemgd.cli.paths import check_out
from cemgd.runtime import enable_compilation_cache
from cemgd.sweep import parse_list

EXPORT_HELP = """Write the final model of a run folder (or that of --trial) as a model folder:
model.npz (weights and input normaliser, the run's checkpoint byte for byte),
config.json (the run's configuration) and model.json (task, trial, a hash of the
weights and normaliser, architecture, source). A few MB at the paper's sizes: commit it,
and `cemgd evaluate MODEL_DIR ...` reruns any comparison on that model anywhere (the hash
and architecture are checked before anything is written)."""


def register(sub: Subparsers) -> None:
    """Add ``cemgd evaluate`` and ``cemgd export-model``."""
    p = add_command(sub, "evaluate", _run,
                    help="every planner on one frozen learned model, the same env seeds",
                    description=descriptions.EVALUATE)
    p.add_argument("run_dir", metavar="RUN_DIR",
                   help="a run folder written by `cemgd train`, or a model folder written by "
                        "`cemgd export-model`")
    p.add_argument("--planners", nargs="+", required=True,
                   help="planners, presets or specs, comma-separated "
                        "(cem-gd,cem-5000,cem-gd:n_replan=10)")
    p.add_argument("--episodes", type=int, default=5, help="episodes per planner (default 5)")
    p.add_argument("--out", required=True, help="output folder (resumed if it exists)")
    p.add_argument("--task", metavar="SPEC", default=None,
                   help="the task RUN_DIR records; needed when that is code "
                        "(module:factory, file.py:factory), which is imported only when "
                        "named here")
    p.add_argument("--model", metavar="SPEC", default=None,
                   help="the dynamics model RUN_DIR records; needed when that is code "
                        "(module:factory, file.py:factory, as given to `cemgd train "
                        "--model`), which is imported only when named here")
    p.add_argument("--trial", type=int, default=None,
                   help="trial whose model is loaded (default: the run's last)")
    p.add_argument("--seeds", default=None,
                   help="environment seeds of the episodes, comma-separated, distinct, each "
                        "in 0..4294967295 (default 0..episodes-1; overrides --episodes)")
    p.add_argument("--reference", default=None,
                   help="planner the paired differences are taken against (default: first)")
    p.add_argument("--episode-length", type=int, default=0,
                   help="steps per episode (default: the run's)")
    p.add_argument("--workers", type=int, default=0,
                   help="0: every planner in this process (default); N: one process per "
                        "planner, N at a time (each its own peak RSS)")
    p.add_argument("--ray", metavar="ADDRESS", default=None,
                   help="one Ray task per planner, as in `cemgd sweep --ray`: auto (a running "
                        "cluster, else a local one), local (a local Ray bound to 127.0.0.1, "
                        "--workers CPUs, default one per planner) or HOST:PORT of a cluster "
                        "head (token authentication); needs the 'ray' extra")
    p.add_argument("--tensorboard", action="store_true",
                   help="also write each episode's return, plan ms and rollouts per step as "
                        "TensorBoard events into OUT/tensorboard/<planner> (needs the "
                        "'tensorboard' extra); episodes.csv stays the record")
    p.add_argument("--quick", action="store_true",
                   help="shrink every planner and the episodes (a pipeline test)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _register_export(sub)


def _register_export(sub: Subparsers) -> None:
    """Add ``cemgd export-model``."""
    e = add_command(sub, "export-model", _export,
                    help="a run's frozen model as a small folder `cemgd evaluate` reads",
                    description=EXPORT_HELP)
    e.add_argument("run_dir", metavar="RUN_DIR", help="a run folder written by `cemgd train`")
    e.add_argument("--out", required=True,
                   help="the model folder to write (new or empty): model.npz, config.json, "
                        "model.json (task, trial, hash)")
    e.add_argument("--trial", type=int, default=None,
                   help="trial whose model is exported (default: the run's last)")
    e.add_argument("--task", metavar="SPEC", default=None,
                   help="the task RUN_DIR records, when that is code (module:factory, "
                        "file.py:factory), which is imported only when named here")
    e.add_argument("--model", metavar="SPEC", default=None,
                   help="the dynamics model RUN_DIR records, when that is code (imported "
                        "only when named here)")


def _seeds(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(s) for s in parse_list("--seeds", text))
    except ValueError:
        raise ValueError(f"--seeds: expected comma-separated integers, got {text!r}") from None


def _run(args: argparse.Namespace, ctx: Context) -> int:
    out = check_out(args.out)
    config = evaluate.EvaluateConfig(
        run_dir=args.run_dir, planners=parse_list("--planners", args.planners),
        episodes=args.episodes, trial=args.trial, seeds=_seeds(args.seeds), quick=args.quick,
        reference=args.reference, episode_length=args.episode_length, workers=args.workers,
        ray=args.ray, tensorboard=args.tensorboard)
    os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering for MuJoCo tasks
    enable_compilation_cache(ctx.cache_dir)
    summary = evaluate.evaluate(config, out, show_progress=ctx.progress and not args.no_progress,
                                cache_dir=ctx.cache_dir)
    print(f"wrote {summary}")
    return 0


def _export(args: argparse.Namespace, ctx: Context) -> int:
    folder = evaluate.export_model(args.run_dir, check_out(args.out), args.trial)
    print(f"wrote {folder}")
    return 0
