"""The CEM stage (CEM-GD paper, Eq. 2): :func:`cem_stage` runs :class:`CEMAlgorithm`
(truncated-normal samples around a :class:`Gaussian`, the elites' moving average) on the
sample -> score -> update loop every sampling planner shares
(:func:`cemgd.planners.sampling.search`). ``cem``, ``cem-gd``'s first stage and ``gradcem``
run it; its settings are :class:`~cemgd.planners.settings.CEMSettings`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from cemgd.planners.base import half_range, num_elites_for
from cemgd.planners.chunking import Rows, chunk_size, moments
from cemgd.planners.sampling import Draw, Ranked, SamplingAlgorithm, Search, empty_archive, search
from cemgd.planners.settings import CEMSettings, Truncation
from cemgd.problem import Array, Info, Problem, moved


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


def sample_truncated(key: Array, mean: Array, std: Array, problem: Problem, num: int | Array,
                     truncation: Truncation = "pets") -> Array:
    """Samples ``0 .. num - 1`` (or the indices ``num: [b]``) around ``mean``, ``std: [T, A]``,
    inside the box: ``[num, T, A]`` (``[b, T, A]``). Sample ``i`` is drawn with
    ``fold_in(key, i)``, so any subset (a chunk, the elites again) gets the same rows.

    ``"pets"`` (PETS, the paper's code): the std capped at half the distance to the nearer
    bound, the normal cut at two std, so a mean on a bound freezes. ``"box"``: ``N(mean,
    std^2)`` cut at the box, so a mean on a bound still explores inward (noisier near bounds).
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


def sample_rows(key: Array, mean: Array, std: Array, problem: Problem, num: int,
                truncation: Truncation = "pets") -> Rows:
    """:func:`sample_truncated`'s ``num`` samples as :class:`~cemgd.planners.chunking.Rows`,
    made chunk by chunk when evaluated (compiled memory bounded by ``max_batch``)."""
    return Rows(lambda ids: sample_truncated(key, mean, std, problem, ids, truncation), num)


#: kept one release: the sampling loop's names are :mod:`cemgd.planners.sampling`'s, the final
#: mean (``return_mean``) :mod:`cemgd.planners.cem`'s, the checks :mod:`cemgd.planners.settings`'
__getattr__ = moved("cemgd.planners.loop", {
    **{n: f"cemgd.planners.sampling.{n}" for n in ("merge_top_k", "uniform_sequences")},
    "final_mean": "cemgd.planners.cem.final_mean",
    "check_truncation": "cemgd.planners.settings.check_truncation"})
