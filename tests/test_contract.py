"""The planning contract, checked for every planner in ``cemgd.PLANNERS``."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import integrator_problem, integrator_rollout, small_planner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cemgd
from cemgd.planners.gradient import GradientSettings, gradient_ascent


def test_registry_lists_the_issue_planners():
    expected = {"cem-gd", "cem", "gd", "random-shooting", "mppi", "icem", "gradcem"}
    assert expected <= set(cemgd.PLANNERS)
    for name, cls in cemgd.PLANNERS.items():
        assert cls.name == name
        assert cls.__module__ and (cls.__doc__ or "").strip()


def test_plan_shape_info_and_mpc(planner_name):
    problem = integrator_problem(horizon=6, action_dim=3)
    planner = small_planner(planner_name)
    state = planner.init(problem, jax.random.key(0))
    actions, state2, info = planner.plan(state, np.array([0.5, -0.3, 0.1]), problem)
    assert actions.shape == (6, 3)
    assert isinstance(info, cemgd.Info)
    assert int(info.num_rollouts) >= int(info.num_samples) >= 0
    assert int(info.num_rollouts) > 0
    assert np.isfinite(float(info.best_return))
    assert int(state2.step) == 1
    mpc = cemgd.MPC(planner, problem)
    mpc.reset(jax.random.key(1))
    action = mpc.act(np.zeros(3))
    assert action.shape == (3,)
    assert mpc.state is not None and int(mpc.state.step) == 1


def test_warm_start_is_shifted_plan(planner_name):
    problem = integrator_problem(horizon=5)
    planner = small_planner(planner_name)
    state = planner.init(problem, jax.random.key(3))
    centre = np.asarray(state.mean[-1:])  # the initial mean: warm_fill="initial"'s new step
    for _ in range(2):
        actions, state, _ = planner.plan(state, np.array([1.0, -1.0]), problem)
        last = (centre if getattr(planner.config, "warm_fill", "last") == "initial"
                else np.asarray(actions[-1:]))
        expected = np.concatenate([np.asarray(actions[1:]), last])
        np.testing.assert_array_equal(np.asarray(state.mean), expected)


def test_same_key_same_plan(planner_name):
    problem = integrator_problem()
    obs = np.array([0.3, 0.7])
    plans = []
    for _ in range(2):
        planner = small_planner(planner_name)
        state = planner.init(problem, jax.random.key(42))
        a1, state, _ = planner.plan(state, obs, problem)
        a2, state, _ = planner.plan(state, obs, problem)
        plans.append((np.asarray(a1), np.asarray(a2)))
    np.testing.assert_array_equal(plans[0][0], plans[1][0])
    np.testing.assert_array_equal(plans[0][1], plans[1][1])


def _push_out_rollout(obs: jax.Array, actions: jax.Array, key: jax.Array) -> jax.Array:
    """Rewards growing without bound outside the box, scaled by obs: tempts every planner out."""
    direction = jnp.tanh(obs[: actions.shape[-1]]) + 1.5
    return jnp.sum(actions * direction * 1e3, axis=(1, 2)) + jnp.sum(obs)


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    low=st.lists(st.floats(-5, 5, allow_nan=False), min_size=2, max_size=2),
    width=st.lists(st.floats(0.0, 4.0, allow_nan=False), min_size=2, max_size=2),
    obs=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=2),
)
def _bounds_property(name: str, low: list, width: list, obs: list) -> None:
    low_a = np.asarray(low, np.float32)
    high_a = low_a + np.asarray(width, np.float32)
    problem = cemgd.Problem(_push_out_rollout, 4, low_a, high_a)
    planner = small_planner(name)
    state = planner.init(problem, jax.random.key(0))
    for _ in range(2):
        actions, state, _ = planner.plan(state, np.asarray(obs), problem)
        a = np.asarray(actions)
        assert np.all(np.isfinite(a))
        assert np.all(a >= np.asarray(problem.action_low) - 1e-6)
        assert np.all(a <= np.asarray(problem.action_high) + 1e-6)


def test_actions_always_inside_bounds(planner_name):
    _bounds_property(planner_name)


def test_nonfinite_returns_never_give_nan_actions(planner_name):
    def some_nan(obs, actions, key):
        r = integrator_rollout(obs, actions, key)
        bad = actions[:, 0, 0] > 0.0
        return jnp.where(bad, jnp.nan, jnp.where(actions[:, 1, 0] > 0.5, jnp.inf, r))

    problem = cemgd.Problem(some_nan, 4, -np.ones(2), np.ones(2))
    planner = small_planner(planner_name)
    state = planner.init(problem, jax.random.key(0))
    seen = 0
    for _ in range(3):
        actions, state, info = planner.plan(state, np.array([0.5, 0.5]), problem)
        assert np.all(np.isfinite(np.asarray(actions)))
        assert np.all(np.isfinite(np.asarray(state.mean)))
        seen += int(info.num_nonfinite)
    assert seen > 0


def test_all_nonfinite_falls_back_to_warm_start(planner_name):
    problem = cemgd.Problem(
        lambda obs, actions, key: jnp.full(actions.shape[0], jnp.nan), 4, -np.ones(2),
        2 * np.ones(2),
    )
    planner = small_planner(planner_name)
    state = planner.init(problem, jax.random.key(0))
    actions, state, info = planner.plan(state, np.zeros(2), problem)
    assert bool(info.fallback)
    assert not np.isfinite(float(info.best_return))
    np.testing.assert_array_equal(np.asarray(actions), np.zeros((4, 2)))


def test_bad_input_raises_naming_the_argument(planner_name):
    problem = integrator_problem()
    planner = small_planner(planner_name)
    with pytest.raises(ValueError, match="state"):
        small_planner(planner_name).plan(None, np.zeros(2), problem)
    state = planner.init(problem, jax.random.key(0))
    with pytest.raises(ValueError, match="obs"):
        planner.plan(state, np.zeros(3), problem)
    with pytest.raises(ValueError, match="obs"):
        planner.plan(state, np.array([0.0, np.nan]), problem)
    with pytest.raises(ValueError, match="obs"):
        planner.plan(state, np.array([np.inf, 0.0]), problem)
    with pytest.raises(ValueError, match="problem"):
        planner.init("not a problem", jax.random.key(0))
    with pytest.raises(ValueError, match="key"):
        planner.init(problem, 3)
    with pytest.raises(ValueError, match="not_a_setting"):
        cemgd.make_planner(planner_name, not_a_setting=1)


def test_obs_shape_fixed_by_first_call_when_problem_leaves_it_open():
    problem = cemgd.Problem(integrator_rollout, 3, -np.ones(2), np.ones(2))
    planner = small_planner("cem")
    state = planner.init(problem, jax.random.key(0))
    planner.plan(state, np.zeros(2), problem)
    with pytest.raises(ValueError, match=r"obs: expected shape \(2,\)"):
        planner.plan(state, np.zeros(4), problem)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"horizon": 0}, "horizon"),
        ({"horizon": 2.5}, "horizon"),
        ({"action_low": np.ones(2), "action_high": np.zeros(2)}, "action_low"),
        ({"action_low": np.zeros(2), "action_high": np.ones(3)}, "action_high"),
        ({"action_low": np.zeros((2, 2)), "action_high": np.ones((2, 2))}, "action_low"),
        ({"action_low": np.array([0.0, np.nan]), "action_high": np.ones(2)}, "action_low"),
        ({"rollout": 3}, "rollout"),
        ({"grad_rollout": "mean"}, "grad_rollout"),
    ],
)
def test_problem_validation(kwargs, argument):
    args = {"rollout": integrator_rollout, "horizon": 3, "action_low": -np.ones(2),
            "action_high": np.ones(2)}
    args.update(kwargs)
    with pytest.raises(ValueError, match=argument):
        cemgd.Problem(**args)


def test_unknown_planner_name():
    with pytest.raises(ValueError, match="name: unknown planner 'nope'"):
        cemgd.make_planner("nope")


def test_plan_fn_runs_under_vmap(planner_name):
    problem = integrator_problem(horizon=4)
    planner = small_planner(planner_name)
    keys = jax.random.split(jax.random.key(0), 3)
    states = jax.vmap(lambda k: planner.init(problem, k))(keys)
    obs = jnp.array([[0.1, 0.2], [0.3, -0.4], [1.0, 0.0]])
    step = jax.jit(jax.vmap(planner.plan_fn(problem, first=False)))
    actions, states, info = step(states, obs)
    assert actions.shape == (3, 4, 2)
    assert info.best_return.shape == (3,)
    assert np.all(np.isfinite(np.asarray(actions)))


@pytest.mark.parametrize("name", ["cem-gd", "icem"])
def test_pure_step_is_plan_without_the_checks(name):
    """init/step are pure: the jitted step gives plan's result and state type; the
    compiled step is shared by equal planners (plan without problem= warns:
    tests/test_planner_base_edges.py)."""
    problem = integrator_problem(horizon=4)
    planner = small_planner(name)
    state = planner.init(problem, jax.random.key(0))
    assert type(state) is planner.State and state._fields[:3] == ("mean", "key", "step")
    obs = np.array([0.1, -0.2])
    actions, state1, info = jax.jit(functools.partial(planner.step, problem))(state, obs)
    assert type(state1) is planner.State and isinstance(info, cemgd.Info)
    planned, _, _ = planner.plan(state, obs, problem)
    np.testing.assert_array_equal(np.asarray(actions), np.asarray(planned))
    assert small_planner(name).compiled(problem) is planner.compiled(problem)
    # no state in the planner: its config only
    assert vars(planner).keys() == {"config"}


def test_asymmetric_box_is_explored(planner_name):
    """A box that does not contain 0 around its middle: the optimum is the upper corner."""
    problem = cemgd.Problem(lambda obs, a, key: jnp.sum(a, axis=(1, 2)), 4, np.zeros(2),
                            np.ones(2))
    planner = small_planner(planner_name, **({"step_size": 0.1} if planner_name in
                                              ("gd", "cem-gd") else {}))
    state = planner.init(problem, jax.random.key(0))
    for _ in range(3):
        actions, state, info = planner.plan(state, np.zeros(2), problem)
    assert float(info.best_return) > 0.5 * 8, float(info.best_return)


def test_one_planner_serves_two_controllers():
    planner = small_planner("cem")
    mpcs = []
    for goal in (0.5, -0.5):
        def rollout(obs, actions, key, goal=goal):
            return -jnp.sum((actions - goal) ** 2, axis=(1, 2))

        mpc = cemgd.MPC(planner, cemgd.Problem(rollout, 3, -np.ones(1), np.ones(1)))
        mpc.reset(jax.random.key(0))
        mpcs.append(mpc)
    first = [mpc.act(np.zeros(1)) for mpc in mpcs]
    assert first[0][0] > 0.2 and first[1][0] < -0.2, first


def test_cem_gd_samples_n_init_only_after_init_or_reset():
    problem = integrator_problem()
    mpc = cemgd.MPC(small_planner("cem-gd", n_init=40, n_replan=20), problem)
    for _ in range(2):
        mpc.reset(jax.random.key(0))
        counts = []
        for _ in range(3):
            mpc.act(np.array([0.5, 0.5]))
            counts.append(int(mpc.last_info.num_samples))
        assert counts == [40, 20, 20]


def test_cem_gd_replans_around_the_warm_start():
    problem = integrator_problem(horizon=5)
    planner = small_planner("cem-gd", grad_steps=0, init_std=1e-3)
    state = planner.init(problem, jax.random.key(0))
    state = state._replace(step=jnp.int32(1), mean=jnp.full((5, 2), 0.3))
    actions, _, _ = planner.plan(state, np.zeros(2), problem)
    np.testing.assert_allclose(np.asarray(actions), 0.3, atol=0.01)


@pytest.mark.parametrize(("kwargs", "argument"), [
    ({"obs_shape": 3}, "obs_shape"),
    ({"action_low": ["a", "b"]}, "action_low"),
])
def test_problem_validation_names_more_arguments(kwargs, argument):
    args = {"rollout": integrator_rollout, "horizon": 3, "action_low": -np.ones(2),
            "action_high": np.ones(2), **kwargs}
    with pytest.raises(ValueError, match=argument):
        cemgd.Problem(**args)


def test_ragged_obs_and_foreign_state_name_the_argument():
    problem = integrator_problem()
    cem, icem = small_planner("cem"), small_planner("icem")
    state = cem.init(problem, jax.random.key(0))
    with pytest.raises(ValueError, match="obs"):
        cem.plan(state, [[0.0], [1.0, 2.0]], problem)
    with pytest.raises(ValueError, match="state"):
        icem.plan(state, np.zeros(2), problem)


# ---- Problem.grad_rollout: the objective of every gradient step ----------------------


def _bowl(center: float):
    """``-sum((actions - center)^2)``: maximised by ``actions = center``."""

    def rollout(obs: jax.Array, actions: jax.Array, key: jax.Array) -> jax.Array:
        return -jnp.sum((actions - center) ** 2, axis=(1, 2))

    return rollout


@pytest.mark.parametrize("line_search", ["sequential", "parallel"])
def test_gradient_ascent_climbs_grad_rollout(line_search):
    main, surrogate = _bowl(0.5), _bowl(-0.5)
    obs, key = jnp.zeros(2), jax.random.key(0)
    start = jnp.full((2, 3, 2), 0.2).at[1].set(0.4)
    box = (3, -np.ones(2), np.ones(2))
    settings = GradientSettings(grad_steps=10, step_size=0.1, line_search=line_search)
    r0 = main(obs, start, key)
    # the passed returns are main's; main(start) > surrogate(start), so comparing a
    # surrogate trial with them would reject every step
    actions, returns, info = gradient_ascent(
        cemgd.Problem(main, *box, grad_rollout=surrogate), obs, start, r0, key, settings)
    assert np.all(np.asarray(actions) < -0.3)
    assert int(info.grad_steps) > 0
    np.testing.assert_allclose(np.asarray(returns),
                               np.asarray(surrogate(obs, actions, key)), rtol=1e-6)
    plain, _, _ = gradient_ascent(cemgd.Problem(main, *box), obs, start, r0, key, settings)
    assert np.all(np.asarray(plain) > 0.4)


def test_grad_rollout_equal_to_rollout_changes_nothing_but_the_count():
    """Leaving grad_rollout None is the old path; setting it to rollout adds k evaluations."""
    obs, key = jnp.array([0.5, -0.4]), jax.random.key(1)
    start = jax.random.uniform(jax.random.key(2), (3, 8, 2), minval=-1.0, maxval=1.0)
    box = (8, -np.ones(2), np.ones(2))
    settings = GradientSettings(grad_steps=5, step_size=0.5, line_search_trials=4)
    args = (obs, start, integrator_rollout(obs, start, key), key, settings)
    old = gradient_ascent(cemgd.Problem(integrator_rollout, *box), *args)
    new = gradient_ascent(cemgd.Problem(integrator_rollout, *box,
                                        grad_rollout=integrator_rollout), *args)
    for i in (0, 1):  # actions, returns
        np.testing.assert_array_equal(np.asarray(old[i]), np.asarray(new[i]))
    for field in ("grad_steps", "line_search_trials", "num_nonfinite"):
        assert int(getattr(old[2], field)) == int(getattr(new[2], field))
    assert int(old[2].grad_steps) > 0
    assert int(new[2].num_rollouts) == int(old[2].num_rollouts) + 3


@pytest.mark.parametrize("name", ["gd", "cem-gd", "gradcem"])
def test_gradient_planners_take_gradients_of_grad_rollout(name):
    """``rollout`` has no gradient; ``grad_rollout`` has its gradient (and an offset)."""

    def frozen(obs, actions, key):
        return jax.lax.stop_gradient(integrator_rollout(obs, actions, key))

    def shifted(obs, actions, key):
        return integrator_rollout(obs, actions, key) + 100.0

    obs, key = np.array([0.8, -0.6]), jax.random.key(0)
    plans = {}
    for label, grad_rollout in (("none", None), ("set", shifted)):
        problem = cemgd.Problem(frozen, 6, -np.ones(2), np.ones(2), grad_rollout=grad_rollout)
        planner = small_planner(name, **({"step_size": 0.5} if name != "gradcem" else {}))
        actions, _, info = planner.plan(planner.init(problem, key), obs, problem)
        # best_return is scored by rollout, never by grad_rollout
        true_return = float(integrator_rollout(jnp.asarray(obs), actions[None], key)[0])
        assert float(info.best_return) == pytest.approx(true_return, rel=1e-5, abs=1e-5)
        plans[label] = (np.asarray(actions), info)
    assert not np.array_equal(plans["none"][0], plans["set"][0])
    if name != "gradcem":  # gradcem's counters are fixed by its settings
        assert int(plans["none"][1].grad_steps) == 0
        assert int(plans["set"][1].grad_steps) > 0
        assert float(plans["set"][1].best_return) > float(plans["none"][1].best_return)
