"""The PETS loop: open (or resume) a run folder, then train, plan and commit each trial."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cemgd.models import Normalizer, fit_normalizer, train_ensemble, write_model
from cemgd.models.io import load_opt_state
from cemgd.models.optimizer import make_optimizer
from cemgd.models.protocol import EnsembleModel, check_model, model_name, raw_input_model
from cemgd.pets.buffer import Buffer, collect_random, model_data, run_seed
from cemgd.pets.config import PETSConfig, config_diff, config_payload
from cemgd.pets.episode import Controller, EpisodeSeeds, PlanStep, compile_plan_step, run_episode
from cemgd.pets.events import ConsoleEvents, RunEvents
from cemgd.pets.model import check_sizes, fresh_params, load_checkpoint, params_shape
from cemgd.pets.record import Episode
from cemgd.pets.render import Frames, write_gif
from cemgd.pets.resume import EpisodeCheckpoint, tree_digest
from cemgd.planners import Planner
from cemgd.problem import PlanState, Problem
from cemgd.runs import RunError, RunFolder, TrialMetrics
from cemgd.runs.tensorboard import check_tensorboard, open_tensorboard
from cemgd.runtime import peak_rss_mb
from cemgd.tasks import EnvTask, check_code_named, is_code_spec

#: File kinds a trial commits to ``checkpoints/``.
KINDS = ("model", "buffer")


@dataclass
class _Start:
    """Where the loop starts: the model and buffer after ``completed`` trials."""

    params: Any
    normalizer: Normalizer | None
    buffer: Buffer
    rows: list[TrialMetrics]
    opt_state: Any = None
    """Adam's state after the last training (``train.keep_optimizer``; else ``None``)."""


@dataclass
class _Loop:
    """What every trial of one run shares (the planning step compiles once)."""

    config: PETSConfig
    task: EnvTask
    planner: Planner
    folder: RunFolder
    events: RunEvents
    video: bool
    model: EnsembleModel
    """The dynamics model learnt and planned with."""
    state0: PlanState = field(init=False)
    plan_step: PlanStep | None = None
    compile_s: float = float("nan")
    memory_mb: float = float("nan")

    def __post_init__(self) -> None:
        dummy = Problem(lambda o, a, k: jnp.zeros(a.shape[0]), self.config.horizon,
                        self.task.action_low, self.task.action_high)
        self.state0 = self.planner.initial_state(dummy, jax.random.key(0))


def run(
    config: PETSConfig, out: str | os.PathLike[str], resume: bool = False, video: bool = False,
    show_progress: bool = True, events: RunEvents | None = None, tensorboard: bool = False,
    model: EnsembleModel | None = None,
) -> list[TrialMetrics]:
    """Run PETS with ``config`` into the folder ``out``; return every trial's metrics.

    Args:
        config: the run's settings.
        out: run folder (created). If it already holds a run, ``resume=True`` is needed
            and the configuration must match (``trials`` may be raised).
        resume: continue from the last completed trial.
        video: write ``videos/trial-TTT.gif`` of every episode.
        show_progress: draw progress bars (when ``events`` is not given).
        events: receives the run's progress (default: :class:`ConsoleEvents`).
        tensorboard: also write each trial's metrics as TensorBoard events into
            ``out/tensorboard/`` (:mod:`cemgd.runs.tensorboard`; ``metrics.csv`` stays
            the record).
        model: a dynamics model object to learn and plan with instead of the one
            ``config.model`` names (:mod:`cemgd.pets.model`), any
            :class:`~cemgd.models.protocol.EnsembleModel`; its ``name`` is recorded as
            ``config.json``'s ``model`` (a resume passes the same object again). Either
            way the checkpoints are its params' leaves (:func:`cemgd.models.write_model`).

    Raises:
        ValueError: ``tensorboard`` without the ``tensorboard`` extra installed, or a
            ``model`` without the protocol's methods.
        RunError: ``out`` is in use by another process, holds another run, or its files
            are missing, corrupt or inconsistent; the folder is left as it was.
    """
    if tensorboard:
        check_tensorboard("tensorboard")
    config, model = with_model(config, model)
    task, planner = config.make_task(), config.make_planner()
    events = ConsoleEvents(bars=show_progress) if events is None else events
    with RunFolder(out) as folder:
        loop = _Loop(config, task, planner, folder, events, video, model)
        start = _open(loop, resume)
        rows = list(start.rows)
        if len(rows) >= config.trials:
            events.message(f"{folder.path}: all {len(rows)} trials already done")
            return rows
        if rows:
            events.message(f"{folder.path}: resuming after trial {len(rows) - 1}")
        with events:
            events.started(config.trials, len(rows), task.episode_length)
            _trials(loop, start, rows, tensorboard)
    return rows


