"""Improved Cross-Entropy Method (iCEM).

Pinneri, Sawant, Blaes, Achterhold, Stueckler, Rolinek, Martius,
"Sample-efficient Cross-Entropy Method for Real-time Planning", CoRL 2020.
CEM (as in the CEM-GD paper, Sec. 2.1) with:

- colored noise: the perturbations are 1/f^beta Gaussian noise along time
  (:func:`colored_noise`), so beta = 2 gives smooth, low-frequency sequences and
  beta = 0 is white noise; samples are ``clip(mean + std * noise)``;
- population decay: iteration ``i`` samples ``max(2 K, floor(n * gamma^-i))``
  sequences (K elites, fixed). Shapes stay static: every iteration draws ``n``
  samples inside one ``lax.scan`` and the excess gets return ``-inf``; only the
  real samples are counted in ``num_samples`` and ``num_rollouts`` (the padded
  ones are computed and discarded);
- keeping elites: the best ``keep_elites`` fraction of an iteration's elites
  joins the next iteration's population with its known return (all rollouts of a
  step share one key, so re-evaluating it would give the same number), and the
  same fraction of the last step's elites, shifted by one time step (last action
  repeated), joins the first iteration of the next step (re-evaluated, since the
  observation changed). They travel in ``ICEMState.kept``;
- the mean itself is evaluated as a sample on the last iteration;
- the best sequence seen is returned (iCEM's "execute best action").

The mean and std move toward the elites' with weight ``alpha`` (iCEM's momentum
0.1 on the old value is ``alpha = 0.9``); as in iCEM the std, not the variance,
is averaged. The std restarts at ``init_std`` every step; the mean is the previous
plan shifted by one step.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from cemgd.planners.base import Planner, Result, half_range, shift
from cemgd.planners.cem import CEMSamples
from cemgd.planners.chunking import chunk_size, score
from cemgd.planners.sampling import Draw, Ranked, empty_archive, search
from cemgd.problem import Array, Info, Problem
from cemgd.validate import check_range


@dataclass(frozen=True)
class ICEMConfig(CEMSamples):
    """Settings of ``icem`` (defaults: iCEM's, at the budget of the paper's CEM 500).

    ``num_samples`` is the first iteration's population (later ones decay), the
    number of elites K = ceil(elite_ratio * num_samples) is fixed, and ``alpha``
    weighs the elites' mean and std (iCEM's momentum 0.1 is alpha = 0.9).
    """

    beta: float = 2.0
    """Exponent of the 1/f^beta power spectrum of the noise along time (0 = white)."""
    population_decay: float = 1.25
    """gamma: iteration i samples max(2 K, floor(n * gamma^-i)) sequences (1 = no decay)."""
    keep_elites: float = 0.3
    """Fraction of the elites kept for the next iteration and the next step (0 = none)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("beta", self.beta, 0.0, float("inf"))
        check_range("population_decay", self.population_decay, 1.0, float("inf"))
        check_range("keep_elites", self.keep_elites, 0.0, 1.0)

    @property
    def num_keep(self) -> int:
        """Elites kept for the next iteration and step: ``floor(keep_elites * K)``."""
        return math.floor(self.keep_elites * self.num_elites + 1e-9)

    @property
    def population_sizes(self) -> tuple[int, ...]:
        """Real samples per iteration: ``max(min(2 K, n), floor(n * gamma^-i))``."""
        n = self.num_samples
        floor = min(2 * self.num_elites, n)
        return tuple(
            max(floor, math.floor(n * self.population_decay ** -i + 1e-9))
            for i in range(self.num_iterations)
        )


def colored_noise(key: Array, beta: float, shape: tuple[int, ...]) -> Array:
    """Gaussian noise with power spectrum ``1/f^beta`` along axis ``-2`` (time).

    White noise is drawn in the frequency domain (``rfft`` bins ``f = k / T``, the
    zero bin given the lowest nonzero frequency), scaled by ``f^(-beta/2)``,
    brought back with ``irfft`` and divided by the exact per-time-step std, so
    every entry has unit variance. ``beta = 0`` gives white noise.

    Args:
        key: PRNG key.
        beta: spectral exponent (static).
        shape: ``(..., T, A)``.

    Returns:
        noise: ``shape``, float32.
    """
    *batch, horizon, action_dim = shape
    bins = horizon // 2 + 1
    freqs = np.fft.rfftfreq(horizon)
    freqs[0] = freqs[1] if horizon > 1 else 1.0
    scale = freqs ** (-beta / 2.0)
    re_scale = scale.copy()
    im_scale = scale.copy()
    # Bins with a real-only coefficient (zero and, for even T, Nyquist) get twice the
    # variance so that beta = 0 is exactly white noise.
    real_only = [0] + ([bins - 1] if horizon % 2 == 0 and horizon > 1 else [])
    re_scale[real_only] *= math.sqrt(2.0)
    im_scale[real_only] = 0.0
    basis_re = np.fft.irfft(np.eye(bins), n=horizon)
    basis_im = np.fft.irfft(1j * np.eye(bins), n=horizon)
    var = (re_scale**2) @ basis_re**2 + (im_scale**2) @ basis_im**2  # [T], constant
    sigma = math.sqrt(float(np.mean(var)))
    key_re, key_im = jax.random.split(key)
    z_shape = (*batch, action_dim, bins)
    z_re = jax.random.normal(key_re, z_shape, jnp.float32) * jnp.asarray(re_scale, jnp.float32)
    z_im = jax.random.normal(key_im, z_shape, jnp.float32) * jnp.asarray(im_scale, jnp.float32)
    x = jnp.fft.irfft(jax.lax.complex(z_re, z_im), n=horizon, axis=-1) / sigma
    return jnp.swapaxes(x, -1, -2).astype(jnp.float32)


