"""Evaluation folders (``cemgd evaluate``) inside a report: found, read, tabled, described.

Each evaluation gives Tables 1 and 2 rows (time and memory per planning step, over its
episodes), a per-planner summary, its figures, and claim samples paired by episode seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cemgd.report.claims import Samples
from cemgd.report.episodes import (
    EVALUATE_FILE,
    UnusableRows,
    episode_figures,
    episode_samples,
    is_evaluation,
    planner_codes,
    planner_machines,
    read_evaluation,
    summarize,
    summary_lines,
)
from cemgd.report.load import Skipped, mean_std
from cemgd.report.paper import PAPER_TABLE1_S, PAPER_TABLE2_MB
from cemgd.report.settings import settings_diff
from cemgd.report.text import md_table


@dataclass
class Evaluation:
    """One evaluation folder as read."""

    folder: str
    """Relative to the report's root (``.`` for the root itself)."""
    description: dict[str, Any]
    """``evaluate.json``."""
    rows: list[dict[str, Any]]
    """``episodes.csv``."""
    name: str = ""
    """How the report names it (the folder's own name for the report's root)."""
    label: str = ""
    """Its column in tables and prefix of its figures: the task, or ``task (name)``
    where the task was evaluated on several models."""

    @property
    def task(self) -> str:
        return str((self.description.get("config") or {}).get("task", "?"))

    @property
    def prefix(self) -> str:
        """Its figures' file-name prefix (``halfcheetah_``, ``halfcheetah_model-2_``)."""
        return self.label.replace(" (", "_").replace(")", "").replace("/", "-") + "_"

    @property
    def model_id(self) -> str | None:
        """The model's hash where ``evaluate.json`` records one (None: not recorded)."""
        cfg = self.description.get("config") or {}
        value = cfg.get("model_hash") or (self.description.get("model") or {}).get("hash")
        return str(value) if value else None

    @property
    def quick(self) -> bool:
        return bool((self.description.get("config") or {}).get("quick"))

    def planners(self) -> list[str]:
        return list(dict.fromkeys(str(r["planner"]) for r in self.rows))

    def seeds(self) -> list[int]:
        """The episode seeds asked of its planners (``evaluate.json``'s entries, in order;
        an entry without its own, the folder's), then any other seed its rows ran."""
        listed = (self.description.get("config") or {}).get("seeds") or []
        asked = [s for p in self.description.get("planners", []) if isinstance(p, dict)
                 for s in (p["seeds"] if isinstance(p.get("seeds"), list) else listed)]
        ran = sorted({int(r["seed"]) for r in self.rows})
        return list(dict.fromkeys(int(s) for s in [*asked, *listed, *ran]))

    def asked(self) -> dict[str, int]:
        """Episodes asked of each planner listed in ``evaluate.json``: its own seeds, or
        the folder's where the entry has none (written before planners had their own)."""
        n = len((self.description.get("config") or {}).get("seeds") or self.seeds())
        return {str(p.get("spec")): len(p["seeds"]) if isinstance(p.get("seeds"), list) else n
                for p in self.description.get("planners", []) if isinstance(p, dict)}

    def progress_lines(self) -> list[str]:
        """Planners with fewer episodes than seeds asked of them, and those listed but not
        started: what makes an evaluation partial (empty when complete)."""
        asked, n = self.asked(), len(self.seeds())
        counts = {p: sum(r["planner"] == p for r in self.rows) for p in self.planners()}
        short = [f"{p} {c} of {asked.get(p, n)}" for p, c in counts.items()
                 if c < asked.get(p, n)]
        waiting = [p for p in asked if p not in counts]
        if not short and not waiting:
            return []
        text = "**Partial**: " + "; ".join(
            ([f"episodes so far: {', '.join(short)}"] if short else [])
            + ([f"no episode yet: {', '.join(waiting)}"] if waiting else []))
        return [text + ". Rerunning the evaluate command completes it.", ""]

    def rss_lines(self) -> list[str]:
        """Why peak RSS per planner may not be the planner's own."""
        cfg = self.description.get("config") or {}
        if cfg.get("ray") or cfg.get("workers"):
            return ["Peak RSS: each planner ran in its own process, so it is that planner's.",
                    ""]
        ran = ("all planners ran in one process, so" if "workers" in cfg else
               "how the planners ran was not recorded. If they ran in one process (the "
               "default),")
        return [f"Peak RSS: {ran} a planner's peak includes the planners run before it; "
                "`cemgd evaluate --workers N` gives each planner's own.", ""]


