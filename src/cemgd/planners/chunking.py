"""Memory-saving evaluation: batches scored chunk by chunk, never held whole.

A planner that samples many sequences (CEM-GD's first step: 3000 per iteration) scores
them here: :func:`score` evaluates and counts a batch in chunks of at most ``max_batch``
rows (:func:`map_chunks`); a batch of :class:`Rows` is made chunk by chunk, and
:func:`score_top_k` merges the chunks into a running top ``k`` as they are scored;
:func:`moments` takes elite means and variances block by block. Every function here
gives the result of one unchunked call; only compiled memory depends on the chunk size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from cemgd.problem import Array, Info, Problem, Rollout, check_returns, finite_or_neg_inf, i32
from cemgd.validate import check_int

#: Rows of rollout work (sequences x ``Problem.rollout_rows``) in the sampling planners'
#: default chunk (``max_batch=None``): 100 sequences at the paper's 20 particles, 2000 at
#: one (the trade-off of memory against speed: docs/results/bench/README.md).
DEFAULT_CHUNK_ROWS = 2000


def chunk_size(max_batch: int | None, problem: Problem) -> int:
    """Sequences a sampling planner rolls out at a time: ``max_batch``, or for ``None``
    ``DEFAULT_CHUNK_ROWS // problem.rollout_rows`` (at least 1)."""
    if max_batch is not None:
        return max_batch
    return max(1, DEFAULT_CHUNK_ROWS // problem.rollout_rows)


def check_max_batch(value: Any) -> None:
    """Raise ValueError unless ``max_batch`` is ``None`` or an int >= 1."""
    if value is not None:
        check_int("max_batch", value)


def map_chunks(fn: Callable[[Array], Any], x: Array, max_batch: int | None) -> Any:
    """``fn`` over chunks of at most ``max_batch`` rows of ``x: [B, ...]`` (one ``lax.map``).

    ``fn`` maps ``[b, ...]`` to a pytree of ``[b, ...]`` arrays, row by row (row ``i`` of
    the output depends only on row ``i`` of the input). The ``B`` rows are split into
    ``ceil(B / max_batch)`` chunks of equal size (the last row repeated as padding, its
    outputs dropped), so compiled memory scales with ``max_batch``, not ``B``. ``None``
    or ``B <= max_batch``: one call.
    """
    b = x.shape[0]
    if max_batch is None or b <= max_batch:
        return fn(x)
    n, size = chunk_layout(b, max_batch)
    pad = n * size - b
    if pad:
        x = jnp.concatenate([x, jnp.broadcast_to(x[-1:], (pad, *x.shape[1:]))])
    out = jax.lax.map(fn, x.reshape(n, size, *x.shape[1:]))
    return jax.tree.map(lambda o: o.reshape(n * size, *o.shape[2:])[:b], out)


def chunk_layout(b: int, max_batch: int | None) -> tuple[int, int]:
    """``(chunks, size)``: ``b`` rows in the fewest equal chunks of at most ``max_batch``
    (``None``: one chunk of ``b``); the last chunk is padded to ``size``."""
    chunks = 1 if max_batch is None or b <= max_batch else -(-b // max_batch)
    return chunks, -(-b // chunks)


class Rows(NamedTuple):
    """``num`` action sequences made on demand, chunk by chunk: ``make(ids: [b]) -> [b, T, A]``.

    Row ``i`` of the output must depend only on ``ids[i]`` (e.g. a sample drawn with
    ``jax.random.fold_in(key, i)``), so a batch evaluated in chunks never holds all
    ``num`` sequences at once and gives the same rows as one call.
    """

    make: Callable[[Array], Array]
    num: int


def evaluate(
    problem: Problem, obs: Array, actions: Array | Rows, key: Array, gradient: bool = False,
    max_batch: int | None = None, rollout: Rollout | None = None,
) -> tuple[Array, Array]:
    """Roll out ``actions: [B, T, A]`` and sanitise: ``(returns: [B], num_nonfinite)``.

    ``gradient=True`` scores with :attr:`Problem.rollout_for_gradient` (what gradient
    steps climb) instead of ``problem.rollout``. ``max_batch`` evaluates at most that
    many sequences at a time (:func:`map_chunks`); since ``returns[i]`` depends only on
    ``actions[i]`` and every chunk uses ``key``, the returns are those of one call.
    ``actions`` may be :class:`Rows` (made chunk by chunk, never all at once).
    ``rollout`` replaces the problem's (e.g. a planner's gradient objective). Per-particle
    returns ``[B, P]`` (a ``grad_rollout`` may give them) are averaged over particles.
    Planners count what they evaluate with :func:`score`, which calls this.
    """
    score_rows = _row_scorer(problem, obs, key, gradient, rollout)
    if isinstance(actions, Rows):
        ids = jnp.arange(actions.num, dtype=jnp.int32)
        returns = map_chunks(lambda i: score_rows(actions.make(i)), ids, max_batch)
    else:
        returns = map_chunks(score_rows, actions, max_batch)
    return finite_or_neg_inf(returns)


def _row_scorer(
    problem: Problem, obs: Array, key: Array, gradient: bool, rollout: Rollout | None
) -> Callable[[Array], Array]:
    """``actions [b, T, A] -> returns [b]`` (f32; per-particle returns averaged)."""
    per_particle_ok = gradient or rollout is not None
    if rollout is None:
        rollout = problem.rollout_for_gradient if gradient else problem.rollout

    def score_rows(a: Array) -> Array:
        r = check_returns(rollout(obs, a, key), a.shape[0], per_particle_ok)
        r = jnp.reshape(r, (a.shape[0], -1)).astype(jnp.float32)
        return r[:, 0] if r.shape[1] == 1 else jnp.mean(r, axis=1)

    return score_rows


def score(
    tally: Info, problem: Problem, obs: Array, actions: Array | Rows, key: Array, *,
    valid: Array | None = None, max_batch: int | None = None, rollout: Rollout | None = None,
) -> tuple[Array, Info]:
    """Evaluate a batch and count it: the one place planners score sequences.

    Args:
        tally: the counters so far; ``num_rollouts`` and ``num_nonfinite`` grow by the
            batch's (valid) rows and their non-finite returns.
        actions: ``[B, T, A]`` or :class:`Rows`.
        valid: optional ``[B]`` bool: rows that count (the others are computed, given
            ``-inf`` and not counted; e.g. iCEM's padded population).
        max_batch, rollout: as in :func:`evaluate`.

    Returns:
        ``(returns: [B], tally)``; non-finite returns are ``-inf``.
    """
    returns, bad = evaluate(problem, obs, actions, key, max_batch=max_batch, rollout=rollout)
    if valid is None:
        num = actions.num if isinstance(actions, Rows) else actions.shape[0]
        return returns, tally.add(num_rollouts=num, num_nonfinite=bad)
    returns = jnp.where(valid, returns, -jnp.inf)
    counted = tally.add(num_rollouts=jnp.sum(valid),
                        num_nonfinite=jnp.sum(valid & ~jnp.isfinite(returns)))
    return returns, counted


def score_top_k(
    tally: Info, problem: Problem, obs: Array, actions: Rows, key: Array, k: int, *,
    valid: Array | None = None, max_batch: int | None = None,
) -> tuple[Array, Array, Info]:
    """:func:`score` a batch of :class:`Rows` keeping only its ``k`` best rows.

    Equal to ``jax.lax.top_k`` of :func:`score`'s returns (the same order of floats,
    signed zeros included; ties: the lower row first; non-finite and invalid rows
    ``-inf``), and counted the same, but the chunks of at most ``max_batch`` rows are
    merged into a running top ``k`` as they are scored, so no rollout of size ``B`` is
    held: compiled memory is one chunk's rollout plus ``[k + max_batch]`` for the merge.

    Args:
        actions: the ``B = actions.num`` sequences, made chunk by chunk.
        k: rows kept, ``1 <= k <= B``.
        valid: optional ``[B]`` bool, as in :func:`score`.
        max_batch: rows scored at a time (``None``: all).

    Returns:
        ``(returns: [k], idx: [k], tally)``, best first.

    Raises:
        ValueError: ``k`` outside ``[1, B]``.
    """
    n = actions.num
    if not 1 <= k <= n:
        raise ValueError(f"k: expected 1 <= k <= {n} (the rows scored), got {k}")
    chunks, size = chunk_layout(n, max_batch)
    score_rows = _row_scorer(problem, obs, key, False, None)

    def chunk(carry: tuple, c: Array) -> tuple[tuple, None]:
        best, idx, bad, counted = carry
        ids = c * size + jnp.arange(size, dtype=jnp.int32)
        real = ids < n
        ids = jnp.minimum(ids, n - 1)
        ok = real if valid is None else real & valid[ids]
        r = score_rows(actions.make(ids))
        finite = jnp.isfinite(r)
        r = jnp.where(ok & finite, r, -jnp.inf)
        # rank by return, then row: -inf placeholders (rows n + j) sort after every row
        returns = jnp.concatenate([best, r])
        _, order, top = jax.lax.sort(
            (_descending(returns), jnp.concatenate([idx, jnp.where(real, ids, n + k)]),
             returns), num_keys=2)
        return (top[:k], order[:k], bad + i32(jnp.sum(ok & ~finite)),
                counted + i32(jnp.sum(ok))), None

    init = (jnp.full((k,), -jnp.inf, jnp.float32), n + jnp.arange(k, dtype=jnp.int32),
            i32(0), i32(0))
    (best, idx, bad, counted), _ = jax.lax.scan(chunk, init, jnp.arange(chunks))
    return best, idx, tally.add(num_rollouts=counted, num_nonfinite=bad)


def _descending(x: Array) -> Array:
    """An int32 sort key of ``x: [n]`` f32, ascending as ``x`` descends, in ``lax.top_k``'s
    order of floats (``-0.0`` below ``0.0``, subnormals apart from zero; no NaN)."""
    b = jax.lax.bitcast_convert_type(x, jnp.int32)
    return ~jnp.where(b < 0, b ^ 0x7FFFFFFF, b)


def rows(actions: Array | Rows, idx: Array) -> Array:
    """Rows ``idx: [K]`` of a batch, ``[K, T, A]`` (made again for :class:`Rows`)."""
    return actions.make(idx) if isinstance(actions, Rows) else actions[idx]



#: Elites whose mean and variance are taken in one block; more are made again block by
#: block (:func:`moments`), so compiled memory does not grow with the number of elites.
MOMENT_BLOCK = 32


def moments(actions: Array | Rows, idx: Array) -> tuple[Array, Array]:
    """Mean and (population) variance over rows ``idx: [K]`` of a batch, ``[T, A]`` each.

    Up to :data:`MOMENT_BLOCK` rows: ``jnp.mean``/``jnp.var`` of them. More (CEM-GD's
    first step keeps 300 elites per iteration) and a batch of :class:`Rows`: two passes
    over blocks of that size (the mean, then the squared deviations), each block made
    again, never all ``K`` at once. The block size is fixed, so the result does not
    depend on ``max_batch``.
    """
    k = idx.shape[0]
    if k <= MOMENT_BLOCK or not isinstance(actions, Rows):
        elites = rows(actions, idx)
        return jnp.mean(elites, axis=0), jnp.var(elites, axis=0)
    n = -(-k // MOMENT_BLOCK)
    padded = jnp.concatenate([idx, jnp.broadcast_to(idx[-1:], (n * MOMENT_BLOCK - k,))])
    blocks = padded.reshape(n, MOMENT_BLOCK)
    weight = (jnp.arange(n * MOMENT_BLOCK) < k).reshape(n, MOMENT_BLOCK, 1, 1)

    def total(center: Array | None) -> Array:
        def add(acc: Array, block: tuple[Array, Array]) -> tuple[Array, None]:
            ids, w = block
            x = actions.make(ids)
            x = x if center is None else (x - center) ** 2
            return acc + jnp.sum(jnp.where(w, x, 0.0), axis=0), None

        shape = jax.eval_shape(actions.make, blocks[0]).shape[1:]
        return jax.lax.scan(add, jnp.zeros(shape, jnp.float32), (blocks, weight))[0]

    mean = total(None) / k
    return mean, total(mean) / k

