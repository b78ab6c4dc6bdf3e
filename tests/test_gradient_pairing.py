"""The gradient stage compares like with like when a rollout's draws depend on a row's place
in the batch (TS1 with rows given to members row by row, ``assignment="row"``): the starts'
returns CEM measured in its own batch are not what the stage's trials are compared with."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cemgd
from cemgd.models import init_ensemble, make_rollout
from cemgd.planners.gradient import GradientSettings, gradient_ascent

OBS, KEY = jnp.array([0.2, -0.1, 0.3]), jax.random.key(0)


def _reward(obs, action, next_obs):
    return next_obs[..., 0] - 0.1 * jnp.sum(action**2, axis=-1)


def _problem(assignment: str) -> cemgd.Problem:
    """A 5-member ensemble, 4 sampled particles under TS1."""
    params = init_ensemble(jax.random.key(4), 3, 2, 5, 16, 2)
    rollout = make_rollout(params, _reward, 4, assignment=assignment, propagation="ts1")
    return cemgd.Problem(rollout, 6, -np.ones(2), np.ones(2), obs_shape=(3,))


def _starts(problem: cemgd.Problem) -> tuple[jax.Array, jax.Array]:
    """Two sequences and their returns as a CEM stage scores them: in a batch of 16."""
    batch = jax.random.uniform(jax.random.key(1), (16, 6, 2), minval=-1, maxval=1)
    return batch[:2], problem.rollout(OBS, batch, KEY)[:2]


@pytest.mark.parametrize("line_search", ["sequential", "parallel"])
def test_reported_returns_are_the_actions_evaluated_as_k_rows(line_search: str) -> None:
    problem = _problem("row")
    starts, batch_returns = _starts(problem)
    alone = problem.rollout(OBS, starts, KEY)
    # the premise: a row's draws depend on its batch, so CEM's scores are not the stage's
    assert np.max(np.abs(np.asarray(batch_returns - alone))) > 1e-3
    settings = GradientSettings(grad_steps=5, step_size=0.5, line_search=line_search)
    actions, returns, info = gradient_ascent(problem, OBS, starts, batch_returns, KEY, settings)
    np.testing.assert_allclose(returns, problem.rollout(OBS, actions, KEY), rtol=1e-5,
                               atol=1e-5)
    assert np.all(np.asarray(returns) >= np.asarray(alone) - 1e-5)  # never below the starts
    assert int(info.grad_steps) > 0


def test_batch_free_draws_keep_the_callers_returns_meaning() -> None:
    """TS1 by particle draws the same for a sequence in any batch: the stage's own scores
    of the starts are the caller's, so re-scoring them changes nothing."""
    problem = _problem("particle")
    starts, batch_returns = _starts(problem)
    np.testing.assert_allclose(batch_returns, problem.rollout(OBS, starts, KEY), rtol=1e-5,
                               atol=1e-5)
    settings = GradientSettings(grad_steps=5, step_size=0.5)
    given = gradient_ascent(problem, OBS, starts, batch_returns, KEY, settings)
    own = gradient_ascent(problem, OBS, starts, problem.rollout(OBS, starts, KEY), KEY, settings)
    for a, b in zip(given, own, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)
    assert np.all(np.asarray(given[1]) >= np.asarray(batch_returns) - 1e-5)


def test_a_start_not_finite_stays_and_one_lost_here_is_counted() -> None:
    """A start the caller scored -inf is not refined; one the caller scored finite but the
    stage cannot (here: its return is NaN under the stage's rollout) stops and counts."""
    problem = _problem("row")
    starts, batch_returns = _starts(problem)
    settings = GradientSettings(grad_steps=3, step_size=0.5)
    returns = batch_returns.at[0].set(-jnp.inf)
    actions, out, info = gradient_ascent(problem, OBS, starts, returns, KEY, settings)
    np.testing.assert_array_equal(np.asarray(actions[0]), np.asarray(starts[0]))
    assert float(out[0]) == -np.inf and int(info.num_nonfinite) == 0

    def nan_first(obs, a, key):  # the first row's return is NaN, the rest as before
        r = problem.rollout(obs, a, key)
        return r.at[0].set(jnp.nan)

    broken = cemgd.Problem(nan_first, 6, -np.ones(2), np.ones(2), obs_shape=(3,))
    none = GradientSettings(grad_steps=0)  # no trial: only the stage's scores can count it
    actions, out, info = gradient_ascent(broken, OBS, starts, batch_returns, KEY, none)
    np.testing.assert_array_equal(np.asarray(actions[0]), np.asarray(starts[0]))
    assert float(out[0]) == -np.inf and int(info.num_nonfinite) == 1
