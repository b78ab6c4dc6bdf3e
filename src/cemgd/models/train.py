"""Training of the PETS ensemble: bootstrap, Gaussian NLL, early stopping; save and load.

Chua et al. 2018 (PETS), Sec. 4: every member is fitted by maximum likelihood to
its own bootstrap resample of the data, with the loss

    sum_e mean_{rows, dims} [ (mu_e - y)^2 exp(-logvar_e) + logvar_e ]
        + bound_coef * (sum max_logvar - sum min_logvar),

the penalty keeping learned log-variance bounds tight (``learn_logvar_bounds``). The
target ``y`` is the state delta ``next_obs - obs``; inputs normalised by a :class:`Normalizer`.

:func:`train_ensemble` holds out ``val_fraction`` of the transitions (the same rows for
all members), draws each member's bootstrap from the rest (with replacement, ``[E,
N_train]``) and runs one jitted loop over minibatches per epoch, each member reshuffling
its bootstrap every epoch (the last minibatch partial or dropped: :mod:`.minibatch`).
Rows are padded to a power-of-two bucket (:func:`bucket_size`), so the epoch compiles
once per bucket, not per data size. After each epoch the validation MSE of the members'
means is measured; training stops after ``patience`` epochs without a relative gain of
``min_improvement`` and returns the params of the lowest validation MSE seen.

Any ensemble that follows :class:`cemgd.models.protocol.EnsembleModel` trains the
same way (``model=``): the loss is the same Gaussian NLL of ``model.predict`` plus
``model.penalty(params)``, weight decay applies to ``model.decay_mask(params)``.

Shapes: ``N`` transitions, ``S`` state dim, ``A`` action dim, ``E`` members, ``D = S + A``.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cemgd.models.data import ModelData, Transitions, bucket_size, check_data, pad_rows, shuffled
from cemgd.models.ensemble import EnsembleParams
from cemgd.models.minibatch import batch_mask, epoch_plan, member_mean
from cemgd.models.normalizer import Normalizer, normalize_inputs
from cemgd.models.optimizer import check_opt_state, make_optimizer
from cemgd.models.protocol import (
    EnsembleModel,
    MLPEnsemble,
    architecture,
    output_size,
    resolve_model,
)
from cemgd.models.score import mean_mse, member_mse
from cemgd.validate import check_int, check_nonnegative, check_positive, check_range

Array = jax.Array


@dataclass(frozen=True)
class TrainConfig:
    """Settings of :func:`train_ensemble` (PETS defaults where PETS gives one)."""

    epochs: int = 100
    """Maximum number of passes over each member's bootstrap (>= 1)."""
    batch_size: int = 32
    """Rows per member per minibatch (>= 1; capped at the training-split size)."""
    learning_rate: float = 1e-3
    """Adam step size (> 0)."""
    weight_decay: float = 5e-5
    """L2 decay added to the weight-matrix gradients before Adam (>= 0; see decay_biases)."""
    decay_biases: bool = True
    """weight_decay on every bias too (torch Adam's, as mbrl-lib); False: weight matrices only."""
    val_fraction: float = 0.1
    """Share of transitions held out for validation, in [0, 1); 0: no early stopping."""
    patience: int = 5
    """Epochs without improvement before stopping (>= 1)."""
    min_improvement: float = 0.01
    """Relative drop of the validation MSE that resets the patience, in [0, 1)."""
    bound_coef: float = 0.01
    """Weight of the log-variance bound penalty ``sum max_logvar - sum min_logvar`` (>= 0)."""
    learn_logvar_bounds: bool = False
    """Learn the log-variance bounds with the penalty (PETS); False: fixed 0.5 / -10 (mbrl-lib)."""
    keep_optimizer: bool = True
    """The PETS loop carries Adam's state from one trial's training to the next (mbrl-lib
    keeps one optimizer for the whole run); False: a fresh state at every training."""
    partial_batch: bool = True
    """ceil(N / batch_size) minibatches, the last partial (mbrl-lib); False: floor, all full."""
    seed: int = 0
    """Seed of the split, bootstraps and shuffles when no ``key`` is given (>= 0)."""

    def __post_init__(self) -> None:
        check_int("epochs", self.epochs)
        check_int("batch_size", self.batch_size)
        check_positive("learning_rate", self.learning_rate)
        check_nonnegative("weight_decay", self.weight_decay)
        check_range("val_fraction", self.val_fraction, 0.0, 1.0, high_open=True)
        check_int("patience", self.patience)
        check_range("min_improvement", self.min_improvement, 0.0, 1.0, high_open=True)
        check_nonnegative("bound_coef", self.bound_coef)
        for name in ("decay_biases", "learn_logvar_bounds", "keep_optimizer", "partial_batch"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}: expected a bool, got {getattr(self, name)!r}")
        check_int("seed", self.seed, low=0)


