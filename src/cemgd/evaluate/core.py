"""Every planner on one frozen model: the evaluation, its planners and episodes (no folder).

:class:`EvaluateConfig` says what to evaluate; :func:`load_frozen_model` loads a run's
model at one trial, or a model folder's, and checks it (hash, architecture);
:func:`compile_planner` compiles a planner's step on it once, and
:func:`planner_episodes` plays its episodes, handing each :func:`episode_row` (with the
episode's per-step predicted and realised returns) to a writer.
"""


from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cemgd.evaluate.modelfolder import (
    META_FILE,
    MODEL_FILE,
    is_model_folder,
    read_meta,
    refuse_incomplete_model_folder,
    refuse_torn_metrics,
)
from cemgd.evaluate.predict import make_predictor, step_rows
from cemgd.evaluate.provenance import provenance
from cemgd.models import EnsembleModel
from cemgd.models.io import file_digest, load_elites
from cemgd.models.protocol import MLPEnsemble, raw_input_model, resolve_model
from cemgd.pets import (
    BUILTIN_MODEL,
    Controller,
    Episode,
    EpisodeCheckpoint,
    EpisodeSeeds,
    PETSConfig,
    PlanStep,
    compile_plan_step,
    config_from_payload,
    load_checkpoint,
    run_episode,
)
from cemgd.pets.episode import Predict
from cemgd.planners import Planner
from cemgd.planners.spec import PlannerSpec, make_planner, quick_config
from cemgd.problem import Problem
from cemgd.report.episodes import EPISODE_COLUMNS
from cemgd.runs import RunError, read_json_object, read_metrics
from cemgd.runtime import console, peak_rss_mb
from cemgd.tasks import EnvTask, check_code_named, named_code
from cemgd.validate import MAX_SEEDS, check_distinct, check_int, check_seed

#: Key of a row's per-step rows (predicted and realised return of each step's plan).
STEPS_KEY = "per_step"
#: Episode length of ``quick`` evaluations (the run's, capped).
QUICK_EPISODE_LENGTH = 15


@dataclass(frozen=True)
class EvaluateConfig:
    """One evaluation: which run and trial, which planners, how many episodes."""

    run_dir: str
    """A PETS run folder (``cemgd train --out``)."""
    planners: tuple[PlannerSpec, ...]
    """The planners: specs, or names, presets or spec strings (``cem-gd:n_replan=10``),
    parsed here once; ``str(spec)``, the canonical text, keys their rows and files."""
    episodes: int = 5
    """Episodes per planner (ignored when ``seeds`` is given)."""
    trial: int | None = None
    """The trial whose model is loaded (None: the run's last)."""
    seeds: tuple[int, ...] | None = None
    """Environment seeds of the episodes (default ``0 .. episodes-1``), distinct ints in
    ``[0, 2**32 - 1]`` (:func:`cemgd.validate.check_seed`)."""
    quick: bool = False
    """Shrink every planner (``quick_config``) and the episodes, to test the pipeline."""
    reference: PlannerSpec | None = None
    """Planner the summary's paired differences are taken against (default the first;
    a string is parsed)."""
    episode_length: int = 0
    """Steps per episode; 0 takes the run's."""
    workers: int = 0
    """0: every planner in this process; N: one process per planner, N at a time (with
    ``ray``: the CPUs of a local Ray, default one per planner)."""
    ray: str | None = None
    """Run each planner as a Ray task: ``"auto"``, ``"local"`` or a cluster address
    (as ``cemgd sweep --ray``); None: no Ray."""
    tensorboard: bool = False
    """Also write each episode's return, plan ms and rollouts per step as TensorBoard
    events (``OUT/tensorboard/<planner>/``; the ``tensorboard`` extra)."""

    def __post_init__(self) -> None:
        if isinstance(self.planners, str | PlannerSpec):
            raise ValueError(f"planners: expected a sequence of planners, got {self.planners!r}")
        if not self.planners:
            raise ValueError("planners: give at least one planner")
        specs = tuple(PlannerSpec.parse(p, where="planners") for p in self.planners)
        check_distinct("planners", specs, what="planner", show=lambda spec: repr(spec.text))
        object.__setattr__(self, "planners", specs)
        check_int("episodes", self.episodes, 1, MAX_SEEDS)
        check_int("episode_length", self.episode_length, 0)
        check_int("workers", self.workers, 0)
        if self.ray is not None and not str(self.ray).strip():
            raise ValueError("ray: expected auto, local or HOST:PORT, got an empty string")
        if self.trial is not None:
            check_int("trial", self.trial, 0)
        if self.seeds is not None:
            if not 0 < len(self.seeds) <= MAX_SEEDS:
                raise ValueError(f"seeds: expected 1 to {MAX_SEEDS} seeds, got {len(self.seeds)}")
            check_distinct("seeds", self.seeds)
            for s in self.seeds:
                check_seed("seeds", s)
            object.__setattr__(self, "seeds", tuple(self.seeds))
        if self.reference is not None:
            ref = PlannerSpec.parse(self.reference, where="reference")
            if ref not in specs:
                raise ValueError(f"reference: {str(ref)!r} is not one of the planners "
                                 f"{list(map(str, specs))}")
            object.__setattr__(self, "reference", ref)

    @property
    def episode_seeds(self) -> tuple[int, ...]:
        """The environment seed of each episode."""
        return self.seeds if self.seeds is not None else tuple(range(self.episodes))


