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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp

from cemgd.problem import Array, Problem, evaluate, i32
from cemgd.validate import check_int, check_range

LineSearch = Literal["sequential", "parallel"]


class Ascent(NamedTuple):
    """Result of :func:`gradient_ascent`.

    Attributes:
        actions: refined sequences, ``[k, T, A]``.
        returns: their returns under the ascent's objective
            (:attr:`~cemgd.problem.Problem.rollout_for_gradient`), ``[k]``, never below
            the starting ones.
        grad_steps: accepted gradient steps, summed over ``k``.
        line_search_trials: trials, summed over ``k``.
        num_rollouts: sequences evaluated (gradient evaluations, and with
            ``problem.grad_rollout`` the ``k`` re-evaluated starts, included).
        num_nonfinite: non-finite evaluations.
    """

    actions: Array
    returns: Array
    grad_steps: Array
    line_search_trials: Array
    num_rollouts: Array
    num_nonfinite: Array


def gradient_ascent(
    problem: Problem,
    obs: Array,
    actions: Array,
    returns: Array,
    key: Array,
    grad_steps: int,
    step_size: float,
    step_decay: float,
    line_search_trials: int,
    line_search: LineSearch = "sequential",
) -> Ascent:
    """Refine ``actions: [k, T, A]`` (with known ``returns: [k]``) by projected ascent.

    The objective is :attr:`~cemgd.problem.Problem.rollout_for_gradient`: with
    ``problem.grad_rollout`` set, the starts are first re-scored under it (one batch of
    ``k``), so that every acceptance test compares returns of the same function.

    Args:
        problem: the planning problem (its gradient rollout must be differentiable).
        obs: current observation.
        actions: starting sequences, ``[k, T, A]``, inside the box.
        returns: their returns under ``problem.rollout`` and ``key``, ``[k]`` (``-inf``
            if not finite).
        key: rollout key; every evaluation uses it, so comparisons are paired.
        grad_steps: ``G``, maximum accepted steps per sequence (static).
        step_size: ``eta_init``.
        step_decay: ``rho`` in (0, 1).
        line_search_trials: ``J``, trials per step (static).
        line_search: ``"sequential"`` backtracks one trial at a time (the paper);
            ``"parallel"`` evaluates all ``J`` step sizes in one batched rollout and
            keeps the best improving one.
    """
    k = actions.shape[0]
    rollout = problem.rollout_for_gradient
    n_roll0, n_bad0 = i32(0), i32(0)
    if problem.grad_rollout is not None:
        returns, n_bad0 = evaluate(problem, obs, actions, key, gradient=True)
        n_roll0 = i32(k)

    def objective(a: Array) -> tuple[Array, Array]:
        r = jnp.reshape(rollout(obs, a, key), (k,)).astype(jnp.float32)
        return jnp.sum(jnp.where(jnp.isfinite(r), r, 0.0)), r

    grad_fn = jax.grad(objective, has_aux=True)
    etas = step_size * step_decay ** jnp.arange(line_search_trials, dtype=jnp.float32)

    def one_step(carry: tuple) -> tuple:
        g_idx, a, r, done, n_steps, n_trials, n_roll, n_bad = carry
        g, _ = grad_fn(a)
        g_ok = jnp.all(jnp.isfinite(g), axis=(1, 2))
        g = jnp.where(g_ok[:, None, None], g, 0.0)
        active = ~done & g_ok
        n_roll = n_roll + jnp.sum(~done)
        if line_search == "sequential":
            a_new, r_new, accepted, trials, bad = _backtrack(
                problem, obs, key, a, r, g, active, etas
            )
        else:
            a_new, r_new, accepted, trials, bad = _parallel(
                problem, obs, key, a, r, g, active, etas
            )
        done = done | ~accepted
        return (
            g_idx + 1,
            a_new,
            r_new,
            done,
            n_steps + jnp.sum(accepted),
            n_trials + trials,
            n_roll + trials,
            n_bad + bad,
        )

    def not_finished(carry: tuple) -> Array:
        return (carry[0] < grad_steps) & ~jnp.all(carry[3])

    done0 = ~jnp.isfinite(returns)
    init = (i32(0), actions, returns, done0, i32(0), i32(0), n_roll0, n_bad0)
    _, a, r, _, n_steps, n_trials, n_roll, n_bad = jax.lax.while_loop(
        not_finished, one_step, init
    )
    return Ascent(a, r, n_steps, n_trials, n_roll, n_bad)


