"""Scores of an ensemble's mean predictions: the MSE averaged over members, and per member.

:func:`~cemgd.models.train.train_ensemble` ranks its members by :func:`member_mse`
(PETS' elites) and stops early on :func:`mean_mse`. Shapes: ``E`` members, ``R`` rows,
``D`` model inputs, ``S`` predicted dims.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from cemgd.models.data import ModelData, Transitions, check_data
from cemgd.models.normalizer import Normalizer, normalize_inputs
from cemgd.models.protocol import EnsembleModel, MLPEnsemble, resolve_model

Array = jax.Array


def validation_mse(
    params: Any, normalizer: Normalizer, data: Transitions | ModelData,
    activation: str = "silu", model: EnsembleModel | None = None,
) -> float:
    """MSE of every member's mean delta on all of ``data``, averaged over members
    (``model``: as in :func:`~cemgd.models.train.train_ensemble`)."""
    model = resolve_model(model, lambda: MLPEnsemble(activation=activation))
    obs, actions, target = check_data(data)
    obs_n, act_n = normalize_inputs(normalizer, jnp.asarray(obs), jnp.asarray(actions))
    x = jnp.concatenate([obs_n, act_n], axis=-1)
    return float(mean_mse(model, params, x, jnp.asarray(target, jnp.float32)))


@functools.partial(jax.jit, static_argnums=0)
def member_mse(model: EnsembleModel, params: Any, x: Array, y: Array, mask: Array) -> Array:
    """``[E]``: each member's MSE on the rows of ``x: [R, D]``, ``y: [R, S]`` that
    ``mask: [R]`` keeps."""
    mean, _ = model.predict(params, jnp.broadcast_to(x, (model.num_members(params),) + x.shape))
    w = mask.astype(mean.dtype)[None, :, None]
    return jnp.sum((mean - y) ** 2 * w, axis=(1, 2)) / (jnp.sum(w) * y.shape[-1])


def mean_mse(model: EnsembleModel, params: Any, x: Array, y: Array,
             mask: Array | None = None) -> Array:
    """Mean over members of each member's MSE on the rows ``mask`` keeps (all by default);
    ``x: [M, D]``, ``y: [M, S]``, ``mask: [M]``."""
    members = model.num_members(params)
    mean, _ = model.predict(params, jnp.broadcast_to(x, (members,) + x.shape))
    err = (mean - y) ** 2
    if mask is None:
        return jnp.mean(err)
    weights = mask.astype(err.dtype)[None, :, None]
    return jnp.sum(err * weights) / (jnp.sum(weights) * members * y.shape[-1])
