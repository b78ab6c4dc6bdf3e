"""Random-shooting planner.

Nagabandi, Kahn, Fearing, Levine, "Neural Network Dynamics for Model-Based Deep
Reinforcement Learning with Model-Free Fine-Tuning", ICRA 2018: sample
``num_samples`` action sequences uniformly in the action box, evaluate them all
with the model, return the best. No distribution is fitted and no warm start is
used (the previous plan is ignored); it is the zeroth-order floor the CEM-GD
paper's baselines improve on. All rollouts of one step share one key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax

from cemgd.planners.base import Planner, Result
from cemgd.planners.chunking import check_max_batch, chunk_size
from cemgd.planners.sampling import Draw, Ranked, empty_archive, search, uniform_sequences
from cemgd.problem import Array, Info, Problem
from cemgd.validate import check_int


@dataclass(frozen=True)
class RandomShootingConfig:
    """Settings of ``random-shooting`` (default: the budget of the paper's CEM 500)."""

    num_samples: int = 500
    """Sequences sampled uniformly in the box and evaluated per step (N)."""
    max_batch: int | None = None
    """Sequences rolled out at a time; larger batches run in chunks (same result, less
    memory). ``None``: 2000 rows of rollout work a chunk, ``2000 // Problem.rollout_rows``
    sequences (100 at 20 particles; ``DEFAULT_CHUNK_ROWS``)."""

    def __post_init__(self) -> None:
        check_int("num_samples", self.num_samples)
        check_max_batch(self.max_batch)


@dataclass(frozen=True)
class UniformAlgorithm:
    """Random shooting for :func:`~cemgd.planners.sampling.search`: one batch drawn uniformly
    in the box (no distribution to move; the best sample is the archive's candidate)."""

    problem: Problem
    num_samples: int
    num_ranked: int = 1

    def sample(self, dist: tuple, key: Array, x: None) -> Draw:
        actions = uniform_sequences(key, self.problem, self.num_samples)
        return Draw(actions, Info(num_samples=self.num_samples))

    def update(self, dist: tuple, ranked: Ranked, x: None) -> tuple[tuple, Array, Array]:
        return dist, ranked.actions(1), ranked.returns


class RandomShootingState(NamedTuple):
    """``random-shooting``'s state (``mean``: the fallback): the warm start ``mean: [T,
    A]``, ``key``, ``step`` (calls since init)."""

    mean: Array
    key: Array
    step: Array


class RandomShooting(Planner):
    """Best of ``num_samples`` uniform sequences; see the module docstring."""

    name = "random-shooting"
    Config = RandomShootingConfig
    State = RandomShootingState

    def _optimize(
        self, problem: Problem, obs: Array, state: RandomShootingState, key: Array
    ) -> Result:
        sample_key, eval_key = jax.random.split(key)
        algorithm = UniformAlgorithm(problem, self.config.num_samples)
        found = search(problem, obs, sample_key[None], eval_key, algorithm, (), 1,
                       empty_archive(state.mean, 1),
                       chunk_size(self.config.max_batch, problem), split=False)
        return Result(found.top_actions[0], found.top_returns[0], found.info)
