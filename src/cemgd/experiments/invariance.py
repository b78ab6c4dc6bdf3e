"""Scale invariance: closed-loop LQ control over action boxes and return scales.

A linear-quadratic problem (``d`` independent double integrators) is written in
scaled units: actions ``u = s * u0`` in a box ``[-s, s]`` (``B / s``, ``R / s^2``,
so every ``s`` gives the same motion and the optimum stays interior) and the
return multiplied by ``c``. A scale-free planner gives the same closed loop at
every ``(s, c)``; :func:`study` measures each planner's closed-loop return as a
fraction of the Riccati optimum of the episode over a grid of ``(s, c)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cemgd.planners.base import Planner
from cemgd.planners.spec import make_planner
from cemgd.problem import Array, Problem

#: Half-widths of the action box of the study (the optimum needs about 0.84 s).
BOXES: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0)
#: Factors the return is multiplied by.
RETURN_SCALES: tuple[float, ...] = (1e-3, 1.0, 1e3)


def double_integrators(action_dim: int, dt: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """``A: [2d, 2d]``, ``B: [2d, d]`` for ``d`` independent double integrators."""
    a1 = np.array([[1.0, dt], [0.0, 1.0]])
    b1 = np.array([[0.5 * dt**2], [dt]])
    return np.kron(np.eye(action_dim), a1), np.kron(np.eye(action_dim), b1)


class LQ:
    """``x' = A x + B u``; return ``-c sum_t (x_{t+1}' Q x_{t+1} + u_t' R u_t)`` (paper Eq. 1).

    With ``action_scale = s`` the actions are in units ``s`` times larger (``B / s``,
    ``R / s^2``) and the box is ``[-s * bound, s * bound]``: the same motion at every
    ``s``; ``return_scale = c`` multiplies the return.
    """

    def __init__(self, action_dim: int, horizon: int, r: float = 0.1, bound: float = 5.0,
                 action_scale: float = 1.0, return_scale: float = 1.0) -> None:
        self.A, b = double_integrators(action_dim)
        self.B = b / action_scale
        self.Q = np.eye(2 * action_dim)
        self.R = r * np.eye(action_dim) / action_scale**2
        self.horizon = horizon
        self.bound = bound * action_scale
        self.action_dim = action_dim
        self.return_scale = return_scale

    def rollout(self, obs: Array, actions: Array, key: Array) -> Array:
        """``obs: [2d], actions: [B, T, d] -> returns: [B]``."""
        A, B, Q, R = (jnp.asarray(m, jnp.float32) for m in (self.A, self.B, self.Q, self.R))

        def step(x: Array, u: Array) -> tuple[Array, Array]:
            x = x @ A.T + u @ B.T
            return x, -jnp.einsum("bi,ij,bj->b", x, Q, x) - jnp.einsum("bi,ij,bj->b", u, R, u)

        x0 = jnp.broadcast_to(obs, (actions.shape[0], obs.shape[0]))
        _, rewards = jax.lax.scan(step, x0, jnp.swapaxes(actions, 0, 1))
        return self.return_scale * rewards.sum(0)

    def problem(self) -> Problem:
        """The planning problem over the box ``[-bound, bound]^d``."""
        b = self.bound * np.ones(self.action_dim)
        return Problem(self.rollout, self.horizon, -b, b, obs_shape=(2 * self.action_dim,))

    def riccati(self, x0: np.ndarray) -> tuple[float, np.ndarray]:
        """Optimal return and actions ``[T, d]`` by the backward Riccati recursion."""
        A, B, Q, R = self.A, self.B, self.Q, self.R
        P = Q.copy()  # value of x_T
        gains = []
        for t in reversed(range(self.horizon)):
            K = np.linalg.solve(R + B.T @ P @ B, B.T @ P @ A)
            gains.append(K)
            P = A.T @ P @ (A - B @ K) + (Q if t > 0 else 0.0)
        gains.reverse()
        x, us = x0.astype(np.float64), []
        for K in gains:
            u = -K @ x
            us.append(u)
            x = A @ x + B @ u
        return float(-x0 @ P @ x0) * self.return_scale, np.array(us)


def start_state(action_dim: int) -> np.ndarray:
    """The study's initial state ``[2d]``: positions and velocities from 1 to -1."""
    return np.array([1.0, 0.0] * action_dim) * np.linspace(1, -1, 2 * action_dim)


def closed_loop(planner: Planner, lq: LQ, x0: np.ndarray, steps: int, key: Array) -> Any:
    """Closed-loop MPC on ``lq`` for ``steps`` steps (one jitted scan).

    Returns:
        ``(total return, returns of the plans [steps], returns of the warm starts
        [steps])``; a warm start's return is that of the shifted previous plan from the
        step's state (the first step's is the initial state's mean).
    """
    problem = lq.problem()
    first = planner.plan_fn(problem, first=True)
    later = planner.plan_fn(problem, first=False)
    A, B = jnp.asarray(lq.A, jnp.float32), jnp.asarray(lq.B, jnp.float32)

    def act(x: Array, state: Any, plan: Any) -> tuple[Array, Any, Array, Array]:
        warm = lq.rollout(x, problem.clip(state.mean)[None], key)[0]
        actions, state, info = plan(state, x)
        return actions, state, info.best_return, warm

    @jax.jit
    def run(key: Array) -> tuple[Array, Array, Array]:
        x = jnp.asarray(x0, jnp.float32)
        state = planner.initial_state(problem, key)
        actions, state, best0, warm0 = act(x, state, first)

        def body(carry: tuple, _: None) -> tuple[tuple, tuple]:
            x, state, u = carry
            reward = lq.rollout(x, u[None, None], key)[0]
            x = x @ A.T + u @ B.T
            actions, state, best, warm = act(x, state, later)
            return (x, state, actions[0]), (reward, best, warm)

        _, (rewards, best, warm) = jax.lax.scan(body, (x, state, actions[0]), None,
                                                length=steps)
        # the scan's last plan comes after the episode's last step: drop it
        cat = lambda a, b: jnp.concatenate([a[None], b[:-1]])
        return jnp.sum(rewards), cat(best0, best), cat(warm0, warm)

    total, best, warm = run(key)
    return float(total), np.asarray(best), np.asarray(warm)


def study(
    planners: Sequence[str], boxes: Iterable[float] = BOXES,
    return_scales: Iterable[float] = RETURN_SCALES, action_dim: int = 2, horizon: int = 15,
    steps: int = 20, seeds: int = 1, r: float = 1.0,
) -> list[dict[str, Any]]:
    """Closed-loop return / Riccati optimum for every planner, box and return scale.

    Returns one row per ``(planner, box, return scale)`` with ``ratio`` (the mean over
    ``seeds`` of closed-loop return over the optimum; 1 is optimal, costs are negative
    returns so a ratio above 1 is worse) and ``gap`` (``ratio - 1``).
    """
    rows = []
    x0 = start_state(action_dim)
    for spec in planners:
        planner = make_planner(spec)
        for box in boxes:
            for scale in return_scales:
                lq = LQ(action_dim, horizon, r=r, bound=1.0, action_scale=box,
                        return_scale=scale)
                optimum, _ = LQ(action_dim, steps, r=r, bound=1.0, action_scale=box,
                                return_scale=scale).riccati(x0)
                totals = [closed_loop(planner, lq, x0, steps, jax.random.key(s))[0]
                          for s in range(seeds)]
                ratio = float(np.mean(totals)) / optimum
                rows.append({"planner": spec, "box": box, "return_scale": scale,
                             "ratio": ratio, "gap": ratio - 1.0})
    return rows
