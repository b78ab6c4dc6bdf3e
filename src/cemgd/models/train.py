"""Training of the PETS ensemble: bootstrap, Gaussian NLL, early stopping; save and load.

Chua et al. 2018 (PETS), Sec. 4: every member is fitted by maximum likelihood to
its own bootstrap resample of the data, with the loss

    sum_e mean_{rows, dims} [ (mu_e - y)^2 exp(-logvar_e) + logvar_e ]
        + bound_coef * (sum max_logvar - sum min_logvar),

the penalty keeping the learned log-variance bounds tight. The target ``y`` is the
state delta ``next_obs - obs``; inputs are normalised by a :class:`Normalizer`.

:func:`train_ensemble` holds out ``val_fraction`` of the transitions (the same
rows for all members), draws each member's bootstrap from the rest (indices with
replacement, ``[E, N_train]``), and runs one jitted ``lax.scan`` over minibatches
per epoch (each member reshuffles its own bootstrap every epoch). After each epoch
the validation MSE of every member's mean (averaged over members) is measured;
training stops after ``patience`` epochs without a relative improvement of
``min_improvement``, and the params with the lowest validation MSE seen are returned.

Shapes: ``N`` transitions, ``S`` state dim, ``A`` action dim, ``E`` members,
``D = S + A``.
"""

from __future__ import annotations

import functools
import os
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cemgd.models.ensemble import EnsembleParams, _activation, ensemble_apply, num_members
from cemgd.models.normalizer import Normalizer, normalize_inputs
from cemgd.validate import check_int, check_nonnegative, check_positive, check_range

Array = jax.Array
#: ``(obs: [N, S], actions: [N, A], next_obs: [N, S])``.
Transitions = tuple[np.ndarray | Array, np.ndarray | Array, np.ndarray | Array]


class ModelData(NamedTuple):
    """Training rows already in model space, for tasks whose model input is not ``obs``.

    Attributes:
        inputs: what the model sees of each observation, ``[N, S']``.
        actions: ``[N, A]``.
        targets: what the model predicts, ``[N, S]`` (e.g. ``next_obs - obs``).
    """

    inputs: np.ndarray | Array
    actions: np.ndarray | Array
    targets: np.ndarray | Array

_FORMAT = "cemgd-ensemble-v1"


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
    """L2 decay added to the weight-matrix gradients before Adam (>= 0; not biases)."""
    val_fraction: float = 0.1
    """Share of transitions held out for validation, in [0, 1); 0: no early stopping."""
    patience: int = 5
    """Epochs without improvement before stopping (>= 1)."""
    min_improvement: float = 0.01
    """Relative drop of the validation MSE that resets the patience, in [0, 1)."""
    bound_coef: float = 0.01
    """Weight of the log-variance bound penalty ``sum max_logvar - sum min_logvar`` (>= 0)."""
    activation: str = "silu"
    """Activation the ensemble was built with (a name in ``ACTIVATIONS``)."""
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
        _activation(self.activation)
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
    return _loss(params, obs_n, act_n, target, activation, bound_coef)


def _loss(
    params: EnsembleParams, obs_n: Array, act_n: Array, target: Array, activation: str,
    bound_coef: float,
) -> Array:
    mean, logvar = ensemble_apply(params, obs_n, act_n, activation)
    nll = (mean - target) ** 2 * jnp.exp(-logvar) + logvar
    bound = jnp.sum(params.max_logvar) - jnp.sum(params.min_logvar)
    return jnp.sum(jnp.mean(nll, axis=(1, 2))) + bound_coef * bound


