"""Trajectory propagation of the model rollout: TS1, TS-inf, expectation, task hooks."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cemgd.models import ensemble_apply, init_ensemble, make_rollout
from cemgd.models.ensemble import EnsembleParams
from cemgd.models.particles import NOISE_IN_SCAN_BATCH
from cemgd.models.rollout import ensemble_rollout

S, A, T, E = 3, 2, 4, 3


def reward(obs, action, next_obs):
    return next_obs[..., 0] - 0.1 * jnp.sum(action**2, axis=-1)


def progress(obs, action, next_obs):
    return next_obs[..., 0] - obs[..., 0]


@pytest.fixture(scope="module")
def params() -> EnsembleParams:
    return init_ensemble(jax.random.key(0), S, A, num_members=E, hidden=8, num_layers=1)


def actions_batch(b: int, seed: int = 1, horizon: int = T) -> jax.Array:
    return jax.random.uniform(jax.random.key(seed), (b, horizon, A), minval=-1.0, maxval=1.0)


def constant_ensemble(deltas: np.ndarray) -> EnsembleParams:
    """Member ``e`` predicts the delta ``deltas[e]: [S]`` whatever its input (std ~0.05)."""
    members, dim = deltas.shape
    p = init_ensemble(jax.random.key(0), dim, A, num_members=members, hidden=4, num_layers=1)
    bias = jnp.concatenate([jnp.asarray(deltas, jnp.float32),
                            jnp.full((members, dim), -6.0)], axis=-1)[:, None, :]
    return p._replace(weights=tuple(jnp.zeros_like(w) for w in p.weights),
                      biases=(*(jnp.zeros_like(b) for b in p.biases[:-1]), bias))


def copies_of_member_0(p: EnsembleParams) -> EnsembleParams:
    return p._replace(weights=tuple(jnp.broadcast_to(w[:1], w.shape) for w in p.weights),
                      biases=tuple(jnp.broadcast_to(b[:1], b.shape) for b in p.biases))


# ---- TS1 ---------------------------------------------------------------------------


@pytest.mark.parametrize("particles", [5])
def test_ts1_differs_from_tsinf_when_members_differ(params, particles):
    obs, acts, key = jnp.full((S,), 0.3), actions_batch(4), jax.random.key(2)
    tsinf = make_rollout(params, reward, particles)(obs, acts, key)
    ts1 = make_rollout(params, reward, particles, propagation="ts1")(obs, acts, key)
    assert np.all(np.isfinite(np.asarray(ts1)))
    assert not np.allclose(np.asarray(tsinf), np.asarray(ts1), atol=1e-4)


@pytest.mark.parametrize("particles", [1, 5])
def test_ts1_equals_tsinf_when_members_are_identical(params, particles):
    """Same members: re-drawing them changes nothing; every particle keeps its own noise."""
    same = copies_of_member_0(params)
    obs, acts, key = jnp.full((S,), -0.2), actions_batch(4), jax.random.key(3)
    ts1 = make_rollout(same, reward, particles, propagation="ts1")(obs, acts, key)
    # TS1 draws its noise with the first half of split(key), the same noise layout as TS-inf
    tsinf = make_rollout(same, reward, particles)(obs, acts, jax.random.split(key)[0])
    np.testing.assert_allclose(np.asarray(ts1), np.asarray(tsinf), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("particles", [1, 5])
def test_ts1_is_paired_across_batches(params, particles):
    """Same sequence, same key: same TS1 return at any batch position and size."""
    obs, acts, key = jnp.full((S,), 0.1), actions_batch(7), jax.random.key(4)
    rollout = jax.jit(make_rollout(params, reward, particles, propagation="ts1"))
    full = np.asarray(rollout(obs, acts, key))
    reversed_ = np.asarray(rollout(obs, acts[::-1], key))[::-1]
    single = np.asarray(rollout(obs, acts[5:6], key))
    np.testing.assert_allclose(full, reversed_, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(full[5], single[0], rtol=1e-5, atol=1e-5)
    changed = np.asarray(rollout(obs, acts.at[2].set(-acts[2]), key))
    np.testing.assert_array_equal(np.delete(full, 2), np.delete(changed, 2))


def test_ts1_with_fewer_particles_than_members_visits_every_member():
    """P = 1 < E: TS-inf uses member 0 throughout; TS1 draws a member per step."""
    deltas = np.zeros((E, S), np.float32)
    deltas[:, 0] = [1.0, 10.0, 100.0]  # return n0 + 10 n1 + 100 n2 counts the members used
    p = constant_ensemble(deltas)
    horizon = 6
    obs, acts = jnp.zeros(S), jnp.zeros((1, horizon, A))
    tsinf = jax.jit(make_rollout(p, progress, 1, sample=False))
    ts1 = jax.jit(make_rollout(p, progress, 1, sample=False, propagation="ts1"))
    counts = []
    for seed in range(4):
        assert float(tsinf(obs, acts, jax.random.key(seed))[0]) == pytest.approx(horizon)
        r = int(round(float(ts1(obs, acts, jax.random.key(seed))[0])))
        counts.append((r % 10, r // 10 % 10, r // 100))
    assert all(sum(c) == horizon for c in counts), counts
    assert all(any(c[e] > 0 for c in counts) for e in range(E)), counts


def test_ts1_keeps_every_member_busy_and_mixes_particles():
    """P = 2 E: each step every member serves exactly 2 particles, but not the same ones."""
    deltas = np.zeros((E, S), np.float32)
    deltas[:, 0] = [1.0, 2.0, 4.0]
    p = constant_ensemble(deltas)
    obs, acts, key = jnp.zeros(S), jnp.zeros((2, T, A)), jax.random.key(5)
    ts1 = make_rollout(p, progress, 2 * E, sample=False, propagation="ts1")
    tsinf = make_rollout(p, progress, 2 * E, sample=False)
    # linear reward: the mean over particles only sees how many particles each member served
    np.testing.assert_allclose(np.asarray(ts1(obs, acts, key)), T * deltas[:, 0].mean(),
                               rtol=1e-5)
    np.testing.assert_allclose(np.asarray(tsinf(obs, acts, key)), T * deltas[:, 0].mean(),
                               rtol=1e-5)

    def squared(obs, action, next_obs):  # telescopes to x_T^2: sees each particle's members
        return next_obs[..., 0] ** 2 - obs[..., 0] ** 2

    mixed = make_rollout(p, squared, 2 * E, sample=False, propagation="ts1")(obs, acts, key)
    fixed = make_rollout(p, squared, 2 * E, sample=False)(obs, acts, key)
    np.testing.assert_allclose(np.asarray(fixed), np.mean((T * deltas[:, 0]) ** 2), rtol=1e-5)
    assert float(mixed[0]) < float(fixed[0]) - 1.0  # mixing members shrinks the spread


def test_ts1_row_balances_members_over_all_rows_and_keeps_each_rows_state(params):
    """assignment='row': each step every member serves exactly 1/E of all rows (mbrl-lib's
    layout), not of each sequence's particles; a row's state never moves to another row."""
    deltas = np.zeros((E, S), np.float32)
    deltas[:, 0] = [1.0, 2.0, 4.0]
    obs, acts, key = jnp.zeros(S), jnp.zeros((4, T, A)), jax.random.key(5)
    ts1 = make_rollout(constant_ensemble(deltas), progress, 2 * E, sample=False,
                       propagation="ts1", assignment="row")(obs, acts, key)
    np.testing.assert_allclose(float(jnp.mean(ts1)), T * deltas[:, 0].mean(), rtol=1e-5)
    assert np.ptp(np.asarray(ts1)) > 0.1  # a sequence's particles are not balanced
    other = make_rollout(constant_ensemble(deltas), progress, 2 * E, sample=False,
                         propagation="ts1", assignment="row")(obs, acts, jax.random.key(6))
    assert not np.allclose(np.asarray(ts1), np.asarray(other))  # the draws follow the key
    # identical members: TS1 must equal TS-inf exactly, however the rows are permuted
    same = copies_of_member_0(params)
    acts = actions_batch(5)
    row_ts1 = make_rollout(same, reward, 3, False, propagation="ts1", assignment="row")
    row_inf = make_rollout(same, reward, 3, False, assignment="row")
    np.testing.assert_allclose(np.asarray(row_ts1(jnp.full((S,), 0.3), acts, key)),
                               np.asarray(row_inf(jnp.full((S,), 0.3), acts, key)), rtol=1e-5)


# ---- expectation -------------------------------------------------------------------


def test_expectation_is_the_mean_of_member_means(params):
    obs, acts = jnp.array([0.2, -0.1, 0.4]), actions_batch(2)
    got = make_rollout(params, reward, 4, propagation="expectation")(
        obs, acts, jax.random.key(0))
    x = jnp.broadcast_to(obs, (2, S))
    expected = jnp.zeros(2)
    for t in range(T):
        mean, _ = ensemble_apply(params, jnp.broadcast_to(x, (E, 2, S)),
                                 jnp.broadcast_to(acts[:, t], (E, 2, A)))
        nx = x + jnp.mean(mean, axis=0)
        expected = expected + reward(x, acts[:, t], nx)
        x = nx
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-5, atol=1e-5)


def test_expectation_ignores_key_sample_and_particles(params):
    obs, acts = jnp.full((S,), 0.5), actions_batch(3)
    base = make_rollout(params, reward, 1, sample=False, propagation="expectation")
    other = make_rollout(params, reward, 7, sample=True, propagation="expectation")
    r0 = np.asarray(base(obs, acts, jax.random.key(0)))
    np.testing.assert_array_equal(r0, np.asarray(other(obs, acts, jax.random.key(9))))


@pytest.mark.parametrize("propagation", ["ts1", "expectation"])
def test_gradient_is_finite_and_per_sequence(params, propagation):
    obs, acts, key = jnp.full((S,), 0.3), actions_batch(3), jax.random.key(5)
    rollout = make_rollout(params, reward, 4, propagation=propagation)
    jac = np.asarray(jax.jacrev(lambda a: rollout(obs, a, key))(acts))  # [B, B, T, A]
    assert np.all(np.isfinite(jac))
    for i in range(3):
        assert np.any(jac[i, i] != 0.0)
        assert np.all(np.delete(jac[i], i, axis=0) == 0.0)


# ---- input_fn / output_fn ----------------------------------------------------------


def model_input(obs):
    return obs[..., 1:]  # the model does not see x (state 0), as in half-cheetah


def model_output(obs, delta):
    return obs + jnp.array([0.5, 1.0, 1.0]) * delta


def test_input_and_output_fns_match_a_reference_loop():
    p = init_ensemble(jax.random.key(1), S, A, num_members=E, hidden=8, num_layers=1,
                      input_dim=S - 1)
    assert p.weights[0].shape == (E, S - 1 + A, 8) and p.weights[-1].shape == (E, 8, 2 * S)
    obs, acts = jnp.array([5.0, 0.2, -0.3]), actions_batch(2, horizon=2)
    got = make_rollout(p, reward, E, sample=False, input_fn=model_input,
                       output_fn=model_output)(obs, acts, jax.random.key(0))
    # member e rolls out row e of x: [E, B, S], one member per particle (P = E)
    x = jnp.broadcast_to(obs, (E, 2, S))
    expected = jnp.zeros(2)
    for t in range(2):
        a_t = jnp.broadcast_to(acts[:, t], (E, 2, A))
        mean, _ = ensemble_apply(p, model_input(x), a_t)
        nx = model_output(x, mean)
        expected = expected + jnp.mean(reward(x, a_t, nx), axis=0)
        x = nx
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-5, atol=1e-5)
    # every propagation and assignment runs on the reduced input
    for kwargs in ({"propagation": "ts1"}, {"propagation": "expectation"},
                   {"assignment": "row"}):
        r = make_rollout(p, reward, 2, input_fn=model_input, output_fn=model_output,
                         **kwargs)(obs, acts, jax.random.key(1))
        assert r.shape == (2,) and np.all(np.isfinite(np.asarray(r)))


def test_shape_mismatches_name_the_argument(params):
    obs, acts, key = jnp.zeros(S), actions_batch(2), jax.random.key(0)
    with pytest.raises(ValueError, match="input_fn"):
        make_rollout(params, reward, input_fn=model_input)(obs, acts, key)
    with pytest.raises(ValueError, match="obs"):
        make_rollout(params, reward)(jnp.zeros(S + 1), acts, key)
    with pytest.raises(ValueError, match="output_fn"):
        make_rollout(params, reward, output_fn=lambda o, d: d[..., :1])(obs, acts, key)


# ---- termination -------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [{}, {"propagation": "ts1"}, {"assignment": "row"},
                                    {"propagation": "expectation"}])
def test_termination_zeroes_rewards_after_the_first_done(kwargs):
    deltas = np.zeros((2, S), np.float32)
    deltas[:, 0] = 1.0
    p = constant_ensemble(deltas)
    horizon = 6

    def position(obs, action, next_obs):
        return next_obs[..., 0]

    def past(obs, action, next_obs):  # done when x reaches 3 (or at once if actions > 0)
        return (next_obs[..., 0] > 2.5) | (action[..., 0] > 0.0)

    obs = jnp.zeros(S)
    acts = jnp.zeros((2, horizon, A)).at[1, :, 0].set(1.0)
    rollout = make_rollout(p, position, 2, sample=False, termination_fn=past, **kwargs)
    got = np.asarray(rollout(obs, acts, jax.random.key(0)))
    # x = 1, 2, 3 (done: its reward counts), then 0; the second is done at step 1
    np.testing.assert_allclose(got, [1.0 + 2.0 + 3.0, 1.0], rtol=1e-5)
    free = make_rollout(p, position, 2, sample=False, **kwargs)(obs, acts, jax.random.key(0))
    np.testing.assert_allclose(np.asarray(free), [21.0, 21.0], rtol=1e-5)


# ---- bad input ---------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "argument"), [
    ({"propagation": "ts2"}, "propagation"),
    ({"input_fn": 3}, "input_fn"),
    ({"output_fn": "sum"}, "output_fn"),
    ({"termination_fn": 1.0}, "termination_fn"),
])
def test_bad_arguments_name_the_argument(params, kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        make_rollout(params, reward, **kwargs)
    with pytest.raises(ValueError, match=argument):
        ensemble_rollout(params, reward, jnp.zeros(S), actions_batch(1), jax.random.key(0),
                         **kwargs)


def test_init_ensemble_validates_input_dim():
    for bad in (0, 2.0, True):
        with pytest.raises(ValueError, match="input_dim"):
            init_ensemble(jax.random.key(0), S, A, input_dim=bad)


@pytest.mark.parametrize("layout", [
    dict(propagation="tsinf"), dict(propagation="ts1"), dict(propagation="expectation"),
    dict(propagation="tsinf", assignment="row"),
])
def test_remat_gives_the_same_gradient_in_less_memory(layout):
    big = init_ensemble(jax.random.key(0), S, A, num_members=E, hidden=64, num_layers=2)
    acts = actions_batch(8, horizon=20)
    obs, key = jnp.array([0.2, -0.1, 0.3]), jax.random.key(3)
    grads, memory = [], []
    for remat in (True, False):
        rollout = make_rollout(big, reward, num_particles=6, remat=remat, **layout)
        fn = jax.jit(jax.grad(lambda a, r=rollout: jnp.sum(r(obs, a, key))))
        grads.append(np.asarray(fn(acts)))
        memory.append(fn.lower(acts).compile().memory_analysis().temp_size_in_bytes)
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-5, atol=1e-6)
    assert memory[0] < 0.5 * memory[1]


@pytest.mark.parametrize("layout", [
    dict(propagation="tsinf"), dict(propagation="ts1"), dict(propagation="expectation"),
    dict(propagation="tsinf", assignment="row"),
])
def test_remat_by_default_only_above_remat_rows(params, layout):
    """remat=None keeps a small gradient's activations (no recomputation) and checkpoints
    one whose model sees more than REMAT_ROWS rows a step (for "expectation": sequences x
    members); an explicit choice wins."""
    from cemgd.models.particles import REMAT_ROWS

    obs, key = jnp.array([0.2, -0.1, 0.3]), jax.random.key(3)

    def remat_in_grad(batch: int, remat: bool | None = None) -> bool:
        rollout = make_rollout(params, reward, num_particles=E, remat=remat, **layout)
        acts = jnp.zeros((batch, 4, A))
        return "remat" in str(jax.make_jaxpr(jax.grad(
            lambda a: jnp.sum(rollout(obs, a, key))))(acts))

    assert not remat_in_grad(REMAT_ROWS // E)  # E particles, or E members: E rows each
    assert remat_in_grad(REMAT_ROWS // E + 1)
    assert remat_in_grad(2, remat=True)
    assert not remat_in_grad(REMAT_ROWS, remat=False)


@pytest.mark.parametrize("propagation", ["tsinf", "ts1"])
@pytest.mark.parametrize("particles", [1, 5])
def test_noise_is_the_same_drawn_in_the_scan_or_before(params, propagation, particles):
    """A batch of NOISE_IN_SCAN_BATCH sequences draws its noise step by step inside the
    scan, a smaller one all steps before it: the same numbers, so a sequence's return does
    not depend on the batch it is scored in (common random numbers across chunk sizes)."""
    big = NOISE_IN_SCAN_BATCH
    obs, acts, key = jnp.full((S,), 0.2), actions_batch(big, seed=5), jax.random.key(6)
    rollout = jax.jit(make_rollout(params, reward, particles, propagation=propagation))
    full = np.asarray(rollout(obs, acts, key))
    small = np.asarray(rollout(obs, acts[big - 3:], key))
    np.testing.assert_allclose(full[big - 3:], small, rtol=1e-5, atol=1e-5)
    other_key = np.asarray(rollout(obs, acts[big - 3:], jax.random.key(7)))
    assert not np.allclose(small, other_key, atol=1e-4)  # the noise matters here
