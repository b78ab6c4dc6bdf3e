"""The PETS loop: open (or resume) a run folder, then train, plan and commit each trial."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cemgd.models import (
    EnsembleParams,
    Normalizer,
    fit_normalizer,
    fold_normalizer,
    init_ensemble,
    load_model,
    model_architecture,
    train_ensemble,
    write_model,
)
from cemgd.pets.buffer import Buffer, collect_random, model_data, run_seed
from cemgd.pets.config import PETSConfig, config_diff, config_payload
from cemgd.pets.episode import Episode, PlanStep, compile_plan_step, run_episode, write_gif
from cemgd.pets.events import ConsoleEvents, RunEvents
from cemgd.planners import Planner
from cemgd.problem import PlanState, Problem
from cemgd.runs import RunError, RunFolder, TrialMetrics
from cemgd.runs.tensorboard import check_tensorboard, open_tensorboard
from cemgd.runtime import peak_rss_mb
from cemgd.tasks import EnvTask

#: File kinds a trial commits to ``checkpoints/``.
KINDS = ("model", "buffer")


@dataclass
class _Start:
    """Where the loop starts: the model and buffer after ``completed`` trials."""

    params: EnsembleParams
    normalizer: Normalizer | None
    buffer: Buffer
    rows: list[TrialMetrics]


@dataclass
class _Loop:
    """What every trial of one run shares (the planning step compiles once)."""

    config: PETSConfig
    task: EnvTask
    planner: Planner
    folder: RunFolder
    events: RunEvents
    video: bool
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

    Raises:
        ValueError: ``tensorboard`` without the ``tensorboard`` extra installed.
        RunError: ``out`` is in use by another process, holds another run, or its files
            are missing, corrupt or inconsistent; the folder is left as it was.
    """
    if tensorboard:
        check_tensorboard("tensorboard")
    task, planner = config.make_task(), config.make_planner()
    events = ConsoleEvents(bars=show_progress) if events is None else events
    with RunFolder(out) as folder:
        start = _open(folder, config, task, planner, resume)
        loop = _Loop(config, task, planner, folder, events, video)
        rows = list(start.rows)
        if len(rows) >= config.trials:
            events.message(f"{folder.path}: all {len(rows)} trials already done")
            return rows
        if rows:
            events.message(f"{folder.path}: resuming after trial {len(rows) - 1}")
        writer = open_tensorboard(folder.path, tensorboard)
        with events:
            events.started(config.trials, len(rows), task.episode_length)
            params, buffer = start.params, start.buffer
            try:
                for trial in range(len(rows), config.trials):
                    params, row = _trial(loop, trial, params, buffer)
                    rows.append(row)
                    if writer is not None:
                        writer.add_trial(row.trial, row)
                    events.trial_done(row, config.trials)
            finally:
                if writer is not None:
                    writer.close()
    return rows


def _open(folder: RunFolder, config: PETSConfig, task: EnvTask, planner: Planner,
          resume: bool) -> _Start:
    """Lock and check the folder, read everything needed to continue, then (and only
    then) write ``config.json``. Raises RunError before any byte is written."""
    payload = config_payload(config, planner)
    old = folder.read_config()
    if old is None and folder.has_run_files():
        raise RunError(
            f"out: {folder.path} holds files but no config.json, so it is not a run this "
            "version can continue; choose another --out or remove the folder"
        )
    if old is not None and not resume:
        raise RunError(f"out: {folder.path} already holds a run; pass --resume to continue "
                       "it or choose another --out")
    diff = config_diff(old, payload) if old is not None else []
    if diff:
        raise RunError(f"out: {folder.path} holds a run with another configuration "
                       f"({'; '.join(diff)}); choose another --out")
    state = folder.read_state(KINDS)
    start = _load(folder, config, task) if state.completed else _fresh(config, task)
    payload["trials"] = max(config.trials, state.completed)  # keep a longer run's record
    folder.begin(payload)
    return start


def _fresh(config: PETSConfig, task: EnvTask) -> _Start:
    params = init_ensemble(
        jax.random.key(run_seed(config, 2_000_000)), task.obs_dim, task.action_dim,
        config.num_members, config.hidden, config.num_layers, config.activation,
        input_dim=task.model_obs_dim,
    )
    return _Start(params, None, collect_random(task, config), [])


def _load(folder: RunFolder, config: PETSConfig, task: EnvTask) -> _Start:
    """Model and buffer of the last completed trial, checked against the config."""
    state = folder.state
    try:
        params, normalizer = load_model(folder.file("model"))
    except ValueError as err:  # a damaged checkpoint is not worth retrying
        raise RunError(str(err)) from None
    expected = {"num_members": config.num_members, "hidden": config.hidden,
                "num_layers": config.num_layers,
                "input_dim": task.model_obs_dim + task.action_dim, "state_dim": task.obs_dim}
    found = model_architecture(params)
    wrong = [f"{k} {found[k]} (config: {v})" for k, v in expected.items() if found[k] != v]
    if wrong:
        raise RunError(f"{folder.file('model')}: model of another architecture: "
                       f"{', '.join(wrong)}")
    buffer = Buffer.load(folder.file("buffer"), task.obs_dim, task.action_dim,
                         rows=state.rows[-1].env_steps, trials=state.completed)
    return _Start(params, normalizer, buffer, list(state.rows))


def _trial(loop: _Loop, trial: int, params: EnsembleParams, buffer: Buffer
           ) -> tuple[EnsembleParams, TrialMetrics]:
    """Train on the buffer, run one episode, add it to the buffer and commit the trial."""
    config, task, events = loop.config, loop.task, loop.events
    events.phase(trial, "training")
    data = model_data(task, buffer)
    normalizer = fit_normalizer(data.inputs, data.actions)
    train_cfg = dataclasses.replace(config.train, seed=run_seed(config, trial, 3))
    params, report = train_ensemble(params, normalizer, data, config=train_cfg)
    folded = fold_normalizer(params, normalizer)
    if loop.plan_step is None:
        events.phase(trial, "compiling")
        loop.plan_step, loop.compile_s, loop.memory_mb = compile_plan_step(
            task, loop.planner, config, folded, loop.state0)
    events.phase(trial, "episode")
    episode = run_episode(task, config, trial, loop.plan_step, folded, loop.state0,
                          render=loop.video,
                          on_step=lambda step, ret, ms: events.step(trial, step, ret, ms))
    if loop.video:
        write_gif(loop.folder.path / "videos" / f"trial-{trial:03d}.gif", episode.frames)
    buffer.add(episode.obs, episode.actions, episode.next_obs, episode.rewards, trial)
    row = _metrics(loop, trial, episode, len(buffer), report)
    loop.folder.commit(row, {
        "model": lambda fh: write_model(fh, params, normalizer),
        "buffer": buffer.write,
    })
    return params, row


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
