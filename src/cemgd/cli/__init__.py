"""Command line: ``cemgd <command> [--out DIR] [--quick] [--<setting> VALUE ...]``.

All argument parsing lives in this package; nothing below it imports it. Each command
module in :data:`COMMANDS` registers its sub-commands (see :mod:`cemgd.cli.base`). The
CLI is the only place that reads environment variables for configuration
(``CEMGD_NO_PROGRESS=1``, ``CEMGD_CACHE_DIR``; see :class:`cemgd.cli.base.Context`) and
passes the values down.

Every command runs inside :func:`cemgd.tasks.only_named_code`: task code (an import
path such as ``file.py:factory``) is imported only when that command's ``--task`` or
``--tasks`` names it, and model code only when its ``--model`` names it, never because a
folder records it; and inside
:func:`cemgd.planners.registry.only_named_planners`: an installed planner (an entry point)
is imported only when ``--planner``, ``--planners`` or ``cemgd planners NAME`` names it.

Every bad input a user can type exits with status 2 and one line on stderr naming the
argument or file (``cemgd train: --out: /x is a file, not a folder``).

``cemgd train`` runs PETS with any planner (:mod:`cemgd.pets`); planner settings are
given as ``--planner.<setting> VALUE`` (e.g. ``--planner.n-replan 20``) and model
training settings as ``--train.<setting> VALUE``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import os
import signal
import sys
from collections.abc import Sequence

from cemgd import __version__
from cemgd.cli.base import CliParser, Context, fail, plain
from cemgd.cli.errors import flag_names, user_message
from cemgd.planners.registry import only_named_planners
from cemgd.runtime import enable_compilation_cache as _enable_cache
from cemgd.sweep.config import parse_list
from cemgd.tasks import only_named_code

#: Command modules (``cemgd.cli.<name>``), in the order of ``cemgd --help``; each has
#: ``register(sub)``. A name whose module is not there yet is skipped.
COMMANDS = ("train", "sweep", "evaluate", "report", "studies", "listing")


def build_parser() -> CliParser:
    """The ``cemgd`` parser with every registered sub-command."""
    parser = CliParser(prog="cemgd", description=plain((__doc__ or "").splitlines()[0]))
    parser.add_argument("--version", action="version", version=f"cemgd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=CliParser)
    for name in COMMANDS:
        module_name = f"{__name__}.{name}"
        if importlib.util.find_spec(module_name) is not None:
            importlib.import_module(module_name).register(sub)
    return parser


def enable_compilation_cache() -> str | None:
    """Turn on JAX's persistent compilation cache where ``CEMGD_CACHE_DIR`` says
    (default ``~/.cache/cemgd/jax``; empty turns it off), for scripts that call the
    library directly. Returns the folder used."""
    return _enable_cache(Context.from_environ(os.environ, []).cache_dir)


def command_line_tasks(args: argparse.Namespace) -> list[str]:
    """The tasks a command line names (``--task SPEC``, once or repeated; ``--tasks``
    lists, comma-separated): the only task code the command may import."""
    task = getattr(args, "task", None)
    named = [task] if isinstance(task, str) else list(task or [])
    if getattr(args, "tasks", None):
        named += parse_list("--tasks", args.tasks)
    return named


def command_line_models(args: argparse.Namespace) -> list[str]:
    """The dynamics model a command line names (``--model SPEC``): the only model code
    the command may import."""
    model = getattr(args, "model", None)
    return [model] if isinstance(model, str) else []


def command_line_planners(args: argparse.Namespace) -> list[str]:
    """The planner names a command line names (``--planner SPEC``, ``--planners`` lists,
    ``cemgd planners NAME ...``; a spec's name is what precedes ``:``): the only installed
    planners the command may import."""
    specs = [args.planner] if isinstance(getattr(args, "planner", None), str) else []
    if getattr(args, "planners", None):
        specs += parse_list("--planners", args.planners)
    if args.command == "planners":
        specs += list(getattr(args, "names", None) or [])
    return [spec.partition(":")[0].strip() for spec in specs]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cemgd`` command; returns the exit status."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    prog = f"cemgd {args.command}"
    _escape_undecodable_output()
    if extra and not args.accepts_extra:
        return fail(prog, f"unrecognized arguments: {' '.join(extra)}")
    ctx = Context.from_environ(os.environ, extra)
    try:
        with only_named_code(command_line_tasks(args), command_line_models(args)), \
                only_named_planners(command_line_planners(args)):
            status = args.handler(args, ctx)
        sys.stdout.flush()  # a reader that stopped early shows here, not at exit
        return status
    except BrokenPipeError:  # stdout's reader stopped (cemgd planners | head -1)
        _quiet_stdout()
        return 128 + signal.SIGPIPE
    except ValueError as err:  # bad input, RunError included: named in the message
        return fail(prog, user_message(str(err), flag_names(args.command_parser)))
    except OSError as err:  # a path the user named cannot be used
        where = err.filename if err.filename is not None else ""
        return fail(prog, f"{where}: {err.strerror or err}" if where else str(err))
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def _quiet_stdout() -> None:
    """Point standard output at the null device, so the interpreter's last flush does
    not fail again on the closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    with contextlib.suppress(ValueError, OSError):
        os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _escape_undecodable_output() -> None:
    """Print a path with non-UTF-8 bytes (``\\udcff`` in Python) as ``\\xff``, not fail
    with UnicodeEncodeError, on standard output and error."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors="backslashreplace")


if __name__ == "__main__":
    raise SystemExit(main())
