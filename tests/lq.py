"""A linear-quadratic planning problem with its optimum from the Riccati recursion."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import cemgd


def double_integrators(action_dim: int, dt: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """``A: [2d, 2d]``, ``B: [2d, d]`` for ``d`` independent double integrators."""
    a1 = np.array([[1.0, dt], [0.0, 1.0]])
    b1 = np.array([[0.5 * dt**2], [dt]])
    return np.kron(np.eye(action_dim), a1), np.kron(np.eye(action_dim), b1)


class LQ:
    """``x' = A x + B u``; return ``-sum_t (x_{t+1}' Q x_{t+1} + u_t' R u_t)`` (paper Eq. 1)."""

    def __init__(self, action_dim: int, horizon: int, r: float = 0.1, bound: float = 5.0):
        self.A, self.B = double_integrators(action_dim)
        self.Q = np.eye(2 * action_dim)
        self.R = r * np.eye(action_dim)
        self.horizon = horizon
        self.bound = bound
        self.action_dim = action_dim

    def rollout(self, obs: jax.Array, actions: jax.Array, key: jax.Array) -> jax.Array:
        A, B, Q, R = (jnp.asarray(m, jnp.float32) for m in (self.A, self.B, self.Q, self.R))

        def step(x, u):
            x = x @ A.T + u @ B.T
            return x, -jnp.einsum("bi,ij,bj->b", x, Q, x) - jnp.einsum("bi,ij,bj->b", u, R, u)

        x0 = jnp.broadcast_to(obs, (actions.shape[0], obs.shape[0]))
        _, rewards = jax.lax.scan(step, x0, jnp.swapaxes(actions, 0, 1))
        return rewards.sum(0)

    def problem(self) -> cemgd.Problem:
        b = self.bound * np.ones(self.action_dim)
        return cemgd.Problem(self.rollout, self.horizon, -b, b, obs_shape=(2 * self.action_dim,))

    def riccati(self, x0: np.ndarray) -> tuple[float, np.ndarray]:
        """Optimal return and actions ``[T, A]`` by the backward Riccati recursion."""
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
        return float(-x0 @ P @ x0), np.array(us)
