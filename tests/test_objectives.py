"""grad_objective: mean, sampled, pessimistic and CVaR gradient stages over particle returns."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cemgd
from cemgd.models import init_ensemble, make_rollout
from cemgd.planners.objectives import GRAD_OBJECTIVES, reduce_particles


def _reward(obs, action, next_obs):
    return next_obs[..., 0] - 0.1 * jnp.sum(action**2, axis=-1)


def _problem(members: int) -> cemgd.Problem:
    params = init_ensemble(jax.random.key(4), 3, 2, members, 16, 2)
    rollout = make_rollout(params, _reward, members, sample=False)
    per_member = make_rollout(params, _reward, members, sample=False, per_particle=True)
    return cemgd.Problem(rollout, 5, -np.ones(2), np.ones(2), obs_shape=(3,),
                         grad_rollout=per_member)


def _plan(problem: cemgd.Problem, objective: str) -> np.ndarray:
    planner = cemgd.make_planner(
        "cem-gd", n_init=20, n_replan=10, grad_steps=5, step_size=0.2, grad_objective=objective,
        risk=0.5)
    state = planner.init(problem, jax.random.key(0))
    actions, _, info = planner.plan(state, jnp.array([0.2, -0.1, 0.3]), problem)
    assert int(info.grad_steps) > 0
    return np.asarray(actions)


def test_reduce_particles():
    r = jnp.array([[1.0, 2.0, 3.0, 10.0], [0.0, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(reduce_particles(r, "mean", 0.5), [4.0, 0.0])
    np.testing.assert_allclose(reduce_particles(r, "sampled", 0.5), [4.0, 0.0])
    np.testing.assert_allclose(reduce_particles(r, "pessimistic", 1.0),
                               [4.0 - np.std([1, 2, 3, 10]), 0.0], rtol=1e-6)
    np.testing.assert_allclose(reduce_particles(r, "cvar", 0.5), [1.5, 0.0])
    np.testing.assert_allclose(reduce_particles(r, "cvar", 0.1), [1.0, 0.0])
    np.testing.assert_allclose(reduce_particles(r, "cvar", 1.0), [4.0, 0.0])
    flat = jnp.array([1.0, 2.0])
    for objective in GRAD_OBJECTIVES:
        assert reduce_particles(flat, objective, 0.5) is flat


@pytest.mark.parametrize("objective", GRAD_OBJECTIVES)
def test_every_objective_reduces_to_mean_with_one_member(objective):
    problem = _problem(1)
    np.testing.assert_allclose(_plan(problem, objective), _plan(problem, "mean"),
                               rtol=1e-6, atol=1e-6)


@pytest.mark.slow  # over 25 s on 2 cores; run with -m slow
def test_risk_aware_objectives_differ_with_several_members():
    problem = _problem(5)
    mean = _plan(problem, "mean")
    assert not np.allclose(_plan(problem, "pessimistic"), mean, atol=1e-4)
    assert not np.allclose(_plan(problem, "cvar"), mean, atol=1e-4)


@pytest.mark.parametrize(("propagation", "assignment"), [
    ("tsinf", "particle"), ("ts1", "particle"), ("tsinf", "row"), ("expectation", "particle")])
def test_per_particle_returns_average_to_the_rollout(propagation, assignment):
    params = init_ensemble(jax.random.key(1), 3, 2, 3, 16, 2)
    kw = dict(propagation=propagation, assignment=assignment)
    mean = make_rollout(params, _reward, 4, **kw)
    each = make_rollout(params, _reward, 4, per_particle=True, **kw)
    actions = jax.random.uniform(jax.random.key(2), (6, 5, 2), minval=-1, maxval=1)
    obs, key = jnp.array([0.1, 0.2, -0.3]), jax.random.key(3)
    per = each(obs, actions, key)
    assert per.shape == ((6, 1) if propagation == "expectation" else (6, 4))
    np.testing.assert_allclose(jnp.mean(per, axis=1), mean(obs, actions, key), rtol=1e-5)


@pytest.mark.parametrize(("settings", "named"), [
    ({"grad_objective": "x"}, "grad_objective"),
    ({"grad_objective": "pessimistic", "risk": -1.0}, "risk"),
    ({"grad_objective": "cvar", "risk": 0.0}, "risk"),
    ({"grad_objective": "cvar", "risk": 1.5}, "risk"),
    ({"risk": float("nan")}, "risk"),
])
@pytest.mark.parametrize("name", ["cem-gd", "gd"])
def test_bad_settings_name_the_setting(name, settings, named):
    with pytest.raises(ValueError, match=named):
        cemgd.make_planner(name, **settings)
