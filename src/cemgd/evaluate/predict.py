"""What the model promised at each step of an evaluation, next to what the environment gave.

At every step the planner returns a plan ``[H, A]`` and the first action is executed.
:func:`make_predictor` scores that plan on the frozen model from the step's observation:

- ``predicted``: the plan's ``H``-step return on the model as the planner scores it, the
  mean over ``num_particles`` sampled particles (the run's propagation), with a key of
  its own (derived from the episode's seed and the step, so the planner's keys and
  returns are those of an evaluation without it);
- ``predicted_std``: the spread over the ensemble, the standard deviation over members
  of each member's deterministic ``H``-step return of the plan.

:func:`realised_returns` gives the environment's return over the same ``H`` steps as
executed (MPC replans at every step, so this is the return of what was done, not of the
plan). A window that runs past the episode's last step is compared only where the
environment ended the episode (its later rewards are 0, as the model's rollout counts
them after its termination); where the step limit cut it, it is not comparable (NaN).
So over-optimism ``predicted - realised`` mixes model error with what replanning changed;
on a model that is the environment and a one-step horizon it is 0.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cemgd.models import EnsembleModel
from cemgd.pets import Episode, PETSConfig
from cemgd.pets.episode import Predict, model_problem
from cemgd.planners.spec import PlannerSpec
from cemgd.report.exploitation import STEP_COLUMNS
from cemgd.tasks import EnvTask

#: Folded into an episode's seed key: the prediction keys are never the planner's.
PREDICT_STREAM = 7919


def make_predictor(task: EnvTask, config: PETSConfig, params: Any,
                   model: EnsembleModel | None = None) -> Callable[[int], Predict]:
    """``predictor(seed)`` gives the :data:`cemgd.pets.episode.Predict` of episode
    ``seed`` on the model ``params`` (normaliser folded in): ``(step, obs [S],
    plan [H, A]) -> (predicted, predicted_std)`` (``model``: as in
    :func:`cemgd.pets.episode.model_problem`). The scoring is compiled once (on its
    first call), whatever the seed."""
    def score(params: Any, obs: jax.Array, plan: jax.Array, key: jax.Array
              ) -> tuple[jax.Array, jax.Array]:
        problem = model_problem(task, params, config, model)
        actions = plan[None]  # [1, H, A]
        mean = problem.rollout(obs, actions, key)[0]
        assert problem.grad_rollout is not None  # model_problem always builds it
        members = problem.grad_rollout(obs, actions, key)[0]  # [E]
        return mean, jnp.std(members)

    compiled = jax.jit(score)

    def predictor(seed: int) -> Predict:
        base = jax.random.fold_in(jax.random.key(seed), PREDICT_STREAM)

        def predict(step: int, obs: jax.Array, plan: jax.Array) -> tuple[float, float]:
            key = jax.random.fold_in(base, step)
            mean, std = jax.device_get(compiled(params, jnp.asarray(obs, jnp.float32), plan,
                                                key))
            return float(mean), float(std)

        return predict

    return predictor


def realised_returns(rewards: np.ndarray, horizon: int, terminated: bool) -> np.ndarray:
    """``[n]``: the sum of ``rewards [n]`` over steps ``t .. t + horizon - 1``; a window
    past the last step counts the missing rewards as 0 when the environment
    ``terminated`` the episode, else is NaN (not comparable)."""
    r = np.asarray(rewards, float)
    n = r.size
    total = np.concatenate([[0.0], np.cumsum(r)])
    end = np.arange(n) + horizon
    out = total[np.minimum(end, n)] - total[:n]
    if not terminated:
        out[end > n] = np.nan
    return out


def step_rows(spec: PlannerSpec | str, k: int, seed: int, episode: Episode, horizon: int
              ) -> list[dict[str, Any]]:
    """The rows of an episode's per-step file (:data:`STEP_COLUMNS`; the planner as
    ``str(spec)``, its rows' key)."""
    realised = realised_returns(episode.rewards, horizon, episode.terminated)
    return [dict(zip(STEP_COLUMNS, (str(spec), k, seed, t, float(episode.rewards[t]),
                                    float(episode.predicted[t]),
                                    float(episode.predicted_std[t]), float(realised[t])),
                     strict=True))
            for t in range(len(realised))]