def train_ensemble(
    params: EnsembleParams,
    normalizer: Normalizer,
    data: Transitions | ModelData,
    key: Array | None = None,
    config: TrainConfig | None = None,
) -> tuple[EnsembleParams, TrainReport]:
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

    Returns:
        ``(params, report)``: the params with the lowest validation MSE seen (the
        last ones without validation) and a :class:`TrainReport`.

    Raises:
        ValueError: badly shaped or non-finite data, too few rows for the split, or
            a normaliser / params size that does not match the data.
    """
    start = time.perf_counter()
    config = TrainConfig() if config is None else config
    obs, actions, target = _check_data(data)
    n, state_dim = target.shape
    in_dim = obs.shape[1] + actions.shape[1]
    if params.weights[0].shape[1] != in_dim or params.max_logvar.shape != (state_dim,):
        raise ValueError(
            f"params: expected an ensemble for S={state_dim}, A={actions.shape[1]} "
            f"(input {in_dim}), got input {params.weights[0].shape[1]} and "
            f"{params.max_logvar.shape[0]} outputs"
        )
    if normalizer.mean.shape != (in_dim,) or normalizer.std.shape != (in_dim,):
        raise ValueError(
            f"normalizer: expected mean and std of shape ({in_dim},), got "
            f"{tuple(normalizer.mean.shape)} and {tuple(normalizer.std.shape)}"
        )
    num_val = int(round(n * config.val_fraction)) if config.val_fraction > 0 else 0
    num_val = max(num_val, 1) if config.val_fraction > 0 else 0
    num_train = n - num_val
    if num_train < 1:
        raise ValueError(f"data: {n} transitions leave no training rows after the split")
    members = num_members(params)
    batch = min(config.batch_size, num_train)

    key = jax.random.key(config.seed) if key is None else key
    k_split, k_boot, k_epochs = jax.random.split(key, 3)
    perm = np.asarray(jax.random.permutation(k_split, n))
    train_rows, val_rows = perm[num_val:], perm[:num_val]
    boot = jax.random.randint(k_boot, (members, num_train), 0, num_train, jnp.int32)

    obs_n, act_n = normalize_inputs(normalizer, jnp.asarray(obs), jnp.asarray(actions))
    inputs = jnp.concatenate([obs_n, act_n], axis=-1)
    targets = jnp.asarray(target, jnp.float32)
    x_train, y_train = inputs[train_rows], targets[train_rows]
    x_val, y_val = inputs[val_rows], targets[val_rows]

    optimizer, epoch_fn, val_fn = _compiled(config, obs.shape[1], batch)
    params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), params)
    opt_state = optimizer.init(params)
    validate = num_val > 0
    best_params = params
    best = float(val_fn(params, x_val, y_val)) if validate else float("nan")
    initial = best
    reference = best  # last value that reset the patience
    best_epoch, stale, stopped = 0, 0, False
    losses: list[float] = []
    val_mses: list[float] = []
    for epoch, k in enumerate(jax.random.split(k_epochs, config.epochs), start=1):
        params, opt_state, loss = epoch_fn(params, opt_state, x_train, y_train, boot, k)
        losses.append(float(loss))
        if not validate:
            best_params, best_epoch = params, epoch
            continue
        mse = float(val_fn(params, x_val, y_val))
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
    report = TrainReport(
        train_loss=np.asarray(losses), val_mse=np.asarray(val_mses), initial_val_mse=initial,
        best_epoch=best_epoch, best_val_mse=best, early_stopped=stopped, num_train=num_train,
        num_val=num_val, val_indices=val_rows, seconds=time.perf_counter() - start,
    )
    return best_params, report


def validation_mse(
    params: EnsembleParams, normalizer: Normalizer, data: Transitions | ModelData,
    activation: str = "silu",
) -> float:
    """MSE of every member's mean delta on all of ``data``, averaged over members."""
    obs, actions, target = _check_data(data)
    obs_n, act_n = normalize_inputs(normalizer, jnp.asarray(obs), jnp.asarray(actions))
    x = jnp.concatenate([obs_n, act_n], axis=-1)
    return float(_mse(params, x, jnp.asarray(target, jnp.float32), obs.shape[1], activation))


@functools.lru_cache(maxsize=16)
def _compiled(
    config: TrainConfig, input_dim: int, batch: int
) -> tuple[optax.GradientTransformation, Callable, Callable]:
    """Optimizer and jitted epoch / validation functions, cached per config.

    ``input_dim`` is the model's observation-input size ``S'``: rows ``x: [.., S' + A]``
    are split there into observation and action.
    """
    optimizer = optax.chain(
        optax.add_decayed_weights(config.weight_decay, mask=_weights_mask),
        optax.adam(config.learning_rate),
    )
    activation, coef = config.activation, config.bound_coef

    def loss_fn(p: EnsembleParams, x: Array, y: Array) -> Array:
        return _loss(p, x[..., :input_dim], x[..., input_dim:], y, activation, coef)

    @jax.jit
    def epoch_fn(
        params: EnsembleParams, opt_state: optax.OptState, x: Array, y: Array, boot: Array,
        key: Array,
    ) -> tuple[EnsembleParams, optax.OptState, Array]:
        """One pass: ``x: [N_train, D]``, ``y: [N_train, S]``, ``boot: [E, N_train]``."""
        members, rows = boot.shape
        keys = jax.random.split(key, members)
        order = jax.vmap(jax.random.permutation)(keys, boot)  # each member reshuffles
        steps = rows // batch
        idx = jnp.swapaxes(order[:, : steps * batch].reshape(members, steps, batch), 0, 1)

        def step(
            carry: tuple[EnsembleParams, optax.OptState], rows_idx: Array
        ) -> tuple[tuple[EnsembleParams, optax.OptState], Array]:
            p, s = carry
            loss, grads = jax.value_and_grad(loss_fn)(p, x[rows_idx], y[rows_idx])
            updates, s = optimizer.update(grads, s, p)
            return (optax.apply_updates(p, updates), s), loss

        (params, opt_state), losses = jax.lax.scan(step, (params, opt_state), idx)
        return params, opt_state, jnp.mean(losses)

    @jax.jit
    def val_fn(params: EnsembleParams, x: Array, y: Array) -> Array:
        return _mse(params, x, y, input_dim, activation)

    return optimizer, epoch_fn, val_fn


