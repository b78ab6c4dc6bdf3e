"""Projected gradient ascent with backtracking line search (CEM-GD paper, Sec. 2.2), run by
``cem-gd`` on its top-k and by ``gd``. A gradient step tries ``a' = clip(a + eta grad R(a))``
with ``eta = eta_init rho^j``, ``j = 0 .. J - 1``, and takes the first with ``R(a') > R(a)``;
a sequence whose search fails stops (Sec. 2.2). The ``k`` sequences run batched, each with
its own step size and done flag, as ``k`` independent runs would. Every evaluation uses one
key (paired comparisons); with ``problem.grad_rollout`` set, the gradient and the acceptance
test use it. Beyond the paper: :mod:`~cemgd.planners.gradient_options` (step rule, parallel
search), :mod:`~cemgd.planners.objectives` (what is climbed). Cost: a first trial runs under
``jax.vjp``, so accepting it is one forward-backward pass, whose gradient is the next step's.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from cemgd.planners.chunking import evaluate
from cemgd.planners.gradient_options import ascent_rule, next_eta, parallel_trials, rule_init
from cemgd.planners.objectives import gradient_objective, rescores
from cemgd.planners.settings import GradientSettings
from cemgd.problem import Array, Info, Problem, check_returns, finite_or_neg_inf, i32, moved


def refine_and_pick(problem: Problem, obs: Array, actions: Array, returns: Array, key: Array,
                    config: GradientSettings) -> tuple[Array, Array, Info]:
    """Gradient ascent on ``actions: [k, T, A]`` (``returns: [k]``), then re-evaluate them
    under ``problem.rollout`` (every planner's scale): ``(actions: [T, A], best_return, info)``,
    the best refined sequence, its return and the stage's counts. When no start can be
    refined (every return ``-inf``, no ``grad_rollout`` to re-score them) the first comes back
    as it is, with zero counts. The ``lax.cond`` also keeps the stage's key-only values
    (rollout noise) inside it, not held through the CEM stage (under ``vmap`` both run)."""
    def refine() -> tuple[Array, Array, Info]:
        refined, _, info = gradient_ascent(problem, obs, actions, returns, key, config)
        final_returns, final_bad = evaluate(problem, obs, refined, key)
        best = jnp.argmax(final_returns)
        info = info.add(num_rollouts=actions.shape[0], num_nonfinite=final_bad)
        return refined[best], final_returns[best], info

    def keep() -> tuple[Array, Array, Info]:
        return actions[0], returns[0], Info().as_arrays()

    run = jnp.isfinite(returns)
    if rescores(problem, config.grad_objective):
        # re-scored under grad_rollout, any start may climb: always run, by a test XLA
        # cannot fold (a float is finite, infinite or NaN), so the cond stays
        run = run | jnp.isinf(returns) | jnp.isnan(returns)
    return jax.lax.cond(jnp.any(run), refine, keep)


def gradient_ascent(problem: Problem, obs: Array, actions: Array, returns: Array, key: Array,
                    settings: GradientSettings) -> tuple[Array, Array, Info]:
    """Refine ``actions: [k, T, A]`` (in the box; ``returns: [k]`` under ``problem.rollout``
    and ``key``, ``-inf`` if not finite) by ``grad_steps`` projected ascent steps:
    ``(actions: [k, T, A], returns: [k], info)``, the returns under the objective climbed
    (never below the starts') and the counts summed over ``k``. Starts are compared as the
    stage scores them, not the caller: a row's draws may depend on its place in a batch."""
    c, k = settings, actions.shape[0]
    raw = functools.partial(_raw, gradient_objective(problem, c.grad_objective, c.risk), obs, key)
    start_r, n_bad, start_grad = _probe(raw, actions)  # one forward-backward
    fresh = rescores(problem, c.grad_objective)  # another objective: every start re-scored
    lost = jnp.sum(jnp.isfinite(returns) & ~jnp.isfinite(start_r))  # finite to the caller
    returns = start_r if fresh else jnp.where(jnp.isfinite(returns), start_r, returns)
    info = Info().as_arrays().add(num_rollouts=k if fresh else 0,
                                  num_nonfinite=n_bad if fresh else lost)
    decays = c.step_decay ** jnp.arange(c.line_search_trials, dtype=jnp.float32)  # rho^j

    def not_finished(s: _Step) -> Array:
        return (s.index < c.grad_steps) & ~jnp.all(s.done)

    init = _Step(index=i32(0), actions=actions, returns=returns,
                 grad=start_grad(jnp.full((k,), c.grad_steps > 0)), done=~jnp.isfinite(returns),
                 eta=jnp.full((k,), c.step_size, jnp.float32), info=info,
                 rule=rule_init(c.step_rule, actions))
    step = functools.partial(_ascent_step, problem, raw, decays, c)
    out = jax.lax.while_loop(not_finished, step, init)
    return out.actions, out.returns, out.info


class _Step(NamedTuple):
    """Carry of :func:`gradient_ascent`'s loop over gradient steps."""

    index: Array  # gradient steps done (int32)
    actions: Array  # [k, T, A]
    returns: Array  # [k]
    grad: Array  # [k, T, A]: the objective's gradient at actions (for the next step)
    done: Array  # [k] bool: line search failed or return not finite
    eta: Array  # [k] first trial's step size of the next line search
    info: Info  # grad_steps, line_search_trials, num_rollouts, num_nonfinite so far
    rule: Any  # the step rule's state ("adam": the moments per sequence; else None)


class _Search(NamedTuple):
    """Result of one line search over the ``k`` sequences."""

    actions: Array  # [k, T, A]
    returns: Array  # [k]
    grad: Array  # [k, T, A]: gradient at the accepted candidate (if wanted; else zero)
    accepted: Array  # [k] bool
    eta: Array  # [k] the accepted trial's step size (or the last tried)
    trials: Array  # trials, summed over the searching sequences
    nonfinite: Array


def _ascent_step(problem: Problem, raw: Callable[[Array], Array], decays: Array,
                 c: GradientSettings, s: _Step) -> _Step:
    """One gradient step of every sequence not done: the line search along the step rule's
    direction (``decays: [J]``, rho^j), which also gives the accepted candidate's gradient, the next
    step's (none after the last step)."""
    g_ok = jnp.all(jnp.isfinite(s.grad), axis=(1, 2))
    d = jnp.where(g_ok[:, None, None], s.grad, 0.0)  # the paper's step: eta times the gradient
    d, rule = ascent_rule(d, problem, c.step_rule, s.rule)  # "paper": d itself
    active = ~s.done & g_ok
    etas = s.eta[None, :] * decays[:, None]  # [J, k]
    want_grad = s.index + 1 < c.grad_steps
    if c.line_search == "sequential":
        found = _backtrack(problem, raw, s.actions, s.returns, d, active, etas, want_grad)
    else:  # beyond the paper: all J trials in one batch, then the accepted ones' gradient
        a, r, ok, eta, trials, bad = parallel_trials(problem, raw, s.actions, s.returns, d,
                                                     active, etas)
        found = _Search(a, r, _grad_at(raw, a, ok & want_grad), ok, eta, trials, bad)
    eta = next_eta(c.step_rule, s.eta, found.eta, found.accepted, c.step_decay)
    return _Step(
        index=s.index + 1, actions=found.actions, returns=found.returns, grad=found.grad,
        done=s.done | ~found.accepted, eta=eta, rule=rule,
        info=s.info.add(grad_steps=jnp.sum(found.accepted), line_search_trials=found.trials,
                        num_rollouts=jnp.sum(~s.done) + found.trials,
                        num_nonfinite=found.nonfinite),
    )


def _backtrack(problem: Problem, raw: Callable[[Array], Array], a: Array, r: Array,
               d: Array, active: Array, etas: Array, want_grad: Array) -> _Search:
    """Sequential backtracking: trial ``j`` uses ``etas[j]: [k]``; stop at the first rise.
    The first trial (usually the accepted one) runs under ``jax.vjp``, so its gradient
    costs a backward pass only; a later rise is differentiated after the search."""

    def tried(j: Array, f: _Search, cand: Array, rc: Array, nb: Array) -> tuple[Array, _Search]:
        searching = active & ~f.accepted
        better = searching & (rc > r)
        return better, f._replace(
            actions=jnp.where(better[:, None, None], cand, f.actions),
            returns=jnp.where(better, rc, f.returns), accepted=f.accepted | better,
            eta=jnp.where(searching, etas[j], f.eta), trials=f.trials + jnp.sum(searching),
            nonfinite=f.nonfinite + nb)

    def body(c: tuple[Array, _Search]) -> tuple[Array, _Search]:
        cand = problem.clip(a + etas[c[0]][:, None, None] * d)
        return c[0] + 1, tried(c[0], c[1], cand, *finite_or_neg_inf(raw(cand)))[1]

    def cond(c: tuple[Array, _Search]) -> Array:
        return (c[0] < etas.shape[0]) & jnp.any(active & ~c[1].accepted)

    cand = problem.clip(a + etas[0][:, None, None] * d)
    rc, nb, grad = _probe(raw, cand)
    none = _Search(a, r, jnp.zeros_like(a), jnp.zeros_like(active), etas[0], i32(0), i32(0))
    first, found = tried(i32(0), none, cand, rc, nb)
    found = jax.lax.while_loop(cond, body, (i32(1), found._replace(
        grad=grad(first & want_grad))))[1]
    late = found.accepted & ~first & want_grad
    late_grad = _grad_at(raw, found.actions, late)
    return found._replace(grad=jnp.where(late[:, None, None], late_grad, found.grad))


def _probe(raw: Callable[[Array], Array],
           a: Array) -> tuple[Array, Array, Callable[[Array], Array]]:
    """Evaluate ``a: [n, T, A]`` once under ``jax.vjp``: ``(returns: [n]`` (``-inf`` if not
    finite), ``num_nonfinite``, ``grad(want: [n] bool) -> [n, T, A])``, the gradient of the
    finite rows wanted (zero elsewhere; no backward pass when none is)."""
    r, pullback = jax.vjp(raw, a)

    def grad(want: Array) -> Array:
        cotangent = jnp.where(want & jnp.isfinite(r), 1.0, 0.0).astype(r.dtype)
        return jax.lax.cond(jnp.any(cotangent > 0), lambda: pullback(cotangent)[0],
                            lambda: jnp.zeros_like(a))

    return (*finite_or_neg_inf(r), grad)


def _grad_at(raw: Callable[[Array], Array], a: Array, want: Array) -> Array:
    """Gradient at ``a: [n, T, A]`` of the rows that ``want: [n]`` (a forward-backward pass,
    skipped when no row is wanted)."""
    return jax.lax.cond(jnp.any(want), lambda: _probe(raw, a)[2](want),
                        lambda: jnp.zeros_like(a))


def _raw(rollout: Callable[..., Array], obs: Array, key: Array, a: Array) -> Array:
    """``rollout``'s returns of ``a: [n, T, A]``, float32 ``[n]`` (maybe not finite)."""
    return check_returns(rollout(obs, a, key), a.shape[0]).astype(jnp.float32)


#: kept one release: the options beyond the paper are :mod:`cemgd.planners.gradient_options`'
#: and :mod:`cemgd.planners.objectives`'
__getattr__ = moved("cemgd.planners.gradient", {
    **{n: f"cemgd.planners.gradient_options.{n}" for n in (
        "MAX_SCALED_STEP", "LineSearch", "StepRule", "ascent_direction", "next_eta")},
    "GradObjective": "cemgd.planners.objectives.GradObjective"})
