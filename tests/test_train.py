"""Training, input normalisation and save/load of the PETS ensemble."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cemgd.models import (
    TrainConfig,
    ensemble_apply,
    fit_normalizer,
    fold_normalizer,
    gaussian_nll,
    identity_normalizer,
    init_ensemble,
    load_model,
    make_rollout,
    normalized_apply,
    save_model,
    train_ensemble,
    validation_mse,
)
from cemgd.models.train import _cache_key, _compiled, bucket_size, default_model

S, A = 3, 2


def system(n, seed=0, noise=0.01, gain=0.1):
    """``s' = s + g sin(s) + g B a + noise``, ``s ~ U(-3, 3)^S``, ``a ~ U(-1, 1)^A``, g = 0.1."""
    rng = np.random.default_rng(seed)
    s = rng.uniform(-3.0, 3.0, (n, S))
    a = rng.uniform(-1.0, 1.0, (n, A))
    b = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.0]])
    next_s = s + gain * (np.sin(s) + a @ b) + noise * rng.standard_normal((n, S))
    return s, a, next_s


def small_params(seed=0, members=5, hidden=48, layers=2):
    return init_ensemble(jax.random.key(seed), S, A, num_members=members, hidden=hidden,
                         num_layers=layers)


@pytest.fixture(scope="module")
def trained():
    data = system(1500)
    norm = fit_normalizer(data[0], data[1])
    config = TrainConfig(epochs=40, batch_size=32, patience=5, learn_logvar_bounds=True)
    params, report = train_ensemble(small_params(), norm, data, jax.random.key(1), config)
    return params, norm, report


def test_learns_nonlinear_system(trained):
    params, norm, report = trained
    test = system(1000, seed=7)
    zero_change = float(np.mean((test[2] - test[0]) ** 2))
    mse = validation_mse(params, norm, test)
    assert mse < 0.1 * zero_change, (mse, zero_change)
    assert report.best_val_mse < 0.1 * report.initial_val_mse
    assert report.train_loss[-1] < report.train_loss[0]
    assert len(report.train_loss) == len(report.val_mse) >= report.best_epoch >= 1
    assert report.num_val == 150 and report.num_train == 1350
    assert report.val_indices.shape == (150,)


def test_logvar_stays_in_learned_bounds(trained):
    params, norm, _ = trained
    far = system(500, seed=3)
    obs = jnp.broadcast_to(jnp.asarray(10.0 * far[0], jnp.float32), (5, 500, S))
    act = jnp.broadcast_to(jnp.asarray(far[1], jnp.float32), (5, 500, A))
    _, logvar = normalized_apply(params, norm, obs, act)
    lv = np.asarray(logvar)
    assert np.all(np.isfinite(lv))
    assert np.all(lv >= np.asarray(params.min_logvar))
    assert np.all(lv <= np.asarray(params.max_logvar))
    # the bound penalty pulls the learned upper bound down from its initial 0.5
    assert np.all(np.asarray(params.max_logvar) < 0.5)
    assert np.all(np.asarray(params.min_logvar) < np.asarray(params.max_logvar))


def test_folded_normalizer_matches_and_rolls_out(trained):
    params, norm, _ = trained
    obs = jax.random.uniform(jax.random.key(2), (5, 9, S), minval=-3.0, maxval=3.0)
    act = jax.random.uniform(jax.random.key(3), (5, 9, A), minval=-1.0, maxval=1.0)
    folded = fold_normalizer(params, norm)
    m1, v1 = normalized_apply(params, norm, obs, act)
    m2, v2 = ensemble_apply(folded, obs, act)
    np.testing.assert_allclose(np.asarray(m1), np.asarray(m2), atol=1e-5)
    np.testing.assert_allclose(np.asarray(v1), np.asarray(v2), atol=1e-4)
    target = 0.1 * jnp.sin(obs)
    loss = gaussian_nll(params, norm, obs, act, target, bound_coef=0.01)
    manual = jnp.sum(jnp.mean((m1 - target) ** 2 * jnp.exp(-v1) + v1, axis=(1, 2)))
    manual += 0.01 * (jnp.sum(params.max_logvar) - jnp.sum(params.min_logvar))
    assert float(loss) == pytest.approx(float(manual), rel=1e-5)
    rollout = make_rollout(folded, lambda o, a, n: -jnp.sum(n**2, -1), sample=False)
    returns = rollout(jnp.ones(S), jnp.zeros((4, 6, A)), jax.random.key(0))
    assert returns.shape == (4,) and np.all(np.isfinite(np.asarray(returns)))