@dataclass(frozen=True)
class FrozenModel:
    """A run's model at one trial, ready to plan on."""

    config: PETSConfig
    """The run's configuration (task, horizon, particles, propagation, model)."""
    task: EnvTask
    params: Any
    """The params ``model`` plans with on raw inputs (the built-in ensemble's with the
    normaliser folded in; :func:`cemgd.models.protocol.raw_input_model`)."""
    trial: int
    run_dir: Path
    """The run folder or model folder, as given (not resolved)."""
    model_file: Path
    """The file the weights and normaliser were read from."""
    digest: str
    """Hash of the weights and normaliser as stored (:func:`cemgd.models.io.file_digest`)."""
    model: EnsembleModel | None = None
    """The model that plans on ``params`` (``None``: the built-in ensemble with the
    config's activation)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "model", resolve_model(
            self.model, lambda: MLPEnsemble(activation=self.config.activation)))


def read_pets_config(run_dir: Path) -> PETSConfig:
    """The :class:`PETSConfig` a run recorded in ``config.json``.

    Raises:
        ValueError: naming the file when it is missing, corrupt or not a PETS run.
    """
    file = run_dir / "config.json"
    if not file.is_file():
        raise RunError(f"run_dir: {file} missing (not a cemgd train run folder)")
    payload = read_json_object(file)
    if payload is None:
        raise RunError(f"run_dir: {file} corrupt")
    check_named_task(payload.get("task"), file)
    check_named_task(payload.get("model", BUILTIN_MODEL), file, "--model")
    try:
        return config_from_payload(payload)
    except (TypeError, ValueError) as err:
        raise RunError(f"run_dir: {file} is not a PETS run configuration ({err})") from None


def check_named_task(recorded: Any, file: Path, flag: str = "--task") -> None:
    """Refuse a task (``flag="--model"``: a model) code path that ``file`` records and the
    command line did not name, and a ``flag`` other than the recorded one (nothing is
    imported either way).

    Raises:
        ValueError: naming the file, the recorded task or model and the ``flag`` to give.
    """
    check_code_named(recorded, str(file), argument="run_dir", flag=flag)
    named = named_code(flag)
    if named and recorded not in named:
        kind = flag.lstrip("-")
        raise RunError(f"{flag}: {file} records the {kind} {recorded!r}, not "
                       f"{', '.join(sorted(named))}; pass {flag} {recorded}")


def load_frozen_model(run_dir: str | os.PathLike[str], trial: int | None = None,
                      episode_length: int = 0) -> FrozenModel:
    """The model of a run folder after ``trial`` (default the last completed one), or of
    a model folder (:mod:`cemgd.evaluate.modelfolder`), checked: its hash (a model
    folder's), its architecture against the configuration and task (another task's
    model is refused here, naming the model file).

    Raises:
        ValueError: naming the argument or file: not a run or model folder, no completed
            trial, ``trial`` not completed or its model not kept, a missing or corrupt
            model, a hash or architecture that does not match.
    """
    path = Path(run_dir)
    if not path.is_dir():
        raise RunError(f"run_dir: {path} is not a folder")
    config = read_pets_config(path)
    t, model_file, expected = _model_file(path, config, trial)
    digest = file_digest(model_file)  # ValueError naming the file
    if expected is not None and digest != expected:
        raise RunError(f"{model_file}: its weights or normaliser differ from the model "
                       f"{path / META_FILE} names (hash {digest}, recorded {expected})")
    task = config.make_task()
    model = config.make_model()
    params, normalizer = load_checkpoint(model_file, model, task, config.task)
    plan_model, params = raw_input_model(model, params, normalizer)
    elites = load_elites(model_file)  # the members the run planned with (None: all)
    if elites is not None:
        params = plan_model.take_members(params, jnp.asarray(elites))
    if episode_length:
        task = task.with_episode_length(episode_length)
    return FrozenModel(config, task, params, t, path, model_file, digest, plan_model)


def _model_file(path: Path, config: PETSConfig, trial: int | None
                ) -> tuple[int, Path, str | None]:
    """``(trial, model file, recorded hash or None)`` of a model or run folder."""
    if is_model_folder(path):
        meta = read_meta(path)
        if meta["task"] != config.task:
            raise RunError(f"{path / META_FILE}: a model of {meta['task']}, but "
                           f"{path / 'config.json'} says {config.task}")
        if trial is not None and trial != meta["trial"]:
            raise ValueError(f"trial: {path} is a model folder holding the model of trial "
                             f"{meta['trial']} only, not {trial}")
        return meta["trial"], path / MODEL_FILE, meta["model_hash"]
    refuse_incomplete_model_folder(path)
    done = len(read_metrics(path))
    if done == 0:
        refuse_torn_metrics(path)
        raise RunError(f"run_dir: {path} has no completed trial (metrics.csv empty or missing)")
    t = done - 1 if trial is None else trial
    if t >= done:
        raise ValueError(f"trial: {t} not completed in {path} (trials 0-{done - 1} are)")
    model_file = path / "checkpoints" / f"model-{t:03d}.npz"
    if not model_file.is_file():
        refuse_torn_metrics(path, model_file)
        if t != done - 1:
            raise ValueError(f"trial: the model of trial {t} was not kept in {path} (a run "
                             f"keeps its last trial's model, {done - 1})")
    return t, model_file, None


@dataclass(frozen=True)
class PlannerRun:
    """A planner compiled on the frozen model."""

    spec: PlannerSpec
    planner: Planner
    step: PlanStep
    compile_s: float
    memory_mb: float
    state0: Any
    predictor: Callable[[int], Predict]
    """The predicted return of each step's plan, per episode seed
    (:func:`cemgd.evaluate.predict.make_predictor`)."""
    provenance: dict[str, str] = dataclasses.field(default_factory=dict)
    """What produces its episodes (:func:`cemgd.evaluate.provenance.provenance`)."""


def build_planner(spec: PlannerSpec | str, quick: bool) -> Planner:
    """The planner of ``spec`` (shrunk by :func:`quick_config` with ``quick``; a string is
    parsed)."""
    planner = make_planner(spec)
    return type(planner)(quick_config(planner.config)) if quick else planner


def compile_planner(model: FrozenModel, spec: PlannerSpec | str, quick: bool) -> PlannerRun:
    """Build ``spec`` and compile its planning step on ``model`` (once per planner; a
    string is parsed)."""
    spec = PlannerSpec.parse(spec)
    planner = build_planner(spec, quick)
    task = model.task
    dummy = Problem(lambda o, a, k: jnp.zeros(a.shape[0]), model.config.horizon,
                    task.action_low, task.action_high)
    state0 = planner.initial_state(dummy, jax.random.key(0))
    step, compile_s, memory = compile_plan_step(task, planner, model.config, model.params, state0,
                                                model.model)
    obs = jnp.zeros((task.obs_dim,), jnp.float32)
    jax.block_until_ready(step(state0, obs, model.params))  # warm-up, not timed
    return PlannerRun(spec, planner, step, compile_s, memory, state0, make_predictor(
        model.task, model.config, model.params, model.model),
        provenance(model.digest, spec, planner))


def play(model: FrozenModel, run: PlannerRun, seed: int,
         checkpoint: EpisodeCheckpoint | None = None) -> Episode:
    """One closed-loop episode (:func:`cemgd.pets.run_episode`) with environment seed and
    planner key ``seed`` (resumed from and saved to ``checkpoint`` when given), each
    step's plan scored on the model (``run.predictor``)."""
    controller = Controller(run.step, model.params, run.state0, run.predictor(seed))
    return run_episode(model.task, controller, EpisodeSeeds.paired(seed),
                       checkpoint=checkpoint)


