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
with backtracking (:mod:`cemgd.linesearch`); a step is taken only if the return
rises, so the plan is never worse than the best CEM sample. The refined
candidates are re-evaluated and the best is returned. With ``problem.grad_rollout``
set (e.g. the ensemble's mean prediction, as the paper's Sec. 5 describes) the
gradient and the acceptance test use it while CEM and the final re-evaluation use
``problem.rollout``; the guarantee then holds under ``grad_rollout`` only.

With ``keep_warm_start=True`` the warm start itself (the previous plan shifted,
``state.mean``) is evaluated with the step's key and competes with the CEM samples
for the top-k, so on a deterministic problem a step never returns a plan worse than
the shifted previous one. The preset ``cem-gd-robust`` turns it on together with the
scale-free ``step_rule="scaled"`` (:mod:`cemgd.linesearch`).

Rollouts are counted as the paper does: ``N = n * m`` in total per step, split
over ``num_iterations`` CEM iterations. All rollouts of one step share one key
(common random numbers), so comparisons between candidates are paired.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from cemgd.linesearch import GradientSettings, refine_and_pick
from cemgd.planners.base import (
    DEFAULT_MAX_BATCH,
    Planner,
    Result,
    Truncation,
    cem_search,
    check_truncation,
    half_range,
    i32,
    merge_top_k,
    num_elites_for,
)
from cemgd.problem import Array, PlanState, Problem, evaluate
from cemgd.validate import check_int, check_range


@dataclass(frozen=True)
class CEMGDConfig(GradientSettings):
    """Settings of ``cem-gd`` (defaults: the paper, Sec. 3)."""

    n_init: int = 15000
    """Rollouts sampled by CEM at the first step (N_init)."""
    n_replan: int = 50
    """Rollouts sampled by CEM at every later step (N_r)."""
    num_iterations: int = 5
    """CEM iterations per step; n_init and n_replan must be multiples of it."""
    elite_ratio: float = 0.1
    """Fraction of each CEM iteration's samples kept as elites (at least one)."""
    alpha: float = 0.9
    """Weight of the elites' mean and variance in the CEM moving average (Eq. 2)."""
    init_std: float = 1.0
    """CEM std at the start of every step, in half-widths of the box (Sigma = I)."""
    truncation: Truncation = "pets"
    """'pets': PETS' std cap near bounds (the paper's code); 'box': normal cut to the box."""
    max_batch: int = DEFAULT_MAX_BATCH
    """Sequences rolled out at a time; larger batches run in chunks (same result, less memory)."""
    keep_warm_start: bool = False
    """Evaluate the warm start (the shifted previous plan) with the step's samples and let
    it compete for the top-k, so a step never returns a worse plan than it (paper: off)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.keep_warm_start, bool):
            raise ValueError(f"keep_warm_start: expected a bool, got {self.keep_warm_start!r}")
        check_int("num_iterations", self.num_iterations)
        for name in ("n_init", "n_replan"):
            value = getattr(self, name)
            check_int(name, value, self.num_iterations)
            if value % self.num_iterations:
                raise ValueError(
                    f"{name}: expected a multiple of num_iterations={self.num_iterations}, "
                    f"got {value}"
                )
        check_range("elite_ratio", self.elite_ratio, 0.0, 1.0, low_open=True)
        check_range("alpha", self.alpha, 0.0, 1.0, low_open=True)
        check_range("init_std", self.init_std, 0.0, float("inf"), low_open=True)
        check_truncation(self.truncation)
        check_int("max_batch", self.max_batch)
        if self.top_k > min(self.n_init, self.n_replan):
            raise ValueError(
                f"top_k: expected <= min(n_init, n_replan) = "
                f"{min(self.n_init, self.n_replan)}, got {self.top_k}"
            )


class CEMGD(Planner):
    """CEM-GD; see the module docstring."""

    name = "cem-gd"
    Config = CEMGDConfig

    def _optimize(
        self, problem: Problem, obs: Array, state: PlanState, key: Array, first: bool | None
    ) -> Result:
        if first is None:
            return jax.lax.cond(
                state.step == 0,
                lambda: self._stage(problem, obs, state, key, True),
                lambda: self._stage(problem, obs, state, key, False),
            )
        return self._stage(problem, obs, state, key, first)

    def _stage(
        self, problem: Problem, obs: Array, state: PlanState, key: Array, first: bool
    ) -> Result:
        """CEM then gradient ascent, with the sample count of the first or a later step."""
        c = self.config
        total = c.n_init if first else c.n_replan
        per_iteration = total // c.num_iterations
        mean = self.initial_state(problem, key).mean if first else state.mean
        std = jnp.broadcast_to(c.init_std * half_range(problem), mean.shape)
        sample_key, eval_key = jax.random.split(key)
        search = cem_search(
            problem, obs, sample_key, eval_key, mean, std, per_iteration, c.num_iterations,
            num_elites_for(per_iteration, c.elite_ratio), c.alpha, c.top_k,
            truncation=c.truncation, max_batch=c.max_batch,
        )
        top_actions, top_returns, warm_bad = search.top_actions, search.top_returns, i32(0)
        if c.keep_warm_start:
            warm = problem.clip(state.mean)[None]
            warm_return, warm_bad = evaluate(problem, obs, warm, eval_key)
            top_actions, top_returns = merge_top_k(top_actions, top_returns, warm, warm_return)
        refined = refine_and_pick(problem, obs, top_actions, top_returns, eval_key, c)
        return Result(
            actions=refined.actions,
            best_return=refined.best_return,
            num_samples=i32(total),
            num_rollouts=i32(total + c.top_k + int(c.keep_warm_start))
            + refined.ascent.num_rollouts,
            grad_steps=refined.ascent.grad_steps,
            line_search_trials=refined.ascent.line_search_trials,
            num_nonfinite=search.num_nonfinite + refined.num_nonfinite + warm_bad,
        )
