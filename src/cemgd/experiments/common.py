"""What every study shares: config to CLI flags, a run folder, CSV written as it goes."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import types
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

console = Console()


def progress() -> Progress:
    """A rich progress bar with count, elapsed and remaining time."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=os.environ.get("CEMGD_NO_PROGRESS") == "1",
    )


def _field_type(tp: Any) -> tuple[type, bool]:
    """``(element type, is_sequence)`` for a config field's annotation."""
    origin = typing.get_origin(tp)
    if origin in (tuple, list, Sequence):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return (args[0] if args else str), True
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _field_type(args[0])
    if origin is typing.Literal:
        return type(typing.get_args(tp)[0]), False
    return tp, False


def add_config_arguments(parser: argparse.ArgumentParser, config_cls: type) -> None:
    """Add one ``--flag`` per field of the dataclass ``config_cls`` (docstring as help)."""
    hints = typing.get_type_hints(config_cls)
    docs = field_docs(config_cls)
    for f in dataclasses.fields(config_cls):
        elem, many = _field_type(hints[f.name])
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        help_text = f"{docs.get(f.name, '')} (default: {default})"
        if elem is bool and not many:
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction,
                                default=None, help=help_text)
        else:
            parser.add_argument(flag, dest=f.name, type=elem, nargs="+" if many else None,
                                default=None, help=help_text)


def config_from_args(config_cls: type, args: argparse.Namespace, base: Any = None) -> Any:
    """Build ``config_cls`` from parsed flags; unset flags keep ``base``'s values."""
    base = config_cls() if base is None else base
    changes = {}
    hints = typing.get_type_hints(config_cls)
    for f in dataclasses.fields(config_cls):
        value = getattr(args, f.name, None)
        if value is not None:
            _, many = _field_type(hints[f.name])
            changes[f.name] = tuple(value) if many else value
    return dataclasses.replace(base, **changes)


def field_docs(config_cls: type) -> dict[str, str]:
    """Docstrings written under each field of a dataclass (``x: int = 1`` then ``\"\"\"doc\"\"\"``)."""
    import ast
    import inspect
    import textwrap

    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(config_cls)))
    except (OSError, TypeError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for node, nxt in zip(body, body[1:], strict=False):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)):
            docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


class RunDir:
    """A results folder: ``config.json`` once, CSV rows appended and flushed as they come.

    Rows already in a CSV are kept, so a killed study can be resumed by skipping
    the keys in :meth:`done_keys`.
    """

    def __init__(self, out: str | os.PathLike[str], config: Any) -> None:
        self.path = Path(out)
        self.path.mkdir(parents=True, exist_ok=True)
        payload = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else config
        (self.path / "config.json").write_text(json.dumps(payload, indent=2, default=str) + "\n")

    def append(self, name: str, row: dict[str, Any]) -> None:
        """Append ``row`` to ``name`` (a CSV in the run folder), writing a header if new."""
        file = self.path / name
        new = not file.exists() or file.stat().st_size == 0
        with file.open("a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)
            fh.flush()
            os.fsync(fh.fileno())

    def read(self, name: str) -> list[dict[str, str]]:
        """Rows of CSV ``name`` (empty if it does not exist)."""
        file = self.path / name
        if not file.exists():
            return []
        with file.open(newline="") as fh:
            return list(csv.DictReader(fh))

    def done_keys(self, name: str, keys: Sequence[str]) -> set[tuple[str, ...]]:
        """The ``keys`` tuples of rows already written to ``name`` (for resuming)."""
        return {tuple(row[k] for k in keys) for row in self.read(name)}


def print_table(title: str, rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> None:
    """Print ``rows`` as a rich table with ``columns``."""
    table = Table(title=title)
    for col in columns:
        table.add_column(col, justify="right")
    for row in rows:
        table.add_row(*[_fmt(row.get(col, "")) for col in columns])
    console.print(table)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
