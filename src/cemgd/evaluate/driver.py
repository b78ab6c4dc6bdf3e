"""``evaluate``: the output folder (locked, resumed row by row) and the one writer of its rows."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

from cemgd.evaluate.core import (
    STEPS_KEY,
    EvaluateConfig,
    FrozenModel,
    build_planner,
    frozen_model,
    planner_episodes,
    spec_stem,
)
from cemgd.evaluate.dispatch import run_pool, run_ray
from cemgd.evaluate.outfolder import check_episodes, refuse_other_folder
from cemgd.evaluate.provenance import settings_label
from cemgd.pets.config import ADDED_KEYS
from cemgd.planners.spec import PlannerSpec, format_value
from cemgd.report.episodes import (
    EPISODES_FILE,
    EVALUATE_FILE,
    upgrade_episodes_file,
    write_episode_summary,
)
from cemgd.report.exploitation import STEPS_FOLDER, steps_text
from cemgd.runs import RunError, StudyFolder, read_json_object, write_atomic
from cemgd.runs.files import remove_temporaries
from cemgd.runs.folder import CONFIG_FILE
from cemgd.runs.tensorboard import TensorBoardWriter, check_tensorboard
from cemgd.runtime import hardware_info, progress
from cemgd.sweep.ray_cluster import check_cluster

#: Where ``tensorboard=True`` writes: ``OUT/tensorboard/<planner>/`` (one TensorBoard run
#: per planner, so their curves share a chart).
TENSORBOARD_FOLDER = "tensorboard"
#: Episodes in progress (``OUT/partial/``, :func:`cemgd.evaluate.core.episode_checkpoint`):
#: a killed evaluation resumes each from its last save; empty folders are removed.
PARTIAL_FOLDER = "partial"


def folder_identity(config: EvaluateConfig, model: FrozenModel) -> dict[str, Any]:
    """What ``config.json`` of the output folder pins (planners and episodes may grow):
    the task, the model (hash of its weights and normaliser), its trial, ``quick`` and
    the episode length. Where the model was read from is not pinned (``evaluate.json``
    records it as given), so the same model from a moved or copied folder resumes."""
    return {"task": model.config.task, "model": model.digest, "trial": model.trial,
            "quick": config.quick, "episode_length": model.task.episode_length}


def output_identity(out: str | os.PathLike[str], config: EvaluateConfig,
                    model: FrozenModel) -> dict[str, Any]:
    """The identity ``out`` is opened with: :func:`folder_identity`, or, for a folder
    written before models were hashed (its ``config.json`` names ``run_dir`` and no
    ``model``), that folder's own identity when it names the same run folder and
    settings (its episodes cannot be checked against the model).

    The one check of an existing ``out`` before it is opened (reading only): it is an
    evaluation folder (:func:`~cemgd.evaluate.outfolder.refuse_other_folder`) and every
    row of its ``episodes.csv`` is whole (:func:`~cemgd.evaluate.outfolder.check_episodes`);
    :class:`~cemgd.runs.StudyFolder` then checks its ``config.json`` and lock.

    Raises:
        RunError: ``out`` holds episodes of another model (naming the model file and
            the folder's ``config.json``), is a run, model or sweep folder, or its
            ``episodes.csv`` has a corrupt row (naming the file and row); nothing is
            written.
    """
    new = folder_identity(config, model)
    folder = Path(out)
    file = folder / CONFIG_FILE
    if not folder.is_dir():
        return new
    try:
        old = read_json_object(file)
    except RunError:
        return new  # StudyFolder refuses it, naming the file
    refuse_other_folder(folder, old or {})
    check_episodes(folder / EPISODES_FILE)
    if old is None:
        return new
    if "model" in old:
        if old["model"] != new["model"]:
            raise RunError(
                f"{model.model_file}: another model (hash {new['model']}) than the one whose "
                f"episodes {file} records (hash {old['model']}); an evaluation folder holds "
                "one model's episodes: give another --out")
        return new
    legacy = {k: v for k, v in new.items() if k != "model"}
    if "run_dir" in old and _same_folder(str(old["run_dir"]), model.run_dir):
        legacy["run_dir"] = old["run_dir"]
        return legacy
    return new


def _same_folder(recorded: str, given: Path) -> bool:
    try:
        return Path(recorded).resolve() == given.resolve()
    except OSError:
        return False


def planner_entries(config: EvaluateConfig, specs: Sequence[PlannerSpec | str]
                    ) -> list[dict[str, Any]]:
    """``evaluate.json``'s entry of each planner: spec (``str(spec)``, as its rows are
    keyed), label of the settings it runs with, family, resolved settings and the episode
    seeds this command asks of it. The code, model and machine that ran each episode are
    on its row (:data:`cemgd.report.episodes.PROVENANCE_COLUMNS`)."""
    entries = []
    for spec in map(PlannerSpec.parse, specs):
        planner = build_planner(spec, config.quick)
        entries.append({"spec": str(spec), "label": settings_label(spec, planner),
                        "family": spec.family,
                        "settings": dataclasses.asdict(planner.config),
                        "seeds": list(config.episode_seeds)})
    return entries


def check_seeds(rows: Sequence[dict[str, str]], config: EvaluateConfig) -> None:
    """Refuse episode seeds that disagree with the rows already in the folder.

    A row is keyed by (planner, episode index), so a resumed episode ``k`` asked under
    another seed would be skipped as done while its row holds the old seed.

    Raises:
        ValueError: naming ``--seeds``, the planner, the episode and both seeds.
    """
    asked = {str(k): str(seed) for k, seed in enumerate(config.episode_seeds)}
    planners = set(map(str, config.planners))
    for row in rows:
        k, planner = row["episode"], row["planner"]
        if planner in planners and k in asked and row["seed"] != asked[k]:
            ran = ", ".join(r["seed"] for r in rows if r["planner"] == planner)
            raise ValueError(
                f"--seeds: episode {k} of {planner} already ran with seed {row['seed']} "
                f"in this folder, not {asked[k]}; its episodes so far ran seeds {ran}: ask "
                "those first, in that order, then new ones (or write to another --out)")


def settled_entries(previous: dict[str, Any] | None, entries: Sequence[dict[str, Any]],
                    todo: dict[str, list[int]], started: Collection[str],
                    file: Path) -> list[dict[str, Any]]:
    """This command's planner entries, each checked against the settings its earlier
    episodes in the folder ran with (``previous``: the folder's ``evaluate.json``, at
    ``file``; ``todo``: the episodes left, by spec; ``started``: the specs with episodes
    in the folder, finished or saved mid-episode).

    A spec names a preset and overrides, so it resolves to other settings when a default
    changes. A planner with nothing left to run keeps its recorded entry (the folder
    describes what ran); one with episodes left is refused: its new rows would sit under
    the key of the old ones. A setting the record lacks (added since) counts at the value
    the planner ran with before it existed (``ADDED_KEYS``); an entry with no episodes in
    the folder is replaced.

    Raises:
        ValueError: naming ``--planners``, the spec, each setting that differs (as
            recorded and as now) and the spec that pins the recorded values.
    """
    settled, earlier = [], _earlier_entries(previous)
    for entry in entries:
        recorded = earlier.get(entry["spec"], {})
        before = recorded.get("settings")
        now = json.loads(json.dumps(entry["settings"], default=str))
        if not isinstance(before, dict) or entry["spec"] not in started:
            settled.append(entry)
            continue
        added = ADDED_KEYS["planner_config"]
        before = {**{k: v for k, v in added.items() if k in now}, **before}
        if before == now:
            settled.append(entry)
            continue
        if not todo.get(entry["spec"]):
            settled.append(recorded)
            continue
        changed = sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))
        diff = ", ".join(f"{k} {before.get(k)!r} -> {now.get(k)!r}" for k in changed)
        pinned = ",".join(f"{k}={format_value(before[k])}" for k in changed if k in before)
        raise ValueError(
            f"--planners: {entry['spec']} ran in this folder with other settings than it "
            f"has now ({diff}; recorded in {file}); its new episodes would not be its old "
            f"ones: give another --out, or ask for '{entry['spec']}:{pinned}' there")
    return settled


def _started(folder: Path, done: set[tuple[str, ...]], specs: Sequence[PlannerSpec]) -> set[str]:
    """The specs with an episode in ``folder``: finished (``done``) or saved mid-way."""
    saved = folder / PARTIAL_FOLDER
    return {spec for spec, _ in done} | {
        str(s) for s in specs if any(saved.glob(f"{spec_stem(str(s))}-*.npz"))}


def _earlier_entries(previous: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The planner entries of the folder's ``evaluate.json`` by spec, as they are (an
    entry written before planners had their own seeds gets the folder's seeds of then)."""
    old = previous or {}
    old_config = old.get("config") if isinstance(old.get("config"), dict) else {}
    return {p["spec"]: {"seeds": old_config.get("seeds", []), **p}
            for p in old.get("planners", []) if isinstance(p, dict) and "spec" in p}


