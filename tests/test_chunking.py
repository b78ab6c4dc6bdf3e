"""max_batch: chunked evaluation gives the result of one batch, for every sampling planner."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cemgd
from cemgd.models import init_ensemble, make_rollout
from cemgd.planners import PLANNERS, PlannerSpec
from cemgd.planners.chunking import (
    DEFAULT_CHUNK_ROWS,
    MOMENT_BLOCK,
    Rows,
    chunk_size,
    map_chunks,
    moments,
    score,
    score_top_k,
)
from cemgd.planners.loop import sample_rows, sample_truncated
from cemgd.problem import Info

SAMPLING = sorted(n for n, cls in PLANNERS.items()
                  if "max_batch" in {f.name for f in dataclasses.fields(cls.Config)})
SMALL = {"cem": "num_samples=30,num_iterations=2", "cem-gd": "n_init=60,n_replan=30,grad_steps=2",
         "icem": "num_samples=30,num_iterations=2", "mppi": "num_samples=30,num_iterations=2",
         "random-shooting": "num_samples=30", "gradcem": "num_samples=30,num_iterations=2"}


def _reward(obs, action, next_obs):
    return next_obs[..., 0] - 0.1 * jnp.sum(action**2, axis=-1)


def _problem() -> cemgd.Problem:
    params = init_ensemble(jax.random.key(0), 4, 2, 3, 16, 2)
    rollout = make_rollout(params, _reward, num_particles=3)  # sampled particles: keyed noise
    return cemgd.Problem(rollout, 6, -np.ones(2), np.ones(2), obs_shape=(4,))


def test_every_sampling_planner_has_max_batch():
    assert set(SAMPLING) == set(PLANNERS) - {"gd"}


@pytest.mark.parametrize("name", SAMPLING)
def test_chunked_equals_unchunked(name):
    problem = _problem()
    obs = jnp.array([0.1, -0.2, 0.3, 0.0])
    plans = []
    for max_batch in (1000, 7):
        planner = cemgd.make_planner(f"{name}:{SMALL[name]},max_batch={max_batch}")
        state = planner.init(problem, jax.random.key(1))
        steps = []
        for _ in range(2):  # the first step and a replan step
            actions, state, info = planner.plan(state, obs, problem)
            steps.append((np.asarray(actions), float(info.best_return), int(info.num_rollouts)))
        plans.append(steps)
    for (a1, r1, n1), (a2, r2, n2) in zip(*plans, strict=True):
        np.testing.assert_allclose(a2, a1, rtol=1e-5, atol=1e-5)
        assert r2 == pytest.approx(r1, rel=1e-5, abs=1e-5) and n2 == n1


def test_map_chunks_pads_and_drops():
    x = jnp.arange(23.0).reshape(23, 1)
    out = map_chunks(lambda a: (2 * a[:, 0], a), x, 5)
    np.testing.assert_array_equal(out[0], 2 * np.arange(23.0))
    np.testing.assert_array_equal(out[1], x)


@pytest.mark.parametrize("name", SAMPLING)
@pytest.mark.parametrize("value", [0, -3, 2.5, True])
def test_bad_max_batch_names_the_setting(name, value):
    with pytest.raises(ValueError, match="max_batch"):
        cemgd.make_planner(name, max_batch=value)
    with pytest.raises(ValueError, match="max_batch"):
        PlannerSpec.parse(f"{name}:max_batch=0")


@pytest.mark.parametrize("truncation", ["pets", "box"])
def test_a_sample_does_not_depend_on_how_many_are_drawn(truncation):
    problem = cemgd.Problem(lambda o, a, k: -jnp.sum(a**2, (1, 2)), 5, -np.ones(3), np.ones(3))
    key = jax.random.key(4)
    mean = jnp.full((5, 3), 0.3)
    std = jnp.full((5, 3), 0.8)
    whole = sample_truncated(key, mean, std, problem, 50, truncation)
    ids = jnp.array([49, 0, 17, 17])
    some = sample_truncated(key, mean, std, problem, ids, truncation)
    np.testing.assert_array_equal(np.asarray(some), np.asarray(whole)[np.asarray(ids)])
    made = sample_rows(key, mean, std, problem, 50, truncation)
    np.testing.assert_array_equal(np.asarray(made.make(ids)), np.asarray(some))
    assert float(jnp.min(whole)) >= -1.0 and float(jnp.max(whole)) <= 1.0
    assert len(np.unique(np.asarray(whole)[:, 0, 0])) == 50  # independent samples


def test_blocked_moments_equal_the_direct_ones():
    data = jax.random.normal(jax.random.key(5), (200, 4, 2)) * 0.3 + 0.7
    idx = jax.random.permutation(jax.random.key(6), 200)[: MOMENT_BLOCK * 3 + 5]
    mean, var = moments(Rows(lambda i: data[i], 200), idx)
    elites = np.asarray(data)[np.asarray(idx)]
    np.testing.assert_allclose(np.asarray(mean), elites.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(var), elites.var(0), rtol=1e-4, atol=1e-6)


def _rows_problem(returns: np.ndarray) -> tuple[cemgd.Problem, Rows]:
    """A problem whose sequence ``i`` (first action = i) scores ``returns[i]``."""
    table = jnp.asarray(returns, jnp.float32)
    problem = cemgd.Problem(lambda obs, a, key: table[a[:, 0, 0].astype(jnp.int32)], 2,
                            np.zeros(1), np.full(1, 1e6))
    make = lambda ids: jnp.broadcast_to(ids.astype(jnp.float32)[:, None, None],  # noqa: E731
                                        (ids.shape[0], 2, 1))
    return problem, Rows(make, len(returns))


@pytest.mark.parametrize("max_batch", [None, 1, 7, 40, 41])
@pytest.mark.parametrize("k", [1, 5, 12])
def test_running_top_k_equals_top_k_of_every_return(max_batch, k):
    rng = np.random.default_rng(k)
    returns = rng.integers(-5, 1, 41).astype(np.float32)  # many ties, 0 the best
    returns[[3, 17, 30]] = [np.nan, np.inf, -np.inf]
    returns[[5, 9, 20, 33]] = [-0.0, 0.0, -1e-45, 1e-45]  # signed zeros, subnormals
    valid = jnp.asarray(rng.random(41) < 0.8)
    problem, rows_ = _rows_problem(returns)
    obs, key = jnp.zeros(1), jax.random.key(0)
    for v in (None, valid):
        full, tally = score(Info(), problem, obs, rows_, key, valid=v)
        want_returns, want_idx = jax.lax.top_k(full, k)
        got_returns, got_idx, got_tally = score_top_k(Info(), problem, obs, rows_, key, k,
                                                      valid=v, max_batch=max_batch)
        np.testing.assert_array_equal(got_idx, want_idx)
        np.testing.assert_array_equal(got_returns, want_returns)
        assert got_tally == tally


def test_running_top_k_refuses_k_above_the_rows():
    problem, rows_ = _rows_problem(np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="k: expected 1 <= k <= 3"):
        score_top_k(Info(), problem, jnp.zeros(1), rows_, jax.random.key(0), 4)


@pytest.mark.parametrize(("rows", "chunk"), [(1, 300), (20, 100), (3000, 1)])
def test_default_chunk_holds_a_fixed_number_of_rollout_rows(rows, chunk):
    seen: list[int] = []

    def rollout(obs, actions, key):
        seen.append(actions.shape[0])  # traced batch sizes
        return -jnp.sum(actions**2, axis=(1, 2))

    problem = cemgd.Problem(rollout, 3, -np.ones(2), np.ones(2), obs_shape=(1,), rollout_rows=rows)
    assert chunk_size(None, problem) == max(1, DEFAULT_CHUNK_ROWS // rows)
    assert chunk_size(7, problem) == 7
    planner = cemgd.make_planner("cem:num_samples=300,num_iterations=2")
    planner.plan(planner.init(problem, jax.random.key(0)), jnp.zeros(1), problem)
    assert max(seen) == chunk  # 300 sequences: one batch, or chunks of 2000 // rows


@pytest.mark.parametrize("value", [0, -1, 2.5, True, "20"])
def test_bad_rollout_rows_names_the_setting(value):
    with pytest.raises(ValueError, match="rollout_rows"):
        cemgd.Problem(lambda o, a, k: a[:, 0, 0], 3, -np.ones(2), np.ones(2), rollout_rows=value)


@pytest.mark.parametrize(("old", "name", "new"), [
    ("cemgd.problem", "score_top_k", "cemgd.planners.chunking"),
    ("cemgd.problem", "Rows", "cemgd.planners.chunking"),
    ("cemgd.linesearch", "gradient_ascent", "cemgd.planners.gradient"),
    ("cemgd.objectives", "reduce_particles", "cemgd.planners.objectives"),
    ("cemgd.objectives", "rescores", "cemgd.planners.objectives"),
    ("cemgd.objectives", "gradient_objective", "cemgd.planners.objectives"),
    ("cemgd.linesearch", "GradientSettings", "cemgd.planners.settings"),
    ("cemgd.planners.base", "check_warm_start", "cemgd.planners.checked"),
    ("cemgd.planners.loop", "merge_top_k", "cemgd.planners.sampling"),
    ("cemgd.planners.loop", "uniform_sequences", "cemgd.planners.sampling"),
    ("cemgd.planners.loop", "final_mean", "cemgd.planners.cem"),
    ("cemgd.planners.loop", "check_truncation", "cemgd.planners.settings"),
    ("cemgd.planners.gradient", "MAX_SCALED_STEP", "cemgd.planners.gradient_options"),
    ("cemgd.planners.gradient", "StepRule", "cemgd.planners.gradient_options"),
    ("cemgd.planners.gradient", "GradObjective", "cemgd.planners.objectives"),
    ("cemgd.linesearch", "ascent_direction", "cemgd.planners.gradient_options"),
])
def test_moved_names_still_import_with_a_warning_naming_the_new_home(old, name, new):
    import importlib

    with pytest.warns(DeprecationWarning, match=f"moved to {new}.{name}"):
        got = getattr(importlib.import_module(old), name)
    assert got is getattr(importlib.import_module(new), name)
    with pytest.raises(AttributeError):
        importlib.import_module(old).no_such_name  # noqa: B018
