"""gradient_ascent against a plain-Python reference of Algorithm 1's inner loops, and the
number of rollout passes an accepted step costs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cemgd
from cemgd.models import init_ensemble, make_rollout
from cemgd.planners.gradient import (
    GradientSettings,
    gradient_ascent,
    gradient_objective,
    refine_and_pick,
)
from cemgd.planners.gradient_options import ascent_direction
from cemgd.planners.objectives import GRAD_OBJECTIVES

OBS, KEY = jnp.array([0.2, -0.1, 0.3]), jax.random.key(0)
G, RHO, J = 4, 0.5, 5
#: eta_init per (line search, step rule): trials get rejected, no step is a near-tie
ETA = {("sequential", "paper"): 10.0, ("parallel", "paper"): 2.0,
       ("sequential", "scaled"): 2.0, ("parallel", "scaled"): 2.0,
       ("sequential", "adam"): 1.0, ("parallel", "adam"): 1.0}


def _reward(obs, action, next_obs):
    return next_obs[..., 0] - 0.1 * jnp.sum(action**2, axis=-1)


def _problem() -> cemgd.Problem:
    """A 3-member ensemble; gradient steps see its members' returns ``[B, 3]``."""
    params = init_ensemble(jax.random.key(4), 3, 2, 3, 16, 2)
    rollout = make_rollout(params, _reward, 3, sample=False)
    per_member = make_rollout(params, _reward, 3, sample=False, per_particle=True)
    return cemgd.Problem(rollout, 6, -np.ones(2), np.ones(2), obs_shape=(3,),
                         grad_rollout=per_member)


def _adam(g, m, v, t):
    """torch's Adam direction (b1 0.9, b2 0.999, eps 1e-8) after ``t`` accepted steps."""
    m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g**2
    return (m / (1 - 0.9 ** (t + 1))) / (np.sqrt(v / (1 - 0.999 ** (t + 1))) + 1e-8), m, v


def _reference(problem, starts, objective, line_search, step_rule):
    """Each sequence alone, one Python loop per gradient step and per trial."""
    f = gradient_objective(problem, objective, 0.5)
    value = jax.jit(lambda a: f(OBS, a, KEY))
    grad = jax.jit(jax.grad(lambda a: value(a)[0]))
    out, steps, trials = [], 0, 0
    for i in range(starts.shape[0]):
        a, eta = starts[i:i + 1], ETA[line_search, step_rule]
        r, m, v, t = float(value(a)[0]), 0.0, 0.0, 0
        for _ in range(G):
            if step_rule == "adam":
                d, m_new, v_new = _adam(np.asarray(grad(a), np.float64), m, v, t)
            else:
                d = ascent_direction(grad(a), problem, step_rule)
            cands = [problem.clip(a + eta * RHO**j * d) for j in range(J)]
            if line_search == "parallel":
                rc = [float(x) for x in value(jnp.concatenate(cands))]
                best = int(np.argmax(rc))
                trials += J
                accepted = [best] if rc[best] > r else []
            else:
                accepted = []
                for j, cand in enumerate(cands):
                    trials += 1
                    if float(value(cand)[0]) > r:
                        accepted = [j]
                        break
            if not accepted:
                break
            j = accepted[0]
            a, r, steps = cands[j], float(value(cands[j])[0]), steps + 1
            if step_rule == "adam":
                m, v, t = m_new, v_new, t + 1
            if step_rule == "scaled":
                eta = min(eta * RHO**j / RHO, 2.0)
        out.append((a[0], r))
    return jnp.stack([a for a, _ in out]), np.array([r for _, r in out]), steps, trials