def find_evaluations(root: Path) -> list[Path]:
    """Folders at or under ``root`` written by ``cemgd evaluate``, sorted."""
    found = {p.parent for p in root.rglob(EVALUATE_FILE) if is_evaluation(p.parent)}
    return sorted(found)


def load_evaluations(root: Path) -> tuple[list[Evaluation], list[Skipped]]:
    """Every evaluation under ``root`` (several of one task are that task on several
    models, one folder per model: a second folder of the same model is skipped), and
    those that cannot be used, with why.

    Raises:
        UnusableRows: an ``episodes.csv`` with a non-finite return or a repeated row
            (reading it would reshape the statistics; skipping would hide it).
    """
    out: list[Evaluation] = []
    skipped: list[Skipped] = []
    for folder in find_evaluations(root):
        rel = folder.relative_to(root).as_posix() or "."
        try:
            description, rows = read_evaluation(folder)
        except UnusableRows:
            raise  # rows that would change the statistics: refused, never skipped
        except ValueError as err:
            skipped.append(Skipped(rel, str(err)))
            continue
        ev = Evaluation(rel, description, rows, rel if rel != "." else root.resolve().name)
        if not rows:
            skipped.append(Skipped(rel, "episodes.csv has no episode"))
        elif (ev.model_id is not None
              and any((e.task, e.model_id) == (ev.task, ev.model_id) for e in out)):
            skipped.append(Skipped(rel, f"a second evaluation of {ev.task} on the same model "
                                        "(one folder per model)"))
        else:
            out.append(ev)
    for ev in out:
        several = sum(e.task == ev.task for e in out) > 1
        ev.label = f"{ev.task} ({ev.name})" if several else ev.task
    return out, skipped


def evaluation_samples(evaluations: Sequence[Evaluation]) -> Samples:
    """Claim samples of every evaluation: keyed by episode seed, or by ``(model, seed)``
    (the model named by its folder) where a task was evaluated on several models."""
    merged = Samples()
    for ev in evaluations:
        s = episode_samples(ev.description, ev.rows)
        several = ev.label != ev.task
        for key, by_seed in s.values.items():
            into = merged.values.setdefault(key, {})
            into.update({(ev.name, k) if several else k: v for k, v in by_seed.items()})
        merged.n_replan.update(s.n_replan)
    return merged


def time_memory_rows(evaluations: Sequence[Evaluation]) -> tuple[list[dict], list[dict]]:
    """Rows in the shape of Tables 1 and 2 (``runs`` = episodes), from the evaluations."""
    t1, t2 = [], []
    for ev in evaluations:
        for p in ev.planners():
            mine = [r for r in ev.rows if r["planner"] == p]
            mean, std, n = mean_std(r["plan_ms_mean"] / 1e3 for r in mine)
            first = float(np.mean([r["plan_ms_first"] for r in mine]))
            later = [(r["plan_ms_mean"] * r["steps"] - r["plan_ms_first"]) / max(r["steps"] - 1, 1)
                     for r in mine]
            t1.append({"task": ev.label, "planner": p, "runs": n, "plan_s_mean": mean,
                       "plan_s_std": std, "first_step_s": first / 1e3,
                       "later_steps_s": float(np.mean(later)) / 1e3,
                       "paper_s": PAPER_TABLE1_S.get(p, {}).get(ev.task, math.nan)})
            xla, xla_std, _ = mean_std(r["plan_memory_mb"] for r in mine)
            rss, rss_std, _ = mean_std(r["peak_rss_mb"] for r in mine)
            t2.append({"task": ev.label, "planner": p, "runs": n, "plan_memory_mb": xla,
                       "plan_memory_mb_std": xla_std, "peak_rss_mb": rss,
                       "peak_rss_mb_std": rss_std,
                       "paper_mb": PAPER_TABLE2_MB.get(p, {}).get(ev.task, math.nan)})
    return t1, t2


