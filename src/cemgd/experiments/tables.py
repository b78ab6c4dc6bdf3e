"""The one reader of a study's results (``barrier.csv``, ``scaling.csv``, ``bench.csv`` and
the files their rows stand for): every cell is checked against its column's kind wherever a
table is read, and the tables a resume reads are checked when the folder is opened, so a
damaged folder is refused, naming the file, row and column, before anything is written.
"""

from __future__ import annotations

import csv
import os
import zipfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from cemgd.runs import RunError, StudyFolder

REDO = "give another --out, or delete that row to compute it again"
"""What a refusal of a damaged row suggests."""


class Column(NamedTuple):
    """A column's kind: ``parse`` raises ValueError for a cell not of it (``expected``)."""

    expected: str
    parse: Callable[[str], Any]


def _text(cell: str) -> str:
    if not cell:
        raise ValueError("empty")
    return cell


def number_or(*words: str) -> Column:
    """A number, or one of ``words`` (``""``: left empty)."""
    def parse(cell: str) -> Any:
        return cell if cell in words else float(cell)

    return Column(f"a number or one of {list(words)}", parse)


INT = Column("an int", int)
NUMBER = Column("a number", float)
TEXT = Column("a non-empty text", _text)

RowFiles = Callable[[Path, int, Mapping[str, str]], None]
"""``(folder, row number, row)``: check the files row ``row number`` stands for, raising
:class:`~cemgd.runs.RunError` naming the file."""


@dataclass(frozen=True)
class Table:
    """A study's CSV table: its file name, columns in the order written, key columns (a row
    per key) and, optionally, a check of the files each row stands for."""

    name: str
    columns: Mapping[str, Column]
    keys: tuple[str, ...]
    row_files: RowFiles | None = None

    def check(self, folder: Path, rows: Sequence[Mapping[Any, Any]]) -> None:
        """Raise :class:`~cemgd.runs.RunError` naming ``folder / name`` (and the row and
        column) unless its header is :attr:`columns`, every cell is of its column's kind,
        no key repeats and every row's files are whole. ``rows``: ``csv.DictReader``'s (a
        short row's missing cells None, a long row's extra cells under the key None)."""
        file = folder / self.name
        _check_header(file, list(self.columns))
        seen: dict[tuple[Any, ...], int] = {}
        for i, row in enumerate(rows, 1):
            _check_cells(file, i, row, self.columns)
            key = tuple(row[k] for k in self.keys)
            if key in seen:
                raise RunError(f"{file}: row {i} repeats the {', '.join(self.keys)} of row "
                               f"{seen[key]} ({', '.join(map(str, key))}); {REDO}")
            seen[key] = i
            if self.row_files is not None:
                self.row_files(folder, i, {k: v or "" for k, v in row.items() if k is not None})


def _check_header(file: Path, expected: list[str]) -> None:
    header = _header(file)
    if header is None or header == expected:
        return
    missing = [c for c in expected if c not in header]
    if missing:
        raise RunError(f"{file}: no column {missing[0]!r} (written by an earlier cemgd, or "
                       "damaged); give another --out")
    extra = [c for c in header if c not in expected]
    what = f"unexpected column {extra[0]!r}" if extra else f"columns {header}, expected {expected}"
    raise RunError(f"{file}: {what}; give another --out")


def _header(file: Path) -> list[str] | None:
    """The cells of ``file``'s first line; None without a whole first line (no file, empty,
    or a header torn while written, which the next append replaces)."""
    try:
        with file.open(encoding="utf-8", errors="replace", newline="") as fh:
            line = fh.readline()
    except FileNotFoundError:
        return None
    return next(csv.reader([line]), []) if line.endswith("\n") else None


def _check_cells(file: Path, i: int, row: Mapping[Any, Any],
                 columns: Mapping[str, Column]) -> None:
    if None in row:
        raise RunError(f"{file}: row {i} has more cells than the header; {REDO}")
    for name, column in columns.items():
        cell = row.get(name)
        if cell is None:
            raise RunError(f"{file}: row {i} has fewer cells than the header (no {name!r}); "
                           f"{REDO}")
        try:
            column.parse(cell)
        except ValueError:
            raise RunError(f"{file}: row {i}, column {name!r}: expected {column.expected}, "
                           f"got {cell!r}; {REDO}") from None


class CheckedFolder(StudyFolder):
    """A :class:`~cemgd.runs.StudyFolder` whose ``tables`` are checked (:meth:`Table.check`)
    whenever read: first when it is opened, before its ``.lock`` or anything else is
    written (as :class:`~cemgd.runs.StudyFolder` reads the tables a resume reads then).

    Raises:
        RunError: as :class:`~cemgd.runs.StudyFolder`, or naming a damaged table or file.
    """

    def __init__(self, out: str | os.PathLike[str], config: Any, tables: Sequence[Table],
                 settings: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.tables = {table.name: table for table in tables}
        super().__init__(out, config, tables={t.name: t.keys for t in tables},
                         settings=settings)

    def read(self, name: str) -> list[dict[str, str]]:
        """Rows of table ``name``, checked if it is one of :attr:`tables`."""
        rows = super().read(name)
        if name in self.tables:
            self.tables[name].check(self.path, rows)
        return rows


_DAMAGED = (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error)


def load_arrays(file: Path, names: Sequence[str], note: str = "") -> dict[str, np.ndarray]:
    """The arrays ``names`` of the ``.npz`` ``file``, read whole.

    Raises:
        RunError: naming ``file`` (then ``note``): missing, empty, truncated, not an
            ``.npz``, or without one of ``names``.
    """
    try:
        data = np.load(file, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):  # an .npy's array
            raise ValueError("not an .npz archive")
        with data:
            arrays = {name: np.asarray(data[name]) for name in data.files}
    except FileNotFoundError:
        raise RunError(f"{file}: missing{note}") from None
    except _DAMAGED as err:
        raise RunError(f"{file}: empty, truncated or damaged ({type(err).__name__}: "
                       f"{err}){note}") from None
    missing = [name for name in names if name not in arrays]
    if missing:
        raise RunError(f"{file}: no array {missing[0]!r}{note}")
    return {name: arrays[name] for name in names}
