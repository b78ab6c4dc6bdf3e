"""Cross-Entropy Method planner, the baseline of the CEM-GD paper.

Rubinstein, "Optimization of computer simulation models with rare events",
European Journal of Operational Research, 1997; as used for planning in PETS
(Chua et al., "Deep Reinforcement Learning in a Handful of Trials using
Probabilistic Dynamics Models", NeurIPS 2018) and in the CEM-GD paper (Huang et
al., Sec. 2.1, Eq. 2). ``num_samples`` sequences per iteration for
``num_iterations`` iterations (N = n * m rollouts per step), truncated-normal
sampling inside the action box, elite moving average with weight ``alpha``,
warm start from the previous plan shifted by one step (``warm_fill``: what the new
last step starts at, see :func:`cemgd.planners.base.shift`). Returns the best sequence
seen, as the paper states; with ``return_mean`` the mean of the sampling distribution
after the last iteration (the last elites' mean averaged in with weight ``alpha``:
mbrl-lib's ``return_mean_elites``), evaluated once so the step reports its return.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from cemgd.planners.base import (
    Planner,
    Result,
    WarmFill,
    check_warm_fill,
    half_range,
    num_elites_for,
)
from cemgd.planners.chunking import check_max_batch, chunk_size, score
from cemgd.planners.loop import (
    CEMAlgorithm,
    Gaussian,
    Search,
    Truncation,
    check_truncation,
    empty_archive,
    search,
)
from cemgd.problem import Array, Info, Problem
from cemgd.validate import check_int, check_range


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


@dataclass(frozen=True)
class CEMSamples(CEMSettings):
    """The CEM settings plus the sequences sampled per iteration (``cem``, ``gradcem``,
    ``icem``)."""

    num_samples: int = 100
    """Sequences sampled per iteration (n)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int("num_samples", self.num_samples)

    @property
    def num_elites(self) -> int:
        """Elites per iteration."""
        return num_elites_for(self.num_samples, self.elite_ratio)


@dataclass(frozen=True)
class ReturnMean:
    """The setting ``cem`` and ``cem-gd`` add to the CEM settings: what the CEM stage gives."""

    return_mean: bool = False
    """Give the CEM mean after the last iteration (mbrl-lib), not the best sequence seen."""


def check_return_mean(config: ReturnMean) -> None:
    """Raise ValueError unless ``config.return_mean`` is a bool."""
    if not isinstance(config.return_mean, bool):
        raise ValueError(f"return_mean: expected a bool, got {config.return_mean!r}")


@dataclass(frozen=True)
class CEMConfig(ReturnMean, CEMSamples):
    """Settings of ``cem`` (defaults: the paper's CEM 500, 100 x 5)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_return_mean(self)


class CEMState(NamedTuple):
    """``cem``'s state: the warm start ``mean: [T, A]``, ``key``, ``step`` (calls since
    init)."""

    mean: Array
    key: Array
    step: Array


class CEM(Planner):
    """CEM with warm start; see the module docstring."""

    name = "cem"
    Config = CEMConfig
    State = CEMState

    def _optimize(self, problem: Problem, obs: Array, state: CEMState, key: Array) -> Result:
        found = cem_stage(problem, obs, key, state.mean, self.config, self.config.num_samples)
        if self.config.return_mean:
            mean, mean_return, tally = final_mean(problem, obs, found)
            return Result(mean[0], mean_return[0], tally)
        return Result(found.top_actions[0], found.top_returns[0], found.info)


def final_mean(problem: Problem, obs: Array, found: Search) -> tuple[Array, Array, Info]:
    """``(mean [1, T, A], its return [1], tally)``: the mean of :func:`cem_stage`'s final
    distribution (clipped to the box), evaluated under the stage's rollout key
    (``found.eval_key``) and counted."""
    mean = problem.clip(found.dist.mean)[None]
    returns, tally = score(found.info, problem, obs, mean, found.eval_key)
    return mean, returns, tally


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
