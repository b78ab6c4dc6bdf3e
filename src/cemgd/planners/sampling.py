"""The sample -> score -> update loop every sampling planner runs (hydrax's pattern).

An algorithm says how it samples (:meth:`SamplingAlgorithm.sample`) and how it moves its
sampling distribution (:meth:`SamplingAlgorithm.update`); the loop (:func:`search`) owns
the ``lax.scan`` over iterations, the evaluation of every batch through
:func:`cemgd.planners.chunking.score` (the one place rollouts are counted; chunked to save
memory, with the result of one call), the ranking, and the archive of the ``top_k`` best
sequences seen. ``cem``, ``cem-gd``'s CEM stage (:mod:`cemgd.planners.loop`), ``gradcem``,
``icem``, ``mppi`` and ``random-shooting`` are algorithms of this loop; none of them
writes its own.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp

from cemgd.planners.chunking import Rows, rows, score, score_top_k
from cemgd.problem import Array, Info, Problem


class Draw(NamedTuple):
    """One iteration's batch, as an algorithm samples it.

    Attributes:
        actions: ``[n, T, A]``, or :class:`~cemgd.planners.chunking.Rows` made chunk by chunk.
        cost: what making the batch counted: ``num_samples`` (sequences drawn from the
            distribution) and any work spent on them (GradCEM's gradient rollouts).
        valid: optional ``[n]`` bool: rows that are part of the population; the others
            are evaluated but rank last and are not counted (iCEM's population decay).
    """

    actions: Array | Rows
    cost: Info
    valid: Array | None = None


class Ranked(NamedTuple):
    """An evaluated batch, handed to :meth:`SamplingAlgorithm.update`.

    Attributes:
        idx: rows of the ``num_ranked`` best, best first, ``[K]``.
        returns: their returns, ``[K]``.
        draw: the whole batch.
        all_returns: every row's return, ``[n]`` (``-inf``: not finite or not valid);
            ``None`` for a batch of :class:`~cemgd.planners.chunking.Rows`, which is ranked chunk by
            chunk (:func:`~cemgd.planners.chunking.score_top_k`) and never held whole.
    """

    idx: Array
    returns: Array
    draw: Draw
    all_returns: Array | None

    def actions(self, count: int) -> Array:
        """The ``count`` best rows, ``[count, T, A]`` (made again if the batch is Rows)."""
        return rows(self.draw.actions, self.idx[:count])


class SamplingAlgorithm(Protocol):
    """What a sampling planner supplies to :func:`search`; ``dist`` is any pytree."""

    #: rows of every batch ranked and handed to ``update`` (static, >= 1).
    num_ranked: int

    def sample(self, dist: Any, key: Array, x: Any) -> Draw:
        """One iteration's batch from ``dist`` (``x``: the iteration's slice of ``xs``)."""
        ...

    def update(self, dist: Any, ranked: Ranked, x: Any) -> tuple[Any, Array, Array]:
        """``(next dist, candidates [c, T, A], their returns [c])`` for the archive."""
        ...


class Search(NamedTuple):
    """Result of :func:`search`: the archive (best first), the final distribution, counts,
    and ``eval_key``, the rollout key of every evaluation (to score more candidates on the
    same common random numbers)."""

    top_actions: Array
    top_returns: Array
    dist: Any
    info: Info
    eval_key: Array


def empty_archive(mean: Array, top_k: int) -> tuple[Array, Array]:
    """An archive of ``top_k`` placeholders (``mean: [T, A]``, return ``-inf``)."""
    return jnp.broadcast_to(mean, (top_k, *mean.shape)), jnp.full((top_k,), -jnp.inf, jnp.float32)


def search(
    problem: Problem, obs: Array, key: Array, eval_key: Array, algorithm: SamplingAlgorithm,
    dist: Any, num_iterations: int, archive: tuple[Array, Array], max_batch: int | None,
    tally: Info | None = None, xs: Any = None, split: bool = True,
) -> Search:
    """Run ``num_iterations`` of sample, evaluate, rank, update, as one ``lax.scan``.

    Args:
        key: sampling key (split into one key per iteration); eval_key: the rollout key of
            every evaluation (common random numbers).
        archive: ``(actions [k, T, A], returns [k])``: the best seen so far; every
            iteration's candidates from ``update`` are merged in (:func:`merge_top_k`).
        max_batch: sequences evaluated at a time (static; ``None``: all).
        tally: counters so far; every batch is counted through
            :func:`~cemgd.planners.chunking.score`.
        xs: per-iteration inputs (leading axis ``num_iterations``) or ``None``.
        split: ``False``: ``key`` is already one key per iteration (leading axis).
    """
    tally = (tally or Info()).as_arrays()

    def body(carry: tuple, inp: tuple) -> tuple[tuple, None]:
        dist, top_actions, top_returns, tally = carry
        step_key, x = inp
        draw = algorithm.sample(dist, step_key, x)
        tally = tally.merge(draw.cost)
        if isinstance(draw.actions, Rows):  # never all at once: a running top-k
            best, idx, tally = score_top_k(tally, problem, obs, draw.actions, eval_key,
                                           algorithm.num_ranked, valid=draw.valid,
                                           max_batch=max_batch)
            returns = None
        else:
            returns, tally = score(tally, problem, obs, draw.actions, eval_key,
                                   valid=draw.valid, max_batch=max_batch)
            best, idx = jax.lax.top_k(returns, algorithm.num_ranked)
        ranked = Ranked(idx, best, draw, returns)
        dist, cand_actions, cand_returns = algorithm.update(dist, ranked, x)
        top_actions, top_returns = merge_top_k(top_actions, top_returns, cand_actions,
                                               cand_returns)
        return (dist, top_actions, top_returns, tally), None

    keys = jax.random.split(key, num_iterations) if split else key
    (dist, top_actions, top_returns, tally), _ = jax.lax.scan(
        body, (dist, *archive, tally), (keys, xs)
    )
    return Search(top_actions, top_returns, dist, tally, eval_key)


def merge_top_k(
    best_actions: Array, best_returns: Array, actions: Array, returns: Array
) -> tuple[Array, Array]:
    """Keep the ``k`` best of a running top-k set and a new batch.

    Args:
        best_actions: ``[k, T, A]``; best_returns: ``[k]``.
        actions: ``[B, T, A]``; returns: ``[B]``.

    Returns:
        ``(best_actions: [k, T, A], best_returns: [k])``, best first.
    """
    k = best_returns.shape[0]
    all_returns = jnp.concatenate([best_returns, returns])
    top_returns, idx = jax.lax.top_k(all_returns, k)
    return jnp.concatenate([best_actions, actions])[idx], top_returns


def uniform_sequences(key: Array, problem: Problem, num: int) -> Array:
    """``num`` action sequences drawn uniformly in the box, ``[num, T, A]``."""
    shape = (num, problem.horizon, problem.action_dim)
    return jax.random.uniform(
        key, shape, jnp.float32, minval=problem.action_low, maxval=problem.action_high
    )