def test_early_stopping_restores_best_weights():
    # 40 noisy transitions, a wide net and a large step size: the validation error
    # falls, then rises as the members fit the noise.
    data = system(40, seed=5, noise=0.3, gain=1.0)
    norm = fit_normalizer(data[0], data[1])
    config = TrainConfig(epochs=200, batch_size=8, learning_rate=1e-2, weight_decay=0.0,
                         val_fraction=0.25, patience=200, min_improvement=0.0)
    params, report = train_ensemble(small_params(hidden=128), norm, data, jax.random.key(0),
                                    config)
    assert not report.early_stopped and len(report.val_mse) == 200
    best = int(np.argmin(report.val_mse))
    assert report.best_epoch == best + 1 < 200
    assert report.val_mse[-1] > 1.5 * report.best_val_mse
    assert report.best_val_mse == pytest.approx(report.val_mse[best])
    val = tuple(np.asarray(x)[report.val_indices] for x in data)
    assert validation_mse(params, norm, val) == pytest.approx(report.best_val_mse, rel=1e-5)

    # the same run with a short patience stops early, and still returns its best
    short = dataclasses.replace(config, patience=10)
    params2, report2 = train_ensemble(small_params(hidden=128), norm, data, jax.random.key(0),
                                      short)
    assert report2.early_stopped and len(report2.val_mse) < 200
    assert report2.best_epoch == int(np.argmin(report2.val_mse)) + 1
    assert len(report2.val_mse) - report2.best_epoch >= 10
    assert validation_mse(params2, norm, val) == pytest.approx(report2.best_val_mse, rel=1e-5)


def test_bootstrap_makes_members_differ_and_a_key_reproduces():
    # Identical members and full-batch steps: the minibatch order cannot matter, so
    # only the per-member bootstrap resample can make the members differ.
    p = small_params(members=3, hidden=16)
    p = jax.tree.map(lambda x: jnp.broadcast_to(x[:1], x.shape) if x.ndim == 3 else x, p)
    data = system(200)
    norm = fit_normalizer(data[0], data[1])
    config = TrainConfig(epochs=3, batch_size=10_000, val_fraction=0.0, seed=4)
    trained, report = train_ensemble(p, norm, data, config=config)
    assert report.best_epoch == 3 and report.num_val == 0 and np.isnan(report.best_val_mse)
    assert len(report.train_loss) == 3 and len(report.val_mse) == 0
    w = np.asarray(trained.weights[0])
    assert not np.allclose(w[0], w[1]) and not np.allclose(w[1], w[2])
    # key=None uses config.seed, which equals passing jax.random.key(seed)
    again, _ = train_ensemble(p, norm, data, jax.random.key(4), config)
    for x, y in zip(jax.tree.leaves(trained), jax.tree.leaves(again), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_normalizer_statistics_in_float64_and_tiny_std():
    rng = np.random.default_rng(0)
    obs = 1e4 + rng.standard_normal((1000, S))
    obs[:, 2] = 7.0  # constant feature
    act = rng.uniform(-1.0, 1.0, (1000, A))
    norm = fit_normalizer(obs, act)
    x = np.concatenate([obs, act], 1)
    assert norm.mean.dtype == norm.std.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(norm.mean), x.mean(0), rtol=1e-7)
    np.testing.assert_allclose(np.asarray(norm.std)[[0, 1, 3, 4]], x.std(0)[[0, 1, 3, 4]],
                               rtol=1e-6)
    assert float(norm.std[2]) == 1.0
    with pytest.raises(ValueError, match="actions"):
        fit_normalizer(obs, act[:10])
    with pytest.raises(ValueError, match="finite"):
        fit_normalizer(np.full((3, S), np.nan), act[:3])


