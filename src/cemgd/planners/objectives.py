"""The risk-aware reductions of per-particle returns a gradient stage may climb
(``grad_objective`` of ``gd`` and ``cem-gd``: ``"pessimistic"``, ``"cvar"``), beside the
paper's mean. The objective itself is :func:`cemgd.planners.gradient.gradient_objective`."""

from __future__ import annotations

import math
from typing import Literal

import jax
import jax.numpy as jnp

from cemgd.problem import Array, moved

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


#: kept one release: the objective of the gradient stage is :mod:`cemgd.planners.gradient`'s
__getattr__ = moved("cemgd.planners.objectives", {
    n: f"cemgd.planners.gradient.{n}" for n in ("gradient_objective", "rescores")})