def evaluation_figures(
    dest: Path, evaluations: Sequence[Evaluation],
    floors: Callable[[Evaluation], Sequence[tuple[str, float]]] = lambda ev: (),
) -> list[Path]:
    """Per evaluation, ``<prefix>returns.png`` and ``<prefix>return_vs_rollouts.png``, with
    ``floors(ev)`` (``[(label, return)]``) as dashed lines."""
    files = []
    for ev in evaluations:
        table = summarize(ev.description, ev.rows)
        files += episode_figures(dest, ev.description, ev.rows, table, prefix=ev.prefix,
                                 floors=floors(ev))
    return files


def evaluation_lines(evaluations: Sequence[Evaluation], files: Sequence[Path]) -> list[str]:
    """``## Planner comparison on frozen models``: one summary per evaluation."""
    if not evaluations:
        return []
    names = {p.name for p in files}
    lines = ["## Planner comparison on frozen models (`cemgd evaluate`)", "",
             "Every planner on the same learned model, on the same environment seeds, so "
             "only the planner changes (the paper's planner claims without model-learning "
             "noise).", ""]
    for ev in evaluations:
        cfg = ev.description.get("config") or {}
        lines += [f"### {ev.label}: model of trial {cfg.get('trial')} (`{ev.name}`)", "",
                  f"Run `{cfg.get('run_dir')}`, {len(set(r['seed'] for r in ev.rows))} "
                  f"episode seed(s), {cfg.get('episode_length')} steps per episode"
                  f"{', --quick' if ev.quick else ''}.", ""]
        lines += ev.progress_lines()
        lines += summary_lines(ev.description, summarize(ev.description, ev.rows))
        lines += ev.rss_lines()
        lines += [f"![{n}]({n})" for n in (f"{ev.prefix}returns.png",
                                           f"{ev.prefix}return_vs_rollouts.png") if n in names]
        lines += [""]
    return lines


def evaluation_planner_rows(evaluations: Sequence[Evaluation]) -> list[list[str]]:
    """``[evaluation, planner, family, label of the settings it ran with, those of its
    settings that differ from its name's defaults, code, machine]`` per evaluation and
    planner that has episodes (a planner listed but not started yet is
    in :meth:`Evaluation.progress_lines`): the code and the machine are those its rows
    record (:func:`planner_codes`, with ``evaluate.json``'s code for rows written before
    rows did; :func:`planner_machines`)."""
    rows = []
    for ev in evaluations:
        described = {p["spec"]: p for p in ev.description.get("planners", [])}
        codes, machines = planner_codes(ev.description, ev.rows), planner_machines(ev.rows)
        for spec in ev.planners():
            p = described.get(spec, {})
            settings = p.get("settings")
            rows.append([ev.label, spec, str(p.get("family", "not recorded")),
                         str(p.get("label", "not recorded")),
                         settings_diff(spec, settings) if isinstance(settings, dict)
                         else "not recorded",
                         codes.get(spec, "not recorded"), machines.get(spec, "not recorded")])
    return rows


def evaluation_planner_lines(evaluations: Sequence[Evaluation]) -> list[str]:
    """The planners of the evaluations with the settings they actually ran with."""
    if not evaluations:
        return []
    lines = ["### Planners as evaluated", "",
             "Each planner with the label of the settings it ran with (`evaluate.json`; "
             "with `--quick` these are shrunk from the name's), those of its settings that "
             "differ from its name's defaults in this version of cemgd, and the cemgd code "
             "and the machine that ran its episodes (as their rows in `episodes.csv` record "
             "them):", ""]
    lines += md_table(["evaluation", "planner", "family", "as run",
                       "settings that differ from the name's defaults", "code", "machine"],
                      evaluation_planner_rows(evaluations), right=False)
    return lines + [""]
