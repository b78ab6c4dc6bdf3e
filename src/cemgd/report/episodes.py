"""An evaluation folder (``cemgd evaluate``): its files, its reader and its summary.

``episodes.csv`` holds one row per (planner, episode) (:data:`EPISODE_COLUMNS`): what
the episode measured and what produced it (:data:`PROVENANCE_COLUMNS`: code, model,
planner settings as run, hardware), so a folder grown over several commands, versions
or machines says per row which one ran it; ``evaluate.json`` the planners with their
labels and resolved settings, the seeds asked and the hardware of its last command.
Per-planner summaries of provenance (:func:`planner_codes`, :func:`planner_machines`) are
derived from the rows.
:func:`write_episode_summary` writes ``summary.md``, ``summary.csv`` and the figures;
:func:`episode_samples` feeds the paper's claims (paired by seed).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cemgd import plots
from cemgd.planners.spec import PlannerSpec
from cemgd.report import stats
from cemgd.report.claims import Samples
from cemgd.report.exploitation import EXPLOITATION_COLUMNS, evaluation_exploitation
from cemgd.report.load import mean_std
from cemgd.report.text import g, md_table, readable, write_csv
from cemgd.runs import write_atomic

EPISODES_FILE = "episodes.csv"
EVALUATE_FILE = "evaluate.json"
#: Columns every ``episodes.csv`` row has (what the episode measured).
MEASURED_COLUMNS = ("task", "planner", "episode", "seed", "return", "steps", "plan_ms_mean",
                    "plan_ms_p90", "plan_ms_first", "rollouts_per_step", "plan_memory_mb",
                    "peak_rss_mb", "compile_s", "episode_s")
#: What produced an episode: the cemgd code (:func:`cemgd.runtime.code_version`), the
#: model's hash, the planner spec with the settings it ran with (``--quick`` shrinks
#: them), and the machine (CPU model, JAX backend, JAX devices). Rows written before
#: provenance was recorded lack them (read as empty text).
PROVENANCE_COLUMNS = ("code", "model_hash", "spec_as_run", "cpu_model", "jax_backend",
                      "devices")
#: Columns of ``episodes.csv`` as ``cemgd evaluate`` writes them.
EPISODE_COLUMNS = MEASURED_COLUMNS + PROVENANCE_COLUMNS
_TEXT = ("task", "planner")
SUMMARY_COLUMNS = ["planner", "label", "episodes", "return_mean", "return_std", "diff_vs_ref",
                   "diff_ci_low", "diff_ci_high", "pairs", "plan_ms_mean", "plan_ms_p90",
                   "plan_ms_first", "rollouts_per_step", "plan_memory_mb", "peak_rss_mb"]


def is_evaluation(folder: Path) -> bool:
    """``folder`` was written by ``cemgd evaluate``."""
    return (folder / EVALUATE_FILE).is_file() and (folder / EPISODES_FILE).is_file()


class UnusableRows(ValueError):
    """``episodes.csv`` rows that would change the statistics if read: a non-finite
    return (dropped, n falls) or a repeated (planner, episode) (counted twice). A report
    refuses them rather than skip the folder or reshape its numbers."""


def read_evaluation(folder: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``(evaluate.json, episodes.csv rows)``; numbers as floats, a torn last row dropped.

    Raises:
        ValueError: naming the file that is missing or corrupt; :class:`UnusableRows`
            naming the file and the row of a non-finite return or a repeated
            (planner, episode).
    """
    try:
        description = json.loads((folder / EVALUATE_FILE).read_text())
        text = (folder / EPISODES_FILE).read_text()
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{folder}: not a readable evaluation ({err})") from None
    if not isinstance(description, dict):
        raise ValueError(f"{folder / EVALUATE_FILE}: corrupt (not an object)")
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    rows: list[dict[str, Any]] = []
    first: dict[tuple[str, float], int] = {}
    for i, line in enumerate(csv.DictReader(io.StringIO(text, newline="")), start=1):
        try:
            row = {c: line[c] if c in _TEXT else float(line[c]) for c in MEASURED_COLUMNS}
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{folder / EPISODES_FILE}: corrupt row {i} ({err})") from None
        row.update({c: str(line.get(c) or "") for c in PROVENANCE_COLUMNS})
        _check_row(folder / EPISODES_FILE, i, row, first)
        rows.append(row)
    return description, rows


def upgrade_episodes_file(file: Path) -> None:
    """Give an ``episodes.csv`` written before rows recorded their provenance the
    columns of :data:`EPISODE_COLUMNS` (its rows' provenance left empty: not recorded),
    so a resumed folder appends rows of one header. A current or absent file is left
    as it is; a torn last row is dropped.

    Raises:
        ValueError: naming the file when it is not UTF-8 CSV text.
    """
    if not file.is_file() or file.stat().st_size == 0:
        return
    try:
        text = file.read_text(encoding="utf-8")
        if not text.endswith("\n"):
            text = text[: text.rfind("\n") + 1]
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header, rows = list(reader.fieldnames or []), list(reader)
    except (UnicodeDecodeError, csv.Error) as err:
        raise ValueError(f"{file}: corrupt ({err})") from None
    if not header or header == list(EPISODE_COLUMNS):
        return
    columns = list(dict.fromkeys([*header, *EPISODE_COLUMNS]))
    write_csv(file, [{c: r.get(c) or "" for c in columns} for r in rows], columns)