def with_model(config: PETSConfig, model: EnsembleModel | None
               ) -> tuple[PETSConfig, EnsembleModel]:
    """The run's config and model: the model ``config.model`` names, or a model object
    given from Python, checked, with its name recorded as ``config.model``."""
    if model is None:
        return config, config.make_model()
    check_model(model)
    return dataclasses.replace(config, model=model_name(model)), model


def _trials(loop: _Loop, start: _Start, rows: list[TrialMetrics], tensorboard: bool) -> None:
    """Run the trials left, appending each committed trial's metrics to ``rows``."""
    writer = open_tensorboard(loop.folder.path, tensorboard)
    params, buffer, opt_state = start.params, start.buffer, start.opt_state
    try:
        for trial in range(len(rows), loop.config.trials):
            params, opt_state, row = _trial(loop, trial, params, buffer, opt_state)
            rows.append(row)
            if writer is not None:
                writer.add_trial(row.trial, row)
            loop.events.trial_done(row, loop.config.trials)
    finally:
        if writer is not None:
            writer.close()


def _open(loop: _Loop, resume: bool) -> _Start:
    """Lock and check the folder, read everything needed to continue, then (and only
    then) write ``config.json``. Raises RunError before any byte is written."""
    folder, config, task = loop.folder, loop.config, loop.task
    payload = config_payload(config, loop.planner)
    if is_code_spec(config.task):  # the name the task gives itself, beside its import path
        payload["task_name"] = task.name
    old = folder.read_config()
    if old is None and folder.has_run_files():
        raise RunError(
            f"out: {folder.path} holds files but no config.json, so it is not a run this "
            "version can continue; choose another --out or remove the folder"
        )
    if old is not None and not resume:
        raise RunError(f"out: {folder.path} already holds a run; pass --resume to continue "
                       "it or choose another --out")
    if old is not None:  # a folder's code task or model is imported only when named
        check_code_named(old.get("task"), str(folder.config_file))
        check_code_named(old.get("model"), str(folder.config_file), "model", "--model")
    diff = config_diff(old, payload) if old is not None else []
    if diff:
        raise RunError(f"out: {folder.path} holds a run with another configuration "
                       f"({'; '.join(diff)}); choose another --out")
    state = folder.read_state(KINDS)
    start = _load(loop) if state.completed else _fresh(config, task, loop.model)
    payload["trials"] = max(config.trials, state.completed)  # keep a longer run's record
    folder.begin(payload)
    return start


def _fresh(config: PETSConfig, task: EnvTask, model: EnsembleModel) -> _Start:
    params = fresh_params(model, task, jax.random.key(run_seed(config, 2_000_000)))
    return _Start(params, None, collect_random(task, config), [])


def _load(loop: _Loop) -> _Start:
    """Model and buffer of the last completed trial, checked against the config."""
    folder, config, task = loop.folder, loop.config, loop.task
    state = folder.state
    params, normalizer = load_checkpoint(folder.file("model"), loop.model, task, config.task)
    buffer = Buffer.load(folder.file("buffer"), task.obs_dim, task.action_dim,
                         rows=state.rows[-1].env_steps, trials=state.completed)
    opt_state = None  # a checkpoint without one (written before the option) starts afresh
    if config.train.keep_optimizer:
        fresh = make_optimizer(config.train.weight_decay, config.train.learning_rate,
                               loop.model).init(params)
        opt_state = load_opt_state(folder.file("model"), fresh)
    return _Start(params, normalizer, buffer, list(state.rows), opt_state)


