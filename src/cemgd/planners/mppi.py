"""Model Predictive Path Integral control (MPPI).

Williams, Wagener, Goldfain, Drews, Rehg, Boots, Theodorou, "Information
Theoretic MPC for Model-Based Reinforcement Learning", ICRA 2017; iterated as in
PDDM (Nagabandi et al., 2019) and mbrl-lib. Every iteration perturbs the current
mean with Gaussian noise of fixed std ``noise_std`` (in half-widths of the box),
clips the perturbed sequences to the box, evaluates them and moves the mean to
their exponentially weighted average,

    w_i = exp((R_i - max_j R_j) / temperature) / sum_j exp(...),

where subtracting the maximum keeps the exponent finite and samples with a
non-finite return get weight zero. The control-cost term of the original
(``lambda * u^T Sigma^-1 eps``) is dropped, as in most model-based RL uses.

The returned plan is the final weighted mean (a convex combination of in-box
sequences, so it stays in the box), warm-started from the previous plan shifted
by one step. It is evaluated once more so ``best_return`` is the return of the
sequence actually returned (that rollout is counted). All rollouts of one step
share one key (common random numbers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp

from cemgd.planners.base import Planner, Result, half_range
from cemgd.planners.chunking import check_max_batch, chunk_size, score
from cemgd.planners.sampling import Draw, Ranked, empty_archive, search
from cemgd.problem import Array, Info, Problem
from cemgd.validate import check_int, check_range


@dataclass(frozen=True)
class MPPIConfig:
    """Settings of ``mppi`` (defaults: 5 x 100 rollouts, the budget of the paper's CEM 500)."""

    num_samples: int = 100
    """Perturbed sequences sampled per iteration."""
    num_iterations: int = 5
    """Weighted-average updates of the mean per planning step."""
    temperature: float = 1.0
    """lambda: returns are divided by it before exponentiation (in units of return)."""
    noise_std: float = 0.5
    """Std of the Gaussian perturbations, in half-widths of the action box."""
    max_batch: int | None = None
    """Sequences rolled out at a time; larger batches run in chunks (same result, less
    memory). ``None``: 2000 rows of rollout work a chunk, ``2000 // Problem.rollout_rows``
    sequences (100 at 20 particles; ``DEFAULT_CHUNK_ROWS``)."""

    def __post_init__(self) -> None:
        check_int("num_samples", self.num_samples)
        check_int("num_iterations", self.num_iterations)
        check_range("temperature", self.temperature, 0.0, float("inf"), low_open=True)
        check_range("noise_std", self.noise_std, 0.0, float("inf"), low_open=True)
        check_max_batch(self.max_batch)


def mppi_weights(returns: Array, temperature: float) -> Array:
    """Normalised exponential weights of ``returns: [B]`` (``-inf`` gets weight 0).

    Returns ``[B]`` weights summing to one, or all zeros if no return is finite.
    """
    finite = jnp.isfinite(returns)
    top = jnp.max(jnp.where(finite, returns, -jnp.inf))
    top = jnp.where(jnp.isfinite(top), top, 0.0)
    logits = jnp.where(finite, (returns - top) / temperature, -jnp.inf)
    unnorm = jnp.where(finite, jnp.exp(logits), 0.0)
    total = jnp.sum(unnorm)
    return jnp.where(total > 0, unnorm / jnp.where(total > 0, total, 1.0), 0.0)


@dataclass(frozen=True)
class MPPIAlgorithm:
    """MPPI's iteration for :func:`~cemgd.planners.sampling.search`: the distribution is the
    mean ``[T, A]``; the noise std ``std: [A]`` is fixed."""

    problem: Problem
    num_samples: int
    std: Array
    temperature: float
    num_ranked: int = 1  # MPPI weighs every sample; nothing is ranked or archived

    def sample(self, mean: Array, key: Array, x: None) -> Draw:
        noise = jax.random.normal(key, (self.num_samples, *mean.shape), jnp.float32)
        actions = self.problem.clip(mean + self.std * noise)
        return Draw(actions, Info(num_samples=self.num_samples))

    def update(self, mean: Array, ranked: Ranked, x: None) -> tuple[Array, Array, Array]:
        w = mppi_weights(ranked.all_returns, self.temperature)
        new_mean = jnp.einsum("b,bta->ta", w, ranked.draw.actions)
        mean = jnp.where(jnp.sum(w) > 0, new_mean, mean)
        return mean, ranked.draw.actions[:0], ranked.returns[:0]


class MPPIState(NamedTuple):
    """``mppi``'s state: the warm start ``mean: [T, A]``, ``key``, ``step`` (calls since
    init)."""

    mean: Array
    key: Array
    step: Array


class MPPI(Planner):
    """Iterated MPPI with warm start; see the module docstring."""

    name = "mppi"
    Config = MPPIConfig
    State = MPPIState

    def _optimize(self, problem: Problem, obs: Array, state: MPPIState, key: Array) -> Result:
        c = self.config
        sample_key, eval_key = jax.random.split(key)
        algorithm = MPPIAlgorithm(problem, c.num_samples, c.noise_std * half_range(problem),
                                  c.temperature)
        mean = problem.clip(state.mean)
        found = search(problem, obs, sample_key, eval_key, algorithm, mean, c.num_iterations,
                       empty_archive(mean, 1), chunk_size(c.max_batch, problem))
        mean = problem.clip(found.dist)
        final_return, tally = score(found.info, problem, obs, mean[None], eval_key)
        return Result(mean, final_return[0], tally)
