"""Gradient-only planner, the "Baseline Gradient Optimizer" of the CEM-GD paper.

Huang, Lale, Rosolia, Shi, Anandkumar, "CEM-GD: Cross-Entropy Method with
Gradient Descent Planner for Model-Based Reinforcement Learning", 2022, Sec. 3:
"A random initialization action sequence is selected, and gradient descent is
performed, using the same line search method as described in section 2.2."

Every step draws ``top_k`` sequences uniformly in the action box (no sampling
distribution is fitted), evaluates them, and refines them with the projected
gradient ascent and backtracking line search of :mod:`cemgd.planners.gradient`, with the
settings of ``cem-gd`` (k = 1, G = 10, eta_init = 0.01, rho = 0.67, J = 8). The
refined sequences are re-evaluated and the best is returned; since a step is only
taken when the return rises, the plan is never worse than its best start (under
``problem.grad_rollout`` when set: it scores the gradient steps, ``problem.rollout``
the starts and the final pick).

With ``warm_start=True`` the first start is the previous plan shifted by one step
(the others stay random), which turns the baseline into plain receding-horizon
gradient ascent. All rollouts of one step share one key (common random numbers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax

from cemgd.planners.base import Planner, Result
from cemgd.planners.chunking import score
from cemgd.planners.gradient import refine_and_pick
from cemgd.planners.sampling import uniform_sequences
from cemgd.planners.settings import GradientSettings
from cemgd.problem import Array, Info, Problem


@dataclass(frozen=True)
class GDConfig(GradientSettings):
    """Settings of ``gd`` (defaults: the paper's baseline gradient optimizer, Sec. 3)."""

    warm_start: bool = False
    """Start the first sequence from the shifted previous plan instead of at random."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.warm_start, bool):
            raise ValueError(f"warm_start: expected a bool, got {self.warm_start!r}")


class GDState(NamedTuple):
    """``gd``'s state (``mean`` is used with ``warm_start``): the warm start ``mean: [T,
    A]``, ``key``, ``step`` (calls since init)."""

    mean: Array
    key: Array
    step: Array


class GD(Planner):
    """Random starts refined by projected gradient ascent; see the module docstring."""

    name = "gd"
    Config = GDConfig
    State = GDState

    def _optimize(self, problem: Problem, obs: Array, state: GDState, key: Array) -> Result:
        c = self.config
        sample_key, eval_key = jax.random.split(key)
        starts = uniform_sequences(sample_key, problem, c.top_k)
        if c.warm_start:
            starts = starts.at[0].set(problem.clip(state.mean))
        tally = Info(num_samples=c.top_k - int(c.warm_start))
        start_returns, tally = score(tally, problem, obs, starts, eval_key)
        actions, best_return, info = refine_and_pick(problem, obs, starts, start_returns,
                                                     eval_key, c)
        return Result(actions, best_return, tally.merge(info))
