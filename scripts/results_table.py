"""Write the results tables of README.md and the results pages from the committed files.

    python scripts/results_table.py          # (re)write every generated table
    python scripts/results_table.py --check  # exit 1 if any is stale

Every study under ``docs/results/`` with an ``eval/episodes.csv`` (``cemgd evaluate``'s
rows: one per planner and episode) is a column; every planner evaluated in any of them
is a row; a cell is the mean ± sample standard deviation of the episode return, with
the episode count where it differs from the column's usual one. The uniform-random
policy's row comes from the study's ``report/random_policy.csv`` (``cemgd report
--random-episodes``); a study without a ``report/`` folder has "no report" in its
header (its page says why). The table sits in README.md
between the ``results-table:begin`` and ``results-table:end`` markers.

Each such study's page, ``docs/results/<study>/README.md``, gets between its
``study-tables`` markers the planners' returns, plan times and compiled-step memory
(``eval/episodes.csv``) and the report's verdict on each of the paper's claims
(``report/evaluate_claims.csv``, as ``cemgd report`` states it); the comparison page
(``docs/results/comparison/README.md``) gets every claim's verdict per task, between its
``claims-matrix`` markers, from ``comparison/evaluate_claims.csv``.
Any results page may also hold ``<!-- csv-table:begin FILE COL,COL,... -->`` ...
``<!-- csv-table:end -->``: the named columns of the CSV file ``FILE`` (relative to the
page), every row, numbers to three significant figures.
``tests/test_results_table.py`` fails when a page differs from what this script writes.
"""

from __future__ import annotations

import argparse
import csv
import re
import statistics
import sys
from collections import Counter
from pathlib import Path

from cemgd.runs import read_json_object

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
README = ROOT / "README.md"
def _markers(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- {name}:begin[^>]*-->\n)(.*?)(<!-- {name}:end -->)", re.S)
#: Rows in this order first (the paper's planners, then the peers); others follow in
#: the order they first appear.
ORDER = ("cem-gd", "cem-gd-robust", "cem-50", "cem-500", "cem-5000", "gd",
         "random-shooting", "mppi", "icem", "gradcem")


def fmt(value: float, like: float | None = None) -> str:
    """Three significant figures of ``like`` (default ``value``), at least no decimals."""
    scale = abs(like if like is not None else value)
    decimals = 0 if scale >= 100 else 1 if scale >= 10 else 2
    return f"{value:.{decimals}f}"


def read_rows(path: Path, needs: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """The rows of a CSV file, as dicts.

    Raises:
        ValueError: naming the file, when it lacks one of the columns in ``needs``.
    """
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in needs if c not in (reader.fieldnames or ())]
        if missing:
            raise ValueError(f"{path}: no column(s) {missing}")
        return list(reader)


def page_text(page: Path) -> str:
    """A results page's text.

    Raises:
        ValueError: naming the page, when it does not exist.
    """
    if not page.is_file():
        raise ValueError(f"{page}: missing; a study with eval/episodes.csv needs a page "
                         "with <!-- study-tables:begin --> ... <!-- study-tables:end -->")
    return page.read_text(encoding="utf-8")


def study_returns(study: Path) -> tuple[str, int, dict[str, list[float]]]:
    """``(task, steps per episode, planner -> returns)`` of a study's ``eval/episodes.csv``.

    Raises:
        ValueError: naming the file, when it holds no rows or several tasks or lengths.
    """
    path = study / "eval" / "episodes.csv"
    rows = read_rows(path, ("task", "planner", "return", "steps"))
    tasks = {row["task"] for row in rows}
    lengths = {int(row["steps"]) for row in rows}
    limit = _episode_limit(study / "eval" / "evaluate.json")
    if limit and max(lengths) <= limit:  # episodes a termination ended early: the limit
        lengths = {limit}
    if len(tasks) != 1 or len(lengths) != 1:
        raise ValueError(f"{path}: expected the episodes of one task and one episode "
                         f"length, got tasks {sorted(tasks)} and lengths {sorted(lengths)}")
    returns: dict[str, list[float]] = {}
    for row in rows:
        returns.setdefault(row["planner"], []).append(float(row["return"]))
    return tasks.pop(), lengths.pop(), returns


def _episode_limit(file: Path) -> int | None:
    """The step limit an ``evaluate.json``'s config records (``None``: no file, or none
    recorded); a damaged file is a RunError naming it."""
    described = read_json_object(file) or {}
    config = described.get("config")
    limit = config.get("episode_length") if isinstance(config, dict) else None
    return limit if isinstance(limit, int) and limit > 0 else None


def random_cell(study: Path, task: str, steps: int) -> str:
    """The uniform-random policy's mean ± std at this task and length, or an empty cell."""
    path = study / "report" / "random_policy.csv"
    if not path.is_file():
        return ""
    for row in read_rows(path, ("task", "episode_length", "episodes", "mean", "std")):
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
        + ("" if (study / "report").is_dir() else " (no report)")
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


def replace_block(text: str, name: str, body: str, where: str) -> str:
    """``text`` with what lies between its ``name`` markers replaced by ``body``.

    Raises:
        ValueError: naming ``where``, when the text has no such markers.
    """
    pattern = _markers(name)
    if not pattern.search(text):
        raise ValueError(f"{where}: no <!-- {name}:begin --> ... <!-- {name}:end --> markers")
    return pattern.sub(lambda m: m.group(1) + body + m.group(3), text, count=1)


