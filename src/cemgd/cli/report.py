"""``cemgd report``: REPORT.md, figures, tables and claim verdicts of a sweep folder
and/or of ``cemgd evaluate`` folders."""

from __future__ import annotations

import argparse

from cemgd import report
from cemgd.cli import descriptions
from cemgd.cli.base import Context, Subparsers, add_command
from cemgd.cli.paths import check_out
from cemgd.tasks import check_env_task


def register(sub: Subparsers) -> None:
    """Add ``cemgd report``."""
    p = add_command(sub, "report", _run,
                    help="REPORT.md: Figures 3 and 4, Tables 1 and 2 and the paper's claims, "
                         "from a sweep or evaluate folder",
                    description=descriptions.REPORT)
    p.add_argument("sweep_dir", metavar="SWEEP_DIR",
                   help="folder written by `cemgd sweep` or `cemgd evaluate` (or holding "
                        "evaluate folders)")
    p.add_argument("--out", help="where to write the report (default: SWEEP_DIR)")
    p.add_argument("--include-incomplete", action="store_true",
                   help="also use runs that have not finished all their trials, and "
                        "decide a --plan whose claims name a planner not evaluated yet "
                        "(that claim: cannot tell, incomplete)")
    p.add_argument("--task", metavar="SPEC", action="append", default=None,
                   help="a task given by code (module:factory, file.py:factory) that "
                        "--random-episodes may import (repeat for several); a folder's "
                        "record alone never imports code")
    p.add_argument("--random-episodes", type=int, default=0, metavar="N",
                   help="measure a uniform-random policy over N episodes per task and "
                        "episode length, draw it on the figures and use it as the floor of "
                        "the equivalence margins (default 0: none)")
    p.add_argument("--plan", metavar="PLAN_TOML",
                   help="a pre-registered analysis plan: its primary claims are decided as "
                        "planned (Holm-corrected); every other verdict is exploratory")


def _run(args: argparse.Namespace, ctx: Context) -> int:
    out = None if args.out is None else check_out(args.out)  # before anything is read
    for task in args.task or []:  # as train checks its --task: a known name, or code
        check_env_task(task, argument="task")  # that imports ("task:" shows as "--task:")
    result = report.write_report(args.sweep_dir, out,
                                 include_incomplete=args.include_incomplete,
                                 random_episodes=args.random_episodes, plan=args.plan)
    print(f"wrote {result.path}")
    return 0
