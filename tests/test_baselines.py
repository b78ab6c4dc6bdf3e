"""The baseline planners: gd, random-shooting, mppi, icem, gradcem."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cemgd
from cemgd.planners.base import shift
from cemgd.planners.icem import ICEMConfig, colored_noise
from cemgd.planners.mppi import mppi_weights

BASELINES = ["gd", "random-shooting", "mppi", "icem", "gradcem"]
HORIZON, ACTION_DIM = 20, 2
OBS = np.array([1.0, -0.5], np.float32)


def integrator(obs, actions, key):
    """``x <- x + 0.1 a``, reward ``-|x|^2 - 0.01 |a|^2``; ``[B, T, A] -> [B]``."""

    def step(x, a):
        x = x + 0.1 * a
        return x, -jnp.sum(x**2, -1) - 0.01 * jnp.sum(a**2, -1)

    x0 = jnp.broadcast_to(obs, (actions.shape[0], obs.shape[-1]))
    _, rewards = jax.lax.scan(step, x0, jnp.swapaxes(actions, 0, 1))
    return rewards.sum(0)


@pytest.fixture(scope="module")
def problem():
    return cemgd.Problem(
        integrator, HORIZON, -np.ones(ACTION_DIM), np.ones(ACTION_DIM), obs_shape=(ACTION_DIM,)
    )


def rollout_return(actions) -> float:
    return float(integrator(jnp.asarray(OBS), jnp.asarray(actions)[None], None)[0])


@pytest.mark.parametrize("name", BASELINES)
def test_improves_on_zero_plan_inside_the_box(name, problem):
    planner = cemgd.make_planner(name)
    state = planner.init(problem, jax.random.key(0))
    zero_return = rollout_return(np.zeros((HORIZON, ACTION_DIM)))
    for _ in range(2):
        actions, state, info = planner.plan(state, OBS, problem)
        a = np.asarray(actions)
        assert a.shape == (HORIZON, ACTION_DIM)
        assert np.all(a >= -1.0) and np.all(a <= 1.0)
        assert float(info.best_return) > zero_return + 5.0
        # best_return is the return of the sequence handed back.
        np.testing.assert_allclose(float(info.best_return), rollout_return(a), rtol=1e-5)
        assert not bool(info.fallback)
        assert int(info.num_rollouts) >= int(info.num_samples)


@pytest.mark.parametrize("line_search", ["sequential", "parallel"])
def test_gd_never_below_its_random_start(line_search, problem):
    planners = [
        cemgd.make_planner("gd", grad_steps=g, line_search=line_search) for g in (0, 10)
    ]
    for seed in range(3):
        results = []
        for planner in planners:
            state = planner.init(problem, jax.random.key(seed))
            actions, _, info = planner.plan(state, OBS, problem)
            results.append((np.asarray(actions), float(info.best_return), info))
        (start, start_return, _), (_, refined_return, info) = results
        assert np.all(start >= -1.0) and np.all(start <= 1.0)
        assert refined_return >= start_return
        assert refined_return > start_return  # the smooth problem always has an ascent step
        assert int(info.grad_steps) >= 1
        assert int(info.num_samples) == 1
        assert int(info.num_rollouts) == 2 + int(info.line_search_trials) + int(info.grad_steps)


def test_gd_warm_start_starts_from_shifted_plan(problem):
    planner = cemgd.make_planner("gd", grad_steps=0, warm_start=True)
    state = planner.init(problem, jax.random.key(0))
    mean = jnp.asarray(np.linspace(-0.9, 0.9, HORIZON * ACTION_DIM).reshape(HORIZON, ACTION_DIM))
    state = state._replace(mean=mean)
    actions, next_state, info = planner.plan(state, OBS, problem)
    np.testing.assert_allclose(np.asarray(actions), np.asarray(mean))
    assert int(info.num_samples) == 0
    np.testing.assert_allclose(np.asarray(next_state.mean), np.asarray(shift(mean)))


def test_random_shooting_counts_and_best(problem):
    planner = cemgd.make_planner("random-shooting", num_samples=64)
    state = planner.init(problem, jax.random.key(1))
    actions, _, info = planner.plan(state, OBS, problem)
    assert int(info.num_samples) == int(info.num_rollouts) == 64
    assert int(info.grad_steps) == int(info.line_search_trials) == 0
    np.testing.assert_allclose(float(info.best_return), rollout_return(actions), rtol=1e-5)


def _low_frequency_share(noise: np.ndarray) -> float:
    """Share of power in the lowest quarter of nonzero frequencies; noise ``[B, T, A]``."""
    power = np.abs(np.fft.rfft(noise, axis=1)) ** 2
    power = power.mean(axis=(0, 2))[1:]
    return float(power[: max(1, len(power) // 4)].sum() / power.sum())


@pytest.mark.parametrize("horizon", [1, 2, 7, 20, 45])
def test_colored_noise_unit_std_and_spectrum(horizon):
    key = jax.random.key(0)
    shape = (4000, horizon, 3)
    white = np.asarray(colored_noise(key, 0.0, shape))
    red = np.asarray(colored_noise(key, 2.0, shape))
    for noise in (white, red):
        assert noise.shape == shape and noise.dtype == np.float32
        assert np.all(np.isfinite(noise))
        np.testing.assert_allclose(noise.std(axis=0), 1.0, atol=0.08)
        np.testing.assert_allclose(noise.mean(axis=0), 0.0, atol=0.08)
    if horizon >= 7:
        assert _low_frequency_share(red) > _low_frequency_share(white) + 0.2
        lag1 = lambda x: np.mean(x[:, 1:] * x[:, :-1])  # noqa: E731
        assert abs(lag1(white)) < 0.05  # beta = 0 is white noise
        assert lag1(red) > 0.5  # beta = 2 is smooth along time


def test_colored_noise_inside_jit():
    f = jax.jit(lambda k: colored_noise(k, 2.0, (5, 12, 2)))
    np.testing.assert_allclose(
        np.asarray(f(jax.random.key(3))), np.asarray(colored_noise(jax.random.key(3), 2.0,
                                                                   (5, 12, 2))), atol=1e-5
    )


def test_icem_population_and_counters(problem):
    config = ICEMConfig()
    assert config.population_sizes == (100, 80, 64, 51, 40)
    assert config.num_elites == 10 and config.num_keep == 3
    assert ICEMConfig(population_decay=10.0).population_sizes == (100, 20, 20, 20, 20)
    planner = cemgd.make_planner("icem")
    state = planner.init(problem, jax.random.key(0))
    assert state.kept.shape == (3, HORIZON, ACTION_DIM)
    actions, state, info = planner.plan(state, OBS, problem)
    assert int(info.num_samples) == 335
    assert int(info.num_rollouts) == 335 + 1  # the mean; no elites from a previous step yet
    actions, state, info = planner.plan(state, OBS, problem)
    assert int(info.num_rollouts) == 335 + 1 + 3
    # Kept elites persist through the iterations, so the best seen leads them.
    np.testing.assert_allclose(np.asarray(state.kept[0]), np.asarray(state.mean))


def test_icem_reuses_last_step_elites(problem):
    """With one sample per step the carried elites (the previous best) dominate."""
    planner = cemgd.make_planner("icem", num_samples=10, num_iterations=1, keep_elites=1.0,
                                 elite_ratio=0.1)
    state = planner.init(problem, jax.random.key(0))
    _, state, info = planner.plan(state, OBS, problem)
    carried = np.asarray(state.kept[0])
    actions, state, info2 = planner.plan(state, OBS, problem)
    assert float(info2.best_return) >= rollout_return(carried) - 1e-5


def test_mppi_weights_ignore_nonfinite():
    returns = jnp.array([1.0e4, 1.0e4 - 1.0, -jnp.inf, -jnp.inf, 1.0e4 - 2.0])
    w = np.asarray(mppi_weights(returns, 1.0))
    assert np.all(np.isfinite(w))
    assert w[2] == 0.0 and w[3] == 0.0
    np.testing.assert_allclose(w.sum(), 1.0, rtol=1e-6)
    np.testing.assert_allclose(w[1] / w[0], np.exp(-1.0), rtol=1e-5)
    assert np.all(np.asarray(mppi_weights(jnp.full(3, -jnp.inf), 1.0)) == 0.0)
    hot = np.asarray(mppi_weights(jnp.array([0.0, -1.0, -2.0]), 1e6))
    np.testing.assert_allclose(hot, 1.0 / 3.0, rtol=1e-5)


def test_mppi_skips_nonfinite_samples(problem):
    def nan_on_positive(obs, actions, key):
        r = integrator(obs, actions, key)
        return jnp.where(actions[:, 0, 0] > 0.3, jnp.nan, r)

    bad_problem = cemgd.Problem(nan_on_positive, HORIZON, -np.ones(2), np.ones(2))
    planner = cemgd.make_planner("mppi")
    state = planner.init(bad_problem, jax.random.key(0))
    actions, _, info = planner.plan(state, OBS, bad_problem)
    assert int(info.num_nonfinite) > 0
    assert np.all(np.isfinite(np.asarray(actions)))
    assert float(actions[0, 0]) <= 0.3 + 1e-6  # a mean of finite samples only
    assert np.isfinite(float(info.best_return))
    assert int(info.num_rollouts) == int(info.num_samples) + 1


def test_gradcem_counters_and_gradient_helps(problem):
    plain = cemgd.make_planner("gradcem", learning_rate=1e-8)
    strong = cemgd.make_planner("gradcem", learning_rate=0.2, inner_steps=2)
    outs = []
    for planner in (plain, strong):
        state = planner.init(problem, jax.random.key(0))
        _, _, info = planner.plan(state, OBS, problem)
        outs.append(info)
    assert int(outs[1].num_samples) == 500
    assert int(outs[1].grad_steps) == 500 * 2
    assert int(outs[1].num_rollouts) == 500 * 3
    assert float(outs[1].best_return) > float(outs[0].best_return)


VMAP_SMALL = {
    "random-shooting": {"num_samples": 64},
    "mppi": {"num_samples": 32, "num_iterations": 2},
    "icem": {"num_samples": 32, "num_iterations": 3},
    "gradcem": {"num_samples": 32, "num_iterations": 2},
}


@pytest.mark.parametrize("name", BASELINES)
def test_vmapped_plan_matches_single(name, problem):
    planner = cemgd.make_planner(name, **VMAP_SMALL.get(name, {}))
    keys = jax.random.split(jax.random.key(7), 3)
    obs = jnp.array([[1.0, -0.5], [0.3, 0.2], [-0.8, 0.9]])
    states = jax.vmap(lambda k: planner.init(problem, k))(keys)
    step = jax.jit(jax.vmap(planner.plan_fn(problem, first=False)))
    single = jax.jit(planner.plan_fn(problem, first=False))
    for _ in range(2):
        actions, next_states, info = step(states, obs)
        assert actions.shape == (3, HORIZON, ACTION_DIM)
        assert np.all(np.abs(np.asarray(actions)) <= 1.0)
        for i in range(3):
            state_i = jax.tree.map(lambda x, i=i: x[i], states)
            a_i, _, info_i = single(state_i, obs[i])
            np.testing.assert_allclose(np.asarray(actions[i]), np.asarray(a_i), atol=1e-4)
            np.testing.assert_allclose(
                float(info.best_return[i]), float(info_i.best_return), rtol=1e-4
            )
        states = next_states


@pytest.mark.parametrize(
    ("name", "field", "value"),
    [
        ("gd", "top_k", 0),
        ("gd", "grad_steps", -1),
        ("gd", "step_size", 0.0),
        ("gd", "step_decay", 1.0),
        ("gd", "line_search_trials", 0),
        ("gd", "line_search", "bisect"),
        ("gd", "warm_start", 1),
        ("random-shooting", "num_samples", 0),
        ("random-shooting", "num_samples", 2.5),
        ("mppi", "num_samples", 0),
        ("mppi", "num_iterations", 0),
        ("mppi", "temperature", 0.0),
        ("mppi", "noise_std", -1.0),
        ("icem", "num_samples", True),
        ("icem", "elite_ratio", 0.0),
        ("icem", "alpha", 1.5),
        ("icem", "init_std", 0.0),
        ("icem", "beta", -1.0),
        ("icem", "population_decay", 0.5),
        ("icem", "keep_elites", 1.5),
        ("gradcem", "num_iterations", 0),
        ("gradcem", "learning_rate", float("nan")),
        ("gradcem", "inner_steps", 0),
        ("gradcem", "elite_ratio", 2.0),
    ],
)
def test_validation_names_the_field(name, field, value):
    with pytest.raises(ValueError, match=rf"^{field}:"):
        cemgd.make_planner(name, **{field: value})


@pytest.mark.parametrize("name", BASELINES)
def test_registered_and_module_cites_a_paper(name):
    import importlib
    import re

    cls = cemgd.PLANNERS[name]
    assert cls.name == name
    doc = importlib.import_module(cls.__module__).__doc__ or ""
    assert re.search(r"(19|20)\d\d", doc)
