"""Scaling: one nonconvex task in any action dimension, with a computable optimum.

The dimension study of the CEM-GD paper (Sections 2.3 and 3.2) asks how the
samples a planner needs grow with the action dimension ``d``. This task makes
that question clean: ``d`` independent copies of one 1-D problem, so the
horizon-``T`` optimum is exactly ``d`` times the 1-D optimum, which
:meth:`Scaling.optimal_return` computes once (and caches).

Each dimension ``i`` is a velocity-controlled point ``x_i`` on a line:
``x_i' = x_i + max_step * a_i`` with ``a_i in [-1, 1]``, starting at ``x_i = -1``.
Its reward, scored at the next position, is a two-peaked landscape::

    g(x) = exp(-(x - 1)^2 / (2 width^2)) + local_height * exp(-(x + 1)^2 / (2 width^2))
    r    = sum_i [g(x_i') - action_cost * a_i^2]

The agent starts on the *local* peak (height ``local_height < 1``): standing
still (the zero action, also the mean a CEM search starts from) is a strict local
optimum of the planning problem, and the global one crosses the valley to the
peak of height 1 at ``x = +1``. For a sampling planner the chance of getting all
``d`` crossings right at once shrinks with ``d``; a gradient step cannot move a
dimension out of the local basin.

Observation (= state): the positions ``obs = [x_1, ..., x_d]``. Returns are
summed over dimensions, so they grow with ``d``; compare across ``d`` with
:meth:`Scaling.normalized` (``returns / optimal_return``: 1 at the optimum, the
stand-still local optimum is at ``local_return / optimal_return``, about 0.60
for the defaults and ``horizon = 30``, whatever ``d``).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from cemgd.problem import Array
from cemgd.tasks.base import Task, check_int, check_nonnegative, check_positive

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
    """

    name: ClassVar[str] = "scaling"
    action_dim: int = 1
    episode_length: int = 50
    max_step: float = 0.2
    width: float = 0.5
    local_height: float = 0.5
    action_cost: float = 0.01
    start: float = -0.5

    def __post_init__(self) -> None:
        check_int("action_dim", self.action_dim, 1, MAX_ACTION_DIM)
        check_int("episode_length", self.episode_length, 1)
        check_positive("max_step", self.max_step)
        check_positive("width", self.width)
        check_positive("local_height", self.local_height)
        if self.local_height >= 1.0:
            raise ValueError(f"local_height: expected a number in (0, 1), got {self.local_height}")
        check_nonnegative("action_cost", self.action_cost)

    @property
    def obs_dim(self) -> int:
        """Size of an observation: one position per dimension."""
        return self.action_dim

    def reset(self, key: Array) -> Array:
        """Every point on the local peak, ``x = -1``: ``obs: [d]`` (``key`` is unused)."""
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

    def _constants(self) -> tuple[float, float, float, float, float]:
        return (
            float(self.max_step),
            float(self.width),
            float(self.local_height),
            float(self.action_cost),
            float(self.start),
        )

    def optimal_return(self, horizon: int) -> float:
        """Best return of the horizon-``horizon`` problem from :meth:`reset` (``d`` x 1-D)."""
        check_int("horizon", horizon, 1)
        return self.action_dim * _optimal_1d(self._constants(), int(horizon))[0]

    def optimal_actions(self, horizon: int) -> np.ndarray:
        """An optimal sequence from :meth:`reset`, ``[horizon, d]`` (the 1-D one, repeated)."""
        check_int("horizon", horizon, 1)
        best = _optimal_1d(self._constants(), int(horizon))[1]
        return np.repeat(best[:, None], self.action_dim, axis=1)

    def local_return(self, horizon: int) -> float:
        """Return of standing still (zero actions) from :meth:`reset`: the local optimum."""
        check_int("horizon", horizon, 1)
        per_dim = float(self.landscape(jnp.float32(-1.0)))
        return self.action_dim * horizon * per_dim

    def normalized(self, returns: Array | np.ndarray | float, horizon: int) -> np.ndarray:
        """``returns / optimal_return(horizon)``: 1 at the optimum, comparable across ``d``.

        Use ``horizon = T`` for planning returns from :meth:`reset` and
        ``horizon = episode_length`` for the return of a whole episode (the
        dynamics are deterministic, so the open-loop optimum is also the best
        closed-loop return).
        """
        return np.asarray(returns, dtype=np.float64) / self.optimal_return(horizon)


@functools.lru_cache(maxsize=256)
def _optimal_1d(
    constants: tuple[float, float, float, float, float], horizon: int
) -> tuple[float, np.ndarray]:
    """Best return and sequence ``[T]`` of one dimension, from ``x = -1``.

    Many-start projected gradient ascent with backtracking, vmapped over starts:
    "go right at speed ``v`` for ``k`` steps, then stop" for a grid of ``(v, k)``,
    standing still, and random sequences. The landscape is 1-D and smooth, so the
    best of these converged starts is the optimum to float32 precision.
    """
    task = Scaling(
        action_dim=1,
        max_step=constants[0],
        width=constants[1],
        local_height=constants[2],
        action_cost=constants[3],
        start=constants[4],
    )
    obs = task.reset(None)
    t = np.arange(horizon)[None, :]
    speeds = np.linspace(0.25, 1.0, 7)
    stops = np.unique(np.linspace(1, horizon, min(horizon, 12)).astype(int))
    grid = [(speeds[:, None, None] * (t[None] < stops[None, :, None])).reshape(-1, horizon)]
    grid.append(np.zeros((1, horizon)))
    grid.append(np.random.default_rng(0).uniform(-1.0, 1.0, (16, horizon)))
    starts = jnp.asarray(np.concatenate(grid), dtype=jnp.float32)[..., None]

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

            eta, _ = jax.lax.while_loop(too_long, lambda c: (0.5 * c[0], c[1] + 1), (2 * eta, 0))
            proposal = task.clip(actions + eta * grad)
            better = value(proposal) > current
            return jnp.where(better, proposal, actions), jnp.where(better, eta, 0.1)

        actions, _ = jax.lax.fori_loop(0, 1500, body, (actions, jnp.float32(0.1)))
        return value(actions), actions

    values, solutions = jax.jit(jax.vmap(ascend))(starts)
    best = int(jnp.argmax(values))
    value_best = float(values[best])
    if not math.isfinite(value_best):
        raise RuntimeError("optimal_return: the 1-D search produced a non-finite return")
    return value_best, np.asarray(solutions[best, :, 0])
