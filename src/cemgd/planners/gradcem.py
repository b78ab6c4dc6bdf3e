"""GradCEM: CEM with a gradient step on every sample.

Bharadhwaj, Xie, Shkurti, "Model-Predictive Control via Cross-Entropy and
Gradient-Based Optimization", L4DC 2020. Inside each CEM iteration (CEM-GD
paper, Sec. 2.1, Eq. 2) every sampled sequence takes ``inner_steps`` Adam steps
(optax, learning rate ``learning_rate``, fresh optimizer state per iteration) up the
gradient of its own return, each projected onto the action box, before it is
evaluated and ranked; the elites of the refined samples update the distribution.
The CEM-GD paper (Sec. 4) cites it as the method that "performs gradient updates
to each sample thus still suffering poor scalability".

With fresh Adam state, the first step is ``learning_rate * sign(grad)`` per entry
(bias-corrected first moment over root second moment), i.e. a normalised step of
fixed size whatever the scale of the return. A sample whose gradient is not
finite is left where it is.

Counters: every sample's ``inner_steps`` Adam steps count as that many gradient steps
and rollouts (:class:`RefinedCEM`'s ``cost``), its evaluation as one more rollout.
All rollouts of one step share one key (common random numbers). Returns the best
refined sample seen. With ``problem.grad_rollout`` set, the Adam steps climb it (unless
``grad_objective="sampled"``); samples are still ranked with ``problem.rollout``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import optax

from cemgd.planners.base import Planner, Result
from cemgd.planners.cem import CEMSamples, cem_stage
from cemgd.planners.chunking import map_chunks
from cemgd.planners.loop import CEMAlgorithm, Gaussian
from cemgd.planners.objectives import gradient_objective
from cemgd.planners.sampling import Draw, Ranked
from cemgd.problem import Array, Info, Problem
from cemgd.validate import check_int, check_range


@dataclass(frozen=True)
class GradCEMConfig(CEMSamples):
    """Settings of ``gradcem``: CEM's (at CEM 500's budget) plus the per-sample Adam steps."""

    learning_rate: float = 0.01
    """Adam learning rate of the per-sample gradient steps."""
    inner_steps: int = 1
    """Adam steps taken by every sample before it is evaluated."""
    grad_objective: Literal["mean", "sampled"] = "mean"
    """What the Adam steps climb: 'mean' (the problem's gradient rollout, e.g. the
    members' mean predictions) or 'sampled' (the sampled return samples are ranked by)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("learning_rate", self.learning_rate, 0.0, float("inf"), low_open=True)
        check_int("inner_steps", self.inner_steps)
        if self.grad_objective not in ("mean", "sampled"):
            raise ValueError(f"grad_objective: expected one of ('mean', 'sampled'), "
                             f"got {self.grad_objective!r}")


@dataclass(frozen=True)
class RefinedCEM:
    """:class:`~cemgd.planners.loop.CEMAlgorithm` whose every sample is refined before it
    is evaluated: ``refine`` maps ``(actions [b, T, A], eval_key) -> [b, T, A]`` row by
    row, chunk by chunk (``eval_key``: the CEM stage's rollout key), at a cost of
    ``cost`` per sequence (gradient rollouts and steps). The refined samples are kept:
    the elites are not refined twice."""

    cem: CEMAlgorithm
    refine: Callable[[Array, Array], Array]
    cost: Info
    eval_key: Array

    @property
    def num_ranked(self) -> int:
        return self.cem.num_ranked

    def sample(self, dist: Gaussian, key: Array, x: Any) -> Draw:
        draw = self.cem.sample(dist, key, x)
        n = self.cem.num_samples
        actions = map_chunks(lambda ids: self.refine(draw.actions.make(ids), self.eval_key),
                             jnp.arange(n, dtype=jnp.int32), self.cem.max_batch)
        return Draw(actions, draw.cost.merge(self.cost.times(n)))

    def update(self, dist: Gaussian, ranked: Ranked, x: Any) -> tuple[Gaussian, Array, Array]:
        return self.cem.update(dist, ranked, x)


class GradCEMState(NamedTuple):
    """``gradcem``'s state: the warm start ``mean: [T, A]``, ``key``, ``step`` (calls since
    init)."""

    mean: Array
    key: Array
    step: Array


class GradCEM(Planner):
    """CEM whose samples each take projected Adam steps; see the module docstring."""

    name = "gradcem"
    Config = GradCEMConfig
    State = GradCEMState

    def _optimize(self, problem: Problem, obs: Array, state: GradCEMState, key: Array) -> Result:
        c = self.config
        optimizer = optax.adam(c.learning_rate)
        rollout = gradient_objective(problem, c.grad_objective, 0.0)  # [B, P] rollouts: mean

        def neg_total_return(actions: Array, eval_key: Array) -> Array:
            r = jnp.reshape(rollout(obs, actions, eval_key), (actions.shape[0],))
            r = r.astype(jnp.float32)
            return -jnp.sum(jnp.where(jnp.isfinite(r), r, 0.0))

        grad_fn = jax.grad(neg_total_return)

        def refine(actions: Array, eval_key: Array) -> Array:  # the CEM stage's rollout key
            def adam_step(carry: tuple, _: None) -> tuple[tuple, None]:
                a, opt_state = carry
                g = grad_fn(a, eval_key)  # returns[i] depends only on actions[i]: per-sample grads
                ok = jnp.all(jnp.isfinite(g), axis=(1, 2), keepdims=True)
                g = jnp.where(ok, g, 0.0)
                updates, opt_state = optimizer.update(g, opt_state, a)
                return (problem.clip(optax.apply_updates(a, updates)), opt_state), None

            (a, _), _ = jax.lax.scan(
                adam_step, (actions, optimizer.init(actions)), None, length=c.inner_steps
            )
            return a

        # every sample's Adam steps: one gradient rollout and one gradient step each
        cost = Info(num_rollouts=c.inner_steps, grad_steps=c.inner_steps)
        found = cem_stage(problem, obs, key, state.mean, c, c.num_samples,
                          wrap=lambda cem, eval_key: RefinedCEM(cem, refine, cost, eval_key))
        return Result(found.top_actions[0], found.top_returns[0], found.info)
