"""Write the README's results summary table from the committed result files.

    python scripts/results_table.py          # (re)write the table in README.md
    python scripts/results_table.py --check  # exit 1 if README.md's table is stale

Every study under ``docs/results/`` with an ``eval/episodes.csv`` (``cemgd evaluate``'s
rows: one per planner and episode) is a column; every planner evaluated in any of them
is a row; a cell is the mean ± sample standard deviation of the episode return, with
the episode count where it differs from the column's usual one. The uniform-random
policy's row comes from the study's ``report/random_policy.csv`` (``cemgd report
--random-episodes``). The table sits in README.md between the ``results-table:begin``
and ``results-table:end`` markers; ``tests/test_results_table.py`` fails when it
differs from what this script writes.
"""

from __future__ import annotations

import argparse
import csv
import re
import statistics
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
README = ROOT / "README.md"
_BLOCK = re.compile(r"(<!-- results-table:begin[^>]*-->\n)(.*?)(<!-- results-table:end -->)",
                    re.S)
#: Rows in this order first (the paper's planners, then the peers); others follow in
#: the order they first appear.
ORDER = ("cem-gd", "cem-gd-robust", "cem-50", "cem-500", "cem-5000", "gd",
         "random-shooting", "mppi", "icem", "gradcem")


def fmt(value: float, like: float | None = None) -> str:
    """Three significant figures of ``like`` (default ``value``), at least no decimals."""
    scale = abs(like if like is not None else value)
    decimals = 0 if scale >= 100 else 1 if scale >= 10 else 2
    return f"{value:.{decimals}f}"


def read_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV file, as dicts."""
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def study_returns(study: Path) -> tuple[str, int, dict[str, list[float]]]:
    """``(task, steps per episode, planner -> returns)`` of a study's ``eval/episodes.csv``.

    Raises:
        ValueError: naming the file, when it holds no rows or several tasks or lengths.
    """
    path = study / "eval" / "episodes.csv"
    rows = read_rows(path)
    tasks = {row["task"] for row in rows}
    lengths = {int(row["steps"]) for row in rows}
    if len(tasks) != 1 or len(lengths) != 1:
        raise ValueError(f"{path}: expected the episodes of one task and one episode "
                         f"length, got tasks {sorted(tasks)} and lengths {sorted(lengths)}")
    returns: dict[str, list[float]] = {}
    for row in rows:
        returns.setdefault(row["planner"], []).append(float(row["return"]))
    return tasks.pop(), lengths.pop(), returns


def random_cell(study: Path, task: str, steps: int) -> str:
    """The uniform-random policy's mean ± std at this task and length, or an empty cell."""
    path = study / "report" / "random_policy.csv"
    if not path.is_file():
        return ""
    for row in read_rows(path):
        if row["task"] == task and int(row["episode_length"]) == steps:
            mean, std = float(row["mean"]), float(row["std"])
            return f"{fmt(mean)} ± {fmt(std, mean)} (n={row['episodes']})"
    return ""


def cell(returns: list[float], usual: int) -> str:
    """``mean ± std`` of the returns, with ``(n=N)`` where N is not the column's usual."""
    mean = statistics.fmean(returns)
    text = fmt(mean)
    if len(returns) > 1:
        text += f" ± {fmt(statistics.stdev(returns), mean)}"
    return text + (f" (n={len(returns)})" if len(returns) != usual else "")


def table(results: Path = RESULTS) -> str:
    """The Markdown table of every study's evaluated planners (see the module docstring)."""
    studies = sorted(p.parent.parent for p in results.glob("*/eval/episodes.csv"))
    if not studies:
        raise ValueError(f"results: no */eval/episodes.csv under {results}")
    columns = [(study, *study_returns(study)) for study in studies]
    seen = [name for *_, returns in columns for name in returns]
    planners = [p for p in ORDER if p in seen] + list(dict.fromkeys(
        p for p in seen if p not in ORDER))
    lines = ["| planner | " + " | ".join(
        f"[{task}](docs/results/{study.name}/README.md), {steps} steps"
        for study, task, steps, _ in columns) + " |",
        "|---|" + "---:|" * len(columns)]
    usual = [Counter(len(r) for r in returns.values()).most_common(1)[0][0]
             for *_, returns in columns]
    for planner in planners:
        cells = [cell(returns[planner], n) if planner in returns else ""
                 for (*_, returns), n in zip(columns, usual, strict=True)]
        lines.append(f"| `{planner}` | " + " | ".join(cells) + " |")
    lines.append("| uniform random | " + " | ".join(
        random_cell(study, task, steps) for study, task, steps, _ in columns) + " |")
    return "\n".join(lines) + "\n"


def render(readme: str, results: Path = RESULTS) -> str:
    """``readme`` with the table between its markers replaced by :func:`table`.

    Raises:
        ValueError: when the README has no ``results-table`` markers.
    """
    if not _BLOCK.search(readme):
        raise ValueError("README.md: no <!-- results-table:begin --> ... "
                         "<!-- results-table:end --> markers")
    return _BLOCK.sub(lambda m: m.group(1) + table(results) + m.group(3), readme, count=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 (and write nothing) if README.md's table is stale")
    args = parser.parse_args(argv)
    text = README.read_text(encoding="utf-8")
    new = render(text)
    if args.check:
        if new != text:
            print("README.md: the results table is stale; run python scripts/results_table.py")
            return 1
        return 0
    if new != text:
        README.write_text(new, encoding="utf-8")
        print("README.md: results table rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
