"""One MPC episode on the real environment, planning on the learned model."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from cemgd.models import make_rollout
from cemgd.models.protocol import EnsembleModel, MLPEnsemble, resolve_model
from cemgd.pets.buffer import run_seed
from cemgd.pets.config import PETSConfig
from cemgd.pets.resume import EpisodeCheckpoint, Progress
from cemgd.planners import Planner
from cemgd.problem import Info, PlanState, Problem
from cemgd.runs import write_atomic
from cemgd.runtime import console
from cemgd.tasks import EnvTask, check_env_reward
from cemgd.tasks.overlay import caption, overlay

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
    stage) is the members' deterministic mean predictions, one trajectory per member, or
    ``None`` with ``grad_propagation="sampled"`` (the gradient of the sampled return).
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
    grad_rollout = None
    if config.grad_propagation == "mean":
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


@dataclass
class Episode:
    """What one episode recorded, one entry per step.

    Attributes:
        obs, next_obs: ``[n, S]``; actions: ``[n, A]``; rewards: ``[n]``.
        plan_ms: ``[n]`` wall time of each planning step.
        rollouts, grad_steps: ``[n]`` from ``Info``; fallback: ``[n]`` bool.
        predicted, predicted_std: ``[n]`` the model's predicted return of each step's
            plan and its spread over the ensemble (``predict``; NaN without one).
        seconds: wall time of the episode.
        frames: rendered frames (with ``render=True``).
        terminated: the environment ended the episode (not the step limit).
    """

    obs: np.ndarray
    actions: np.ndarray
    next_obs: np.ndarray
    rewards: np.ndarray
    plan_ms: np.ndarray
    rollouts: np.ndarray
    grad_steps: np.ndarray
    fallback: np.ndarray
    predicted: np.ndarray
    predicted_std: np.ndarray
    seconds: float
    frames: list[np.ndarray]
    terminated: bool = False


def run_episode(
    task: EnvTask, config: PETSConfig, trial: int, plan_step: PlanStep,
    params: Any, state0: PlanState, render: bool = False,
    on_step: OnStep | None = None, seed: int | None = None,
    checkpoint: EpisodeCheckpoint | None = None, predict: Predict | None = None,
) -> Episode:
    """One MPC episode of trial ``trial`` (env and planner keys derived from it, or both
    ``seed`` when given: ``cemgd evaluate`` pairs planners on the same seed).

    With ``checkpoint`` the episode so far is saved every ``checkpoint.every_s`` seconds
    and an episode found there is resumed (:mod:`cemgd.pets.resume`): it ends as an
    uninterrupted one would, plan times aside; ``on_step`` sees only the steps taken here.
    ``predict`` (after each plan, outside its timing) records the model's predicted
    return of the plan and its spread over the ensemble.
    """
    if render and checkpoint is not None:
        raise ValueError("checkpoint: an episode that renders cannot resume (its frames "
                         "are not saved); give render=False")
    env_seed, key_seed = ((seed, seed) if seed is not None
                          else (run_seed(config, trial, 4), run_seed(config, trial, 5)))
    env, obs, progress, state = _start(task, env_seed, checkpoint, render,
                                       state0._replace(key=jax.random.key(key_seed)))
    steps = task.episode_length
    frames = [_captioned(env.render(), caption(trial, 0, steps, 0.0))] if render else []
    start = time.perf_counter() - progress.seconds
    terminated = False
    for step in range(progress.steps, steps):
        t0 = time.perf_counter()
        actions, state, info = plan_step(state, jnp.asarray(obs, jnp.float32), params)
        # one device-to-host transfer per step (it waits for the step)
        action, info = jax.device_get((actions[0], info))
        plan_ms = (time.perf_counter() - t0) * 1e3
        predicted = (math.nan, math.nan) if predict is None else predict(step, obs, actions)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        check_env_reward(task, reward, f"step {step} of the episode of trial {trial}"
                         if seed is None else f"step {step} of the episode of seed {seed}")
        for name, value in (("obs", obs), ("actions", action), ("next_obs", next_obs),
                            ("rewards", reward), ("plan_ms", plan_ms),
                            ("rollouts", int(info.num_rollouts)),
                            ("grad_steps", int(info.grad_steps)),
                            ("fallback", bool(info.fallback)),
                            ("predicted", float(predicted[0])),
                            ("predicted_std", float(predicted[1]))):
            progress.record[name].append(value)
        progress.total += float(reward)
        if render:
            frames.append(_captioned(env.render(), caption(trial, step + 1, steps,
                                                           progress.total)))
        if on_step is not None:
            on_step(step, progress.total, plan_ms)
        obs = next_obs
        if terminated or truncated:
            break
        if checkpoint is not None and step + 1 < steps and checkpoint.due():
            progress.seconds = time.perf_counter() - start
            checkpoint.save(progress, state)
    env.close()
    arrays = {k: np.asarray(v) for k, v in progress.record.items()}
    return Episode(**arrays, seconds=time.perf_counter() - start, frames=frames,
                   terminated=bool(terminated))


def _start(task: EnvTask, env_seed: int, checkpoint: EpisodeCheckpoint | None, render: bool,
           state: PlanState) -> tuple[Any, np.ndarray, Progress, PlanState]:
    """``(env, obs, progress, planner state)``: the episode in ``checkpoint`` resumed, else
    a fresh one."""
    resumed = None if checkpoint is None else _resume(task, env_seed, checkpoint, state)
    if resumed is not None:
        return resumed
    env = task.make_env(seed=env_seed, render_mode="rgb_array" if render else None)
    obs, _ = env.reset()
    return env, obs, Progress(), state


def _resume(task: EnvTask, env_seed: int, checkpoint: EpisodeCheckpoint,
            state: PlanState) -> tuple[Any, np.ndarray, Progress, PlanState] | None:
    """``(env, obs, progress, planner state)`` of the episode saved in ``checkpoint``,
    its recorded actions replayed on a fresh environment (seed ``env_seed``); None when
    there is none or the replay differs from the record in any bit."""
    loaded = checkpoint.load(state)
    if loaded is None:
        return None
    progress, saved = loaded
    record = progress.record
    env = task.make_env(seed=env_seed)
    obs, _ = env.reset()
    for i, action in enumerate(record["actions"]):
        same = np.array_equal(obs, record["obs"][i], equal_nan=True)
        obs, reward, terminated, truncated, _ = env.step(action)
        if not (same and np.array_equal(obs, record["next_obs"][i], equal_nan=True)
                and reward == record["rewards"][i]) or terminated or truncated:
            env.close()
            console().print(f"{checkpoint.path}: its replay differs from its record at "
                            f"step {i}; the episode restarts")
            return None
    console().print(f"{checkpoint.path}: resumed at step {progress.steps}")
    return env, obs, progress, saved


def _captioned(frame: np.ndarray | None, text: str) -> np.ndarray | None:
    """``frame`` with the episode's caption on it (``None`` stays ``None``)."""
    return None if frame is None else overlay(frame, text)


def write_gif(path: Path, frames: list[np.ndarray]) -> None:
    """Write ``frames`` (``[H, W, 3]`` uint8 each) as an animated GIF, atomically."""
    images = [Image.fromarray(np.asarray(f, np.uint8)) for f in frames if f is not None]
    if not images:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda fh: images[0].save(
        fh, format="GIF", save_all=True, append_images=images[1:], duration=50, loop=0))
