"""The PETS ensemble and its particle rollout."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cemgd.models import ensemble_apply, forward_flops, init_ensemble, make_rollout
from cemgd.models.rollout import ensemble_rollout

S, A, T, E = 4, 2, 5, 3


def reward(obs, action, next_obs):
    return next_obs[..., 0] - 0.1 * jnp.sum(action**2, axis=-1)


@pytest.fixture(scope="module")
def params():
    return init_ensemble(jax.random.key(0), S, A, num_members=E, hidden=16, num_layers=2)


def actions_batch(b, seed=1):
    return jax.random.uniform(jax.random.key(seed), (b, T, A), minval=-1.0, maxval=1.0)


def test_init_shapes_and_flops():
    p = init_ensemble(jax.random.key(0), 18, 6)
    assert [w.shape for w in p.weights] == [(5, 24, 200), (5, 200, 200), (5, 200, 200),
                                            (5, 200, 36)]
    assert [b.shape for b in p.biases] == [(5, 1, 200), (5, 1, 200), (5, 1, 200),
                                           (5, 1, 36)]
    assert p.max_logvar.shape == p.min_logvar.shape == (18,)
    assert forward_flops(p) == 2 * (24 * 200 + 2 * 200 * 200 + 200 * 36)
    assert all(w.dtype == jnp.float32 for w in p.weights)


def test_apply_shapes_and_logvar_bounds(params):
    obs = 50.0 * jax.random.normal(jax.random.key(1), (E, 7, S))
    act = jax.random.normal(jax.random.key(2), (E, 7, A))
    mean, logvar = ensemble_apply(params, obs, act)
    assert mean.shape == logvar.shape == (E, 7, S)
    assert np.all(np.asarray(logvar) < 0.5) and np.all(np.asarray(logvar) > -10.0)
    # members are independent: changing member 0's rows leaves the others alone
    mean2, _ = ensemble_apply(params, obs.at[0].add(1.0), act)
    np.testing.assert_array_equal(np.asarray(mean[1:]), np.asarray(mean2[1:]))


@pytest.mark.parametrize("bad", [{"obs_dim": 0}, {"num_members": 0}, {"hidden": 1.5},
                                 {"activation": "gelu?"}])
def test_init_rejects_bad_arguments(bad):
    args = {"obs_dim": S, "action_dim": A, **bad}
    with pytest.raises(ValueError, match=next(iter(bad))):
        init_ensemble(jax.random.key(0), **args)


def test_make_rollout_rejects_bad_arguments(params):
    with pytest.raises(ValueError, match="num_particles"):
        make_rollout(params, reward, num_particles=0)
    with pytest.raises(ValueError, match="assignment"):
        make_rollout(params, reward, assignment="diagonal")
    with pytest.raises(ValueError, match="unroll"):
        make_rollout(params, reward, unroll=0)
    rollout = make_rollout(params, reward)
    with pytest.raises(ValueError, match="actions"):
        rollout(jnp.zeros(S), jnp.zeros((T, A)), jax.random.key(0))


@pytest.mark.parametrize(("assignment", "particles"), [("particle", 4), ("row", 2)])
def test_shape_and_determinism(params, assignment, particles):
    obs = jnp.ones(S) * 0.1
    acts = actions_batch(7)
    det = jax.jit(make_rollout(params, reward, particles, sample=False, assignment=assignment))
    r1 = det(obs, acts, jax.random.key(0))
    r2 = det(obs, acts, jax.random.key(99))
    assert r1.shape == (7,)
    np.testing.assert_array_equal(np.asarray(r1), np.asarray(r2))
    noisy = jax.jit(make_rollout(params, reward, particles, sample=True, assignment=assignment))
    n1 = noisy(obs, acts, jax.random.key(0))
    np.testing.assert_array_equal(np.asarray(n1), np.asarray(noisy(obs, acts, jax.random.key(0))))
    assert not np.allclose(np.asarray(n1), np.asarray(noisy(obs, acts, jax.random.key(1))))
    assert np.all(np.isfinite(np.asarray(n1)))


@pytest.mark.parametrize(("assignment", "particles"), [("particle", 1), ("particle", 5),
                                                        ("row", 1), ("row", 2)])
def test_returns_depend_only_on_own_sequence(params, assignment, particles):
    obs = jnp.full((S,), 0.2)
    acts = actions_batch(8)
    rollout = jax.jit(make_rollout(params, reward, particles, assignment=assignment))
    key = jax.random.key(3)
    base = np.asarray(rollout(obs, acts, key))
    changed = np.asarray(rollout(obs, acts.at[5].set(-acts[5]), key))
    others = np.arange(8) != 5
    np.testing.assert_array_equal(base[others], changed[others])
    assert base[5] != changed[5]


@pytest.mark.parametrize("particles", [1, 5])
def test_particle_assignment_is_position_independent(params, particles):
    """Same sequence, same key: same return at any batch position and size."""
    obs = jnp.full((S,), -0.1)
    acts = actions_batch(9)
    rollout = jax.jit(make_rollout(params, reward, particles, assignment="particle"))
    key = jax.random.key(4)
    full = np.asarray(rollout(obs, acts, key))
    reversed_ = np.asarray(rollout(obs, acts[::-1], key))[::-1]
    single = np.asarray(rollout(obs, acts[6:7], key))
    np.testing.assert_allclose(full, reversed_, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(full[6], single[0], rtol=1e-5, atol=1e-5)


def test_particles_average_members(params):
    """With P = E and sample=False, the return is the mean over the members' returns."""
    obs = jnp.zeros(S)
    acts = actions_batch(3)
    key = jax.random.key(0)
    mean_all = ensemble_rollout(params, reward, obs, acts, key, E, sample=False)
    per_member = []
    for e in range(E):
        single = params._replace(weights=tuple(w[e:e + 1] for w in params.weights),
                                 biases=tuple(b[e:e + 1] for b in params.biases))
        per_member.append(ensemble_rollout(single, reward, obs, acts, key, 1, sample=False))
    np.testing.assert_allclose(np.asarray(mean_all), np.mean(np.asarray(per_member), axis=0),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("assignment", ["particle", "row"])
def test_gradient_is_finite_and_per_sequence(params, assignment):
    obs = jnp.full((S,), 0.3)
    acts = actions_batch(4)
    rollout = make_rollout(params, reward, 2, assignment=assignment)
    key = jax.random.key(5)
    jac = jax.jacrev(lambda a: rollout(obs, a, key))(acts)  # [B, B, T, A]
    jac = np.asarray(jac)
    assert np.all(np.isfinite(jac))
    for i in range(4):
        assert np.any(jac[i, i] != 0.0)
        for j in range(4):
            if j != i:
                assert np.all(jac[i, j] == 0.0)


def test_unroll_gives_the_same_returns(params):
    obs = jnp.full((S,), 0.1)
    acts = actions_batch(6)
    key = jax.random.key(7)
    r1 = make_rollout(params, reward, 2)(obs, acts, key)
    r3 = make_rollout(params, reward, 2, unroll=3)(obs, acts, key)
    np.testing.assert_allclose(np.asarray(r1), np.asarray(r3), rtol=1e-5, atol=1e-4)
