"""What every sub-command shares: the parser class, how a command registers, the context.

A command module (``cemgd.cli.<name>``, listed in :data:`cemgd.cli.COMMANDS`) defines
``register(sub) -> None``, which calls :func:`add_command` once per sub-command it adds::

    def register(sub: Subparsers) -> None:
        p = add_command(sub, "report", _run, help="...", description=report.__doc__)
        p.add_argument("sweep_dir")

    def _run(args: argparse.Namespace, ctx: Context) -> int:
        ...  # raise ValueError("--out: ...") for bad input: exit 2, one line

The handler returns the exit status. :func:`cemgd.cli.main` turns a ``ValueError``
(``RunError`` included) or an ``OSError`` into exit status 2 with one line on stderr.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

#: The ``sub`` object handed to ``register``: ``ArgumentParser.add_subparsers()``'s result.
Subparsers = Any


@dataclass(frozen=True)
class Context:
    """What a handler gets besides its parsed flags.

    Attributes:
        extra: arguments argparse did not know (``--planner.<setting> VALUE`` pairs);
            empty unless the command was added with ``extra=True``.
        progress: draw progress bars (``CEMGD_NO_PROGRESS=1`` or ``--no-progress`` turn
            them off).
        cache_dir: JAX compilation cache folder (``CEMGD_CACHE_DIR``; ``None`` when off).
    """

    extra: list[str] = field(default_factory=list)
    progress: bool = True
    cache_dir: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], extra: list[str]) -> Context:
        """The context from the environment variables the CLI reads (and only it)."""
        cache = environ.get("CEMGD_CACHE_DIR", os.path.expanduser("~/.cache/cemgd/jax"))
        return cls(extra=list(extra), progress=environ.get("CEMGD_NO_PROGRESS") != "1",
                   cache_dir=cache or None)


Handler = Callable[[argparse.Namespace, Context], int]


class CliParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line: ``cemgd train: --out: ...``."""

    def error(self, message: str) -> NoReturn:
        """Print ``PROG: MESSAGE (see PROG --help)`` on stderr and exit with status 2."""
        message = re.sub(r"^argument ([^:]+): ", r"\1: ", message)
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Flag help wrapped at spaces only, so names such as ``mountaincar-continuous`` stay whole."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


def add_command(sub: Subparsers, name: str, handler: Handler, *, help: str,  # noqa: A002
                description: str | None = None, epilog: str | None = None,
                extra: bool = False) -> CliParser:
    """Add sub-command ``name`` run by ``handler``; returns its parser for its flags.

    Args:
        sub: the sub-parsers object ``register`` was given.
        name: the sub-command (``cemgd NAME``).
        handler: ``handler(args, ctx) -> exit status``.
        help: one line for ``cemgd --help``.
        description: text for ``cemgd NAME --help`` (reST markup is removed).
        epilog: text after the flags in ``cemgd NAME --help`` (kept as written).
        extra: accept unknown ``--planner.<setting>`` arguments (in ``ctx.extra``).
    """
    parser = sub.add_parser(name, help=help, description=plain(description or help),
                            epilog=epilog, formatter_class=HelpFormatter)
    parser.set_defaults(handler=handler, accepts_extra=extra, command_parser=parser)
    return parser


_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")
_LITERAL = re.compile(r"``([^`]+)``")


def plain(text: str | None) -> str:
    """``text`` without reST markup: ``:func:`~a.b``` -> ``b``, double backquotes dropped."""
    if not text:
        return ""

    def role(match: re.Match[str]) -> str:
        target = match.group(1)
        return target.rsplit(".", 1)[-1] if match.group(0).startswith(":") and "~" in \
            match.group(0) else target

    return _LITERAL.sub(r"\1", _ROLE.sub(role, text))


def fail(prog: str, message: str) -> int:
    """Print ``prog: message`` (one line) on stderr; returns exit status 2."""
    print(f"{prog}: {' '.join(str(message).split())}", file=sys.stderr)
    return 2
