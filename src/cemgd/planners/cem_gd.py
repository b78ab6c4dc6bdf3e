"""CEM-GD: Cross-Entropy Method with Gradient Descent (Algorithm 1).

Huang, Lale, Rosolia, Shi, Anandkumar, "CEM-GD: Cross-Entropy Method with Gradient Descent
Planner for Model-Based Reinforcement Learning", 2022. A step runs CEM
(:func:`~cemgd.planners.loop.cem_stage`): ``n_init`` rollouts from the box's centre at the
first step, ``n_replan`` around the warm start (the previous plan shifted) later, the std
reset to ``init_std`` (Sigma = I; the authors' code: 0.5). Its ``top_k`` best sequences take
``grad_steps`` projected ascent steps with backtracking and the best, re-evaluated, is
returned (:func:`~cemgd.planners.gradient.refine_and_pick`): a step is taken only if the
return (under ``problem.grad_rollout`` when set) rises, so the plan is never worse than the
best CEM sample. All rollouts of a step share one key (paired comparisons), ``N = n * m``
per step. Beyond the paper: ``return_mean``, ``keep_warm_start``
(:mod:`cemgd.planners.cem_gd_options`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax

from cemgd.planners.base import Optimize, Planner, Result
from cemgd.planners.cem import ReturnMean
from cemgd.planners.cem_gd_options import check_config, with_options
from cemgd.planners.gradient import refine_and_pick
from cemgd.planners.loop import cem_stage
from cemgd.planners.settings import CEMSettings, GradientSettings
from cemgd.problem import Array, Problem


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
        check_config(self)


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
        """The first step (``state.step == 0``) or a later one, chosen by ``lax.cond``."""
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
        return lambda problem, obs, state, key: self._stage(problem, obs, state, key, first)

    def _stage(
        self, problem: Problem, obs: Array, state: CEMGDState, key: Array, first: bool
    ) -> Result:
        """CEM with ``N_init`` (first) or ``N_r`` rollouts, then gradient ascent on its top-k."""
        c = self.config
        total = c.n_init if first else c.n_replan
        mean = self.initial_state(problem, key).mean if first else state.mean
        found = cem_stage(problem, obs, key, mean, c, total // c.num_iterations, c.top_k)
        top_actions, top_returns, tally = with_options(problem, obs, state.mean, found, c)
        # found.eval_key: the CEM stage's rollout key, so the comparisons are paired
        actions, best_return, info = refine_and_pick(problem, obs, top_actions, top_returns,
                                                     found.eval_key, c)
        return Result(actions, best_return, tally.merge(info))
