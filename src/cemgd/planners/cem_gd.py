"""CEM-GD: Cross-Entropy Method with Gradient Descent (Algorithm 1).

Huang, Lale, Rosolia, Shi, Anandkumar, "CEM-GD: Cross-Entropy Method with
Gradient Descent Planner for Model-Based Reinforcement Learning", 2022.

The first ``plan`` after ``init`` runs CEM with ``n_init`` rollouts from a
zero-mean distribution; later calls run CEM with ``n_replan`` rollouts around
the warm start (previous plan shifted one step, last action repeated), with the
std reset to ``init_std`` every step: Sigma = I on a [-1, 1] box, as Algorithm 1
says (the paper's code starts at var = width^2 / 16, ``init_std=0.5``). Samples
follow PETS' truncation (std capped at half the distance to the nearer bound;
``truncation="box"`` cuts the normal at the box instead). The ``top_k`` best
sequences seen are refined by ``grad_steps`` projected gradient-ascent steps
with backtracking (:mod:`cemgd.planners.gradient`); a step is taken only if the return
rises, so the plan is never worse than the best CEM sample. The refined
candidates are re-evaluated and the best is returned. With ``problem.grad_rollout``
set (e.g. the ensemble's mean prediction, as the paper's Sec. 5 describes) the
gradient and the acceptance test use it while CEM and the final re-evaluation use
``problem.rollout``; the guarantee then holds under ``grad_rollout`` only.

With ``keep_warm_start=True`` the warm start itself (the previous plan shifted,
``state.mean``) is evaluated with the step's key and competes with the CEM samples
for the top-k, so on a deterministic problem a step never returns a plan worse than
the shifted previous one. The preset ``cem-gd-robust`` turns it on together with the
scale-free ``step_rule="scaled"`` (:mod:`cemgd.planners.gradient`).

Rollouts are counted as the paper does: ``N = n * m`` in total per step, split
over ``num_iterations`` CEM iterations. All rollouts of one step share one key
(common random numbers), so comparisons between candidates are paired.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp

from cemgd.planners.base import Optimize, Planner, Result
from cemgd.planners.cem import ReturnMean, check_return_mean, final_mean
from cemgd.planners.chunking import score
from cemgd.planners.gradient import GradientSettings, refine_and_pick
from cemgd.planners.loop import CEMSettings, cem_stage
from cemgd.planners.sampling import merge_top_k
from cemgd.problem import Array, Problem
from cemgd.validate import check_int


@dataclass(frozen=True)
class CEMGDConfig(ReturnMean, CEMSettings, GradientSettings):
    """Settings of ``cem-gd`` (defaults: the paper, Sec. 3): the CEM settings shared with
    ``cem`` (num_iterations .. max_batch; init_std here is Sigma = I), the gradient stage's
    shared with ``gd``, and the sample counts of the first and later steps."""

    init_std: float = 1.0
    """CEM std at the start of every step, in half-widths of the box (Sigma = I)."""
    n_init: int = 15000
    """Rollouts sampled by CEM at the first step (N_init), over num_iterations iterations."""
    n_replan: int = 50
    """Rollouts sampled by CEM at every later step (N_r); a multiple of num_iterations."""
    keep_warm_start: bool = False
    """Evaluate the warm start (the shifted previous plan) with the step's samples and let
    it compete for the top-k, so a step never returns a worse plan than it (paper: off)."""

    def __post_init__(self) -> None:
        super().__post_init__()  # the CEM settings', then the gradient stage's checks
        check_return_mean(self)
        if not isinstance(self.keep_warm_start, bool):
            raise ValueError(f"keep_warm_start: expected a bool, got {self.keep_warm_start!r}")
        for name in ("n_init", "n_replan"):
            value = getattr(self, name)
            check_int(name, value, self.num_iterations)
            if value % self.num_iterations:
                raise ValueError(
                    f"{name}: expected a multiple of num_iterations={self.num_iterations}, "
                    f"got {value}"
                )
        if self.top_k > min(self.n_init, self.n_replan):
            raise ValueError(
                f"top_k: expected <= min(n_init, n_replan) = "
                f"{min(self.n_init, self.n_replan)}, got {self.top_k}"
            )


class CEMGDState(NamedTuple):
    """``cem-gd``'s state (``step == 0``: the first step, ``n_init`` samples): the warm
    start ``mean: [T, A]``, ``key``, ``step`` (calls since init)."""

    mean: Array
    key: Array
    step: Array


class CEMGD(Planner):
    """CEM-GD; see the module docstring."""

    name = "cem-gd"
    Config = CEMGDConfig
    State = CEMGDState

    def _optimize(self, problem: Problem, obs: Array, state: CEMGDState, key: Array) -> Result:
        """The first step (``state.step == 0``: ``n_init`` samples from the box's centre)
        or a later one (``n_replan`` around the warm start), chosen by ``lax.cond``."""
        return jax.lax.cond(
            state.step == 0,
            lambda: self._stage(problem, obs, state, key, True),
            lambda: self._stage(problem, obs, state, key, False),
        )

    def _optimizer(self, first: bool | None) -> Optimize:
        """``first=True``/``False`` fixes the step statically (no ``lax.cond``, whose
        branches both run under ``vmap``); ``None``: decide from the state."""
        if first is None:
            return self._optimize
        return functools.partial(self._first_or_later, first)

    def _first_or_later(self, first: bool, problem: Problem, obs: Array, state: CEMGDState,
                        key: Array) -> Result:
        return self._stage(problem, obs, state, key, first)

    def _stage(
        self, problem: Problem, obs: Array, state: CEMGDState, key: Array, first: bool
    ) -> Result:
        """CEM then gradient ascent, with the sample count of the first or a later step."""
        c = self.config
        total = c.n_init if first else c.n_replan
        mean = self.initial_state(problem, key).mean if first else state.mean
        found = cem_stage(problem, obs, key, mean, c, total // c.num_iterations, c.top_k)
        top_actions, top_returns, tally = found.top_actions, found.top_returns, found.info
        eval_key = found.eval_key  # the CEM stage's rollout key: paired comparisons
        if c.return_mean:  # the final mean replaces the best sample as the first start
            mean, mean_return, tally = final_mean(problem, obs, found)
            top_actions = jnp.concatenate([mean, top_actions[:-1]])
            top_returns = jnp.concatenate([mean_return, top_returns[:-1]])
        if c.keep_warm_start:
            warm = problem.clip(state.mean)[None]
            warm_return, tally = score(tally, problem, obs, warm, eval_key)
            top_actions, top_returns = merge_top_k(top_actions, top_returns, warm, warm_return)
        actions, best_return, info = refine_and_pick(problem, obs, top_actions, top_returns,
                                                     eval_key, c)
        return Result(actions, best_return, tally.merge(info))

