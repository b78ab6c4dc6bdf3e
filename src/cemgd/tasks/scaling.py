"""Scaling: one nonconvex task in any action dimension, with a computable optimum.

The dimension study of the CEM-GD paper (Sections 2.3 and 3.2) asks how the
samples a planner needs grow with the action dimension ``d``. This task makes
that question clean: ``d`` independent copies of one 1-D problem, so the
horizon-``T`` optimum is exactly ``d`` times the 1-D optimum, which
:meth:`Scaling.optimal_return` computes once (and caches).

Each dimension ``i`` is a velocity-controlled point ``x_i`` on a line:
``x_i' = x_i + max_step * a_i`` with ``a_i in [-1, 1]``, all starting at
``x_i = start``. Its reward, scored at the next position, is a two-peaked
landscape::

    g(x) = exp(-(x - 1)^2 / (2 width^2)) + local_height * exp(-(x + 1)^2 / (2 width^2))
    r    = sum_i [g(x_i') - action_cost * a_i^2]

With the defaults the valley between the peaks bottoms out at ``x ~ -0.2``
(``g ~ 0.34``) and the start ``-0.3`` lies just on the *local* side: gradient
ascent from the zero sequence (the mean every CEM search starts from) climbs to
the local peak of height ``local_height`` near ``x = -1``, while the global
optimum crosses the valley to the peak of height 1 near ``x = +1``. One
dimension is easy for a sampling planner (a few hundred samples find the
crossing); getting all ``d`` crossings right at once gets harder with ``d``, and
a gradient step cannot move a dimension from one basin to the other.

Observation (= state): the positions ``obs = [x_1, ..., x_d]``. Returns are
summed over dimensions, so they grow with ``d``; compare across ``d`` with
:meth:`Scaling.normalized` (``returns / optimal_return``: 1 at the optimum, and
``local_return / optimal_return``, about 0.52 for the defaults and
``horizon = 30``, when every dimension sits in the local basin, whatever ``d``).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from cemgd.problem import Array
from cemgd.tasks.base import Task
from cemgd.validate import check_finite, check_int, check_nonnegative, check_positive

#: Largest action dimension accepted.
MAX_ACTION_DIM = 1024


@dataclass(frozen=True, eq=False)
class Scaling(Task):
    """``d`` independent 1-D two-peak problems; the optimum is ``d`` times the 1-D one.

    Attributes:
        action_dim: the dimension ``d`` (also the observation size), in ``[1, 1024]``.
        episode_length: steps of one episode.
        max_step: distance moved per step at ``|a_i| = 1``.
        width: width of both reward peaks.
        local_height: height of the local peak at ``x = -1``, in ``(0, 1)``.
        action_cost: weight of ``a_i^2`` in the reward.
        start: start position of every dimension (left of the valley's bottom puts it
            in the local basin).
    """

    name: ClassVar[str] = "scaling"
    action_dim: int = 1
    episode_length: int = 50
    max_step: float = 0.3
    width: float = 0.6
    local_height: float = 0.5
    action_cost: float = 0.01
    start: float = -0.3

    def __post_init__(self) -> None:
        check_int("action_dim", self.action_dim, 1, MAX_ACTION_DIM)
        check_int("episode_length", self.episode_length, 1)
        check_positive("max_step", self.max_step)
        check_positive("width", self.width)
        check_positive("local_height", self.local_height)
        if self.local_height >= 1.0:
            raise ValueError(f"local_height: expected a number in (0, 1), got {self.local_height}")
        check_nonnegative("action_cost", self.action_cost)
        check_finite("start", self.start)

    @property
    def obs_dim(self) -> int:
        """Size of an observation: one position per dimension."""
        return self.action_dim

    def reset(self, key: Array) -> Array:
        """Every point at ``start``: ``obs: [d]`` (``key`` is unused)."""
        del key
        return jnp.full((self.action_dim,), self.start, dtype=jnp.float32)

    def landscape(self, x: Array) -> Array:
        """The per-dimension reward landscape ``g(x)``, elementwise."""
        scale = 2.0 * self.width**2
        return jnp.exp(-((x - 1.0) ** 2) / scale) + self.local_height * jnp.exp(
            -((x + 1.0) ** 2) / scale
        )

    def step(self, obs: Array, action: Array) -> tuple[Array, Array]:
        """``obs: [d], action: [d] -> (next_obs: [d], reward: [])``; clips the action."""
        action = self.clip(action)
        next_obs = obs + self.max_step * action
        reward = jnp.sum(self.landscape(next_obs) - self.action_cost * action**2)
        return next_obs, reward

    def optimal_return(self, horizon: int) -> float:
        """Best return of the horizon-``horizon`` problem from :meth:`reset` (``d`` x 1-D)."""
        return self.action_dim * self._solve(horizon).best_return

    def optimal_actions(self, horizon: int) -> np.ndarray:
        """An optimal sequence from :meth:`reset`, ``[horizon, d]`` (the 1-D one, repeated)."""
        best = self._solve(horizon).best_actions
        return np.repeat(best[:, None], self.action_dim, axis=1)

    def local_return(self, horizon: int) -> float:
        """Return of the local optimum gradient ascent reaches from the zero sequence.

        With the defaults every dimension then sits on the local peak; ``d`` x 1-D.
        """
        return self.action_dim * self._solve(horizon).local_return

    def local_actions(self, horizon: int) -> np.ndarray:
        """The local optimum reached from the zero sequence, ``[horizon, d]``."""
        local = self._solve(horizon).local_actions
        return np.repeat(local[:, None], self.action_dim, axis=1)

    def normalized(self, returns: Array | np.ndarray | float, horizon: int) -> np.ndarray:
        """``returns / optimal_return(horizon)``: 1 at the optimum, comparable across ``d``.

        Use ``horizon = T`` for planning returns from :meth:`reset` and
        ``horizon = episode_length`` for the return of a whole episode (the
        dynamics are deterministic, so the open-loop optimum is also the best
        closed-loop return).
        """
        return np.asarray(returns, dtype=np.float64) / self.optimal_return(horizon)

    def _solve(self, horizon: int) -> _Solution1D:
        check_int("horizon", horizon, 1)
        constants = (
            float(self.max_step),
            float(self.width),
            float(self.local_height),
            float(self.action_cost),
            float(self.start),
        )
        return _solve_1d(constants, int(horizon))


class _Solution1D(NamedTuple):
    best_return: float
    best_actions: np.ndarray  # [T]
    local_return: float
    local_actions: np.ndarray  # [T]


@functools.lru_cache(maxsize=256)
def _search_starts(horizon: int) -> np.ndarray:
    """Starts of the 1-D search: ``[S, horizon]``, the zero sequence first (the local
    optimum is climbed from it), then "move at speed v for k steps", then random ones."""
    t = np.arange(horizon)[None, :]
    speeds = np.concatenate([np.linspace(0.25, 1.0, 7), -np.linspace(0.25, 1.0, 4)])
    stops = np.unique(np.linspace(1, horizon, min(horizon, 12)).astype(int))
    moves = speeds[:, None, None] * (t[None] < stops[None, :, None])
    return np.concatenate([
        np.zeros((1, horizon)),
        moves.reshape(-1, horizon),
        np.random.default_rng(0).uniform(-1.0, 1.0, (16, horizon)),
    ])


def _solve_1d(constants: tuple[float, float, float, float, float], horizon: int) -> _Solution1D:
    """The global optimum and the local one (climbed from zeros) of one dimension.

    Many-start projected gradient ascent with backtracking and a trust region (no
    action moves by more than 0.05 per step), vmapped over starts:
    "move at speed ``v`` (either way) for ``k`` steps, then stop" for a grid of
    ``(v, k)``, the zero sequence, and random sequences. The landscape is 1-D and
    smooth, so the best of these converged starts is the optimum to about 1e-5
    relative (checked against float64 L-BFGS-B from 200 starts).
    """
    max_step, width, local_height, action_cost, start = constants
    task = Scaling(
        action_dim=1,
        max_step=max_step,
        width=width,
        local_height=local_height,
        action_cost=action_cost,
        start=start,
    )
    obs = task.reset(None)
    starts = _search_starts(horizon)

    def value(actions: Array) -> Array:
        return task.true_rollout(obs, actions[None])[0]

    value_and_grad = jax.value_and_grad(value)

    def ascend(actions: Array) -> tuple[Array, Array]:
        def body(_: int, carry: tuple[Array, Array]) -> tuple[Array, Array]:
            actions, eta = carry
            current, grad = value_and_grad(actions)

            def too_long(trial: tuple[Array, Array]) -> Array:
                step, count = trial
                return (value(task.clip(actions + step * grad)) <= current) & (count < 30)

            # Steps change no action by more than 0.05, so no start jumps basins.
            eta = jnp.minimum(2 * eta, 0.05 / (jnp.max(jnp.abs(grad)) + 1e-12))
            eta, _ = jax.lax.while_loop(too_long, lambda c: (0.5 * c[0], c[1] + 1), (eta, 0))
            proposal = task.clip(actions + eta * grad)
            better = value(proposal) > current
            return jnp.where(better, proposal, actions), jnp.where(better, eta, 0.1)

        actions, _ = jax.lax.fori_loop(0, 1500, body, (actions, jnp.float32(0.1)))
        return value(actions), actions

    values, solutions = jax.jit(jax.vmap(ascend))(jnp.asarray(starts, jnp.float32)[..., None])
    values, solutions = np.asarray(values, np.float64), np.asarray(solutions[..., 0])
    best = int(np.argmax(values))
    if not math.isfinite(values[best]):
        raise RuntimeError("optimal_return: the 1-D search produced a non-finite return")
    return _Solution1D(float(values[best]), solutions[best], float(values[0]), solutions[0])