def _mse(params: EnsembleParams, x: Array, y: Array, input_dim: int, activation: str) -> Array:
    """Mean over members of each member's MSE on all rows; ``x: [M, D]``, ``y: [M, S]``."""
    members = num_members(params)
    xe = jnp.broadcast_to(x, (members,) + x.shape)
    mean, _ = ensemble_apply(params, xe[..., :input_dim], xe[..., input_dim:], activation)
    return jnp.mean((mean - y) ** 2)


def _weights_mask(params: EnsembleParams) -> EnsembleParams:
    """Decay the weight matrices only (not biases or log-variance bounds)."""
    return EnsembleParams(
        weights=tuple(True for _ in params.weights),
        biases=tuple(False for _ in params.biases),
        max_logvar=False,
        min_logvar=False,
    )


def _check_data(data: Transitions | ModelData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(inputs, actions, targets)`` as float32 arrays, checked."""
    if isinstance(data, ModelData):
        return _check_model_data(data)
    if not isinstance(data, tuple | list) or len(data) != 3:
        raise ValueError("data: expected a tuple (obs [N, S], actions [N, A], next_obs [N, S])")
    obs, actions, next_obs = (np.asarray(a) for a in data)
    if obs.ndim != 2:
        raise ValueError(f"data.obs: expected shape [N, S], got {obs.shape}")
    if actions.ndim != 2 or actions.shape[0] != obs.shape[0]:
        raise ValueError(f"data.actions: expected shape [{obs.shape[0]}, A], got {actions.shape}")
    if next_obs.shape != obs.shape:
        raise ValueError(f"data.next_obs: expected shape {obs.shape}, got {next_obs.shape}")
    if obs.shape[0] < 1:
        raise ValueError("data: expected at least one transition, got 0")
    for name, a in (("obs", obs), ("actions", actions), ("next_obs", next_obs)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"data.{name}: expected finite values, got NaN or inf")
    target = next_obs.astype(np.float64) - obs.astype(np.float64)
    return obs.astype(np.float32), actions.astype(np.float32), target.astype(np.float32)


def _check_model_data(data: ModelData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    inputs, actions, targets = (np.asarray(a) for a in data)
    if inputs.ndim != 2 or inputs.shape[0] < 1:
        raise ValueError(f"data.inputs: expected shape [N, S'] with N >= 1, got {inputs.shape}")
    n = inputs.shape[0]
    if actions.ndim != 2 or actions.shape[0] != n:
        raise ValueError(f"data.actions: expected shape [{n}, A], got {actions.shape}")
    if targets.ndim != 2 or targets.shape[0] != n:
        raise ValueError(f"data.targets: expected shape [{n}, S], got {targets.shape}")
    for name, a in (("inputs", inputs), ("actions", actions), ("targets", targets)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"data.{name}: expected finite values, got NaN or inf")
    return inputs.astype(np.float32), actions.astype(np.float32), targets.astype(np.float32)


# ---------------------------------------------------------------------------- save / load


_NPZ_MAGIC = b"PK\x03\x04"  # an .npz file is a zip archive


def read_npz(path: str | os.PathLike[str], what: str = "array") -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` file ``path``, never unpickling anything.

    Raises:
        ValueError: naming ``path`` and ``what`` (e.g. ``"model"``), if the file is
            missing, not an ``.npz`` archive, damaged, or holds pickled objects.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no {what} file there")
    try:
        with path.open("rb") as fh:
            head = fh.read(len(_NPZ_MAGIC))
        if head != _NPZ_MAGIC:
            raise ValueError(f"{path}: corrupt {what} file (not an .npz archive)")
        with np.load(path, allow_pickle=False) as f:
            return {name: f[name] for name in f.files}
    except ValueError as err:
        if str(err).startswith(str(path)):
            raise
        if "pickle" in str(err):
            raise ValueError(f"{path}: corrupt {what} file (it holds pickled objects, "
                             "which cemgd never loads)") from None
        raise ValueError(f"{path}: corrupt {what} file ({err})") from None
    except (OSError, EOFError, KeyError, zipfile.BadZipFile) as err:
        raise ValueError(
            f"{path}: corrupt {what} file ({type(err).__name__}: {err})") from None


def model_arrays(params: EnsembleParams, normalizer: Normalizer) -> dict[str, np.ndarray]:
    """The arrays of a model file: params and normaliser as stored (float32, no pickles)."""
    arrays: dict[str, np.ndarray] = {
        "format": np.asarray(_FORMAT),
        "num_layers": np.asarray(len(params.weights), np.int64),
        "max_logvar": np.asarray(params.max_logvar),
        "min_logvar": np.asarray(params.min_logvar),
        "norm_mean": np.asarray(normalizer.mean),
        "norm_std": np.asarray(normalizer.std),
    }
    for i, (w, b) in enumerate(zip(params.weights, params.biases, strict=True)):
        arrays[f"weight_{i}"] = np.asarray(w)
        arrays[f"bias_{i}"] = np.asarray(b)
    return arrays


def write_model(fh: IO[bytes], params: EnsembleParams, normalizer: Normalizer) -> None:
    """Write params and normaliser as ``.npz`` into the open binary file ``fh``."""
    np.savez(fh, **model_arrays(params, normalizer))


def save_model(
    path: str | os.PathLike[str], params: EnsembleParams, normalizer: Normalizer
) -> None:
    """Write params and normaliser to ``path`` as a plain ``.npz`` (no pickles).

    The file is written exactly at ``path`` (no suffix added). Arrays are stored as they
    are (float32), so :func:`load_model` gives them back bit for bit. For a write that a
    crash cannot tear, write through :func:`cemgd.runs.write_atomic` with
    :func:`write_model` (as the PETS run folder does).
    """
    with Path(path).open("wb") as fh:
        write_model(fh, params, normalizer)


def load_model(path: str | os.PathLike[str]) -> tuple[EnsembleParams, Normalizer]:
    """Read what :func:`save_model` wrote.

    Raises:
        ValueError: naming ``path``, if the file is missing, not an ``.npz`` written by
            :func:`save_model`, or its arrays are inconsistent.
    """
    path = Path(path)
    f = read_npz(path, "model")
    if "format" not in f or str(f["format"]) != _FORMAT:
        raise ValueError(f"{path}: not a cemgd ensemble file ({_FORMAT})")
    try:
        layers = int(f["num_layers"])
        weights = tuple(jnp.asarray(f[f"weight_{i}"]) for i in range(layers))
        biases = tuple(jnp.asarray(f[f"bias_{i}"]) for i in range(layers))
        params = EnsembleParams(weights, biases, jnp.asarray(f["max_logvar"]),
                                jnp.asarray(f["min_logvar"]))
        normalizer = Normalizer(jnp.asarray(f["norm_mean"]), jnp.asarray(f["norm_std"]))
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: corrupt model file ({type(err).__name__}: {err})") from None
    _check_loaded(path, params, normalizer)
    return params, normalizer


def model_architecture(params: EnsembleParams) -> dict[str, Any]:
    """``num_members``, ``hidden``, ``num_layers`` (hidden layers), ``input_dim``,
    ``state_dim`` of an ensemble (to compare a checkpoint with a run's config)."""
    return {"num_members": int(params.weights[0].shape[0]),
            "hidden": int(params.weights[0].shape[2]),
            "num_layers": len(params.weights) - 1,
            "input_dim": int(params.weights[0].shape[1]),
            "state_dim": int(params.max_logvar.shape[0])}


def _check_loaded(path: Path, params: EnsembleParams, normalizer: Normalizer) -> None:
    ws, bs = params.weights, params.biases
    ok = len(ws) >= 2 and all(w.ndim == 3 for w in ws) and all(b.ndim == 3 for b in bs)
    if ok:
        members, state_dim = ws[0].shape[0], ws[-1].shape[2] // 2
        ok = all(w.shape[0] == members for w in ws) and ws[-1].shape[2] == 2 * state_dim
        ok = ok and all(a.shape[2] == b.shape[1] for a, b in zip(ws[:-1], ws[1:], strict=True))
        ok = ok and all(b.shape == (members, 1, w.shape[2]) for w, b in zip(ws, bs, strict=True))
        ok = ok and params.max_logvar.shape == params.min_logvar.shape == (state_dim,)
        ok = ok and normalizer.mean.shape == normalizer.std.shape == (ws[0].shape[1],)
    if not ok:
        raise ValueError(f"{path}: corrupt model file (inconsistent array shapes)")
    finite = all(bool(jnp.all(jnp.isfinite(a))) for a in jax.tree.leaves((params, normalizer)))
    if not finite:
        raise ValueError(f"{path}: corrupt model file (non-finite values)")