class TrainReport(NamedTuple):
    """What :func:`train_ensemble` did.

    Attributes:
        train_loss: mean minibatch loss of each epoch run, ``[epochs_run]``.
        val_mse: validation MSE of the member means after each epoch, averaged over
            members, ``[epochs_run]`` (empty with ``val_fraction = 0``).
        initial_val_mse: validation MSE before training (NaN without validation).
        best_epoch: epoch (1-based) whose params were returned; 0 means the initial
            params were best. Without validation: the last epoch.
        best_val_mse: validation MSE of the returned params (NaN without validation).
        early_stopped: whether patience ran out before ``epochs``.
        num_train: rows in the training split (each bootstrap has this many).
        num_val: rows in the validation split.
        val_indices: the held-out rows of ``data``, ``[num_val]`` (to evaluate on them).
        seconds: wall time of the training, compilation included.
        member_mse: MSE of each member's mean with the returned params, ``[E]``: on the
            validation rows, or on every training row (not its bootstrap) without them.
        opt_state: Adam's state after the last epoch run (to continue from with
            ``train_ensemble(..., opt_state=)``).
    """

    train_loss: np.ndarray
    val_mse: np.ndarray
    initial_val_mse: float
    best_epoch: int
    best_val_mse: float
    early_stopped: bool
    num_train: int
    num_val: int
    val_indices: np.ndarray
    seconds: float
    member_mse: np.ndarray = np.zeros(0)
    opt_state: Any = None


def gaussian_nll(
    params: EnsembleParams, normalizer: Normalizer, obs: Array, actions: Array, target: Array,
    activation: str = "silu", bound_coef: float = 0.01,
) -> Array:
    """PETS loss, summed over members: Gaussian NLL (no constant) plus the bound penalty.

    Args:
        params: ``E`` members.
        normalizer: input statistics.
        obs: raw ``[E, B, S]``.
        actions: raw ``[E, B, A]``.
        target: state delta ``[E, B, S]``.
        activation: the ensemble's activation.
        bound_coef: weight of ``sum max_logvar - sum min_logvar``.

    Returns:
        A scalar.
    """
    obs_n, act_n = normalize_inputs(normalizer, obs, actions)
    model = MLPEnsemble(activation=activation, bound_coef=bound_coef)
    return _loss(model, params, jnp.concatenate([obs_n, act_n], axis=-1), target)


def _loss(model: EnsembleModel, params: Any, x: Array, target: Array,
          mask: Array | None = None) -> Array:
    """Summed over members: mean NLL of ``target: [E, B, S]`` given ``x: [E, B, D]``
    (over the rows ``mask: [B]`` keeps, all by default), plus ``model.penalty(params)``."""
    mean, logvar = model.predict(params, x)
    nll = (mean - target) ** 2 * jnp.exp(-logvar) + logvar
    return jnp.sum(member_mean(nll, mask)) + model.penalty(params)


def default_model(config: TrainConfig, activation: str = "silu") -> MLPEnsemble:
    """The built-in ensemble with ``activation`` as ``config`` trains it (its bound
    penalty and decay); :func:`train_ensemble` without ``model`` trains it with ``silu``.
    The activation belongs to the architecture (``PETSConfig.activation``), not to training.
    """
    return MLPEnsemble(activation=activation, bound_coef=config.bound_coef,
                       learn_bounds=config.learn_logvar_bounds,
                       decay_biases=config.decay_biases)


