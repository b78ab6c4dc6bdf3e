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

import jax
import jax.numpy as jnp

from cemgd.planners.base import (
    DEFAULT_MAX_BATCH,
    Planner,
    Result,
    i32,
    uniform_sequences,
)
from cemgd.problem import Array, PlanState, Problem, evaluate
from cemgd.validate import check_int


@dataclass(frozen=True)
class RandomShootingConfig:
    """Settings of ``random-shooting`` (default: the budget of the paper's CEM 500)."""

    num_samples: int = 500
    """Sequences sampled uniformly in the box and evaluated per step (N)."""
    max_batch: int = DEFAULT_MAX_BATCH
    """Sequences rolled out at a time; larger batches run in chunks (same result, less memory)."""

    def __post_init__(self) -> None:
        check_int("num_samples", self.num_samples)
        check_int("max_batch", self.max_batch)


class RandomShooting(Planner):
    """Best of ``num_samples`` uniform sequences; see the module docstring."""

    name = "random-shooting"
    Config = RandomShootingConfig

    def _optimize(
        self, problem: Problem, obs: Array, state: PlanState, key: Array, first: bool | None
    ) -> Result:
        n = self.config.num_samples
        sample_key, eval_key = jax.random.split(key)
        actions = uniform_sequences(sample_key, problem, n)
        returns, bad = evaluate(problem, obs, actions, eval_key, max_batch=self.config.max_batch)
        best = jnp.argmax(returns)
        return Result(
            actions=actions[best],
            best_return=returns[best],
            num_samples=i32(n),
            num_rollouts=i32(n),
            num_nonfinite=bad,
        )
