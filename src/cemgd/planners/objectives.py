"""What a gradient stage climbs (``grad_objective`` of ``gd``, ``cem-gd`` and ``gradcem``):
:func:`gradient_objective`, the paper's particle mean or, beyond the paper, the sampled
return (``"sampled"``) and the risk-aware reductions of per-particle returns
(``"pessimistic"``, ``"cvar"``, :func:`reduce_particles`)."""

from __future__ import annotations

import math
from typing import Literal

import jax
import jax.numpy as jnp

from cemgd.problem import Array, Problem, Rollout, check_returns

GradObjective = Literal["mean", "sampled", "pessimistic", "cvar"]
GRAD_OBJECTIVES = ("mean", "sampled", "pessimistic", "cvar")


def reduce_particles(returns: Array, grad_objective: GradObjective, risk: float) -> Array:
    """``returns: [B]`` or per-particle ``[B, P]`` -> the gradient objective ``[B]``.

    ``"mean"``/``"sampled"``: the particles' mean. ``"pessimistic"``: mean minus ``risk``
    times their std. ``"cvar"``: mean of the worst ``ceil(risk * P)`` particles. ``[B]``
    returns (no particles) are returned as they are.
    """
    if returns.ndim == 1:
        return returns
    if grad_objective == "pessimistic":
        var = jnp.var(returns, axis=1)
        positive = var > 0  # sqrt's gradient at 0 is not finite: one particle, or all equal
        std = jnp.where(positive, jnp.sqrt(jnp.where(positive, var, 1.0)), 0.0)
        return jnp.mean(returns, axis=1) - risk * std
    if grad_objective == "cvar":
        worst = max(1, math.ceil(risk * returns.shape[1] - 1e-9))
        return -jnp.mean(jax.lax.top_k(-returns, worst)[0], axis=1)
    return jnp.mean(returns, axis=1)



def gradient_objective(problem: Problem, grad_objective: GradObjective, risk: float) -> Rollout:
    """The rollout gradient steps climb: ``(obs, actions: [B, T, A], key) -> [B]``.

    ``"sampled"``: ``problem.rollout`` (the return CEM ranks). Otherwise
    :attr:`~cemgd.problem.Problem.rollout_for_gradient`, reduced over particles by
    :func:`reduce_particles` when it returns ``[B, P]``.
    """
    base = problem.rollout if grad_objective == "sampled" else problem.rollout_for_gradient

    def rollout(obs: Array, actions: Array, key: Array) -> Array:
        returns = check_returns(base(obs, actions, key), actions.shape[0], True)
        return reduce_particles(returns, grad_objective, risk)  # the paper: particles' mean

    return rollout


def rescores(problem: Problem, grad_objective: GradObjective) -> bool:
    """Whether the gradient stage climbs a different function from the one CEM ranked
    (``problem.grad_rollout``, unless ``"sampled"``), so it re-scores its starts first."""
    return problem.grad_rollout is not None and grad_objective != "sampled"