def train_ensemble(
    params: Any,
    normalizer: Normalizer,
    data: Transitions | ModelData,
    key: Array | None = None,
    config: TrainConfig | None = None,
    model: EnsembleModel | None = None,
    opt_state: Any = None,
) -> tuple[Any, TrainReport]:
    """Fit the ensemble to transitions, each member on its own bootstrap.

    Args:
        params: initial (or previously trained) params, ``E`` members, input size ``D``.
        normalizer: input statistics, ``[D]`` (e.g. :func:`fit_normalizer` on ``data``).
        data: ``(obs: [N, S], actions: [N, A], next_obs: [N, S])``, finite; the target
            is ``next_obs - obs`` (computed in float64, trained in float32). Or a
            :class:`ModelData` ``(inputs: [N, S'], actions, targets: [N, S])`` when the
            model input and target are task-specific.
        key: PRNG key for the split, the bootstraps and the shuffles; ``None`` uses
            ``config.seed``.
        config: :class:`TrainConfig` (defaults if ``None``).
        model: the ensemble ``params`` belong to (``None``: the built-in
            :class:`EnsembleParams` MLP (:func:`default_model`: ``silu``) with
            ``config.bound_coef``); any :class:`~cemgd.models.protocol.EnsembleModel`.
        opt_state: Adam's state to continue from (a previous report's ``opt_state``, for
            the same params structure and config); ``None``: a fresh one.

    Returns:
        ``(params, report)``: the params with the lowest validation MSE seen (the
        last ones without validation) and a :class:`TrainReport`.

    Raises:
        ValueError: badly shaped or non-finite data, too few rows for the split, or
            a normaliser / params size that does not match the data.
    """
    start = time.perf_counter()
    config = TrainConfig() if config is None else config
    model = resolve_model(model, lambda: default_model(config))
    key = jax.random.key(config.seed) if key is None else key
    k_split, k_boot, k_epochs = jax.random.split(key, 3)
    split = _split(model, params, normalizer, data, k_split, k_boot, config)
    params, fit = _fit(model, params, split, k_epochs, config, opt_state)
    report = TrainReport(
        train_loss=np.asarray(fit.losses), val_mse=np.asarray(fit.val_mses),
        initial_val_mse=fit.initial, best_epoch=fit.best_epoch, best_val_mse=fit.best,
        early_stopped=fit.stopped, num_train=split.num_train, num_val=split.num_val,
        val_indices=split.val_rows, seconds=time.perf_counter() - start,
        member_mse=_member_scores(model, params, split), opt_state=fit.opt_state,
    )
    return params, report


def _member_scores(model: EnsembleModel, params: Any, split: _Split) -> np.ndarray:
    """Each member's MSE, ``[E]``, on the validation rows (all training rows without)."""
    x, y, n = ((split.x_val, split.y_val, split.num_val) if split.num_val
               else (split.x_train, split.y_train, split.num_train))
    mask = jnp.arange(x.shape[0]) < n
    return np.asarray(member_mse(model, params, x, y, mask))


class _Split(NamedTuple):
    """Training and validation rows, padded to their buckets (``R`` rows).

    ``x_*: [R, D]`` normalised inputs, ``y_*: [R, S]`` targets, ``boot: [E, N_train]``.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    boot: Array
    num_train: int
    num_val: int
    val_rows: np.ndarray
    batch: int
    input_dim: int


def _split(model: EnsembleModel, params: Any, normalizer: Normalizer,
           data: Transitions | ModelData, k_split: Array, k_boot: Array, config: TrainConfig
           ) -> _Split:
    """Check ``data`` against the params, hold out the validation rows, draw bootstraps."""
    obs, actions, target = check_data(data)
    n, state_dim = target.shape
    in_dim = obs.shape[1] + actions.shape[1]
    found_in = architecture(model, params).get("input_dim", in_dim)
    found_out = output_size(model, params, found_in)
    if (found_in, found_out) != (in_dim, state_dim):
        raise ValueError(
            f"params: expected an ensemble for S={state_dim}, A={actions.shape[1]} "
            f"(input {in_dim}), got input {found_in} and {found_out} outputs"
        )
    if normalizer.mean.shape != (in_dim,) or normalizer.std.shape != (in_dim,):
        raise ValueError(
            f"normalizer: expected mean and std of shape ({in_dim},), got "
            f"{tuple(normalizer.mean.shape)} and {tuple(normalizer.std.shape)}"
        )
    num_val = max(int(round(n * config.val_fraction)), 1) if config.val_fraction > 0 else 0
    num_train = n - num_val
    if num_train < 1:
        raise ValueError(f"data: {n} transitions leave no training rows after the split")
    perm = np.asarray(jax.random.permutation(k_split, n))
    train_rows, val_rows = perm[num_val:], perm[:num_val]
    boot = jax.random.randint(k_boot, (model.num_members(params), num_train), 0, num_train,
                              jnp.int32)
    obs_n, act_n = normalize_inputs(normalizer, jnp.asarray(obs), jnp.asarray(actions))
    inputs = np.asarray(jnp.concatenate([obs_n, act_n], axis=-1))
    targets = np.asarray(target, np.float32)
    # padded to size buckets, so the jitted functions compile once per bucket, not per N
    return _Split(pad_rows(inputs[train_rows]), pad_rows(targets[train_rows]),
                  pad_rows(inputs[val_rows]), pad_rows(targets[val_rows]), boot, num_train, num_val,
                  val_rows, min(config.batch_size, num_train), obs.shape[1])


class _Fit(NamedTuple):
    losses: list[float]
    val_mses: list[float]
    initial: float
    best: float
    best_epoch: int
    stopped: bool
    opt_state: Any = None


def _fit(model: EnsembleModel, params: Any, split: _Split, k_epochs: Array,
         config: TrainConfig, opt_state: Any = None) -> tuple[Any, _Fit]:
    """Epochs with early stopping; the params with the lowest validation MSE seen (and
    Adam's state after the last epoch run), from ``opt_state`` (``None``: fresh)."""
    optimizer, epoch_fn, val_fn = _compiled(_cache_key(config), split.input_dim, split.batch,
                                            model)
    count, val_count = np.int32(split.num_train), np.int32(split.num_val)
    params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), params)
    if opt_state is None:
        opt_state = optimizer.init(params)
    else:
        check_opt_state(opt_state, optimizer.init(params))
    validate = split.num_val > 0
    best_params = params
    best = float(val_fn(params, split.x_val, split.y_val, val_count)) if validate else np.nan
    initial = reference = best  # reference: the last value that reset the patience
    best_epoch, stale, stopped = 0, 0, False
    losses: list[float] = []
    val_mses: list[float] = []
    for epoch, k in enumerate(jax.random.split(k_epochs, config.epochs), start=1):
        order = shuffled(k, split.boot, bucket_size(split.num_train))
        params, opt_state, loss = epoch_fn(params, opt_state, split.x_train, split.y_train,
                                           order, count)
        losses.append(float(loss))
        if not validate:
            best_params, best_epoch = params, epoch
            continue
        mse = float(val_fn(params, split.x_val, split.y_val, val_count))
        val_mses.append(mse)
        if mse < best:
            best, best_params, best_epoch = mse, params, epoch
        if mse < reference * (1.0 - config.min_improvement):
            reference, stale = mse, 0
        else:
            stale += 1
            if stale >= config.patience:
                stopped = epoch < config.epochs
                break
    return best_params, _Fit(losses, val_mses, initial, float(best), best_epoch, stopped,
                             opt_state)


