"""The CEM stage and the sampling loop every sampling planner runs.

:func:`cem_stage` is the Cross-Entropy Method (CEM-GD paper, Eq. 2) with the settings
every CEM-based planner shares (:class:`CEMSettings`): ``cem``, ``cem-gd``'s first stage
and ``gradcem`` run it. It is :class:`CEMAlgorithm` (truncated-normal samples around a
:class:`Gaussian`, the elites' moving average) on the loop below.

hydrax's pattern: an algorithm says how it samples (:meth:`SamplingAlgorithm.sample`)
and how it moves its sampling distribution (:meth:`SamplingAlgorithm.update`); the
loop (:func:`search`) owns the ``lax.scan`` over iterations, the evaluation of every
batch through :func:`cemgd.planners.chunking.score` (the one place rollouts are counted;
chunked to save memory, with the result of one call), the ranking, and the archive of
the ``top_k`` best sequences seen. ``cem``, ``cem-gd``'s CEM stage, ``gradcem``,
``icem``, ``mppi`` and ``random-shooting`` are algorithms of this loop; none of them
writes its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, Protocol

import jax
import jax.numpy as jnp

from cemgd.planners.base import WarmFill, check_warm_fill, half_range, num_elites_for
from cemgd.planners.chunking import (
    Rows,
    check_max_batch,
    chunk_size,
    map_chunks,
    moments,
    rows,
    score,
    score_top_k,
)
from cemgd.problem import Array, Info, Problem
from cemgd.validate import check_int, check_range

Truncation = Literal["box", "pets"]


@dataclass(frozen=True)
class CEMSettings:
    """The CEM settings every CEM-based planner shares (``cem``, ``cem-gd``, ``gradcem``,
    ``icem``); each adds how many sequences it samples."""

    num_iterations: int = 5
    """CEM iterations per planning step (m)."""
    elite_ratio: float = 0.1
    """Fraction of each iteration's samples kept as elites (at least one)."""
    alpha: float = 0.9
    """Weight of the elites' mean and variance in the moving average (Eq. 2)."""
    init_std: float = 0.5
    """Initial std in half-widths of the action box (0.5: PETS' var = width^2 / 16)."""
    truncation: Truncation = "pets"
    """'pets': PETS' std cap near bounds (the paper's code); 'box': normal cut to the box."""
    warm_fill: WarmFill = "last"
    """Last step of the next step's warm start: 'last' repeats the plan's last action (the
    CEM-GD paper); 'initial' starts it at the initial mean, the box centre (PETS' code,
    mbrl-lib)."""
    max_batch: int | None = None
    """Sequences rolled out at a time; larger batches run in chunks (same result, less
    memory). ``None``: 2000 rows of rollout work a chunk, ``2000 // Problem.rollout_rows``
    sequences (100 at 20 particles; ``DEFAULT_CHUNK_ROWS``)."""

    def __post_init__(self) -> None:
        parent = getattr(super(), "__post_init__", None)
        if parent is not None:  # the other base of a composed config (cem-gd's gradient stage)
            parent()
        check_int("num_iterations", self.num_iterations)
        check_range("elite_ratio", self.elite_ratio, 0.0, 1.0, low_open=True)
        check_range("alpha", self.alpha, 0.0, 1.0, low_open=True)
        check_range("init_std", self.init_std, 0.0, float("inf"), low_open=True)
        check_truncation(self.truncation)
        check_warm_fill(self.warm_fill)
        check_max_batch(self.max_batch)


def cem_stage(
    problem: Problem, obs: Array, key: Array, mean: Array, config: CEMSettings, num_samples: int,
    top_k: int = 1, refine: Any = None, refine_cost: Info | None = None,
) -> Search:
    """CEM with ``config``'s settings from ``mean: [T, A]``: ``num_samples`` per iteration,
    the ``top_k`` best sequences kept (cem, cem-gd's CEM stage, gradcem with ``refine``).

    ``key`` is split into the sampling key and the rollout key of every evaluation; the
    result carries the latter (``Search.eval_key``), and ``refine`` is given it.
    """
    sample_key, eval_key = jax.random.split(key)
    std = jnp.broadcast_to(config.init_std * half_range(problem), mean.shape)
    max_batch = chunk_size(config.max_batch, problem)
    algorithm = CEMAlgorithm(
        problem, num_samples, num_elites_for(num_samples, config.elite_ratio), config.alpha,
        top_k, config.truncation, max_batch, refine, refine_cost or Info(), eval_key,
    )
    return search(problem, obs, sample_key, eval_key, algorithm, Gaussian(mean, std),
                  config.num_iterations, empty_archive(mean, top_k), max_batch)


def final_mean(problem: Problem, obs: Array, found: Search) -> tuple[Array, Array, Info]:
    """``(mean [1, T, A], its return [1], tally)``: the mean of :func:`cem_stage`'s final
    distribution (clipped to the box), evaluated under the stage's rollout key
    (``found.eval_key``) and counted."""
    mean = problem.clip(found.dist.mean)[None]
    returns, tally = score(found.info, problem, obs, mean, found.eval_key)
    return mean, returns, tally


class Gaussian(NamedTuple):
    """CEM's sampling distribution: ``mean`` and ``std``, ``[T, A]`` each."""

    mean: Array
    std: Array


