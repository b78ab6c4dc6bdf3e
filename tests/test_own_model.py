"""A user's own ensemble (the model protocol) rolls out, plans and runs PETS like the built-in one.

The user model here is a hand-written MLP with another parameter layout (a dict per
layer, weights ``[out, in]``, the log-variance bounds repeated per member); loaded
with the built-in ensemble's weights it must give the same returns and the same plans.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cemgd import make_planner
from cemgd.models import (
    EnsembleParams,
    MLPEnsemble,
    StackedEnsemble,
    init_ensemble,
    make_rollout,
)
from cemgd.problem import Problem


def member_init(key: jax.Array, input_dim: int, output_dim: int, hidden: int = 16) -> dict:
    k1, k2, k3 = jax.random.split(key, 3)
    return {"layers": [
        {"w": jax.random.normal(k1, (hidden, input_dim)) / np.sqrt(input_dim),
         "b": jnp.zeros(hidden)},
        {"w": jax.random.normal(k2, (hidden, hidden)) / np.sqrt(hidden), "b": jnp.zeros(hidden)},
        {"w": jax.random.normal(k3, (2 * output_dim, hidden)) / np.sqrt(hidden),
         "b": jnp.zeros(2 * output_dim)},
    ], "max_lv": jnp.full(output_dim, 0.5), "min_lv": jnp.full(output_dim, -10.0)}


def member_predict(p: dict, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``x: [N, D] -> (mean [N, S], logvar [N, S])``, PETS' soft log-variance bounds."""
    for i, layer in enumerate(p["layers"]):
        x = x @ layer["w"].T + layer["b"]
        if i < len(p["layers"]) - 1:
            x = jax.nn.silu(x)
    mean, raw = jnp.split(x, 2, axis=-1)
    logvar = p["max_lv"] - jax.nn.softplus(p["max_lv"] - raw)
    return mean, p["min_lv"] + jax.nn.softplus(logvar - p["min_lv"])


USER = StackedEnsemble(member_init, member_predict, members=3, name="user-mlp")


def as_user_params(params: EnsembleParams) -> dict:
    """The built-in ensemble's weights in the user's layout (same function)."""
    members = params.weights[0].shape[0]
    return {"layers": [{"w": jnp.swapaxes(w, 1, 2), "b": b[:, 0, :]}
                       for w, b in zip(params.weights, params.biases, strict=True)],
            "max_lv": jnp.broadcast_to(params.max_logvar, (members, *params.max_logvar.shape)),
            "min_lv": jnp.broadcast_to(params.min_logvar, (members, *params.min_logvar.shape))}


S, A, T = 3, 2, 6


def reward(obs: jax.Array, action: jax.Array, next_obs: jax.Array) -> jax.Array:
    return -jnp.sum(next_obs**2, axis=-1) - 0.1 * jnp.sum(action**2, axis=-1)


@pytest.fixture(scope="module")
def pair() -> tuple[EnsembleParams, dict]:
    params = init_ensemble(jax.random.key(0), S, A, num_members=3, hidden=16, num_layers=2)
    params = params._replace(max_logvar=params.max_logvar - 2.0)  # noise that matters
    return params, as_user_params(params)


@pytest.mark.parametrize("kw", [
    dict(num_particles=1), dict(num_particles=2), dict(num_particles=7),
    dict(num_particles=2, propagation="ts1"), dict(num_particles=6, propagation="ts1"),
    dict(num_particles=5, assignment="row"), dict(propagation="expectation"),
    dict(num_particles=3, sample=False, per_particle=True),
], ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_same_returns_as_the_built_in_ensemble(pair: tuple, kw: dict) -> None:
    params, user = pair
    actions = jax.random.uniform(jax.random.key(1), (9, T, A), minval=-1, maxval=1)
    obs, key = jnp.array([0.3, -0.2, 0.5]), jax.random.key(2)
    built_in = make_rollout(params, reward, **kw)(obs, actions, key)
    own = make_rollout(user, reward, model=USER, **kw)(obs, actions, key)
    np.testing.assert_allclose(np.asarray(own), np.asarray(built_in), rtol=2e-5, atol=2e-5)
    assert not np.allclose(np.asarray(built_in), np.asarray(built_in).mean())  # not trivial


def test_cem_gd_plans_the_same_with_either_model(pair: tuple) -> None:
    params, user = pair
    planner = make_planner("cem-gd", n_init=64, n_replan=16, num_iterations=2, grad_steps=2)
    plans = []
    for p, model in ((params, None), (user, USER)):
        problem = Problem(make_rollout(p, reward, 3, model=model), T, -jnp.ones(A), jnp.ones(A),
                          grad_rollout=make_rollout(p, reward, 3, sample=False, model=model,
                                                    per_particle=True))
        state = planner.init(problem, jax.random.key(3))
        actions, _, info = jax.jit(planner.plan_fn(problem))(state, jnp.array([0.3, -0.2, 0.5]))
        plans.append((np.asarray(actions), float(info.best_return)))
    np.testing.assert_allclose(plans[0][0], plans[1][0], atol=1e-4)
    assert plans[0][1] == pytest.approx(plans[1][1], rel=1e-4)


def test_mlp_ensemble_is_the_built_in_one(pair: tuple) -> None:
    params, _ = pair
    model = MLPEnsemble(activation="silu")
    a = make_rollout(params, reward, 3)(jnp.ones(S), jnp.zeros((2, T, A)), jax.random.key(0))
    b = make_rollout(params, reward, 3, model=model)(jnp.ones(S), jnp.zeros((2, T, A)),
                                                     jax.random.key(0))
    assert np.array_equal(np.asarray(a), np.asarray(b))
    fresh = model.init(jax.random.key(0), S + A, S)
    assert model.num_members(fresh) == 5 and fresh.weights[0].shape[1] == S + A


def test_bad_models_are_named(pair: tuple) -> None:
    _, user = pair
    with pytest.raises(ValueError, match="model: expected an ensemble model.*lacks init"):
        make_rollout(user, reward, model=member_predict)

    def wrong(p: dict, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        mean, logvar = member_predict(p, x)
        return mean[..., :1], logvar
    bad = StackedEnsemble(member_init, wrong, members=3)
    with pytest.raises(ValueError, match=r"model: predict must return \(mean, logvar\)"):
        make_rollout(user, reward, model=bad)(jnp.ones(S), jnp.zeros((2, T, A)),
                                              jax.random.key(0))
    with pytest.raises(ValueError, match="model: predict"):
        make_rollout(user, reward, model=USER)(jnp.ones(S + 1), jnp.zeros((2, T, A)),
                                               jax.random.key(0))


def test_pets_runs_and_resumes_with_a_user_model(tmp_path: Path) -> None:
    pytest.importorskip("gymnasium")
    from cemgd import pets
    from cemgd.runs import RunError

    config = pets.quick(pets.PETSConfig(task="pendulum", planner="cem-gd"))
    model = StackedEnsemble(member_init, member_predict, members=2, name="user-mlp")
    rows = pets.run(config, tmp_path / "run", show_progress=False, model=model)
    assert [r.trial for r in rows] == [0, 1]
    assert all(np.isfinite(r.episode_return) and np.isfinite(r.val_mse) for r in rows)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["model"] == "user-mlp"
    more = pets.run(dataclasses.replace(config, trials=3), tmp_path / "run", resume=True,
                    show_progress=False, model=model)
    assert [r.trial for r in more] == [0, 1, 2]
    # the built-in ensemble cannot resume a folder that holds a user model's run
    with pytest.raises(RunError):
        pets.run(config, tmp_path / "run", resume=True, show_progress=False)
