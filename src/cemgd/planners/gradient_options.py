"""The gradient stage's options beyond the paper (:mod:`cemgd.planners.gradient`).

``step_rule="scaled"``: trial ``j`` moves the largest coordinate of a sequence by
``eta rho^j`` half-widths of the box along :func:`ascent_direction`; ``eta`` starts at
``step_size`` and after an accepted step becomes that step's size over ``rho``
(:func:`next_eta`, capped at :data:`MAX_SCALED_STEP`). Every comparison is
``R(a') > R(a)``, so the refined sequences are invariant to multiplying the return by a
positive constant and scale with the action box (up to rounding).

``step_rule="adam"``: the CEM-GD authors' code (projected Adam, lr ``step_size``, the rate
divided by 1/``step_decay`` per rejected trial, reset after each accepted step): the
direction is Adam's bias-corrected ``m / (sqrt(v) + eps)`` of the gradients so far
(:func:`ascent_rule`, optax's ``scale_by_adam`` with torch's defaults), its moments
carried per sequence and advanced by each accepted step (a failed search ends the
sequence, so its moments are not read again). A trial is
accepted when it raises the return, as every rule here; the authors' code also accepts
an equal one.

``line_search="parallel"``: all ``J`` step sizes in one batched forward pass, keeping the
best rise (:func:`parallel_trials`); the paper backtracks one trial at a time.

The risk-aware objectives (``grad_objective``, ``risk``) are
:mod:`cemgd.planners.objectives`'. :func:`check_options` validates all of these settings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.numpy as jnp
import optax

from cemgd.planners.objectives import GRAD_OBJECTIVES
from cemgd.problem import Array, Problem, finite_or_neg_inf, i32
from cemgd.validate import check_range

LineSearch = Literal["sequential", "parallel"]
StepRule = Literal["paper", "scaled", "adam"]
STEP_RULES = ("paper", "scaled", "adam")

#: ``"adam"``'s moments: b1 0.9, b2 0.999, eps 1e-8 (torch's Adam, as the authors' code).
ADAM = optax.scale_by_adam(b1=0.9, b2=0.999, eps=1e-8)

#: Largest first trial of a ``"scaled"`` line search, in half-widths of the box (a step
#: of 2 crosses the box).
MAX_SCALED_STEP = 2.0


def check_options(line_search: str, step_rule: str, grad_objective: str, risk: float) -> None:
    """Raise ValueError naming the setting unless each is one of its choices (``risk``:
    in (0, 1] for ``"cvar"``, >= 0 otherwise)."""
    for name, value, choices in (("line_search", line_search, ("sequential", "parallel")),
                                 ("grad_objective", grad_objective, GRAD_OBJECTIVES),
                                 ("step_rule", step_rule, STEP_RULES)):
        if value not in choices:
            raise ValueError(f"{name}: expected one of {choices}, got {value!r}")
    if grad_objective == "cvar":
        check_range("risk", risk, 0.0, 1.0, low_open=True)
    else:
        check_range("risk", risk, 0.0, float("inf"))


def ascent_direction(g: Array, problem: Problem, step_rule: StepRule) -> Array:
    """The line-search direction for the gradients ``g: [k, T, A]``.

    ``"paper"``: ``g`` itself (a step of ``eta`` moves ``a`` by ``eta * g``).
    ``"scaled"``: ``h * (h * g) / max |h * g|`` with ``h`` the box's half-widths, so a
    step of ``eta`` moves the largest coordinate of each sequence by ``eta`` half-widths
    (normalised steepest ascent in the box's scaled coordinates). It is unchanged when
    the return is multiplied by a positive constant, and scales with the box.
    """
    if step_rule == "paper":
        return g
    h = 0.5 * (problem.action_high - problem.action_low)
    hg = h * g
    top = jnp.max(jnp.abs(hg), axis=(1, 2), keepdims=True)
    return jnp.where(top > 0, h * hg / jnp.where(top > 0, top, 1.0), 0.0)


def rule_init(step_rule: StepRule, actions: Array) -> Any:
    """The step rule's state for ``actions: [k, T, A]``: Adam's moments per sequence
    (``"adam"``), else ``None``."""
    return jax.vmap(ADAM.init)(actions) if step_rule == "adam" else None


def ascent_rule(g: Array, problem: Problem, step_rule: StepRule,
                state: Any) -> tuple[Array, Any]:
    """``(direction [k, T, A], the state if the step is accepted)`` for the gradients
    ``g: [k, T, A]``: :func:`ascent_direction`, or for ``"adam"`` Adam's direction from
    the moments ``state`` advanced by ``g``."""
    if step_rule != "adam":
        return ascent_direction(g, problem, step_rule), state
    return jax.vmap(ADAM.update)(g, state)


def next_eta(step_rule: StepRule, eta: Array, tried: Array, accepted: Array,
             step_decay: float) -> Array:
    """The next line search's first step size, ``[k]``: ``eta`` (``"paper"`` and
    ``"adam"``: it restarts at ``step_size``), or for ``"scaled"`` the accepted trial's
    size ``tried`` over ``step_decay``, capped at :data:`MAX_SCALED_STEP`."""
    if step_rule in ("paper", "adam"):
        return eta
    return jnp.where(accepted, jnp.minimum(tried / step_decay, MAX_SCALED_STEP), eta)


def parallel_trials(
    problem: Problem, raw: Callable[[Array], Array], a: Array, r: Array, d: Array,
    active: Array, etas: Array,
) -> tuple[Array, Array, Array, Array, Array, Array]:
    """All ``J`` step sizes (``etas: [J, k]``) from ``a: [k, T, A]`` (returns ``r: [k]``)
    along ``d: [k, T, A]`` in one forward pass of ``raw`` vmapped over the trials; keep the
    best rise of each ``active: [k]`` sequence.

    Returns ``(actions [k, T, A], returns [k], accepted [k], eta [k]`` (the best trial's
    step size), ``trials, num_nonfinite)``. The caller differentiates the accepted
    candidates afterwards (a backward pass through all ``J k`` candidates measured slower
    than a forward-backward of ``k``).
    """
    num_trials, k = etas.shape
    cand = problem.clip(a[None] + etas[:, :, None, None] * d[None])  # [J, k, T, A]
    rc, bad = finite_or_neg_inf(jax.vmap(raw)(cand))  # [J, k]: each trial's k rows in
    # the places the returns r were evaluated in (paired where draws depend on the place)
    best_j = jnp.argmax(rc, axis=0)
    best_r = jnp.max(rc, axis=0)
    accepted = active & (best_r > r)
    actions = jnp.where(accepted[:, None, None], cand[best_j, jnp.arange(k)], a)
    return (actions, jnp.where(accepted, best_r, r), accepted, etas[best_j, jnp.arange(k)],
            i32(num_trials * jnp.sum(active)), bad)
