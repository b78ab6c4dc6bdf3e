"""Small writers shared by the report: numbers, Markdown tables, CSV files."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cemgd.runs import write_atomic


def g(x: float | None) -> str:
    """Three significant digits, no exponent for values >= 100 (``-`` for NaN/None)."""
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.3g}"


def cell(value: Any) -> Any:
    """A CSV cell: floats rounded to 6 decimals, NaN empty."""
    if isinstance(value, float):
        return "" if not math.isfinite(value) else repr(round(value, 6))
    return value


def readable(text: str) -> str:
    """``text`` (e.g. a path) with the bytes of a non-UTF-8 file name shown as ``\\xff``
    escapes, so that a report can write it as UTF-8."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def write_csv(path: Path, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    """``rows`` as CSV with ``columns`` (extra keys ignored), written atomically (errors
    name ``path``)."""
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n",
                            extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: cell(row.get(k)) for k in columns})
    write_atomic(path, buffer.getvalue())


def md_table(header: Sequence[str], rows: Iterable[Sequence[str]],
             right: bool = True) -> list[str]:
    """A Markdown table; columns after the first right-aligned if ``right``."""
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i == 0 or not right else "---:"
                            for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def rel(path: Path, dest: Path) -> str:
    """``path`` relative to ``dest`` where it lies below it."""
    try:
        return path.relative_to(dest).as_posix()
    except ValueError:
        return path.as_posix()


def seeds_text(seeds: Iterable[int]) -> str:
    """``0-4`` for a run of three or more consecutive seeds, else ``0,2``."""
    s = sorted(seeds)
    if s and s == list(range(s[0], s[-1] + 1)) and len(s) > 2:
        return f"{s[0]}-{s[-1]}"
    return ",".join(map(str, s))