def describe(config: EvaluateConfig, model: FrozenModel, planners: Sequence[dict[str, Any]],
             previous: dict[str, Any] | None = None) -> str:
    """``evaluate.json``: planners, seeds, reference, how this command runs them, and
    this machine.

    ``planners`` (:func:`planner_entries`) are this command's; the entries of planners
    only earlier commands named (``previous``, the folder's ``evaluate.json``) are kept
    as written, so the folder describes every planner it holds rows of. Nothing is
    merged across commands: which code, model and machine ran an episode is on its row,
    and summaries are derived from the rows (:func:`cemgd.report.episodes.planner_codes`).
    An entry's ``code`` from a folder written before rows recorded it is kept, for
    those rows.
    """
    before = _earlier_entries(previous)
    planners = [{**p, **({"code": before[p["spec"]]["code"]}
                         if "code" in before.get(p["spec"], {}) else {})} for p in planners]
    specs = [p["spec"] for p in planners]
    kept = [p for spec, p in before.items() if spec not in specs]
    old_config = (previous or {}).get("config")
    old_reference = old_config.get("reference") if isinstance(old_config, dict) else None
    reference = (str(config.reference) if config.reference is not None
                 else old_reference or specs[0])
    payload = {"config": {**folder_identity(config, model), "run_dir": str(model.run_dir),
                          "model_file": str(model.model_file), "reference": reference,
                          "seeds": list(config.episode_seeds), "workers": config.workers,
                          "ray": config.ray},
               "planners": [*kept, *planners], "hardware": hardware_info(),
               "run_config": json.loads((model.run_dir / CONFIG_FILE).read_text())}
    return json.dumps(payload, indent=1, default=str) + "\n"