@pytest.mark.parametrize("objective", GRAD_OBJECTIVES)
@pytest.mark.parametrize("line_search", ["sequential", "parallel"])
def test_matches_the_plain_python_reference(objective, line_search):
    problem = _problem()
    starts = jax.random.uniform(jax.random.key(1), (3, 6, 2), minval=-1, maxval=1)
    rule = {"cvar": "scaled", "sampled": "adam"}.get(objective, "paper")  # every rule
    eta = ETA[line_search, rule]
    settings = GradientSettings(grad_steps=G, step_size=eta, step_decay=RHO,
                                line_search_trials=J, line_search=line_search, step_rule=rule,
                                grad_objective=objective, risk=0.5)
    got_actions, got_returns, info = jax.jit(lambda a: gradient_ascent(
        problem, OBS, a, problem.rollout(OBS, a, KEY), KEY, settings))(starts)
    actions, returns, steps, trials = _reference(problem, starts, objective, line_search, rule)
    assert int(info.grad_steps) == steps
    assert int(info.line_search_trials) == trials
    # Adam divides by the gradient's size: float32 rounding of the batched and the single
    # rollouts' gradients (about 1e-7) grows to about 1e-5 over its steps
    tol = 1e-5 if rule == "adam" else 1e-6
    np.testing.assert_allclose(got_actions, actions, rtol=1e-5, atol=tol)
    np.testing.assert_allclose(got_returns, returns, rtol=1e-5, atol=tol)
    assert steps > 0
    if line_search == "sequential":
        assert trials > steps  # rejected trials


def test_an_accepted_step_costs_one_forward_backward():
    """G steps, each accepted at its first trial: the rollout runs once at the starts and
    once per trial (G + 1 forward passes, the backward passes reuse them), not 2 G."""
    calls = []

    def rollout(obs, actions, key):
        jax.debug.callback(lambda: calls.append(1))
        return -jnp.sum((actions - 0.5) ** 2, axis=(1, 2))

    problem = cemgd.Problem(rollout, 4, -np.ones(2), np.ones(2))
    start = jnp.zeros((1, 4, 2))
    settings = GradientSettings(grad_steps=6, step_size=0.05, step_decay=RHO,
                                line_search_trials=J)
    run = jax.jit(lambda a: gradient_ascent(problem, OBS, a, rollout(OBS, a, KEY), KEY,
                                            settings))
    jax.block_until_ready(run(start))
    calls.clear()
    info = jax.block_until_ready(run(start))[2]
    jax.effects_barrier()
    assert int(info.grad_steps) == 6 and int(info.line_search_trials) == 6
    assert len(calls) == 1 + 1 + 6  # the passed-in returns, the starts' gradient, 6 trials


def test_refine_and_pick_counts_the_re_evaluated_sequences():
    problem = cemgd.Problem(lambda o, a, k: -jnp.sum((a - 0.5) ** 2, axis=(1, 2)), 4,
                            -np.ones(2), np.ones(2))
    starts = jnp.zeros((3, 4, 2))
    _, _, info = refine_and_pick(problem, OBS, starts, problem.rollout(OBS, starts, KEY), KEY,
                                 GradientSettings(top_k=3, grad_steps=2, step_size=0.05))
    # 2 steps of 3 gradients (the starts', the accepted ones'), every trial, 3 re-evaluated
    assert int(info.num_rollouts) == 3 * 2 + int(info.line_search_trials) + 3


def test_refine_and_pick_keeps_starts_that_have_no_finite_return():
    """No finite start: nothing is refined or evaluated; one finite start: it is refined
    (the other start, truly worse, stays behind); with ``grad_rollout`` the starts are
    re-scored under it, so ``-inf`` starts are still climbed."""
    def quadratic(o, a, k):
        return -jnp.sum((a - 0.5) ** 2, axis=(1, 2))

    problem = cemgd.Problem(quadratic, 4, -np.ones(2), np.ones(2))
    starts = jnp.stack([jnp.full((4, 2), -1.0), jnp.full((4, 2), -0.5)])  # -18 and -8
    settings = GradientSettings(top_k=2, grad_steps=2, step_size=0.05)
    kept, kept_return, info = refine_and_pick(problem, OBS, starts, jnp.full((2,), -jnp.inf),
                                              KEY, settings)
    np.testing.assert_array_equal(np.asarray(kept), np.asarray(starts[0]))
    assert float(kept_return) == -np.inf
    assert int(info.num_rollouts) == 0 and int(info.grad_steps) == 0
    _, one_return, info = refine_and_pick(problem, OBS, starts, jnp.array([-np.inf, -8.0]), KEY,
                                          settings)
    assert int(info.grad_steps) > 0 and int(info.num_rollouts) > 2
    assert float(one_return) > -8.0
    rescored = cemgd.Problem(quadratic, 4, -np.ones(2), np.ones(2), grad_rollout=quadratic)
    _, climbed_return, info = refine_and_pick(rescored, OBS, starts, jnp.full((2,), -jnp.inf),
                                              KEY, settings)
    assert int(info.grad_steps) > 0 and float(climbed_return) > -8.0