def render(readme: str, results: Path = RESULTS) -> str:
    """``readme`` with the table between its markers replaced by :func:`table`.

    Raises:
        ValueError: when the README has no ``results-table`` markers.
    """
    replace_block(readme, "results-table", "", "README.md")  # the markers, before the files
    return replace_block(readme, "results-table", table(results), "README.md")


def study_tables(study: Path) -> str:
    """A study page's tables: each planner's episodes, and the report's claims."""
    task, steps, _ = study_returns(study)
    rows = read_rows(study / "eval" / "episodes.csv", ("plan_ms_mean", "plan_memory_mb"))
    planners = list(dict.fromkeys(row["planner"] for row in rows))
    lines = [f"Episodes of {steps} steps on `{task}`. Return: mean ± sample std over the "
             "episodes; plan time: mean seconds per planning step (compile excluded); "
             "memory: the compiled planning step (XLA's analysis).", "",
             "| planner | episodes | return | plan s/step | step MB |", "|---|---:|---:|---:|---:|"]
    for planner in planners:
        mine = [row for row in rows if row["planner"] == planner]
        seconds = statistics.fmean(float(r["plan_ms_mean"]) for r in mine) / 1000
        memory = max(float(r["plan_memory_mb"]) for r in mine)
        lines.append(f"| `{planner}` | {len(mine)} | "
                     f"{cell([float(r['return']) for r in mine], len(mine))} | "
                     f"{fmt(seconds)} | {fmt(memory)} |")
    random = random_cell(study, task, steps)
    if random:
        lines.append(f"| uniform random | | {random} | | |")
    claims = study / "report" / "evaluate_claims.csv"
    if claims.is_file():
        lines += ["", "The paper's claims as `cemgd report` decides them "
                  "([`report/REPORT.md`](report/REPORT.md)):", "",
                  "| claim | ours | test | verdict |", "|---|---|---|---|"]
        for row in read_rows(claims, ("claim", "ours", "test", "verdict")):
            verdict = row["verdict"]
            if row.get("n_needed"):
                verdict += f" (about {row['n_needed']} pairs for 80% power)"
            lines.append(f"| {row['claim']} | {row['ours']} | {row['test']} | {verdict} |")
    return "\n".join(lines) + "\n"


def claims_matrix(path: Path) -> str:
    """Every claim of a multi-task ``evaluate_claims.csv``, one verdict column per task."""
    rows = read_rows(path, ("claim", "task", "verdict"))
    tasks = list(dict.fromkeys(row["task"] for row in rows))
    claims = list(dict.fromkeys(row["claim"] for row in rows))
    verdict = {(row["claim"], row["task"]): row["verdict"] for row in rows}
    lines = ["| claim | " + " | ".join(tasks) + " |", "|---|" + "---|" * len(tasks)]
    for claim in claims:
        lines.append(f"| {claim} | " + " | ".join(verdict.get((claim, t), "")
                                                   for t in tasks) + " |")
    return "\n".join(lines) + "\n"


_CSV_TABLE = re.compile(r"(<!-- csv-table:begin (\S+) (\S+) -->\n)(.*?)(<!-- csv-table:end -->)",
                        re.S)


def number(text: str) -> str:
    """A CSV value for a table: a float to three significant figures, else as it is."""
    try:
        value = float(text)
    except ValueError:
        return text
    if value.is_integer():
        return str(int(value))
    return fmt(value) if abs(value) >= 1 else f"{value:.3g}"


def csv_table(path: Path, columns: list[str]) -> str:
    """The ``columns`` of the CSV file at ``path``, as a Markdown table.

    Raises:
        ValueError: naming the file, when a column is missing.
    """
    rows = read_rows(path, tuple(columns))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(number(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def csv_tables(page: Path, text: str) -> str:
    """``text`` (the page at ``page``) with every ``csv-table`` block regenerated."""
    return _CSV_TABLE.sub(lambda m: m.group(1) + csv_table(
        page.parent / m.group(2), m.group(3).split(",")) + m.group(5), text)


def pages(results: Path = RESULTS, readme: Path = README) -> dict[Path, str]:
    """Every page with generated tables, as this script would write it."""
    out = {readme: render(readme.read_text(encoding="utf-8"), results)}
    for study in sorted(p.parent.parent for p in results.glob("*/eval/episodes.csv")):
        page = study / "README.md"
        out[page] = replace_block(page_text(page), "study-tables",
                                  study_tables(study), str(page.relative_to(results.parent)))
    matrix = results / "comparison" / "evaluate_claims.csv"
    if matrix.is_file():
        page = results / "comparison" / "README.md"
        out[page] = replace_block(page_text(page), "claims-matrix",
                                  claims_matrix(matrix), str(page.relative_to(results.parent)))
    for page in sorted(results.glob("*/README.md")):
        text = out.get(page, page.read_text(encoding="utf-8"))
        if _CSV_TABLE.search(text):
            out[page] = csv_tables(page, text)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 (and write nothing) if a generated table is stale")
    args = parser.parse_args(argv)
    stale = [(path, text) for path, text in pages().items()
             if path.read_text(encoding="utf-8") != text]
    for path, text in stale:
        if args.check:
            print(f"{path.relative_to(ROOT)}: stale; run python scripts/results_table.py")
        else:
            path.write_text(text, encoding="utf-8")
            print(f"{path.relative_to(ROOT)}: tables rewritten")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