def _previous(file: Path) -> dict[str, Any] | None:
    """The folder's ``evaluate.json``; a damaged one is regenerated, not refused (it is a
    description, rewritten by every run; the rows are in ``episodes.csv``)."""
    try:
        return read_json_object(file)
    except RunError:
        return None


class _Events:
    """TensorBoard events per planner (``enabled=False``: nothing)."""

    def __init__(self, folder: Path, enabled: bool) -> None:
        self.folder, self.enabled = folder / TENSORBOARD_FOLDER, enabled
        self.writers: dict[str, TensorBoardWriter] = {}

    def add(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        spec = str(row["planner"])
        if spec not in self.writers:
            self.writers[spec] = TensorBoardWriter(self.folder / spec, subfolder="")
        self.writers[spec].add_trial(int(row["episode"]), {
            "episode_return": row["return"], "plan_ms_mean": row["plan_ms_mean"],
            "rollouts_per_step": row["rollouts_per_step"]})

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()


@contextlib.contextmanager
def _events(folder: Path, enabled: bool) -> Iterator[_Events]:
    events = _Events(folder, enabled)
    try:
        yield events
    finally:
        events.close()


def evaluate(config: EvaluateConfig, out: str | os.PathLike[str],
             show_progress: bool = True, cache_dir: str | None = None) -> Path:
    """Run the evaluation into ``out`` (resuming what is there); returns ``summary.md``.

    Every row is written here, by this process (the one writer of ``episodes.csv``),
    whether the planners run in this process, in worker processes or as Ray tasks.

    Raises:
        ValueError: a bad setting, run folder or model (``out`` is not created or touched),
            or ``out`` holds another evaluation or is in use (``RunError``).
    """
    if config.tensorboard:
        check_tensorboard("--tensorboard")
    check_cluster(config.ray)  # an unreachable --ray ADDRESS: refused before out is made
    model = frozen_model(config)
    specs = list(config.planners)
    entries = planner_entries(config, specs)  # every planner builds before out is made
    keys = ("planner", "episode")
    with StudyFolder(out, output_identity(out, config, model),
                     tables={EPISODES_FILE: keys}) as folder:
        done = folder.done_keys(EPISODES_FILE, keys)  # checked before anything was written
        check_seeds(folder.read(EPISODES_FILE), config)
        previous = _previous(folder.path / EVALUATE_FILE)
        seeds = config.episode_seeds
        todo = {s: [k for k in range(len(seeds)) if (str(s), str(k)) not in done]
                for s in specs}
        entries = settled_entries(previous, entries, {str(s): t for s, t in todo.items()},
                                  _started(folder.path, done, specs), folder.path / EVALUATE_FILE)
        upgrade_episodes_file(folder.path / EPISODES_FILE)  # rows of one header
        write_atomic(folder.path / EVALUATE_FILE, describe(config, model, entries, previous))
        with progress(show_progress) as bar, _events(folder.path, config.tensorboard) as tb:
            total = bar.add_task("episodes", total=sum(map(len, todo.values())))

            def write(row: dict[str, Any]) -> None:
                row = dict(row)
                steps = row.pop(STEPS_KEY, None)
                if steps is not None:  # before its row: a rerun of the episode rewrites it
                    file = folder.path / STEPS_FOLDER / (
                        f"{spec_stem(str(row['planner']))}-{row['episode']}.csv")
                    file.parent.mkdir(exist_ok=True)
                    write_atomic(file, steps_text(steps))
                folder.append(EPISODES_FILE, row)
                tb.add(row)
                bar.update(total, advance=1, description=f"{row['planner']}: episode "
                           f"{int(row['episode']) + 1}/{len(seeds)}")

            partial = folder.path / PARTIAL_FOLDER
            remove_temporaries(partial)  # a killed save's; the folder is locked
            remove_temporaries(folder.path / STEPS_FOLDER)
            if config.ray is not None:  # a task's node may not see this folder
                run_ray(config, model, todo, write, cache_dir=cache_dir)
            elif config.workers:
                run_pool(config, todo, write, partial, model.digest)
            else:
                for spec in (s for s in specs if todo[s]):
                    planner_episodes(config, spec, todo[spec], write, model, partial)
            with contextlib.suppress(OSError):
                partial.rmdir()  # only when empty: every episode's row is written
        return write_episode_summary(folder.path)
