"""The task bases: :class:`TaskBase`, what every task has (a name, an episode length,
observation size, action box), and :class:`Task`, a task whose dynamics and reward are
known, pure JAX functions (:class:`~cemgd.tasks.env.EnvTask`, the other kind, is a real
environment with a known reward).

For JAX-dynamics tasks the observation *is* the full state, so the true environment can
serve directly as the planner's rollout: :meth:`Task.true_rollout` scores a batch
of action sequences by scanning :meth:`Task.step` over time and vmapping over the
batch, and :meth:`Task.problem` wraps it into a :class:`~cemgd.problem.Problem`.

A subclass is a frozen dataclass of its constants (validated in ``__post_init__``
with a ``ValueError`` naming the field) that fills in ``obs_dim``, ``action_dim``,
``reset`` and ``step``. Actions live in a box, by default ``[-1, 1]^A``; ``step``
clips to it, so an out-of-box action acts like its projection.
"""

from __future__ import annotations

import abc
import functools
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from cemgd.problem import Array, Problem


class TaskBase(abc.ABC):
    """What every task has: a name, an episode length, an observation size and an action
    box (the one owner of these for :class:`Task` and :class:`~cemgd.tasks.env.EnvTask`).

    Attributes:
        name: registry name of the task.
        episode_length: number of steps of one episode (a field of each subclass).
        obs_dim: size ``S`` of an observation.
        action_dim: size ``A`` of an action (default: the size of ``action_low``).
        action_low: lower action bound, ``np.ndarray [A]`` (float32).
        action_high: upper action bound, ``np.ndarray [A]`` (float32).
    """

    name: ClassVar[str] = "task"
    episode_length: int

    @property
    @abc.abstractmethod
    def obs_dim(self) -> int:
        """Size ``S`` of one observation."""

    @property
    @abc.abstractmethod
    def action_low(self) -> np.ndarray:
        """Lower action bound, ``[A]`` (float32)."""

    @property
    @abc.abstractmethod
    def action_high(self) -> np.ndarray:
        """Upper action bound, ``[A]`` (float32)."""

    @property
    def action_dim(self) -> int:
        """Size ``A`` of one action."""
        return int(self.action_low.shape[0])

    def clip(self, action: Array) -> Array:
        """Project ``action: [..., A]`` onto the action box."""
        return jnp.clip(action, jnp.asarray(self.action_low), jnp.asarray(self.action_high))

    def check_action(self, action: Any) -> np.ndarray:
        """``action`` as a numpy ``[A]`` array; ``ValueError`` naming ``action`` otherwise."""
        array = np.asarray(action)
        if array.shape != (self.action_dim,):
            raise ValueError(
                f"action: expected shape [{self.action_dim}], got {tuple(array.shape)}"
            )
        if not np.issubdtype(array.dtype, np.number) or not np.all(np.isfinite(array)):
            raise ValueError(f"action: expected finite numbers, got {action!r}")
        return array


class Task(TaskBase):
    """A deterministic, differentiable environment with a known reward
    (:class:`TaskBase` with JAX ``reset`` and ``step``; the observation is the state).

    A subclass fills in ``obs_dim``, ``action_dim``, ``reset`` and ``step``; the action
    box defaults to ``[-1, 1]^A``.
    """

    # ------------------------------------------------------------------ to fill in
    @property
    @abc.abstractmethod
    def action_dim(self) -> int:
        """Size ``A`` of one action."""

    @abc.abstractmethod
    def reset(self, key: Array) -> Array:
        """Initial observation ``obs: [S]`` (float32) drawn with ``key``."""

    @abc.abstractmethod
    def step(self, obs: Array, action: Array) -> tuple[Array, Array]:
        """One transition: ``obs: [S], action: [A] -> (next_obs: [S], reward: [])``.

        Pure JAX and differentiable; the action is clipped to the box first.
        """

    # ------------------------------------------------------------------ shared
    @property
    def action_low(self) -> np.ndarray:
        """Lower action bound, ``[A]``."""
        return np.full((self.action_dim,), -1.0, dtype=np.float32)

    @property
    def action_high(self) -> np.ndarray:
        """Upper action bound, ``[A]``."""
        return np.full((self.action_dim,), 1.0, dtype=np.float32)

    def true_rollout(self, obs: Array, actions: Array, key: Array | None = None) -> Array:
        """Total reward of each action sequence from ``obs`` under the true dynamics.

        Args:
            obs: start observation, ``[S]``.
            actions: a batch of sequences, ``[B, T, A]``.
            key: unused (the dynamics are deterministic); kept for the rollout contract.

        Returns:
            returns: ``[B]``, ``returns[i] = sum_t reward_t`` of ``actions[i]`` alone.
        """
        del key
        obs = jnp.asarray(obs, dtype=jnp.float32)
        actions = jnp.asarray(actions, dtype=jnp.float32)
        self._check_obs("obs", obs)
        if actions.ndim != 3 or actions.shape[-1] != self.action_dim:
            raise ValueError(
                f"actions: expected shape [B, T, {self.action_dim}], got {tuple(actions.shape)}"
            )
        return _true_rollout(self, obs, actions)

    def episode(self, obs0: Array, actions: Array) -> tuple[Array, Array]:
        """Run one open-loop sequence and keep everything (for plots and evaluation).

        Args:
            obs0: start observation, ``[S]``.
            actions: one sequence, ``[T, A]``.

        Returns:
            obs: visited observations including ``obs0``, ``[T + 1, S]``.
            rewards: ``[T]``.
        """
        obs0 = jnp.asarray(obs0, dtype=jnp.float32)
        actions = jnp.asarray(actions, dtype=jnp.float32)
        self._check_obs("obs0", obs0)
        if actions.ndim != 2 or actions.shape[-1] != self.action_dim:
            raise ValueError(
                f"actions: expected shape [T, {self.action_dim}], got {tuple(actions.shape)}"
            )
        return _episode(self, obs0, actions)

    def problem(self, horizon: int) -> Problem:
        """The horizon-``horizon`` planning problem on the true dynamics."""
        return Problem(
            rollout=self.true_rollout,
            horizon=horizon,
            action_low=self.action_low,
            action_high=self.action_high,
            obs_shape=(self.obs_dim,),
        )

    def _check_obs(self, field: str, obs: Array) -> None:
        if obs.shape != (self.obs_dim,):
            raise ValueError(f"{field}: expected shape [{self.obs_dim}], got {tuple(obs.shape)}")


# One compiled function per task instance (the task is a static, hashable argument), so
# eager calls do not re-trace; inside an outer jit, grad or vmap these simply inline.
@functools.partial(jax.jit, static_argnums=0)
def _true_rollout(task: Task, obs: Array, actions: Array) -> Array:
    def total(sequence: Array) -> Array:
        _, rewards = jax.lax.scan(task.step, obs, sequence)
        return jnp.sum(rewards)

    return jax.vmap(total)(actions)


@functools.partial(jax.jit, static_argnums=0)
def _episode(task: Task, obs0: Array, actions: Array) -> tuple[Array, Array]:
    def body(obs: Array, action: Array) -> tuple[Array, tuple[Array, Array]]:
        next_obs, reward = task.step(obs, action)
        return next_obs, (next_obs, reward)

    _, (visited, rewards) = jax.lax.scan(body, obs0, actions)
    return jnp.concatenate([obs0[None], visited], axis=0), rewards