def check_architecture(file: str | os.PathLike[str], config: PETSConfig, task: EnvTask,
                       params: Any) -> None:
    """Refuse ``params`` of ``config``'s model (read from ``file``) whose sizes are not
    those of ``config`` and ``task`` (:func:`cemgd.pets.model.check_sizes`).

    Raises:
        RunError: naming ``file`` and each size that differs.
    """
    model = config.make_model()
    check_sizes(file, model, params, params_shape(model, task), config.task)


def _trial(loop: _Loop, trial: int, params: Any, buffer: Buffer, opt_state: Any
           ) -> tuple[Any, Any, TrialMetrics]:
    """Train on the buffer (from Adam's ``opt_state`` with ``train.keep_optimizer``), run one
    episode, add it to the buffer and commit the trial (the state with the model)."""
    config, task, events = loop.config, loop.task, loop.events
    events.phase(trial, "training")
    data = model_data(task, buffer)
    normalizer = fit_normalizer(data.inputs, data.actions)
    train_cfg = dataclasses.replace(config.train, seed=run_seed(config, trial, 3))
    carry = config.train.keep_optimizer
    params, report = train_ensemble(params, normalizer, data, config=train_cfg,
                                    model=loop.model, opt_state=opt_state if carry else None)
    opt_state = report.opt_state if carry else None
    plan_model, folded = raw_input_model(loop.model, params, normalizer)
    elites = elite_indices(report.member_mse, config.num_elites)
    if elites is not None:
        folded = plan_model.take_members(folded, jnp.asarray(elites))
    if loop.plan_step is None:
        events.phase(trial, "compiling")
        loop.plan_step, loop.compile_s, loop.memory_mb = compile_plan_step(
            task, loop.planner, config, folded, loop.state0, plan_model)
    events.phase(trial, "episode")
    keep = None if loop.video else EpisodeCheckpoint(  # frames cannot resume
        loop.folder.episode_file(trial), json.dumps({"trial": trial, "model": tree_digest(folded)}))
    episode = run_episode(task, Controller(loop.plan_step, folded, loop.state0),
                          EpisodeSeeds.of_trial(config, trial), checkpoint=keep,
                          frames=Frames(trial) if loop.video else None,
                          on_step=lambda step, ret, ms: events.step(trial, step, ret, ms))
    if loop.video:
        write_gif(loop.folder.path / "videos" / f"trial-{trial:03d}.gif", episode.frames)
    buffer.add(episode.obs, episode.actions, episode.next_obs, episode.rewards, trial)
    row = _metrics(loop, trial, episode, len(buffer), report)
    loop.folder.commit(row, {
        "model": lambda fh: write_model(fh, params, normalizer, elites, opt_state),
        "buffer": buffer.write,
    })
    return params, opt_state, row


def elite_indices(scores: np.ndarray, num_elites: int) -> np.ndarray | None:
    """The ``num_elites`` members with the lowest ``scores: [E]`` (NaN last, ties: the lower
    index first), in member order, ``[num_elites]``; ``None`` (every member) for 0."""
    if num_elites == 0:
        return None
    return np.sort(np.argsort(np.asarray(scores), kind="stable")[:num_elites])


def _metrics(loop: _Loop, trial: int, episode: Episode, env_steps: int, report: Any
             ) -> TrialMetrics:
    times = episode.plan_ms
    return TrialMetrics(
        trial=trial,
        episode_return=float(np.sum(episode.rewards)),
        episode_steps=len(times),
        env_steps=env_steps,
        train_loss=float(report.train_loss[-1]),
        val_mse=float(report.best_val_mse),
        train_epochs=len(report.train_loss),
        train_s=round(report.seconds, 3),
        plan_ms_mean=round(float(np.mean(times)), 3),
        plan_ms_max=round(float(np.max(times)), 3),
        plan_ms_first=round(float(times[0]), 3),
        rollouts_per_step=float(np.mean(episode.rollouts)),
        grad_steps_per_step=float(np.mean(episode.grad_steps)),
        fallback_steps=int(np.sum(episode.fallback)),
        plan_memory_mb=round(loop.memory_mb, 3),
        peak_rss_mb=round(peak_rss_mb(), 1),
        compile_s=round(loop.compile_s, 3),
        episode_s=round(episode.seconds, 3),
    )