def _cache_key(config: TrainConfig) -> TrainConfig:
    """``config`` without what does not change the compiled functions (the seed)."""
    return dataclasses.replace(config, seed=0, epochs=1, patience=1, min_improvement=0.0,
                               val_fraction=0.0, keep_optimizer=False)


@functools.lru_cache(maxsize=16)
def _compiled(
    config: TrainConfig, input_dim: int, batch: int, model: EnsembleModel,
) -> tuple[optax.GradientTransformation, Callable, Callable]:
    """Optimizer and jitted epoch / validation functions, cached per config and model.

    ``input_dim`` is the model's observation-input size ``S'`` of rows ``x: [.., S' + A]``
    (a cache key: the model takes the rows whole). Arrays arrive padded to a bucket of
    ``R`` rows with the real count beside them, so a new count in the same bucket
    reuses the compiled function.
    """
    optimizer = make_optimizer(config.weight_decay, config.learning_rate, model)

    def loss_fn(p: Any, x: Array, y: Array, mask: Array | None) -> Array:
        return _loss(model, p, x, y, mask)

    @jax.jit
    def epoch_fn(
        params: Any, opt_state: optax.OptState, x: Array, y: Array, order: Array,
        count: Array,
    ) -> tuple[Any, optax.OptState, Array]:
        """One pass over ``order: [E, R]`` (rows of ``x: [R, D]``, ``y: [R, S]``; the first
        ``count`` entries of each member real), in minibatches of ``batch``."""
        steps, order = epoch_plan(order, count, batch, config.partial_batch)

        def step(i: Array, carry: tuple[Any, optax.OptState, Array]
                 ) -> tuple[Any, optax.OptState, Array]:
            p, s, total = carry
            rows_idx = jax.lax.dynamic_slice_in_dim(order, i * batch, batch, axis=1)
            mask = batch_mask(i, batch, count) if config.partial_batch else None
            loss, grads = jax.value_and_grad(loss_fn)(p, x[rows_idx], y[rows_idx], mask)
            updates, s = optimizer.update(grads, s, p)
            return optax.apply_updates(p, updates), s, total + loss

        params, opt_state, total = jax.lax.fori_loop(
            0, steps, step, (params, opt_state, jnp.zeros((), jnp.float32)))
        return params, opt_state, total / steps

    @jax.jit
    def val_fn(params: Any, x: Array, y: Array, count: Array) -> Array:
        """``x: [R, D]``, ``y: [R, S]``, the first ``count`` rows real."""
        return mean_mse(model, params, x, y, jnp.arange(x.shape[0]) < count)

    return optimizer, epoch_fn, val_fn