class Population(NamedTuple):
    """iCEM's sampling distribution and the elites it keeps (arrays).

    Attributes:
        mean: ``[T, A]``; std: ``[T, A]``.
        kept: elites joining the next population, ``[num_keep, T, A]``.
        kept_returns: their returns, ``[num_keep]``.
    """

    mean: Array
    std: Array
    kept: Array
    kept_returns: Array


@dataclass(frozen=True)
class ICEMAlgorithm:
    """iCEM's iteration for :func:`~cemgd.planners.sampling.search`; ``x = (size, is_last)``:
    the iteration's real population and whether the mean joins it as a sample."""

    problem: Problem
    config: ICEMConfig

    @property
    def num_ranked(self) -> int:
        return self.config.num_elites

    def sample(self, dist: Population, key: Array, x: tuple[Array, Array]) -> Draw:
        size, is_last = x
        n = self.config.num_samples
        noise = colored_noise(key, self.config.beta, (n, *dist.mean.shape))
        samples = self.problem.clip(dist.mean + dist.std * noise)
        cand = jnp.concatenate([samples, dist.mean[None]])  # [n + 1, T, A]; last: the mean
        slot = jnp.arange(n + 1)
        valid = jnp.where(slot < n, slot < size, is_last)
        return Draw(cand, Info(num_samples=size), valid)

    def update(
        self, dist: Population, ranked: Ranked, x: tuple[Array, Array]
    ) -> tuple[Population, Array, Array]:
        c = self.config
        pop = jnp.concatenate([ranked.actions(c.num_elites), dist.kept])
        pop_returns = jnp.concatenate([ranked.returns, dist.kept_returns])
        elite_returns, idx = jax.lax.top_k(pop_returns, c.num_elites)
        elites = pop[idx]
        mean = (1 - c.alpha) * dist.mean + c.alpha * jnp.mean(elites, axis=0)
        std = (1 - c.alpha) * dist.std + c.alpha * jnp.std(elites, axis=0)
        keep = c.num_keep
        return (Population(mean, std, elites[:keep], elite_returns[:keep]), elites[:1],
                elite_returns[:1])


class ICEMState(NamedTuple):
    """``icem``'s state: the warm start ``mean: [T, A]``, ``key``, ``step`` (calls since
    init) and ``kept``, the elites carried to the next step, ``[num_keep, T, A]`` (shifted;
    placeholders, not evaluated, before the first step)."""

    mean: Array
    key: Array
    step: Array
    kept: Array

    @property
    def extra(self) -> Array:
        """Deprecated name of :attr:`kept`."""
        warnings.warn("ICEMState.extra is now ICEMState.kept; use that", DeprecationWarning,
                      stacklevel=2)
        return self.kept


class ICEM(Planner):
    """iCEM with colored noise, population decay and kept elites; see the module docstring."""

    name = "icem"
    Config = ICEMConfig
    State = ICEMState

    def _init_extra(self, problem: Problem) -> tuple[Array]:
        """``(kept,)``: elites ``[num_keep, T, A]`` (placeholders until the first step)."""
        zero = problem.clip(jnp.zeros((problem.action_dim,), jnp.float32))
        return (jnp.broadcast_to(zero, (self.config.num_keep, problem.horizon,
                                        problem.action_dim)),)

    def _optimize(self, problem: Problem, obs: Array, state: ICEMState, key: Array) -> Result:
        c = self.config
        sample_key, eval_key = jax.random.split(key)
        mean = problem.clip(state.mean)
        std = jnp.broadcast_to(c.init_std * half_range(problem), mean.shape)
        # Elites carried over from the previous step (re-evaluated); none at the first step.
        has_prev = state.step > 0
        kept = problem.clip(state.kept)
        tally = Info()
        if c.num_keep > 0:
            kept_returns, tally = score(tally, problem, obs, kept, eval_key,
                                        valid=jnp.full((c.num_keep,), has_prev))
        else:
            kept_returns = jnp.zeros((0,), jnp.float32)
        xs = (jnp.asarray(c.population_sizes, jnp.int32),
              jnp.arange(c.num_iterations) == c.num_iterations - 1)
        found = search(problem, obs, sample_key, eval_key, ICEMAlgorithm(problem, c),
                       Population(mean, std, kept, kept_returns), c.num_iterations,
                       empty_archive(mean, 1), chunk_size(c.max_batch, problem), tally, xs)
        return Result(found.top_actions[0], found.top_returns[0], found.info,
                      extra=(shift(found.dist.kept),))
