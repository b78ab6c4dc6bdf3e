"""Split large rollout batches over the host's CPU devices.

XLA runs one batched rollout of ~100 rows on about one core; splitting the batch
over two CPU devices (``jax_num_cpu_devices``, set before JAX starts computing)
lets both cores work. Small batches (CEM-GD's k sequences, line-search trials)
stay on one device, where the split would cost more than it saves.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from cemgd.problem import Array, Rollout


def use_cpu_devices(count: int) -> int:
    """Ask JAX for ``count`` host CPU devices; call before the first JAX computation.

    Returns:
        The number of devices JAX then has (1 if JAX had already started, with a
        warning printed by JAX, or if the platform is not the CPU).
    """
    if count < 1:
        raise ValueError(f"count: expected an int >= 1, got {count}")
    try:
        jax.config.update("jax_num_cpu_devices", int(count))
    except RuntimeError:  # the backend is already up: keep what it has
        pass
    return jax.device_count()


def default_cpu_devices() -> int:
    """The number of cores, at most 8 (``cemgd bench --cpu-devices N`` chooses another)."""
    return max(1, min(8, os.cpu_count() or 1))


def shard_rollout(rollout: Rollout, min_batch: int = 64) -> Rollout:
    """Wrap ``rollout`` so batches of ``min_batch`` rows or more are split over devices.

    The batch is padded to a multiple of the device count (with copies of its first
    row, dropped again), evaluated with ``shard_map`` and gathered. The wrapped
    rollout must give each row a return that depends on that row alone (the
    contract of :class:`~cemgd.problem.Problem`); then the result equals the
    unsharded one. With one device it is ``rollout`` itself.

    Args:
        rollout: ``rollout(obs, actions: [B, T, A], key) -> returns: [B]``.
        min_batch: smallest batch that is split.
    """
    if min_batch < 1:
        raise ValueError(f"min_batch: expected an int >= 1, got {min_batch}")

    def sharded(obs: Array, actions: Array, key: Array) -> Array:
        devices = jax.devices()
        batch = actions.shape[0]
        if len(devices) == 1 or batch < min_batch:
            return rollout(obs, actions, key)
        pad = (-batch) % len(devices)
        if pad:
            filler = jnp.broadcast_to(actions[:1], (pad, *actions.shape[1:]))
            actions = jnp.concatenate([actions, filler], axis=0)
        mesh = Mesh(np.array(devices), ("batch",))
        split = jax.shard_map(
            rollout, mesh=mesh,
            in_specs=(PartitionSpec(), PartitionSpec("batch"), PartitionSpec()),
            out_specs=PartitionSpec("batch"), check_vma=False,
        )
        return split(obs, actions, key)[:batch]

    return sharded
