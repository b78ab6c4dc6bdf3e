"""cemgd.problem's counters (``Info``, default 0) and the one choke point that counts
rollouts (``planners.chunking.score``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import small_planner

import cemgd
from cemgd.planners.base import Result
from cemgd.planners.chunking import Rows, evaluate, score
from cemgd.problem import COUNTERS, Info


def _problem() -> cemgd.Problem:
    def rollout(obs, actions, key):
        r = -jnp.sum(actions**2, axis=(1, 2))
        return jnp.where(actions[:, 0, 0] > 0.5, jnp.nan, r)  # some rows non-finite

    return cemgd.Problem(rollout, 3, -np.ones(2), np.ones(2))


def test_counters_default_to_zero():
    res = Result(jnp.zeros((3, 2)), jnp.float32(1.0))
    assert res.counts == Info()
    info = Info()
    assert (info.num_samples, info.num_rollouts, info.grad_steps, info.line_search_trials,
            info.num_nonfinite, bool(info.fallback)) == (0, 0, 0, 0, 0, False)
    assert info.best_return == -np.inf


def test_info_add_sums_counters_and_refuses_the_rest():
    t = Info().add(num_samples=3).add(num_samples=2, grad_steps=1)
    assert int(t.num_samples) == 5 and int(t.grad_steps) == 1 and t.num_rollouts == 0
    both = t._replace(best_return=1.5).merge(t._replace(best_return=9.0, fallback=True))
    assert [int(getattr(both, k)) for k in COUNTERS] == [10, 0, 2, 0, 0]
    assert both.best_return == 1.5 and not both.fallback  # merge adds counters only
    assert [int(getattr(t.times(3), k)) for k in COUNTERS] == [15, 0, 3, 0, 0]
    for bad in ("rollouts", "best_return", "fallback"):
        with pytest.raises(ValueError, match="counts"):
            Info().add(**{bad: 1})


def test_old_counter_names_are_info_with_a_warning():
    import cemgd.problem

    for old in ("PlanInfo", "Tally"):
        with pytest.warns(DeprecationWarning, match="Info"):
            assert getattr(cemgd.problem, old) is Info
    with pytest.warns(DeprecationWarning, match="cemgd.problem.Info"):
        assert cemgd.PlanInfo is Info


def test_score_counts_rows_and_nonfinite_returns():
    problem = _problem()
    actions = jax.random.uniform(jax.random.key(0), (40, 3, 2), minval=-1.0, maxval=1.0)
    expect_bad = int(np.sum(np.asarray(actions[:, 0, 0]) > 0.5))
    assert expect_bad > 0
    returns, tally = score(Info(num_rollouts=5), problem, jnp.zeros(1), actions,
                           jax.random.key(1), max_batch=7)
    assert int(tally.num_rollouts) == 45 and int(tally.num_nonfinite) == expect_bad
    assert int(np.sum(np.isneginf(np.asarray(returns)))) == expect_bad


def test_score_counts_only_valid_rows_and_ranks_the_rest_last():
    problem = _problem()
    actions = jnp.zeros((6, 3, 2)).at[4, 0, 0].set(1.0)  # row 4 non-finite but not valid
    valid = jnp.array([True, True, False, True, False, True])
    returns, tally = score(Info(), problem, jnp.zeros(1), actions, jax.random.key(0),
                           valid=valid)
    assert int(tally.num_rollouts) == 4 and int(tally.num_nonfinite) == 0
    assert np.all(np.isneginf(np.asarray(returns)[~np.asarray(valid)]))


def test_rows_made_per_chunk_equal_the_whole_batch():
    problem = _problem()
    whole = jax.random.uniform(jax.random.key(2), (23, 3, 2), minval=-1.0, maxval=1.0)
    rows = Rows(lambda ids: whole[ids], 23)
    r1, b1 = evaluate(problem, jnp.zeros(1), whole, jax.random.key(0))
    r2, b2 = evaluate(problem, jnp.zeros(1), rows, jax.random.key(0), max_batch=5)
    np.testing.assert_allclose(np.asarray(r2), np.asarray(r1), rtol=1e-6)
    assert int(b1) == int(b2)


@pytest.mark.parametrize("name", ["cem", "mppi", "random-shooting"])
def test_planners_count_exactly_the_rows_they_roll_out(name):
    seen = []

    def rollout(obs, actions, key):
        jax.debug.callback(lambda n: seen.append(int(n)), actions.shape[0])
        return -jnp.sum((actions - 0.2) ** 2, axis=(1, 2))

    problem = cemgd.Problem(rollout, 3, -np.ones(2), np.ones(2))
    planner = small_planner(name)
    state = planner.init(problem, jax.random.key(0))
    for _ in range(2):
        seen.clear()
        _, state, info = planner.plan(state, jnp.zeros(1), problem)
        jax.effects_barrier()
        assert int(info.num_rollouts) == sum(seen) > 0
