"""The minibatches of one epoch: ``floor(N / B)`` full ones, or mbrl-lib's ``ceil(N / B)``.

With ``TrainConfig.partial_batch`` an epoch runs ``ceil(N / B)`` minibatches, the last one
holding the ``N mod B`` rows left over (mbrl-lib's ``TransitionIterator``); its loss is the
mean over the rows it holds (:func:`batch_mask`, :func:`member_mean`). Without it every
minibatch is full and the leftover rows wait for the next epoch's shuffle. On a PETS buffer
that grows by 200 rows a trial with ``B = 256`` the partial one adds a step at every size
not a multiple of 256 (2 steps instead of 1 at 400 rows).

Shapes: ``E`` members, ``R`` padded rows, ``S`` predicted dims, ``B`` rows per minibatch.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array


def epoch_plan(order: Array, count: Array, batch: int, partial: bool) -> tuple[Array, Array]:
    """Minibatches in an epoch over ``count`` rows (``ceil(count / batch)`` with
    ``partial``, else ``floor``) and ``order: [E, R]``, padded by ``batch`` columns with
    ``partial`` (the last slice may run past the padded rows)."""
    if not partial:
        return count // batch, order
    return (count + batch - 1) // batch, jnp.pad(order, ((0, 0), (0, batch)))


def batch_mask(i: Array, batch: int, count: Array) -> Array:
    """``[B]``: which rows of minibatch ``i`` are real (the last partial one's tail is not)."""
    return i * batch + jnp.arange(batch) < count


def member_mean(nll: Array, mask: Array | None) -> Array:
    """``[E]``: ``nll: [E, B, S]`` averaged over the rows ``mask: [B]`` keeps (all if
    ``None``) and the dims."""
    if mask is None:
        return jnp.mean(nll, axis=(1, 2))
    w = mask.astype(nll.dtype)[None, :, None]
    return jnp.sum(nll * w, axis=(1, 2)) / (jnp.sum(w) * nll.shape[-1])
