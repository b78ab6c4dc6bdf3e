"""Input normaliser of the ensemble: per-feature mean and std of ``[obs, action]``.

The statistics are computed once, in float64 numpy (a float32 running sum over
hundreds of thousands of transitions loses digits), and stored as float32 arrays
in a :class:`Normalizer` NamedTuple, a pytree that is saved beside the ensemble
params (:func:`cemgd.models.train.save_model`). Inside JAX the inputs are
normalised in float32: ``(x - mean) / std``.

A trained ensemble expects normalised inputs. Either call :func:`normalized_apply`,
or fold the normaliser into the first layer with :func:`fold_normalizer`, which
returns plain :class:`EnsembleParams` that take raw inputs, so
:func:`cemgd.models.make_rollout` works on them unchanged (and the planner's hot
path pays nothing for normalisation).

Shapes: ``S`` state dim, ``A`` action dim, ``N`` transitions, ``D = S + A``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from cemgd.models.ensemble import EnsembleParams, ensemble_apply

Array = jax.Array

#: A feature whose std is below this is left unscaled (std set to 1).
MIN_STD = 1e-6


class Normalizer(NamedTuple):
    """Per-feature statistics of the model inputs ``[obs, action]`` (a pytree).

    Attributes:
        mean: ``[D]`` float32, ``D = S + A`` (observation features first).
        std: ``[D]`` float32, every entry >= :data:`MIN_STD` (tiny stds replaced by 1).
    """

    mean: Array
    std: Array


def fit_normalizer(obs: np.ndarray | Array, actions: np.ndarray | Array) -> Normalizer:
    """Mean and std of ``[obs, actions]`` over the rows, computed in float64.

    Args:
        obs: ``[N, S]``, ``N >= 1``.
        actions: ``[N, A]``.

    Returns:
        A :class:`Normalizer`; features with std < :data:`MIN_STD` (constant
        inputs) get std 1, so they are only centred.

    Raises:
        ValueError: wrong ranks, mismatched ``N``, no rows, or non-finite values.
    """
    x = _inputs(obs, actions)
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std = np.where(std < MIN_STD, 1.0, std)
    return Normalizer(mean=jnp.asarray(mean, jnp.float32), std=jnp.asarray(std, jnp.float32))


def identity_normalizer(obs_dim: int, action_dim: int) -> Normalizer:
    """The normaliser that leaves inputs unchanged (mean 0, std 1), ``D = S + A``."""
    dim = obs_dim + action_dim
    return Normalizer(mean=jnp.zeros((dim,), jnp.float32), std=jnp.ones((dim,), jnp.float32))


def normalize_inputs(normalizer: Normalizer, obs: Array, actions: Array) -> tuple[Array, Array]:
    """Normalise in float32: ``obs: [..., S]``, ``actions: [..., A]`` -> the same shapes."""
    state_dim = obs.shape[-1]
    mean = normalizer.mean.astype(jnp.float32)
    std = normalizer.std.astype(jnp.float32)
    obs_n = (obs.astype(jnp.float32) - mean[:state_dim]) / std[:state_dim]
    act_n = (actions.astype(jnp.float32) - mean[state_dim:]) / std[state_dim:]
    return obs_n, act_n


def normalized_apply(
    params: EnsembleParams, normalizer: Normalizer, obs: Array, actions: Array,
    activation: str = "silu",
) -> tuple[Array, Array]:
    """:func:`ensemble_apply` on normalised inputs; raw ``obs: [E, B, S]``, ``actions: [E, B, A]``.

    Returns:
        ``(mean: [E, B, S], logvar: [E, B, S])`` of the raw (unnormalised) state delta.
    """
    obs_n, act_n = normalize_inputs(normalizer, obs, actions)
    return ensemble_apply(params, obs_n, act_n, activation)


def fold_normalizer(params: EnsembleParams, normalizer: Normalizer) -> EnsembleParams:
    """Params that take raw inputs and compute what ``normalized_apply`` computes.

    ``W' = W / std[:, None]`` and ``b' = b - (mean / std) @ W`` for the first layer;
    equal to :func:`normalized_apply` up to float32 rounding.

    Raises:
        ValueError: the normaliser's ``D`` differs from the first layer's input size.
    """
    w0, b0 = params.weights[0], params.biases[0]
    if normalizer.mean.shape != (w0.shape[1],) or normalizer.std.shape != (w0.shape[1],):
        raise ValueError(
            f"normalizer: expected mean and std of shape ({w0.shape[1]},), got "
            f"{tuple(normalizer.mean.shape)} and {tuple(normalizer.std.shape)}"
        )
    scale = (1.0 / normalizer.std).astype(w0.dtype)
    shift = (normalizer.mean * scale).astype(w0.dtype)
    w = w0 * scale[None, :, None]
    b = b0 - jnp.einsum("i,eio->eo", shift, w0)[:, None, :]
    return params._replace(weights=(w,) + tuple(params.weights[1:]),
                           biases=(b,) + tuple(params.biases[1:]))


def _inputs(obs: np.ndarray | Array, actions: np.ndarray | Array) -> np.ndarray:
    """``[obs, actions]`` as one float64 ``[N, S + A]`` array, checked."""
    o = np.asarray(obs, np.float64)
    a = np.asarray(actions, np.float64)
    if o.ndim != 2:
        raise ValueError(f"obs: expected shape [N, S], got {o.shape}")
    if a.ndim != 2:
        raise ValueError(f"actions: expected shape [N, A], got {a.shape}")
    if o.shape[0] != a.shape[0]:
        raise ValueError(f"actions: expected {o.shape[0]} rows like obs, got {a.shape[0]}")
    if o.shape[0] < 1:
        raise ValueError("obs: expected at least one row, got 0")
    x = np.concatenate([o, a], axis=1)
    if not np.all(np.isfinite(x)):
        raise ValueError("obs/actions: expected finite values, got NaN or inf")
    return x