def episode_checkpoint(partial_dir: Path, model: FrozenModel, spec: PlannerSpec | str, k: int,
                       seed: int) -> EpisodeCheckpoint:
    """Where episode ``k`` of ``spec`` is kept while it runs:
    ``PARTIAL_DIR/<spec_stem(spec)>-<k>.npz`` (two specs never share a file, and a spec
    of any length gives a short name), tagged with what the episode is, the whole spec
    included (``str(spec)``, as its rows are keyed)."""
    tag = json.dumps({"planner": str(spec), "episode": k, "seed": seed, "trial": model.trial,
                      "length": model.task.episode_length, "task": model.config.task,
                      "model": model.digest})
    return EpisodeCheckpoint(partial_dir / f"{spec_stem(spec)}-{k}.npz", tag)


def spec_stem(spec: PlannerSpec | str) -> str:
    """A file name stem of planner ``spec`` (a spec's ``str()``, or a row's key as read):
    its first 40 characters made file-safe and a hash of the whole text (two specs never
    share a stem; a long spec stays short)."""
    text = str(spec)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:40]
    return f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def episode_row(model: FrozenModel, run: PlannerRun, k: int, seed: int,
                episode: Episode) -> dict[str, Any]:
    """The ``episodes.csv`` row of one episode (:data:`EPISODE_COLUMNS`): what it
    measured and what produced it (``run.provenance``)."""
    ms = episode.plan_ms
    row = {**run.provenance,
        "task": model.config.task, "planner": str(run.spec), "episode": k, "seed": seed,
        "return": float(np.sum(episode.rewards)), "steps": int(ms.size),
        "plan_ms_mean": round(float(np.mean(ms)), 3),
        "plan_ms_p90": round(float(np.percentile(ms, 90)), 3),
        "plan_ms_first": round(float(ms[0]), 3),
        "rollouts_per_step": float(np.mean(episode.rollouts)),
        "plan_memory_mb": round(run.memory_mb, 3), "peak_rss_mb": round(peak_rss_mb(), 1),
        "compile_s": round(run.compile_s, 3), "episode_s": round(episode.seconds, 3),
    }
    return {c: row.get(c, "") for c in EPISODE_COLUMNS}


