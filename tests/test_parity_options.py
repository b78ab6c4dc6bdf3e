"""The options that match mbrl-lib's PETS choices: each changes what it says it changes."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cemgd.models import TrainConfig, init_ensemble, make_rollout, train_ensemble
from cemgd.models.data import Transitions
from cemgd.models.normalizer import fit_normalizer
from cemgd.models.protocol import MLPEnsemble
from cemgd.models.score import validation_mse
from cemgd.models.train import _cache_key, _compiled, default_model
from cemgd.pets import PETSConfig
from cemgd.pets.config import config_diff, config_payload, quick
from cemgd.pets.loop import elite_indices
from cemgd.planners import make_planner
from cemgd.planners.cem import cem_stage
from cemgd.problem import Problem

S, A, N = 3, 2, 96


def data(seed: int = 0) -> Transitions:
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(N, S))
    actions = rng.uniform(-1, 1, size=(N, A))
    next_obs = obs + 0.1 * np.tanh(obs @ rng.normal(size=(S, S))) + 0.05 * actions[:, :1]
    return obs, actions, next_obs


def trained(**changes) -> tuple:
    d = data()
    params = init_ensemble(jax.random.key(0), S, A, num_members=4, hidden=16, num_layers=2)
    norm = fit_normalizer(d[0], d[1])
    config = TrainConfig(**{"epochs": 4, "batch_size": 16, "val_fraction": 0.0, **changes})
    out, report = train_ensemble(params, norm, d, config=config)
    return params, out, report, norm, d


# ---- log-variance bounds ---------------------------------------------------------------


def test_fixed_logvar_bounds_stay_put_and_bound_the_prediction():
    start, fixed, _, norm, d = trained(learn_logvar_bounds=False, bound_coef=1.0)
    np.testing.assert_array_equal(np.asarray(fixed.max_logvar), np.asarray(start.max_logvar))
    np.testing.assert_array_equal(np.asarray(fixed.min_logvar), np.asarray(start.min_logvar))
    assert not np.allclose(np.asarray(fixed.weights[0]), np.asarray(start.weights[0]))
    _, learned, _, _, _ = trained(learn_logvar_bounds=True, bound_coef=1.0)  # penalty moves them
    assert np.all(np.asarray(learned.max_logvar) < np.asarray(start.max_logvar))
    rows = np.concatenate([d[0], d[1]], -1)
    x = jnp.asarray((rows - np.asarray(norm.mean)) / np.asarray(norm.std), jnp.float32)
    _, logvar = MLPEnsemble(learn_bounds=False).predict(fixed, jnp.broadcast_to(x, (4, N, S + A)))
    assert float(jnp.max(logvar)) <= 0.5 and float(jnp.min(logvar)) >= -10.0
    assert float(MLPEnsemble(learn_bounds=False).penalty(fixed)) == 0.0


# ---- weight decay on the biases ----------------------------------------------------------


@pytest.mark.parametrize("decay_biases", [False, True])
def test_decay_biases_decays_every_bias_and_every_layers_weights(decay_biases):
    params = init_ensemble(jax.random.key(1), S, A, num_members=2, hidden=8, num_layers=2)
    params = params._replace(biases=tuple(b + 1.0 for b in params.biases))
    config = TrainConfig(weight_decay=0.1, decay_biases=decay_biases)
    optimizer = _compiled(_cache_key(config), S, 8, default_model(config))[0]
    zero = jax.tree.map(jnp.zeros_like, params)
    updates, _ = optimizer.update(zero, optimizer.init(params), params)
    moved = [bool(jnp.any(u != 0)) for u in updates.biases]
    assert moved == [decay_biases] * len(params.biases)
    assert all(bool(jnp.any(u != 0)) for u in updates.weights)  # the output layer's too
    assert not bool(jnp.any(updates.max_logvar != 0))  # never the bounds


# ---- elites ------------------------------------------------------------------------------


def test_member_mse_scores_each_member_on_all_training_rows():
    _, out, report, norm, d = trained()
    model = MLPEnsemble()
    each = [validation_mse(model.take_members(out, jnp.asarray([e])), norm, d) for e in range(4)]
    np.testing.assert_allclose(report.member_mse, each, rtol=1e-4)


def test_elites_are_the_best_members_and_the_rollout_uses_only_them():
    params = init_ensemble(jax.random.key(2), S, A, num_members=5, hidden=8, num_layers=1)
    bad = jnp.asarray([False, True, False, False, True])[:, None, None]
    last = jnp.where(bad, jnp.nan, params.biases[-1])  # members 1 and 4 predict NaN
    params = params._replace(biases=(*params.biases[:-1], last))
    scores = np.asarray([0.3, np.nan, 0.1, 0.2, np.nan])
    np.testing.assert_array_equal(elite_indices(scores, 3), [0, 2, 3])
    assert elite_indices(scores, 0) is None
    elites = MLPEnsemble().take_members(params, jnp.asarray(elite_indices(scores, 3)))

    def reward(o, a, n):
        return n[..., 0]

    acts = jnp.zeros((4, 6, A))
    ret = make_rollout(elites, reward, 6, propagation="ts1")(jnp.zeros(S), acts,
                                                            jax.random.key(0))
    assert np.all(np.isfinite(np.asarray(ret)))
    full = make_rollout(params, reward, 6, propagation="ts1")(jnp.zeros(S), acts,
                                                             jax.random.key(0))
    assert not np.all(np.isfinite(np.asarray(full)))


def test_num_elites_is_checked_and_quick_keeps_it_valid():
    with pytest.raises(ValueError, match="num_elites: expected at most num_members=5"):
        PETSConfig(num_elites=6)
    assert quick(PETSConfig(num_members=7, num_elites=5)).num_elites == 2
    with pytest.raises(ValueError, match="assignment"):
        PETSConfig(assignment="rows")


def test_an_old_config_without_the_new_settings_still_matches_its_defaults():
    # the settings a config.json without the new keys ran with (the defaults were False)
    config = PETSConfig(planner="cem-500:return_mean=false,warm_fill=last", assignment="particle",
                        train=TrainConfig(keep_optimizer=False, partial_batch=False,
                                          decay_biases=False, learn_logvar_bounds=True))
    new = config_payload(config)
    old = {k: v for k, v in new.items() if k not in ("num_elites", "assignment")}
    old["train"] = {k: v for k, v in new["train"].items()
                    if k not in ("decay_biases", "learn_logvar_bounds", "keep_optimizer",
                              "partial_batch")}
    old["planner_config"] = {k: v for k, v in new["planner_config"].items()
                             if k not in ("return_mean", "warm_fill")}
    assert config_diff(old, new) == []
    changed = config_payload(dataclasses.replace(
        config, num_elites=3, planner=config.planner.with_settings(return_mean=True)))
    assert len(config_diff(old, changed)) == 2
    filled = config_payload(dataclasses.replace(
        config, planner=config.planner.with_settings(warm_fill="initial")))
    diff = config_diff(old, filled)
    assert len(diff) == 1 and "'warm_fill': 'initial'" in diff[0]
    today = config_diff(old, config_payload(PETSConfig(planner="cem-500")))  # new defaults
    by_key = {d.split(":")[0]: d for d in today}
    assert sorted(by_key) == ["assignment", "planner_config", "train"]
    assert all(f"'{k}'" in by_key["train"] for k in ("keep_optimizer", "partial_batch",
                                                      "decay_biases", "learn_logvar_bounds"))
    assert "'return_mean': True" in by_key["planner_config"]
    assert "'warm_fill': 'initial'" in by_key["planner_config"]


# ---- CEM's return_mean -------------------------------------------------------------------


def toy_problem() -> Problem:
    target = jnp.linspace(-0.5, 0.5, 5)[:, None] * jnp.ones((1, A))

    def rollout(obs, actions, key):
        return -jnp.sum((actions - target) ** 2, axis=(1, 2))

    return Problem(rollout, 5, -jnp.ones(A), jnp.ones(A))


def test_return_mean_returns_the_final_cem_mean_not_the_best_sample():
    problem, obs, key = toy_problem(), jnp.zeros(1), jax.random.key(3)
    planner = make_planner("cem", num_samples=20, num_iterations=3, return_mean=True)
    state = planner.initial_state(problem, key)
    result = planner._optimize(problem, obs, state, key)
    found = cem_stage(problem, obs, key, state.mean, planner.config, 20)
    np.testing.assert_allclose(np.asarray(result.actions), np.asarray(found.dist.mean),
                               rtol=1e-6)
    assert not np.allclose(np.asarray(result.actions), np.asarray(found.top_actions[0]))
    # the stage hands back the key its rollouts used: the one cem_stage split from key
    np.testing.assert_array_equal(jax.random.key_data(found.eval_key),
                                  jax.random.key_data(jax.random.split(key)[1]))
    expected = problem.rollout(obs, found.dist.mean[None], found.eval_key)[0]
    assert float(result.best_return) == pytest.approx(float(expected), rel=1e-6)
    assert int(result.counts.num_rollouts) == int(found.info.num_rollouts) + 1
    best = make_planner("cem", num_samples=20, num_iterations=3, return_mean=False)._optimize(
        problem, obs, state, key)
    np.testing.assert_array_equal(np.asarray(best.actions), np.asarray(found.top_actions[0]))


def test_cem_gd_return_mean_starts_the_gradient_stage_from_the_mean():
    problem, obs, key = toy_problem(), jnp.zeros(1), jax.random.key(4)
    settings = dict(n_init=30, n_replan=30, num_iterations=3, grad_steps=0, top_k=1)
    on = make_planner("cem-gd", return_mean=True, **settings)
    off = make_planner("cem-gd", **settings)
    state = on.initial_state(problem, key)
    found = cem_stage(problem, obs, key, state.mean, on.config, 10)
    with_mean = on._optimizer(True)(problem, obs, state, key)
    without = off._optimizer(True)(problem, obs, state, key)
    np.testing.assert_allclose(np.asarray(with_mean.actions), np.asarray(found.dist.mean),
                               rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(without.actions),
                                  np.asarray(found.top_actions[0]))


@pytest.mark.slow
def test_a_run_plans_with_its_elites_and_evaluate_loads_them(tmp_path):
    from cemgd.evaluate.core import load_frozen_model
    from cemgd.models.io import load_elites
    from cemgd.pets import run

    config = dataclasses.replace(
        quick(PETSConfig(task="pendulum", planner="cem-50")), trials=1, episode_length=3,
        num_members=3, num_elites=2)
    run(config, tmp_path / "run", show_progress=False)
    model_file = tmp_path / "run" / "checkpoints" / "model-000.npz"
    elites = load_elites(model_file)
    assert elites is not None and len(elites) == 2 and list(elites) == sorted(set(elites))
    frozen = load_frozen_model(tmp_path / "run")
    assert frozen.params.weights[0].shape[0] == 2


# ---- the warm start's new last step ------------------------------------------------------


def box_problem() -> Problem:
    """Horizon 4 on a box whose initial mean is ``[0, 1.5]`` (0 inside the first
    coordinate's box, not the second's); the return prefers the upper bound."""
    def rollout(obs, actions, key):
        return jnp.sum(actions, axis=(1, 2))

    return Problem(rollout, 4, jnp.array([-1.0, 0.5]), jnp.array([1.0, 2.5]))


@pytest.mark.parametrize("name", ["cem", "cem-gd", "icem", "gradcem"])
def test_warm_fill_initial_starts_the_new_last_step_at_the_initial_mean(name):
    problem, obs = box_problem(), jnp.zeros(1)
    small = dict(num_iterations=2) | (
        dict(n_init=20, n_replan=10, grad_steps=1, top_k=1) if name == "cem-gd" else
        dict(num_samples=10))
    for fill in ("last", "initial"):
        planner = make_planner(name, warm_fill=fill, **small)
        state = planner.init(problem, jax.random.key(1))
        actions, nxt, _ = planner.plan(state, obs, problem)
        actions, mean = np.asarray(actions), np.asarray(nxt.mean)
        np.testing.assert_array_equal(mean[:-1], actions[1:])
        expected = actions[-1] if fill == "last" else np.array([0.0, 1.5])
        np.testing.assert_array_equal(mean[-1], expected)
        assert not np.allclose(actions[-1], [0.0, 1.5])  # the two fills differ here


def test_warm_fill_is_checked():
    with pytest.raises(ValueError, match="warm_fill: expected 'last' or 'initial'"):
        make_planner("cem", warm_fill="centre")


def test_warm_fill_initial_keeps_exploring_a_tail_that_sits_near_a_bound():
    """A plan whose last action saturates: repeated, the PETS truncation freezes it
    (std capped by the distance to the bound), so the tail cannot move when the return
    later wants the other bound; started afresh at the centre each step, it can."""
    horizon, steps = 6, 12

    def rollout(obs, actions, key):  # obs[0] > 0: the tail should go to -1, else to +1
        sign = jnp.where(obs[0] > 0, -1.0, 1.0)
        return sign * jnp.sum(actions[:, -2:, 0], axis=1)

    problem = Problem(rollout, horizon, -jnp.ones(1), jnp.ones(1))
    tails = {}
    for fill in ("last", "initial"):
        planner = make_planner("cem", num_samples=30, num_iterations=3, warm_fill=fill,
                               return_mean=False)  # the best sample, as in the paper
        state = planner.init(problem, jax.random.key(0))
        for step in range(steps):  # +1 wanted first, then -1
            actions, state, _ = planner.plan(state, jnp.array([float(step >= 4)]), problem)
        tails[fill] = float(np.asarray(actions)[-1, 0])
    assert tails["initial"] < -0.5
    assert tails["last"] > tails["initial"] + 0.5


# ---- Adam's state carried between trainings ----------------------------------------------


@pytest.mark.slow
def test_a_training_continues_from_the_adam_state_it_is_given():
    d = data()
    params = init_ensemble(jax.random.key(0), S, A, num_members=4, hidden=16, num_layers=2)
    norm = fit_normalizer(d[0], d[1])
    config = TrainConfig(epochs=3, batch_size=16, val_fraction=0.0)
    first, rep1 = train_ensemble(params, norm, d, config=config)
    steps = 3 * (N // 16)
    assert int(jax.tree.leaves(rep1.opt_state)[0]) == steps  # Adam's step count
    cont, rep2 = train_ensemble(first, norm, d, config=config, opt_state=rep1.opt_state)
    fresh, rep3 = train_ensemble(first, norm, d, config=config)
    assert int(jax.tree.leaves(rep2.opt_state)[0]) == 2 * steps
    assert int(jax.tree.leaves(rep3.opt_state)[0]) == steps
    assert not np.allclose(np.asarray(cont.weights[0]), np.asarray(fresh.weights[0]))
    other = init_ensemble(jax.random.key(0), S, A, num_members=3, hidden=16, num_layers=2)
    with pytest.raises(ValueError, match="opt_state: not an Adam state"):
        train_ensemble(other, norm, d, config=config, opt_state=rep1.opt_state)


@pytest.mark.slow
def test_a_run_carries_adam_through_its_trials_and_a_resume(tmp_path):
    from cemgd.pets import run

    def count(trial: int) -> int | None:
        f = np.load(tmp_path / "run" / "checkpoints" / f"model-{trial:03d}.npz")
        return int(f["opt_0"]) if "opt_0" in f else None

    base = dataclasses.replace(quick(PETSConfig(task="pendulum", planner="cem-50")),
                               episode_length=3, random_steps=40)
    config = dataclasses.replace(base, trials=2, train=dataclasses.replace(
        base.train, keep_optimizer=True, partial_batch=False, batch_size=16, epochs=2))
    run(config, tmp_path / "run", show_progress=False)
    # trained on 40, 43, then 46 rows: 2 epochs of 2 steps of 16 rows each training
    assert count(1) == 8
    run(dataclasses.replace(config, trials=3), tmp_path / "run", resume=True,
        show_progress=False)
    assert count(2) == 12  # a fresh state after the resume would give 4
    off = dataclasses.replace(config, trials=1, train=dataclasses.replace(
        config.train, keep_optimizer=False))
    run(off, tmp_path / "off", show_progress=False)
    assert "opt_0" not in np.load(tmp_path / "off" / "checkpoints" / "model-000.npz")


# ---- a partial last minibatch ------------------------------------------------------------


def test_partial_batch_adds_the_leftover_rows_as_one_more_step():
    # N = 96 rows in batches of 40: 2 full ones, or 3 with the 16 rows left over
    _, _, full, _, _ = trained(batch_size=40, epochs=2, partial_batch=False)
    _, _, partial, _, _ = trained(batch_size=40, epochs=2, partial_batch=True)
    assert int(jax.tree.leaves(full.opt_state)[0]) == 2 * 2
    assert int(jax.tree.leaves(partial.opt_state)[0]) == 2 * 3


def test_the_masked_loss_is_the_mean_over_the_rows_it_keeps():
    from cemgd.models.minibatch import batch_mask
    from cemgd.models.train import _loss

    model = MLPEnsemble()
    params = init_ensemble(jax.random.key(1), S, A, num_members=2, hidden=8, num_layers=1)
    x = jax.random.normal(jax.random.key(2), (2, 8, S + A))
    y = jax.random.normal(jax.random.key(3), (2, 8, S))
    mask = batch_mask(jnp.asarray(2), 8, jnp.asarray(21))  # rows 16..23, 21 real: 5 kept
    assert np.asarray(mask).tolist() == [True] * 5 + [False] * 3
    kept = _loss(model, params, x[:, :5], y[:, :5])
    garbage = y.at[:, 5:].set(1e6)  # rows outside the mask do not count
    np.testing.assert_allclose(float(_loss(model, params, x, garbage, mask)), float(kept),
                               rtol=1e-5)
    assert float(_loss(model, params, x, garbage)) > 1e3 * abs(float(kept))
