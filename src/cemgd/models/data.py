"""Training rows of the ensemble: raw transitions or rows already in model space, checked."""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

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


def check_data(data: Transitions | ModelData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(inputs, actions, targets)`` as float32 arrays, checked."""
    if isinstance(data, ModelData):
        return check_model_data(data)
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


def check_model_data(data: ModelData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


#: Smallest row bucket; buckets double from there (see :func:`bucket_size`).
MIN_BUCKET = 64


def bucket_size(rows: int) -> int:
    """Rows the training arrays are padded to: the power of two >= ``rows`` (>= 64).

    Within a bucket the jitted epoch and validation functions are reused, so a PETS run
    whose data grows every trial compiles them about ``log2(N_final / N_first)`` times.
    """
    return max(MIN_BUCKET, 1 << max(0, int(rows) - 1).bit_length())


def pad_rows(a: np.ndarray, axis: int = 0) -> np.ndarray:
    """``a`` padded with zeros along ``axis`` to :func:`bucket_size` rows."""
    extra = bucket_size(a.shape[axis]) - a.shape[axis]
    widths = [(0, 0)] * a.ndim
    widths[axis] = (0, extra)
    return np.pad(a, widths)


@functools.partial(jax.jit, static_argnums=2)
def shuffled(key: Array, boot: Array, rows: int) -> Array:
    """Each member's bootstrap ``boot: [E, N]`` reshuffled, padded to ``[E, rows]``.

    Small, so compiling it for every ``N`` is cheap; the epoch that uses it is not.
    """
    keys = jax.random.split(key, boot.shape[0])
    order = jax.vmap(jax.random.permutation)(keys, boot)
    return jnp.pad(order, ((0, 0), (0, rows - boot.shape[1])))
