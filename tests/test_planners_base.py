"""planners.base at the library's edges: wrong return shapes, a NaN warm start,
observations that are finite only in float64."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import integrator_rollout, small_planner

import cemgd
from cemgd.planners import checked as convenience

PLANNERS = ("cem", "cem-gd", "gd", "mppi")


def _problem(rollout) -> cemgd.Problem:
    return cemgd.Problem(rollout, horizon=4, action_low=-np.ones(2), action_high=np.ones(2))


@pytest.mark.parametrize("name", PLANNERS)
@pytest.mark.parametrize("wrong", ["BT", "B1", "1B"])
def test_rollout_of_the_wrong_shape_is_named(name, wrong):
    def rollout(obs, actions, key):
        r = integrator_rollout(obs, actions, key)
        if wrong == "BT":
            return jnp.broadcast_to(r[:, None], (r.shape[0], actions.shape[1]))
        return r[:, None] if wrong == "B1" else r[None, :]

    planner, problem = small_planner(name), _problem(rollout)
    state = planner.init(problem, jax.random.key(0))
    with pytest.raises(ValueError, match=r"rollout: expected returns of shape \[B\]"):
        planner.plan(state, np.zeros(2), problem)


@pytest.mark.parametrize("name", PLANNERS)
def test_nan_warm_start_is_refused_and_never_becomes_the_action(name):
    planner = small_planner(name)
    problem = _problem(integrator_rollout)
    state = planner.init(problem, jax.random.key(0))
    bad = state._replace(mean=state.mean.at[0, 0].set(jnp.nan))
    with pytest.raises(ValueError, match="state: mean holds NaN"):
        planner.plan(bad, np.zeros(2), problem)

    def broken(obs, actions, key):  # every candidate non-finite: the step falls back
        return jnp.full((actions.shape[0],), jnp.nan)

    step = jax.jit(planner.plan_fn(_problem(broken), first=False))
    actions, _, info = step(bad, jnp.zeros(2))
    assert bool(info.fallback)
    assert np.all(np.isfinite(np.asarray(actions)))


def test_observation_beyond_float32_is_refused():
    planner, problem = small_planner("cem"), _problem(integrator_rollout)
    state = planner.init(problem, jax.random.key(0))
    with pytest.raises(ValueError, match="obs: values exceed float32"):
        planner.plan(state, np.array([1e39, 0.0]), problem)


@pytest.mark.parametrize("name", PLANNERS)
def test_issued_states_plan_without_copying_the_warm_start_to_the_host(name, monkeypatch):
    checked = []

    def spy(mean):
        checked.append(mean.shape)
        base_check(mean)

    base_check = convenience.check_warm_start
    monkeypatch.setattr(convenience, "check_warm_start", spy)
    planner, problem = small_planner(name), _problem(integrator_rollout)
    state = planner.init(problem, jax.random.key(0))
    for _ in range(2):  # init's state, then plan's: the mean stays on the device
        _, state, _ = planner.plan(state, np.zeros(2), problem)
    assert checked == []
    foreign = state._replace(mean=state.mean + 0.0)  # built outside the planner: checked
    planner.plan(foreign, np.zeros(2), problem)
    assert checked == [state.mean.shape]


@pytest.mark.parametrize("name", ["cem", "cem-gd", "gradcem"])
@pytest.mark.parametrize("wrong", ["tuple", "scalar", "complex", "bool"])
def test_rollout_of_the_wrong_type_or_dtype_is_named(name, wrong):
    """A tuple, a scalar (gradcem's per-sample gradient), complex or bool returns: one
    ValueError naming ``rollout`` and what was expected, whichever planner calls it."""

    def rollout(obs, actions, key):
        r = integrator_rollout(obs, actions, key)
        if wrong == "tuple":
            return r, {"steps": actions.shape[1]}
        if wrong == "scalar":
            return jnp.sum(r)
        return r.astype(jnp.complex64) if wrong == "complex" else r > -1.0

    want = {"tuple": r"expected an array of float returns of shape \[B\].*got a tuple",
            "scalar": r"expected returns of shape \[B\].*got shape \(\)",
            "complex": r"expected float returns of shape \[B\].*got dtype complex64",
            "bool": r"expected float returns of shape \[B\].*got dtype bool"}[wrong]
    problem = cemgd.Problem(rollout, horizon=4, action_low=-np.ones(2),
                            action_high=np.ones(2), grad_rollout=rollout)
    planner = small_planner(name)
    state = planner.init(problem, jax.random.key(0))
    with pytest.raises(ValueError, match="rollout: " + want):
        planner.plan(state, np.zeros(2), problem)


def test_plan_without_problem_uses_the_problem_that_issued_the_state():
    """Two equal planners on two problems (optima at +0.5 and -0.5): the deprecated
    ``plan(state, obs)`` plans each state on the problem whose step handed it out."""
    def bowl(goal):
        return lambda obs, actions, key: -jnp.sum((actions - goal) ** 2, axis=(1, 2))

    up, down = _problem(bowl(0.5)), _problem(bowl(-0.5))
    first, second = small_planner("cem"), small_planner("cem")
    s_up = first.init(up, jax.random.key(0))
    s_down = second.init(down, jax.random.key(0))
    with pytest.warns(DeprecationWarning, match="pass the problem"):
        a_up, _, _ = first.plan(s_up, np.zeros(2))
        a_down, _, _ = first.plan(s_down, np.zeros(2))
    assert float(jnp.mean(a_up)) > 0.1 and float(jnp.mean(a_down)) < -0.1


def test_compiled_steps_are_bounded_and_free_their_problems(monkeypatch):
    """The convenience layer keeps the most recently used steps only: a problem (and the
    model it closes over) is freed once it drops out, and the planner holds nothing."""
    import gc
    import weakref

    monkeypatch.setattr(convenience, "MAX_CACHED", 1)
    planner = small_planner("cem")
    old = _problem(integrator_rollout)
    planner.plan(planner.init(old, jax.random.key(0)), np.zeros(2), old)
    gone = weakref.ref(old)
    del old
    new = _problem(integrator_rollout)
    planner.plan(planner.init(new, jax.random.key(0)), np.zeros(2), new)
    gc.collect()
    assert gone() is None
    assert vars(planner).keys() == {"config"}
    assert convenience.checked_step(planner, new).problem is new