def planner_codes(description: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]
                  ) -> dict[str, str]:
    """The cemgd code that ran each planner's episodes, from the rows: its distinct
    codes in the order they ran, joined by ``" + "`` (``"A + B"`` where a folder grew
    over two versions). A row without one (written before rows recorded their code)
    counts as the code its planner's ``evaluate.json`` entry names, if any."""
    recorded = {p["spec"]: str(p.get("code") or "")
                for p in description.get("planners", []) if isinstance(p, dict) and "spec" in p}
    codes = _distinct(rows, lambda r: str(r.get("code") or "")
                      or recorded.get(str(r["planner"]), ""))
    for spec, code in recorded.items():  # a planner listed with no row yet
        if spec not in codes and code:
            codes[spec] = code
    return codes


def row_machine(row: Mapping[str, Any]) -> str:
    """The machine an ``episodes.csv`` row records (``"AMD EPYC, JAX cpu: cpu x 1"``);
    empty for a row written before rows recorded it."""
    cpu, backend, devices = (str(row.get(c) or "") for c in ("cpu_model", "jax_backend",
                                                             "devices"))
    if not (cpu or backend or devices):
        return ""
    return f"{cpu or '?'}, JAX {backend or '?'}: {devices or '?'}"


def planner_machines(rows: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """The machines that ran each planner's episodes, from the rows (:func:`row_machine`):
    distinct, in the order they ran, joined by ``" + "``; a planner none of whose rows
    records one is left out."""
    return _distinct(rows, row_machine)


def _distinct(rows: Sequence[Mapping[str, Any]], value: Callable[[Mapping[str, Any]], str]
              ) -> dict[str, str]:
    """Each planner's distinct non-empty ``value(row)`` in row order, joined by ``" + "``."""
    seen: dict[str, dict[str, None]] = {}
    for r in rows:
        text = value(r)
        if text:
            seen.setdefault(str(r["planner"]), {})[text] = None
    return {spec: " + ".join(values) for spec, values in seen.items()}


def _check_row(file: Path, i: int, row: Mapping[str, Any],
               first: dict[tuple[str, float], int]) -> None:
    """Refuse row ``i`` (1-based, header aside) of ``file`` with a non-finite return or
    the (planner, episode) of an earlier row (``first``: key -> row, updated)."""
    if not math.isfinite(row["return"]):
        raise UnusableRows(f"{file}: row {i} ({row['planner']}, episode "
                           f"{row['episode']:g}): return {row['return']} is not finite")
    key = (str(row["planner"]), row["episode"])
    if key in first:
        raise UnusableRows(f"{file}: row {i} repeats {key[0]} episode {key[1]:g} of row "
                           f"{first[key]}; keep one of them")
    first[key] = i


def _planners(description: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> list[str]:
    listed = [p["spec"] for p in description.get("planners", [])]
    return listed + sorted({r["planner"] for r in rows} - set(listed))


def _by_seed(rows: Sequence[Mapping[str, Any]], planner: str, key: str) -> dict[int, float]:
    return {int(r["seed"]): float(r[key]) for r in rows if r["planner"] == planner}


def summarize(description: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]
              ) -> list[dict[str, Any]]:
    """One row per planner (:data:`SUMMARY_COLUMNS`): means over its episodes and the
    paired difference of returns against the reference, with its 95% t interval."""
    labels = {p["spec"]: p.get("label", p["spec"]) for p in description.get("planners", [])}
    planners = _planners(description, rows)
    ref = (description.get("config") or {}).get("reference") or (planners[0] if planners else "")
    out = []
    for p in planners:
        mine = [r for r in rows if r["planner"] == p]
        if not mine:
            continue
        mean, std, n = mean_std(r["return"] for r in mine)
        c = stats.compare(_by_seed(rows, p, "return"), _by_seed(rows, ref, "return"))
        paired = p != ref and c is not None and c.paired
        row = {"planner": p, "label": labels.get(p, p), "episodes": n, "return_mean": mean,
               "return_std": std, "diff_vs_ref": c.diff if paired else math.nan,
               "diff_ci_low": c.low if paired else math.nan,
               "diff_ci_high": c.high if paired else math.nan, "pairs": c.n if paired else 0}
        for key in ("plan_ms_mean", "plan_ms_p90", "plan_ms_first", "rollouts_per_step",
                    "plan_memory_mb"):
            row[key] = float(np.mean([r[key] for r in mine]))
        row["peak_rss_mb"] = float(np.max([r["peak_rss_mb"] for r in mine]))
        out.append(row)
    return out


def episode_samples(description: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]
                    ) -> Samples:
    """The evaluation as claim :class:`Samples`: per planner, values by episode seed.

    Planners are keyed by their canonical spec (``cem-gd``, ``cem-5000``); ``cem-gd``
    and its N_r variants (``cem-gd:n_replan=10``) record their N_r for the N_r claim,
    other CEM-GD settings (``cem-gd-robust``, ``cem-gd:grad_steps=5``) do not: the claim
    varies N_r alone.
    """
    out = Samples()
    settings = {p["spec"]: p for p in description.get("planners", [])}
    for r in rows:
        key = (str(r["task"]), str(r["planner"]))
        out.values.setdefault(key, {})[int(r["seed"])] = {
            "return": r["return"], "plan_s": r["plan_ms_mean"] / 1e3,
            "plan_memory_mb": r["plan_memory_mb"]}
        info = settings.get(r["planner"], {})
        if _plain_cem_gd(r["planner"]) and "n_replan" in info.get("settings", {}):
            out.n_replan[key] = float(info["settings"]["n_replan"])
    return out


