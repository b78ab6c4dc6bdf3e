"""Gradient-only planner, the "Baseline Gradient Optimizer" of the CEM-GD paper.

Huang, Lale, Rosolia, Shi, Anandkumar, "CEM-GD: Cross-Entropy Method with
Gradient Descent Planner for Model-Based Reinforcement Learning", 2022, Sec. 3:
"A random initialization action sequence is selected, and gradient descent is
performed, using the same line search method as described in section 2.2."

Every step draws ``top_k`` sequences uniformly in the action box (no sampling
distribution is fitted), evaluates them, and refines them with the projected
gradient ascent and backtracking line search of :mod:`cemgd.linesearch`, with the
settings of ``cem-gd`` (k = 1, G = 10, eta_init = 0.01, rho = 0.67, J = 8). The
refined sequences are re-evaluated and the best is returned; since a step is only
taken when the return rises, the plan is never worse than its best start.

With ``warm_start=True`` the first start is the previous plan shifted by one step
(the others stay random), which turns the baseline into plain receding-horizon
gradient ascent. All rollouts of one step share one key (common random numbers).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from cemgd.linesearch import LineSearch, gradient_ascent
from cemgd.planners.base import Planner, Result, check_positive_int, check_range, i32
from cemgd.problem import Array, PlanState, Problem, evaluate


@dataclass(frozen=True)
class GDConfig:
    """Settings of ``gd`` (defaults: the paper's baseline gradient optimizer, Sec. 3)."""

    top_k: int = 1
    """Starting sequences refined per step (k)."""
    grad_steps: int = 10
    """Gradient updates per sequence (G)."""
    step_size: float = 0.01
    """Initial step size of every line search (eta_init)."""
    step_decay: float = 0.67
    """Backtracking factor (rho)."""
    line_search_trials: int = 8
    """Step sizes tried per gradient update (J)."""
    line_search: LineSearch = "sequential"
    """'sequential' backtracking (the paper) or 'parallel' (all J in one batch)."""
    warm_start: bool = False
    """Start the first sequence from the shifted previous plan instead of at random."""

    def __post_init__(self) -> None:
        check_positive_int("top_k", self.top_k)
        check_positive_int("grad_steps", self.grad_steps, 0)
        check_range("step_size", self.step_size, 0.0, float("inf"), low_open=True)
        check_range("step_decay", self.step_decay, 0.0, 1.0, low_open=True, high_open=True)
        check_positive_int("line_search_trials", self.line_search_trials)
        if self.line_search not in ("sequential", "parallel"):
            raise ValueError(
                f"line_search: expected 'sequential' or 'parallel', got {self.line_search!r}"
            )
        if not isinstance(self.warm_start, bool):
            raise ValueError(f"warm_start: expected a bool, got {self.warm_start!r}")


def uniform_sequences(key: Array, problem: Problem, num: int) -> Array:
    """``num`` action sequences drawn uniformly in the box, ``[num, T, A]``."""
    shape = (num, problem.horizon, problem.action_dim)
    return jax.random.uniform(
        key, shape, jnp.float32, minval=problem.action_low, maxval=problem.action_high
    )


class GD(Planner):
    """Random starts refined by projected gradient ascent; see the module docstring."""

    name = "gd"
    Config = GDConfig

    def _optimize(
        self, problem: Problem, obs: Array, state: PlanState, key: Array, first: bool | None
    ) -> Result:
        c = self.config
        sample_key, eval_key = jax.random.split(key)
        starts = uniform_sequences(sample_key, problem, c.top_k)
        num_random = c.top_k
        if c.warm_start:
            starts = starts.at[0].set(problem.clip(state.mean))
            num_random -= 1
        start_returns, start_bad = evaluate(problem, obs, starts, eval_key)
        ascent = gradient_ascent(
            problem, obs, starts, start_returns, eval_key, c.grad_steps, c.step_size,
            c.step_decay, c.line_search_trials, c.line_search,
        )
        final_returns, final_bad = evaluate(problem, obs, ascent.actions, eval_key)
        best = jnp.argmax(final_returns)
        return Result(
            actions=ascent.actions[best],
            best_return=final_returns[best],
            num_samples=i32(num_random),
            num_rollouts=i32(2 * c.top_k) + ascent.num_rollouts,
            grad_steps=ascent.grad_steps,
            line_search_trials=ascent.line_search_trials,
            num_nonfinite=start_bad + ascent.num_nonfinite + final_bad,
        )