@dataclass(frozen=True)
class CEMAlgorithm:
    """The Cross-Entropy Method (CEM-GD paper, Eq. 2) as a :class:`SamplingAlgorithm`.

    Each iteration samples ``num_samples`` truncated-normal sequences around the
    :class:`Gaussian`'s mean and moves the mean and std toward the elites' with weight
    ``alpha``; the ``top_k`` best of every batch are archive candidates. ``refine``
    (GradCEM) maps ``(actions [b, T, A], eval_key) -> (actions [b, T, A])`` row by row
    before evaluation (``eval_key``: the rollout key of the search's evaluations), at a
    cost of ``refine_cost`` per sequence (e.g. gradient rollouts).
    """

    problem: Problem
    num_samples: int
    num_elites: int
    alpha: float
    top_k: int = 1
    truncation: Truncation = "pets"
    max_batch: int | None = None
    refine: Any = None
    refine_cost: Info = Info()
    eval_key: Array | None = None

    @property
    def num_ranked(self) -> int:
        return max(self.num_elites, self.top_k)

    def sample(self, dist: Gaussian, key: Array, x: Any) -> Draw:
        n = self.num_samples
        samples = sample_rows(key, dist.mean, dist.std, self.problem, n, self.truncation)
        if self.refine is None:
            return Draw(samples, Info(num_samples=n))
        # GradCEM: refined samples are kept (the elites are not refined twice)
        actions = map_chunks(lambda ids: self.refine(samples.make(ids), self.eval_key),
                             jnp.arange(n, dtype=jnp.int32), self.max_batch)
        return Draw(actions, Info(num_samples=n).merge(self.refine_cost.times(n)))

    def update(self, dist: Gaussian, ranked: Ranked, x: Any) -> tuple[Gaussian, Array, Array]:
        elite_mean, elite_var = moments(ranked.draw.actions, ranked.idx[: self.num_elites])
        a = self.alpha
        mean = (1 - a) * dist.mean + a * elite_mean
        std = jnp.sqrt((1 - a) * dist.std**2 + a * elite_var)
        return Gaussian(mean, std), ranked.actions(self.top_k), ranked.returns[: self.top_k]


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


def sample_truncated(
    key: Array, mean: Array, std: Array, problem: Problem, num: int | Array,
    truncation: Truncation = "pets",
) -> Array:
    """Truncated-normal samples inside the action box, one key per sample.

    Sample ``i`` is drawn with ``jax.random.fold_in(key, i)``, so it does not depend on
    how many others are drawn with it: :func:`sample_rows` makes any subset of them
    (chunk by chunk, or the elites again) and gets the same rows.

    ``"pets"`` (PETS and the CEM-GD paper's code): the std is capped at half the
    distance from the mean to the nearer bound and the normal truncated at two std,
    so samples tighten near a bound (a coordinate whose mean sits on a bound is
    frozen). ``"box"``: ``N(mean, std^2)`` truncated to the box, so the std is what
    it says and a mean on a bound still explores inward, at the price of noisier
    samples near bounds (on ``barrier2d`` it made closed-loop returns worse).

    Args:
        key: PRNG key.
        mean: ``[T, A]``.
        std: ``[T, A]``.
        problem: gives the action box.
        num: number of sequences (samples ``0 .. num - 1``), or the indices ``[b]``.
        truncation: ``"box"`` or ``"pets"``.

    Returns:
        actions: ``[num, T, A]`` (``[b, T, A]`` for indices).
    """
    ids = jnp.arange(num, dtype=jnp.int32) if isinstance(num, int) else num
    if truncation == "pets":
        dist = jnp.minimum(mean - problem.action_low, problem.action_high - mean)
        std = jnp.minimum(std, jnp.maximum(dist, 0.0) / 2.0)
        lower, upper = -2.0, 2.0
    else:
        std = jnp.maximum(std, 1e-6)
        lower = (problem.action_low - mean) / std
        upper = (problem.action_high - mean) / std

    def one(i: Array) -> Array:
        k = jax.random.fold_in(key, i)
        return jax.random.truncated_normal(k, lower, upper, mean.shape, jnp.float32)

    return problem.clip(mean + std * jax.vmap(one)(ids))


def sample_rows(
    key: Array, mean: Array, std: Array, problem: Problem, num: int,
    truncation: Truncation = "pets",
) -> Rows:
    """:func:`sample_truncated`'s ``num`` samples as
    :class:`~cemgd.planners.chunking.Rows`: made chunk
    by chunk when evaluated, never all at once (compiled memory bounded by ``max_batch``)."""
    return Rows(lambda ids: sample_truncated(key, mean, std, problem, ids, truncation), num)


def check_truncation(value: Any) -> None:
    """Raise ValueError unless ``value`` is ``"box"`` or ``"pets"``."""
    if value not in ("box", "pets"):
        raise ValueError(f"truncation: expected 'box' or 'pets', got {value!r}")


def uniform_sequences(key: Array, problem: Problem, num: int) -> Array:
    """``num`` action sequences drawn uniformly in the box, ``[num, T, A]``."""
    shape = (num, problem.horizon, problem.action_dim)
    return jax.random.uniform(
        key, shape, jnp.float32, minval=problem.action_low, maxval=problem.action_high
    )
