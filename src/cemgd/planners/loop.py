"""The CEM stage (CEM-GD paper, Eq. 2) with the settings every CEM-based planner shares.

:func:`cem_stage` runs :class:`CEMAlgorithm` (truncated-normal samples around a
:class:`Gaussian`, the elites' moving average) on the sample -> score -> update loop
every sampling planner shares (:func:`cemgd.planners.sampling.search`): ``cem``,
``cem-gd``'s first stage and ``gradcem`` run it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp

from cemgd.planners.base import WarmFill, check_warm_fill, half_range, num_elites_for
from cemgd.planners.chunking import Rows, check_max_batch, chunk_size, moments
from cemgd.planners.sampling import (
    Draw,
    Ranked,
    SamplingAlgorithm,
    Search,
    empty_archive,
    search,
)
from cemgd.problem import Array, Info, Problem, moved
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
    top_k: int = 1, wrap: Callable[[CEMAlgorithm, Array], SamplingAlgorithm] | None = None,
) -> Search:
    """CEM with ``config``'s settings from ``mean: [T, A]``: ``num_samples`` per iteration,
    the ``top_k`` best sequences kept (cem, cem-gd's CEM stage, gradcem).

    ``key`` is split into the sampling key and the rollout key of every evaluation; the
    result carries the latter (``Search.eval_key``). ``wrap(algorithm, eval_key)``, if
    given, replaces the algorithm run (gradcem refines every batch it samples).
    """
    sample_key, eval_key = jax.random.split(key)
    std = jnp.broadcast_to(config.init_std * half_range(problem), mean.shape)
    max_batch = chunk_size(config.max_batch, problem)
    algorithm = CEMAlgorithm(problem, num_samples, num_elites_for(num_samples, config.elite_ratio),
                             config.alpha, top_k, config.truncation, max_batch)
    return search(problem, obs, sample_key, eval_key,
                  wrap(algorithm, eval_key) if wrap else algorithm, Gaussian(mean, std),
                  config.num_iterations, empty_archive(mean, top_k), max_batch)


class Gaussian(NamedTuple):
    """CEM's sampling distribution: ``mean`` and ``std``, ``[T, A]`` each."""

    mean: Array
    std: Array


@dataclass(frozen=True)
class CEMAlgorithm:
    """The Cross-Entropy Method (CEM-GD paper, Eq. 2) as a
    :class:`~cemgd.planners.sampling.SamplingAlgorithm`: each iteration samples
    ``num_samples`` truncated-normal sequences around the :class:`Gaussian`'s mean and
    moves the mean and std toward the elites' with weight ``alpha``; the ``top_k`` best
    of every batch are archive candidates."""

    problem: Problem
    num_samples: int
    num_elites: int
    alpha: float
    top_k: int = 1
    truncation: Truncation = "pets"
    max_batch: int | None = None

    @property
    def num_ranked(self) -> int:
        return max(self.num_elites, self.top_k)

    def sample(self, dist: Gaussian, key: Array, x: Any) -> Draw:
        samples = sample_rows(key, dist.mean, dist.std, self.problem, self.num_samples,
                              self.truncation)
        return Draw(samples, Info(num_samples=self.num_samples))

    def update(self, dist: Gaussian, ranked: Ranked, x: Any) -> tuple[Gaussian, Array, Array]:
        elite_mean, elite_var = moments(ranked.draw.actions, ranked.idx[: self.num_elites])
        a = self.alpha
        mean = (1 - a) * dist.mean + a * elite_mean
        std = jnp.sqrt((1 - a) * dist.std**2 + a * elite_var)
        return Gaussian(mean, std), ranked.actions(self.top_k), ranked.returns[: self.top_k]


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


#: kept one release: the loop every sampling planner runs is :mod:`cemgd.planners.sampling`'s,
#: the final mean (``return_mean``) :mod:`cemgd.planners.cem`'s
__getattr__ = moved("cemgd.planners.loop", {
    **{n: f"cemgd.planners.sampling.{n}" for n in ("merge_top_k", "uniform_sequences")},
    "final_mean": "cemgd.planners.cem.final_mean"})
