"""What ``evaluate`` checks of an existing output folder before it opens it (reading only):
that it is an evaluation folder, not a run, model or sweep folder, and that every row of
``episodes.csv`` a resume skips by and the summary reads is whole."""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cemgd.evaluate.modelfolder import META_FILE
from cemgd.report.episodes import MEASURED_COLUMNS
from cemgd.runs import METRICS_FILE, RunError
from cemgd.validate import SEED_MAX

_TEXT = ("task", "planner")
#: Columns of whole numbers >= 0, and their largest value (None: any).
_INTS: dict[str, int | None] = {"episode": None, "seed": SEED_MAX}
_DIGITS = re.compile(r"[0-9]+")


def refuse_other_folder(folder: Path, recorded: Mapping[str, Any]) -> None:
    """Refuse ``folder`` (whose ``config.json`` holds ``recorded``) when it is a PETS run
    folder (``cemgd train``), a model folder (``cemgd export-model``) or a sweep folder:
    its files are not an evaluation's.

    Raises:
        RunError: ``"out: FOLDER is a PETS run folder ..., not an evaluation folder"``.
    """
    if (folder / META_FILE).is_file():
        kind = "a model folder (cemgd export-model)"
    elif "planner" in recorded or "planner_config" in recorded \
            or (folder / METRICS_FILE).exists():
        kind = "a PETS run folder (cemgd train)"
    elif (folder / "sweep.json").is_file():
        kind = "a sweep folder (cemgd sweep)"
    else:
        return
    raise RunError(f"out: {folder} is {kind}, not an evaluation folder; give another --out")


def check_episodes(file: Path) -> None:
    """Refuse an ``episodes.csv`` with a row a resume or the summary cannot read: a
    column missing, a measure that is not a number, a return that is not finite, an
    episode or seed that is not a whole number >= 0, or a (planner, episode) of an
    earlier row. A torn last row (a killed write) is left out, as it is when read.

    Raises:
        RunError: naming the file and the row (1-based, header aside).
    """
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RunError(f"{file}: corrupt (not UTF-8 text at byte {err.start})") from None
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    first: dict[tuple[str, str], int] = {}
    try:
        for i, row in enumerate(csv.DictReader(io.StringIO(text, newline="")), start=1):
            problem = _row_problem(row)
            if problem:
                raise RunError(f"{file}: corrupt row {i} ({problem}); repair or remove the "
                               "row, or give another --out")
            key = (row["planner"], row["episode"])
            if key in first:
                raise RunError(f"{file}: row {i} repeats {key[0]} episode {key[1]} of row "
                               f"{first[key]}; keep one of them")
            first[key] = i
    except csv.Error as err:
        raise RunError(f"{file}: corrupt ({err})") from None


def _row_problem(row: Mapping[str, str | None]) -> str:
    """What is wrong with one row of ``episodes.csv`` (``""``: nothing)."""
    for column in MEASURED_COLUMNS:
        value = row.get(column)
        if value is None:
            return f"column {column} missing"
        if column in _TEXT:
            continue
        if column in _INTS:
            high = _INTS[column]
            if not _DIGITS.fullmatch(value) or (high is not None and int(value) > high):
                within = ">= 0" if high is None else f"in [0, {high}]"
                return f"{column}: expected a whole number {within}, got {value!r}"
            continue
        try:
            number = float(value)
        except ValueError:
            return f"{column}: expected a number, got {value!r}"
        if column == "return" and not math.isfinite(number):
            return f"return: expected a finite number, got {value!r}"
    return ""