def test_save_load_round_trip_is_exact(trained, tmp_path):
    params, norm, _ = trained
    path = tmp_path / "model"  # no suffix: written exactly where asked
    save_model(path, params, norm)
    assert path.is_file() and not (tmp_path / "model.npz").exists()
    loaded, loaded_norm = load_model(path)
    for x, y in zip(jax.tree.leaves((params, norm)), jax.tree.leaves((loaded, loaded_norm)),
                    strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert jax.tree.structure(loaded) == jax.tree.structure(params)
    with np.load(path, allow_pickle=False) as f:  # plain arrays, no object pickles
        assert all(f[k].dtype != object for k in f.files)


def test_load_missing_or_corrupt_file(trained, tmp_path):
    params, norm, _ = trained
    missing = tmp_path / "nope.npz"
    with pytest.raises(ValueError, match="nope.npz"):
        load_model(missing)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match="garbage.npz"):
        load_model(garbage)
    good = tmp_path / "good.npz"
    save_model(good, params, norm)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:-200])
    with pytest.raises(ValueError, match="truncated.npz"):
        load_model(truncated)
    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros(3))
    with pytest.raises(ValueError, match="other.npz"):
        load_model(other)
    bad_shape = tmp_path / "bad_shape.npz"
    with np.load(good) as f:
        arrays = dict(f)
    arrays["norm_std"] = np.ones(2, np.float32)
    np.savez(bad_shape, **arrays)
    with pytest.raises(ValueError, match="bad_shape.npz"):
        load_model(bad_shape)


@pytest.mark.parametrize("bad", [
    {"epochs": 0}, {"batch_size": 1.5}, {"learning_rate": 0.0}, {"weight_decay": -1.0},
    {"val_fraction": 1.0}, {"patience": 0}, {"min_improvement": 1.0}, {"bound_coef": -0.1},
    {"seed": -1},
])
def test_config_validation_names_the_field(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        TrainConfig(**bad)


def test_bad_data_names_the_field(trained):
    p = trained[0]
    norm = identity_normalizer(S, A)
    obs, act, nxt = system(20)
    with pytest.raises(ValueError, match="data.next_obs"):
        train_ensemble(p, norm, (obs, act, nxt[:, :2]))
    with pytest.raises(ValueError, match="data.actions"):
        train_ensemble(p, norm, (obs, act[:5], nxt))
    with pytest.raises(ValueError, match="data.obs"):
        train_ensemble(p, norm, (np.where(np.arange(S) == 0, np.nan, obs), act, nxt))
    with pytest.raises(ValueError, match="normalizer"):
        train_ensemble(p, identity_normalizer(S, A + 1), (obs, act, nxt))
    with pytest.raises(ValueError, match="params"):
        train_ensemble(p, identity_normalizer(S + 1, A), (np.c_[obs, obs[:, :1]], act,
                                                          np.c_[nxt, nxt[:, :1]]))


def test_epoch_function_compiles_once_per_bucket_not_per_size():
    """Issue 10 item 5: data that grows within a size bucket reuses the compiled epoch."""
    assert bucket_size(1) == 64 and bucket_size(64) == 64 and bucket_size(65) == 128
    config = TrainConfig(epochs=2, batch_size=16, patience=5)
    params = small_params(members=2, hidden=8)
    sizes = (150, 170, 200, 230)  # train splits 135 .. 207 rows: all in the 256 bucket
    # the compiled functions are shared by every test in the process: count what this adds
    _, epoch_fn, val_fn = _compiled(_cache_key(config), S, 16, default_model(config))
    epochs_before, vals_before = epoch_fn._cache_size(), val_fn._cache_size()
    for i, n in enumerate(sizes):
        data = system(n, seed=i)
        norm = fit_normalizer(data[0], data[1])
        # a new seed each time, as the PETS loop derives one per trial
        train_ensemble(params, norm, data, config=dataclasses.replace(config, seed=i))
    assert epoch_fn._cache_size() - epochs_before <= 1  # 4 sizes, at most 1 new compile
    assert val_fn._cache_size() - vals_before <= 1  # validation rows 15 .. 23: the 64 bucket


def test_padding_does_not_change_what_is_learned():
    """Padded rows are never drawn: a loss of the real rows only, finite and falling."""
    data = system(300)
    norm = fit_normalizer(data[0], data[1])
    config = TrainConfig(epochs=8, batch_size=32, patience=8, val_fraction=0.1)
    _, report = train_ensemble(small_params(members=2, hidden=16), norm, data,
                               jax.random.key(0), config)
    assert report.num_train == 270  # padded to 512 inside, trained on 270
    assert np.all(np.isfinite(report.train_loss)) and report.train_loss[-1] < report.train_loss[0]
    assert report.best_val_mse < report.initial_val_mse
