"""Projected gradient ascent with backtracking line search (CEM-GD paper, Sec. 2.2).

Shared by ``gd`` and ``cem-gd``. The ``k`` sequences are refined together in one
batched rollout per trial; each keeps its own step size, acceptance and done
flag, so the result equals ``k`` independent runs of Algorithm 1's inner loops.

A step ``a' = clip(a + eta * grad R(a))`` is accepted only if ``R(a') > R(a)``;
otherwise ``eta <- rho * eta`` and the step is retried, up to ``J`` trials. A
sequence whose line search fails stops (Sec. 2.2: "the gradient update ends").
The step size restarts at ``eta_init`` for every gradient step.

Both the gradient and the acceptance test use ``problem.grad_rollout`` when it is
set (e.g. the ensemble's mean prediction while CEM ranks sampled particles, CEM-GD
paper Sec. 5), so a step is accepted when it raises the objective it climbed;
:func:`refine_and_pick` then re-scores the refined sequences with ``problem.rollout``.

Read top-down: :func:`refine_and_pick` (the stage CEM-GD runs on its top-k),
:func:`gradient_ascent` and the objective it climbs (:func:`gradient_objective`), one
gradient step and its sequential backtracking. The options beyond the paper (the
``"scaled"`` step rule, the ``"parallel"`` line search) are
:mod:`cemgd.planners.gradient_options`'; the risk-aware objectives
:mod:`cemgd.planners.objectives`'.

Cost: a sequential search's first trial (usually the accepted one) runs under ``jax.vjp``,
so accepting it costs one forward-backward pass, whose gradient is the next step's; later
trials and the parallel search's batch are forward passes, and their accepted candidate is
differentiated after the search. Under ``vmap`` the skipped backward passes (``lax.cond``) run.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp

from cemgd.planners.chunking import evaluate
from cemgd.planners.gradient_options import (
    LineSearch,
    StepRule,
    ascent_direction,
    check_options,
    next_eta,
    parallel_trials,
)
from cemgd.planners.objectives import GradObjective, reduce_particles
from cemgd.problem import (
    Array,
    Info,
    Problem,
    Rollout,
    check_returns,
    finite_or_neg_inf,
    i32,
    moved,
)
from cemgd.validate import check_int, check_range


@dataclass(frozen=True)
class GradientSettings:
    """The gradient stage's settings, shared by ``cem-gd`` and ``gd`` (paper, Sec. 3)."""

    top_k: int = 1
    """Sequences refined by gradient ascent at every step (k)."""
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
    step_rule: StepRule = "paper"
    """'paper': a step of eta times the gradient, eta restarting at step_size; 'scaled':
    the largest coordinate moves step_size half-widths of the box, growing by 1/rho
    after each accepted step (invariant to the return's scale and the box's)."""
    grad_objective: GradObjective = "mean"
    """What gradient steps climb: 'mean' (the problem's gradient rollout, e.g. the members'
    mean predictions, the paper), 'sampled' (the sampled return CEM ranks), 'pessimistic'
    (mean minus risk x std over particles) or 'cvar' (mean of the worst risk fraction)."""
    risk: float = 0.5
    """'pessimistic': std multiplier (>= 0); 'cvar': worst fraction of particles in (0, 1]."""

    def __post_init__(self) -> None:
        check_int("top_k", self.top_k)
        check_int("grad_steps", self.grad_steps, 0)
        check_range("step_size", self.step_size, 0.0, float("inf"), low_open=True)
        check_range("step_decay", self.step_decay, 0.0, 1.0, low_open=True, high_open=True)
        check_int("line_search_trials", self.line_search_trials)
        check_options(self.line_search, self.step_rule, self.grad_objective, self.risk)


def refine_and_pick(
    problem: Problem, obs: Array, actions: Array, returns: Array, key: Array,
    config: GradientSettings,
) -> tuple[Array, Array, Info]:
    """Gradient ascent on ``actions: [k, T, A]``, then re-evaluate and keep the best.

    Returns ``(actions: [T, A], best_return, info)``: the best refined sequence, its
    re-evaluated return, and the stage's counts (the ascent's, plus the ``k``
    re-evaluated sequences and their non-finite returns; zero when nothing could be
    refined).

    The re-evaluation uses ``problem.rollout`` (not ``grad_rollout``), so ``best_return``
    is on every other planner's scale. When no start can be refined (every ``returns``
    ``-inf`` and no ``grad_rollout`` to re-score them) the first is returned as it is.
    Unbatched, the ``lax.cond`` keeps the stage's key-only values (rollout noise, zeroed
    residual buffers) inside it; XLA would compute them first and hold them through the
    CEM stage (under ``vmap`` both branches run).
    """
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


