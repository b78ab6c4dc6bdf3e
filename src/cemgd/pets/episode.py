"""One MPC episode on the real environment, planning on the learned model.

This module owns the planning problem on the model (:func:`model_problem`,
:func:`compile_plan_step`) and the environment loop (:func:`run_episode`, seeded by
:class:`EpisodeSeeds`); what a step records is :mod:`cemgd.pets.record`'s, resuming a
saved episode :mod:`cemgd.pets.resume`'s and rendering :mod:`cemgd.pets.render`'s.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cemgd.models import make_rollout
from cemgd.models.protocol import EnsembleModel, MLPEnsemble, resolve_model
from cemgd.pets.buffer import run_seed
from cemgd.pets.config import PETSConfig
from cemgd.pets.record import Episode, Progress, StepRecord
from cemgd.pets.render import Frames
from cemgd.pets.resume import EpisodeCheckpoint, EpisodeStart, replay
from cemgd.planners import Planner
from cemgd.problem import Info, PlanState, Problem
from cemgd.tasks import EnvTask, check_env_reward

Array = jax.Array
PlanStep = Callable[[PlanState, Array, Any], tuple[Array, PlanState, Info]]
#: ``on_step(step, episode return so far, plan ms of the step)``, called after each step.
OnStep = Callable[[int, float, float], None]
#: ``predict(step, obs [S], plan [T, A]) -> (predicted return, spread over the ensemble)``
#: of the plan a step executes (``cemgd evaluate`` records it; see
#: :mod:`cemgd.evaluate.predict`).
Predict = Callable[[int, Array, Array], tuple[float, float]]


def model_problem(task: EnvTask, params: Any, config: PETSConfig,
                  model: EnsembleModel | None = None) -> Problem:
    """The planning problem on the learned model ``params`` (normaliser folded in, or
    ``model`` a :class:`~cemgd.models.protocol.Normalized` one; ``None``: the built-in
    ensemble with ``config.activation``).

    ``rollout`` samples ``num_particles`` particles per sequence with
    ``config.propagation`` and ``config.assignment``; ``grad_rollout`` (for the gradient
    stage) is the members' deterministic mean predictions, one trajectory per member,
    ``[B, E]`` (a planner's ``grad_objective`` reduces them, or with ``"sampled"`` climbs
    ``rollout`` instead).
    Pure: it may be built inside ``jit`` with traced ``params``.
    """
    model = resolve_model(model, lambda: MLPEnsemble(activation=config.activation))
    common = dict(
        activation=config.activation, input_fn=task.model_input, model=model,
        output_fn=task.model_output_to_next_obs, termination_fn=task.termination,
    )
    rollout = make_rollout(
        params, task.reward, config.num_particles, sample=True, propagation=config.propagation,
        assignment=config.assignment, **common,
    )
    grad_rollout = make_rollout(
        params, task.reward, model.num_members(params), sample=False, propagation="tsinf",
        per_particle=True, **common,  # [B, E]: the planner's grad_objective reduces them
    )
    return Problem(
        rollout, config.horizon, task.action_low, task.action_high,
        obs_shape=(task.obs_dim,), grad_rollout=grad_rollout, rollout_rows=config.num_particles,
    )


def compile_plan_step(
    task: EnvTask, planner: Planner, config: PETSConfig, params: Any,
    state: PlanState, model: EnsembleModel | None = None,
) -> tuple[PlanStep, float, float]:
    """Compile ``(state, obs [S], params) -> (actions [T, A], state, info)`` once.

    Returns:
        ``(step, compile seconds, memory MB)``, the memory being the compiled step's
        arguments + outputs + temporaries (XLA's memory analysis; NaN where the backend
        gives none).
    """

    def step(state: PlanState, obs: Array, params: Any) -> Any:
        return planner.plan_fn(model_problem(task, params, config, model))(state, obs)

    obs = jnp.zeros((task.obs_dim,), jnp.float32)
    start = time.perf_counter()
    compiled = jax.jit(step).lower(state, obs, params).compile()
    seconds = time.perf_counter() - start
    memory = float("nan")
    try:
        m = compiled.memory_analysis()
        memory = (m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes) / 2**20
    except Exception:  # noqa: BLE001 - not every backend reports memory
        pass
    return compiled, seconds, memory


@dataclass(frozen=True)
class EpisodeSeeds:
    """The seeds of one episode: the environment's reset and the planner's key.

    Attributes:
        env, planner: the two seeds.
        name: the episode in messages (``"trial 3"``, ``"seed 7"``).
    """

    env: int
    planner: int
    name: str

    @classmethod
    def of_trial(cls, config: PETSConfig, trial: int) -> EpisodeSeeds:
        """A PETS run's episode of ``trial``: both seeds derived from the run's seed and
        the trial (:func:`cemgd.pets.run_seed`), so a resumed run repeats them."""
        return cls(run_seed(config, trial, 4), run_seed(config, trial, 5), f"trial {trial}")

    @classmethod
    def paired(cls, seed: int) -> EpisodeSeeds:
        """Both seeds ``seed``: ``cemgd evaluate`` pairs planners on the same seed."""
        return cls(seed, seed, f"seed {seed}")


@dataclass(frozen=True)
class Controller:
    """What chooses an episode's actions: the compiled planning step
    (:func:`compile_plan_step`) on the model ``params``, from the planner's initial
    ``state0`` (its key replaced by the episode's); ``predict``, when given, scores each
    executed plan on the model (outside the plan's timing)."""

    step: PlanStep
    params: Any
    state0: PlanState
    predict: Predict | None = None


def run_episode(task: EnvTask, controller: Controller, seeds: EpisodeSeeds, *,
                frames: Frames | None = None, on_step: OnStep | None = None,
                checkpoint: EpisodeCheckpoint | None = None) -> Episode:
    """One MPC episode on the real environment: every step plans with ``controller`` and
    applies the plan's first action, up to ``task.episode_length`` steps.

    With ``checkpoint`` the episode so far is saved every ``checkpoint.every_s`` seconds
    and an episode found there is resumed (:func:`cemgd.pets.resume.replay`): it ends as
    an uninterrupted one would, plan times aside; ``on_step`` sees only the steps taken
    here. With ``frames`` every step is rendered into it (:class:`Frames`), and the
    episode's ``frames`` are those.

    Raises:
        ValueError: both ``frames`` and ``checkpoint`` (frames are not saved).
    """
    if frames is not None and checkpoint is not None:
        raise ValueError("checkpoint: an episode that renders cannot resume (its frames "
                         "are not saved); give no frames or no checkpoint")
    state0 = controller.state0._replace(key=jax.random.key(seeds.planner))
    resumed = None if checkpoint is None else replay(task, seeds.env, checkpoint, state0)
    env, obs, progress, state = resumed or _reset(task, seeds.env, state0, frames)
    steps = task.episode_length
    start = time.perf_counter() - progress.seconds
    ended = terminated = False
    for step in range(progress.steps, steps):
        record, state, terminated, ended = _step(task, controller, env, obs, state,
                                                 step, seeds.name)
        progress.add(record)
        if frames is not None:
            frames.add(env, step + 1, steps, progress.total)
        if on_step is not None:
            on_step(step, progress.total, record.plan_ms)
        obs = record.next_obs
        if ended:
            break
        if checkpoint is not None and step + 1 < steps and checkpoint.due():
            progress.seconds = time.perf_counter() - start
            checkpoint.save(progress, state)
    env.close()
    return progress.episode(time.perf_counter() - start,
                            [] if frames is None else frames.frames, bool(terminated))


def _reset(task: EnvTask, env_seed: int, state: PlanState,
           frames: Frames | None) -> EpisodeStart:
    """A fresh episode: the environment made and reset (rendering into ``frames``)."""
    env = task.make_env(seed=env_seed, render_mode=None if frames is None else "rgb_array")
    obs, _ = env.reset()
    if frames is not None:
        frames.add(env, 0, task.episode_length, 0.0)
    return EpisodeStart(env, obs, Progress(), state)


def _step(task: EnvTask, controller: Controller, env: Any, obs: np.ndarray,
          state: PlanState, step: int, name: str
          ) -> tuple[StepRecord, PlanState, bool, bool]:
    """Plan from ``obs: [S]`` and apply the plan's first action to ``env``: ``(the step's
    record, the planner state after it, terminated, terminated or truncated)``."""
    t0 = time.perf_counter()
    actions, state, info = controller.step(state, jnp.asarray(obs, jnp.float32),
                                           controller.params)
    # one device-to-host transfer per step (it waits for the step)
    action, info = jax.device_get((actions[0], info))
    plan_ms = (time.perf_counter() - t0) * 1e3
    predicted = ((math.nan, math.nan) if controller.predict is None
                 else controller.predict(step, obs, actions))
    next_obs, reward, terminated, truncated, _ = env.step(action)
    check_env_reward(task, reward, f"step {step} of the episode of {name}")
    record = StepRecord(obs, action, next_obs, reward, plan_ms, int(info.num_rollouts),
                        int(info.grad_steps), bool(info.fallback), float(predicted[0]),
                        float(predicted[1]))
    return record, state, bool(terminated), bool(terminated or truncated)