def _backtrack(
    problem: Problem, obs: Array, key: Array, a: Array, r: Array, g: Array, active: Array,
    etas: Array,
) -> tuple[Array, Array, Array, Array, Array]:
    """Sequential backtracking: trial ``j`` uses ``etas[j]``; stop at the first rise."""
    num_trials = etas.shape[0]

    def cond(c: tuple) -> Array:
        j, _, _, accepted, _, _ = c
        return (j < num_trials) & jnp.any(active & ~accepted)

    def body(c: tuple) -> tuple:
        j, a_new, r_new, accepted, trials, bad = c
        searching = active & ~accepted
        cand = problem.clip(a + etas[j] * g)
        rc, nb = evaluate(problem, obs, cand, key, gradient=True)
        better = searching & (rc > r)
        a_new = jnp.where(better[:, None, None], cand, a_new)
        r_new = jnp.where(better, rc, r_new)
        return j + 1, a_new, r_new, accepted | better, trials + jnp.sum(searching), bad + nb

    init = (i32(0), a, r, jnp.zeros_like(active), i32(0), i32(0))
    _, a_new, r_new, accepted, trials, bad = jax.lax.while_loop(cond, body, init)
    return a_new, r_new, accepted, trials, bad


def _parallel(
    problem: Problem, obs: Array, key: Array, a: Array, r: Array, g: Array, active: Array,
    etas: Array,
) -> tuple[Array, Array, Array, Array, Array]:
    """All ``J`` step sizes in one batched rollout; keep the best that improves."""
    num_trials = etas.shape[0]
    k = a.shape[0]
    cand = problem.clip(a[None] + etas[:, None, None, None] * g[None])  # [J, k, T, A]
    rc, bad = evaluate(
        problem, obs, cand.reshape(num_trials * k, *a.shape[1:]), key, gradient=True
    )
    rc = rc.reshape(num_trials, k)
    best_j = jnp.argmax(rc, axis=0)
    best_r = jnp.max(rc, axis=0)
    accepted = active & (best_r > r)
    best_a = cand[best_j, jnp.arange(k)]
    a_new = jnp.where(accepted[:, None, None], best_a, a)
    r_new = jnp.where(accepted, best_r, r)
    return a_new, r_new, accepted, i32(num_trials * jnp.sum(active)), bad


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

    def __post_init__(self) -> None:
        check_int("top_k", self.top_k)
        check_int("grad_steps", self.grad_steps, 0)
        check_range("step_size", self.step_size, 0.0, float("inf"), low_open=True)
        check_range("step_decay", self.step_decay, 0.0, 1.0, low_open=True, high_open=True)
        check_int("line_search_trials", self.line_search_trials)
        if self.line_search not in ("sequential", "parallel"):
            raise ValueError(
                f"line_search: expected 'sequential' or 'parallel', got {self.line_search!r}"
            )


class Refined(NamedTuple):
    """Result of :func:`refine_and_pick`.

    Attributes:
        actions: the best refined sequence, ``[T, A]``.
        best_return: its re-evaluated return.
        ascent: the full :class:`Ascent` (counters included).
        num_nonfinite: non-finite evaluations of the ascent and the re-evaluation.
    """

    actions: Array
    best_return: Array
    ascent: Ascent
    num_nonfinite: Array


def refine_and_pick(
    problem: Problem, obs: Array, actions: Array, returns: Array, key: Array,
    config: GradientSettings,
) -> Refined:
    """Gradient ascent on ``actions: [k, T, A]``, then re-evaluate and keep the best.

    The re-evaluation uses ``problem.rollout`` (not ``grad_rollout``), so the returned
    ``best_return`` is on the same scale as every other planner's.
    """
    ascent = gradient_ascent(
        problem, obs, actions, returns, key, config.grad_steps, config.step_size,
        config.step_decay, config.line_search_trials, config.line_search,
    )
    final_returns, final_bad = evaluate(problem, obs, ascent.actions, key)
    best = jnp.argmax(final_returns)
    return Refined(
        ascent.actions[best], final_returns[best], ascent, ascent.num_nonfinite + final_bad
    )