def gradient_ascent(
    problem: Problem, obs: Array, actions: Array, returns: Array, key: Array,
    settings: GradientSettings,
) -> tuple[Array, Array, Info]:
    """Refine ``actions: [k, T, A]`` (inside the box, with ``returns: [k]`` under
    ``problem.rollout`` and ``key``, ``-inf`` if not finite) by projected ascent.

    Returns ``(actions: [k, T, A], returns: [k], info)``: the refined sequences, their
    returns under the ascent's objective (never below the starting ones), and the
    counts (``grad_steps`` and ``line_search_trials`` summed over ``k``; ``num_rollouts``
    the sequences evaluated, with ``problem.grad_rollout`` the ``k`` re-scored starts
    included; ``num_nonfinite``).

    ``settings`` gives ``G``, ``eta_init``, ``rho``, ``J`` (``grad_steps``,
    ``step_size``, ``step_decay``, ``line_search_trials``; the loop sizes are static):
    trial ``j`` is ``clip(a + eta_init rho^j g)``, restarting at ``eta_init`` every step
    (the options beyond the paper: :mod:`cemgd.planners.gradient_options`). Every
    evaluation uses ``key``, so comparisons are paired. The objective is
    :func:`gradient_objective`; with ``problem.grad_rollout`` set (and not
    ``"sampled"``) the starts are re-scored under it (with their first gradient), so
    every acceptance test compares one function.
    """
    c = settings
    k, grad_steps = actions.shape[0], c.grad_steps
    objective = gradient_objective(problem, c.grad_objective, c.risk)
    raw = functools.partial(_raw, objective, obs, key)
    start_r, n_bad, start_grad = _probe(raw, actions)  # one forward-backward
    info = Info().as_arrays()
    if rescores(problem, c.grad_objective):
        returns, info = start_r, info.add(num_rollouts=k, num_nonfinite=n_bad)
    decays = c.step_decay ** jnp.arange(c.line_search_trials, dtype=jnp.float32)
    search = _backtrack if c.line_search == "sequential" else _parallel
    ctx = _Context(problem, raw, decays, search, c.step_rule, c.step_decay, grad_steps)

    def not_finished(c: _Step) -> Array:
        return (c.index < grad_steps) & ~jnp.all(c.done)

    init = _Step(
        index=i32(0), actions=actions, returns=returns,
        grad=start_grad(jnp.full((k,), grad_steps > 0)), done=~jnp.isfinite(returns),
        eta=jnp.full((k,), c.step_size, jnp.float32), info=info,
    )
    out = jax.lax.while_loop(not_finished, functools.partial(_ascent_step, ctx), init)
    return out.actions, out.returns, out.info


def gradient_objective(problem: Problem, grad_objective: GradObjective, risk: float) -> Rollout:
    """The rollout gradient steps climb: ``(obs, actions: [B, T, A], key) -> [B]``.

    ``"sampled"``: ``problem.rollout`` (the return CEM ranks). Otherwise
    :attr:`~cemgd.problem.Problem.rollout_for_gradient`, reduced over particles by
    :func:`~cemgd.planners.objectives.reduce_particles` when it returns ``[B, P]``.
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


class _Step(NamedTuple):
    """Carry of :func:`gradient_ascent`'s loop over gradient steps."""

    index: Array  # gradient steps done (int32)
    actions: Array  # [k, T, A]
    returns: Array  # [k]
    grad: Array  # [k, T, A]: the objective's gradient at actions (for the next step)
    done: Array  # [k] bool: line search failed or return not finite
    eta: Array  # [k] first trial's step size of the next line search
    info: Info  # grad_steps, line_search_trials, num_rollouts, num_nonfinite so far


class _Search(NamedTuple):
    """Result of one line search over the ``k`` sequences."""

    actions: Array  # [k, T, A]
    returns: Array  # [k]
    grad: Array  # [k, T, A]: gradient at the accepted candidate (if wanted; else zero)
    accepted: Array  # [k] bool
    eta: Array  # [k] the accepted trial's step size (or the last tried)
    trials: Array  # trials, summed over the searching sequences
    nonfinite: Array


class _Context(NamedTuple):
    """What every gradient step of :func:`gradient_ascent` closes over (static)."""

    problem: Problem
    raw: Callable[[Array], Array]  # _raw with the objective, obs and key bound
    decays: Array  # [J]: rho^j
    search: Callable[..., _Search]
    step_rule: StepRule
    step_decay: float
    grad_steps: int


def _ascent_step(ctx: _Context, c: _Step) -> _Step:
    """One gradient step of every sequence not done: direction, line search (which also
    gives the accepted candidate's gradient, the next step's; none after the last step)."""
    g_ok = jnp.all(jnp.isfinite(c.grad), axis=(1, 2))
    d = jnp.where(g_ok[:, None, None], c.grad, 0.0)  # the paper's step: eta times the gradient
    d = ascent_direction(d, ctx.problem, ctx.step_rule)  # "paper": d itself
    active = ~c.done & g_ok
    etas = c.eta[None, :] * ctx.decays[:, None]  # [J, k]
    found = ctx.search(ctx.problem, ctx.raw, c.actions, c.returns, d, active, etas,
                       c.index + 1 < ctx.grad_steps)
    return _Step(
        index=c.index + 1, actions=found.actions, returns=found.returns, grad=found.grad,
        done=c.done | ~found.accepted,
        eta=next_eta(ctx.step_rule, c.eta, found.eta, found.accepted, ctx.step_decay),
        info=c.info.add(grad_steps=jnp.sum(found.accepted), line_search_trials=found.trials,
                        num_rollouts=jnp.sum(~c.done) + found.trials,
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


def _raw(rollout: Rollout, obs: Array, key: Array, a: Array) -> Array:
    """``rollout``'s returns of ``a: [n, T, A]``, float32 ``[n]`` (maybe not finite)."""
    return check_returns(rollout(obs, a, key), a.shape[0]).astype(jnp.float32)


def _parallel(problem: Problem, raw: Callable[[Array], Array], a: Array, r: Array,
              d: Array, active: Array, etas: Array, want_grad: Array) -> _Search:
    """The ``"parallel"`` line search (:func:`~cemgd.planners.gradient_options.parallel_trials`),
    then the gradient at the accepted candidates."""
    actions, returns, accepted, eta, trials, bad = parallel_trials(problem, raw, a, r, d,
                                                                   active, etas)
    grad = _grad_at(raw, actions, accepted & want_grad)
    return _Search(actions, returns, grad, accepted, eta, trials, bad)


#: kept one release: the options beyond the paper are :mod:`cemgd.planners.gradient_options`'
__getattr__ = moved("cemgd.planners.gradient", {
    n: f"cemgd.planners.gradient_options.{n}" for n in ("MAX_SCALED_STEP",)})
