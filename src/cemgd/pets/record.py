"""What an episode records: one :class:`StepRecord` per step, gathered in a
:class:`Progress` (the episode so far, which :mod:`cemgd.pets.resume` keeps on disk) and
handed out as an :class:`Episode` once the episode ends."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np


class StepRecord(NamedTuple):
    """One step's entry of every recorded field (named as the fields of
    :class:`Episode` and the arrays of an episode file).

    Attributes:
        obs, next_obs: ``[S]`` the observation the step planned from and the one it
            reached; actions: ``[A]`` the action applied; rewards: the reward received.
        plan_ms: wall time of the planning step.
        rollouts, grad_steps, fallback: from the step's ``Info``.
        predicted, predicted_std: the model's predicted return of the plan and its spread
            over the ensemble (NaN without a predictor).
    """

    obs: np.ndarray
    actions: np.ndarray
    next_obs: np.ndarray
    rewards: float
    plan_ms: float
    rollouts: int
    grad_steps: int
    fallback: bool
    predicted: float
    predicted_std: float


#: What an episode records per step (the fields of :class:`Episode` and :class:`StepRecord`).
RECORD_FIELDS: tuple[str, ...] = StepRecord._fields


@dataclass
class Episode:
    """What one episode recorded, one entry per step.

    Attributes:
        obs, next_obs: ``[n, S]``; actions: ``[n, A]``; rewards: ``[n]``.
        plan_ms: ``[n]`` wall time of each planning step.
        rollouts, grad_steps: ``[n]`` from ``Info``; fallback: ``[n]`` bool.
        predicted, predicted_std: ``[n]`` the model's predicted return of each step's
            plan and its spread over the ensemble (``predict``; NaN without one).
        seconds: wall time of the episode.
        frames: rendered frames (with :class:`cemgd.pets.render.Frames`; ``None`` where
            the environment rendered nothing).
        terminated: the environment ended the episode (not the step limit).
    """

    obs: np.ndarray
    actions: np.ndarray
    next_obs: np.ndarray
    rewards: np.ndarray
    plan_ms: np.ndarray
    rollouts: np.ndarray
    grad_steps: np.ndarray
    fallback: np.ndarray
    predicted: np.ndarray
    predicted_std: np.ndarray
    seconds: float
    frames: list[np.ndarray | None]
    terminated: bool = False


@dataclass
class Progress:
    """An episode so far: the per-step ``record`` (lists named :data:`RECORD_FIELDS`),
    the return so far and the seconds its steps took (earlier attempts included)."""

    record: dict[str, list[Any]] = field(
        default_factory=lambda: {name: [] for name in RECORD_FIELDS})
    total: float = 0.0
    seconds: float = 0.0

    @property
    def steps(self) -> int:
        """Steps taken."""
        return len(self.record["actions"])

    def add(self, step: StepRecord) -> None:
        """Record one more step (its reward added to the return so far)."""
        for name, value in zip(RECORD_FIELDS, step, strict=True):
            self.record[name].append(value)
        self.total += float(step.rewards)

    def episode(self, seconds: float, frames: list[np.ndarray | None] | None = None,
                terminated: bool = False) -> Episode:
        """The record as an :class:`Episode` that took ``seconds`` (every attempt)."""
        arrays = {name: np.asarray(values) for name, values in self.record.items()}
        return Episode(**arrays, seconds=seconds, frames=list(frames or []),
                       terminated=terminated)