def _plain_cem_gd(spec: str) -> bool:
    """``cem-gd`` with the paper's settings but perhaps N_r (``cem-gd:n_replan=10``)."""
    try:
        parsed = PlannerSpec.parse(spec)
    except ValueError:  # a spec this version no longer reads: not an N_r variant
        return False
    return parsed.name == "cem-gd" and not parsed.preset and set(parsed.settings) <= {"n_replan"}


def summary_lines(description: Mapping[str, Any], table: Sequence[Mapping[str, Any]]
                  ) -> list[str]:
    """The per-planner Markdown table of an evaluation."""
    ref = (description.get("config") or {}).get("reference", "")
    lines = [f"Return: mean ± std over episodes; Δ: mean paired difference of returns "
             f"against `{ref}` on the same seeds, [95% paired t CI]. Times per planning "
             "step (ms), compile excluded; memory: the compiled step (XLA).", ""]
    lines += md_table(
        ["planner", "label", "n", "return", "Δ vs ref [CI]", "ms/step", "p90 ms", "first ms",
         "rollouts/step", "step MB", "peak RSS MB"],
        [[r["planner"], r["label"], str(r["episodes"]),
          f"{g(r['return_mean'])} ± {g(r['return_std'])}",
          "-" if not r["pairs"] else
          f"{g(r['diff_vs_ref'])} [{g(r['diff_ci_low'])}, {g(r['diff_ci_high'])}]",
          g(r["plan_ms_mean"]), g(r["plan_ms_p90"]), g(r["plan_ms_first"]),
          g(r["rollouts_per_step"]), g(r["plan_memory_mb"]), g(r["peak_rss_mb"])]
         for r in table])
    return lines + [""]


def episode_figures(dest: Path, description: Mapping[str, Any],
                    rows: Sequence[Mapping[str, Any]], table: Sequence[Mapping[str, Any]],
                    prefix: str = "",
                    floors: Sequence[tuple[str, float]] = ()) -> list[Path]:
    """``{prefix}returns.png`` and ``{prefix}return_vs_rollouts.png``, with ``floors``
    (``[(label, return)]``, e.g. the uniform-random policy) as dashed lines; the files
    written."""
    if not rows:
        return []
    title = f"{rows[0]['task']}, model of trial {(description.get('config') or {}).get('trial')}"
    returns = {r["planner"]: [x["return"] for x in rows if x["planner"] == r["planner"]]
               for r in table}
    files = [dest / f"{prefix}returns.png", dest / f"{prefix}return_vs_rollouts.png"]
    plots.returns_per_planner(files[0], title, returns, floors)
    points = {r["planner"]: {"rollouts": r["rollouts_per_step"], "mean": r["return_mean"],
                             "std": r["return_std"]} for r in table}
    plots.return_vs_rollouts(files[1], title, points, floors)
    return files


def write_episode_summary(folder: Path) -> Path:
    """Write ``summary.md``, ``summary.csv`` and the figures of an evaluation (with
    per-step files, also ``exploitation.csv`` and ``predicted_vs_realised.png``); returns
    ``summary.md``."""
    description, rows = read_evaluation(folder)
    table = summarize(description, rows)
    write_csv(folder / "summary.csv", table, SUMMARY_COLUMNS)
    figures = episode_figures(folder, description, rows, table)
    cfg = description.get("config") or {}
    lines = [f"# Evaluation: {cfg.get('task', '?')}, model of trial {cfg.get('trial', '?')}", ""]
    if cfg.get("quick"):
        lines += ["> **`--quick`**: planners shrunk and short episodes; see the labels.", ""]
    seeds = sorted({int(r["seed"]) for r in rows})  # those the rows ran
    lines += [f"Run `{cfg.get('run_dir', '?')}`, episode seeds {seeds}, "
              f"{cfg.get('episode_length')} steps per episode.", ""]
    lines += summary_lines(description, table)
    lines += [f"![{p.stem}]({p.name})" for p in figures] + [""]
    over, _, over_lines = evaluation_exploitation(folder, description, rows, folder)
    if over:
        write_csv(folder / "exploitation.csv", over, ["task", *EXPLOITATION_COLUMNS])
        lines += ["## Predicted against realised return", "", *over_lines]
    path = folder / "summary.md"
    write_atomic(path, readable("\n".join(lines)))  # a non-UTF-8 run path shown escaped
    return path