def frozen_model(config: EvaluateConfig) -> FrozenModel:
    """The model ``config`` evaluates (``quick`` shortens the episodes)."""
    length = config.episode_length or (QUICK_EPISODE_LENGTH if config.quick else 0)
    return load_frozen_model(config.run_dir, config.trial, length)


def planner_episodes(config: EvaluateConfig, spec: PlannerSpec | str, episodes: Sequence[int],
                     write: Callable[[dict[str, Any]], None],
                     model: FrozenModel | None = None,
                     partial_dir: Path | None = None) -> None:
    """Compile ``spec`` on the model and ``write`` the row of each of ``episodes``.

    Each row carries the episode's per-step rows under :data:`STEPS_KEY`
    (:func:`cemgd.evaluate.predict.step_rows`; the writer files them apart).
    With ``partial_dir`` each episode in progress is kept there
    (:func:`episode_checkpoint`), so a killed one resumes mid-way; its file is removed
    once its row is written.
    """
    spec = PlannerSpec.parse(spec)
    model = model if model is not None else frozen_model(config)
    run = compile_planner(model, spec, config.quick)
    seeds = config.episode_seeds
    for k in episodes:
        keep = None if partial_dir is None else episode_checkpoint(
            partial_dir, model, spec, k, seeds[k])
        episode = play(model, run, seeds[k], keep)
        row = episode_row(model, run, k, seeds[k], episode)
        write({**row, STEPS_KEY: step_rows(spec, k, seeds[k], episode, model.config.horizon)})
        if keep is not None:
            keep.remove()
    console().print(f"{spec}: {len(episodes)} episode(s) done")
