"""PETS-style probabilistic ensemble of MLPs, as pure functions over a params pytree.

Chua, Calandra, McAllister, Levine, "Deep Reinforcement Learning in a Handful of
Trials using Probabilistic Dynamics Models", NeurIPS 2018.

Each of the ``E`` members maps ``(obs, action)`` to a Gaussian over the
next-state *delta* ``next_obs - obs``: a mean and a log-variance per state
dimension. The members' weights are stacked on a leading axis, ``[E, in, out]``,
so one ``einsum`` runs all members at once on their own rows ``[E, B, in]``.
The log-variance is squashed softly between two learned bounds, ``min_logvar``
and ``max_logvar`` (PETS' softplus bounding), so it stays finite however far the
raw output drifts.

Shapes: ``S`` state dim, ``S'`` the size of the observation input (``S`` unless
the model sees a transformed observation, e.g. half-cheetah without its x position),
``A`` action dim, ``E`` members, ``B`` rows per member, ``H`` hidden width.
Training, input normalisation and reward heads live elsewhere (they only need
this forward and the pytree).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array

ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "silu": jax.nn.silu,
    "swish": jax.nn.silu,
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "elu": jax.nn.elu,
}


class EnsembleParams(NamedTuple):
    """Parameters of an ensemble (a pytree; optax can train it as it is).

    Attributes:
        weights: one array per layer, ``[E, in, out]``; the first has ``in = S' + A``,
            the last ``out = 2 * S`` (mean, then raw log-variance).
        biases: one array per layer, ``[E, 1, out]``.
        max_logvar: upper soft bound of the log-variance, ``[S]``.
        min_logvar: lower soft bound of the log-variance, ``[S]``.
    """

    weights: tuple[Array, ...]
    biases: tuple[Array, ...]
    max_logvar: Array
    min_logvar: Array


def init_ensemble(
    key: Array,
    obs_dim: int,
    action_dim: int,
    num_members: int = 5,
    hidden: int = 200,
    num_layers: int = 3,
    activation: str = "silu",
    input_dim: int | None = None,
) -> EnsembleParams:
    """Random ensemble parameters, initialised as in PETS.

    Weights are truncated normals with std ``1 / (2 sqrt(in))``, biases zero,
    ``max_logvar = 0.5`` and ``min_logvar = -10``.

    Args:
        key: PRNG key.
        obs_dim: state dimension ``S`` (>= 1).
        action_dim: action dimension ``A`` (>= 1).
        num_members: ensemble size ``E`` (>= 1).
        hidden: width ``H`` of each hidden layer (>= 1).
        num_layers: number of hidden layers (>= 1); the net has ``num_layers + 1``
            weight matrices.
        activation: name in :data:`ACTIVATIONS`. It is not stored in the params;
            pass the same name to :func:`ensemble_apply`.
        input_dim: size ``S'`` of the observation the model is given (>= 1; ``None``:
            ``obs_dim``). The first layer takes ``S' + A`` inputs; the last still
            outputs ``2 * obs_dim`` (the ``S``-dim delta's mean and log-variance).

    Raises:
        ValueError: a size < 1 or an unknown activation.
    """
    if input_dim is None:
        input_dim = obs_dim
    for name, value in (
        ("obs_dim", obs_dim), ("action_dim", action_dim), ("num_members", num_members),
        ("hidden", hidden), ("num_layers", num_layers), ("input_dim", input_dim),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: expected an int >= 1, got {value!r}")
    _activation(activation)
    sizes = (input_dim + action_dim,) + (hidden,) * num_layers + (2 * obs_dim,)
    return _init(key, sizes, num_members)


@partial(jax.jit, static_argnums=(1, 2))
def _init(key: Array, sizes: tuple[int, ...], num_members: int) -> EnsembleParams:
    """One compiled call for all layers (eager init compiles every op on its own)."""
    obs_dim = sizes[-1] // 2
    keys = jax.random.split(key, len(sizes) - 1)
    weights, biases = [], []
    for k, n_in, n_out in zip(keys, sizes[:-1], sizes[1:], strict=True):
        std = 1.0 / (2.0 * n_in**0.5)
        w = std * jax.random.truncated_normal(k, -2.0, 2.0, (num_members, n_in, n_out))
        weights.append(w.astype(jnp.float32))
        biases.append(jnp.zeros((num_members, 1, n_out), jnp.float32))
    return EnsembleParams(
        weights=tuple(weights),
        biases=tuple(biases),
        max_logvar=jnp.full((obs_dim,), 0.5, jnp.float32),
        min_logvar=jnp.full((obs_dim,), -10.0, jnp.float32),
    )


def ensemble_apply(
    params: EnsembleParams, obs: Array, actions: Array, activation: str = "silu"
) -> tuple[Array, Array]:
    """Predict the next-state delta of every member on its own rows.

    Args:
        params: from :func:`init_ensemble`.
        obs: ``[E, B, S']``, the model's observation input (member ``e`` sees ``obs[e]``).
        actions: ``[E, B, A]``.
        activation: the name used at init.

    Returns:
        ``(mean: [E, B, S], logvar: [E, B, S])`` of ``next_obs - obs``; ``logvar``
        lies in ``(min_logvar, max_logvar)``.
    """
    act = _activation(activation)
    x = jnp.concatenate([obs, actions], axis=-1)
    last = len(params.weights) - 1
    for i, (w, b) in enumerate(zip(params.weights, params.biases, strict=True)):
        x = jnp.einsum("ebi,eio->ebo", x, w) + b
        if i < last:
            x = act(x)
    mean, raw_logvar = jnp.split(x, 2, axis=-1)
    logvar = params.max_logvar - jax.nn.softplus(params.max_logvar - raw_logvar)
    logvar = params.min_logvar + jax.nn.softplus(logvar - params.min_logvar)
    return mean, logvar


def num_members(params: EnsembleParams) -> int:
    """Ensemble size ``E``."""
    return int(params.weights[0].shape[0])


def forward_flops(params: EnsembleParams) -> int:
    """Matmul FLOPs of one member's forward on one row (``2 * in * out`` per layer).

    Activations, bias adds and the log-variance bounding are left out; they are a
    few percent at the paper's sizes.
    """
    return sum(2 * int(w.shape[1]) * int(w.shape[2]) for w in params.weights)


def _activation(name: str) -> Callable[[Array], Array]:
    if name not in ACTIVATIONS:
        raise ValueError(f"activation: expected one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]
