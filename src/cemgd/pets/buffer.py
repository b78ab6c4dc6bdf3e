"""Every real transition of a run: the replay buffer, its random start and its file."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from cemgd.models import ModelData, read_npz
from cemgd.pets.config import PETSConfig
from cemgd.runs import RunError
from cemgd.tasks import EnvTask, check_env_reward


def run_seed(config: PETSConfig, *parts: int) -> int:
    """A 31-bit seed derived from the run seed and ``parts`` (trial, purpose)."""
    return int(np.random.SeedSequence([config.seed, *parts]).generate_state(1)[0] >> 1)


@dataclass
class Buffer:
    """Every real transition of the run.

    Attributes:
        obs: ``[N, S]`` float64.
        actions: ``[N, A]`` float32.
        next_obs: ``[N, S]`` float64.
        rewards: ``[N]`` float64 (the environment's).
        trial: ``[N]`` int, the trial that collected the row (-1: random data).
    """

    obs: np.ndarray
    actions: np.ndarray
    next_obs: np.ndarray
    rewards: np.ndarray
    trial: np.ndarray

    @classmethod
    def empty(cls, obs_dim: int, action_dim: int) -> Buffer:
        """A buffer with no rows."""
        return cls(np.zeros((0, obs_dim)), np.zeros((0, action_dim), np.float32),
                   np.zeros((0, obs_dim)), np.zeros((0,)), np.zeros((0,), np.int64))

    def __len__(self) -> int:
        return int(self.obs.shape[0])

    def add(self, obs: np.ndarray, actions: np.ndarray, next_obs: np.ndarray,
            rewards: np.ndarray, trial: int) -> None:
        """Append an episode: ``obs [n, S], actions [n, A], next_obs [n, S], rewards [n]``."""
        self.obs = np.concatenate([self.obs, np.asarray(obs, np.float64)])
        self.actions = np.concatenate([self.actions, np.asarray(actions, np.float32)])
        self.next_obs = np.concatenate([self.next_obs, np.asarray(next_obs, np.float64)])
        self.rewards = np.concatenate([self.rewards, np.asarray(rewards, np.float64)])
        self.trial = np.concatenate([self.trial, np.full((len(obs),), trial, np.int64)])

    def write(self, fh: IO[bytes]) -> None:
        """Write the buffer as ``.npz`` into the open binary file ``fh`` (no pickles)."""
        np.savez(fh, **dataclasses.asdict(self))

    @classmethod
    def load(cls, path: Path, obs_dim: int, action_dim: int, rows: int | None = None,
             trials: int | None = None) -> Buffer:
        """Read what :meth:`write` wrote and check it against the run.

        Args:
            path: the ``.npz`` file.
            obs_dim: ``S`` of the task.
            action_dim: ``A`` of the task.
            rows: the transitions the run's metrics say it holds (``env_steps``).
            trials: completed trials; rows must be labelled ``-1`` then ``0 .. trials-1``.

        Raises:
            RunError: naming ``path`` and what was expected.
        """
        try:
            arrays = read_npz(path, "buffer")
            buffer = cls(**{k.name: arrays[k.name] for k in dataclasses.fields(cls)})
        except KeyError as err:
            raise RunError(f"{path}: corrupt buffer file (array {err} missing)") from None
        except ValueError as err:
            raise RunError(str(err)) from None
        n = len(buffer)
        ok = (buffer.obs.shape == (n, obs_dim) and buffer.next_obs.shape == (n, obs_dim)
              and buffer.actions.shape == (n, action_dim) and buffer.rewards.shape == (n,)
              and buffer.trial.shape == (n,))
        if not ok:
            raise RunError(f"{path}: corrupt buffer file (shapes do not match the task: "
                           f"expected obs [N, {obs_dim}] and actions [N, {action_dim}])")
        if rows is not None and n != rows:
            raise RunError(f"{path}: holds {n} transitions, expected {rows} (metrics env_steps)")
        if trials is not None and not np.array_equal(np.unique(buffer.trial),
                                                     np.arange(-1, trials)):
            raise RunError(f"{path}: rows are not labelled by trials -1 .. {trials - 1}")
        finite = all(np.all(np.isfinite(a)) for a in (buffer.obs, buffer.actions,
                                                        buffer.next_obs, buffer.rewards))
        if not finite:
            raise RunError(f"{path}: corrupt buffer file (non-finite values)")
        return buffer


def collect_random(task: EnvTask, config: PETSConfig) -> Buffer:
    """``random_steps`` transitions with uniform random actions (episodes of the task's length)."""
    rng = np.random.default_rng(run_seed(config, 1_000_000))
    env = task.make_env(seed=run_seed(config, 1_000_001))
    buffer = Buffer.empty(task.obs_dim, task.action_dim)
    obs, _ = env.reset()
    rows: list[tuple] = []
    while len(rows) < config.random_steps:
        action = rng.uniform(task.action_low, task.action_high).astype(np.float32)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        check_env_reward(task, reward, f"random step {len(rows)} (before trial 0)")
        rows.append((obs, action, next_obs, reward))
        obs = next_obs
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()
    o, a, n, r = (np.stack(c) for c in zip(*rows, strict=True))
    buffer.add(o, a, n, r, trial=-1)
    return buffer


def model_data(task: EnvTask, buffer: Buffer) -> ModelData:
    """The buffer in model space: ``model_input(obs)``, actions, ``model_target``."""
    obs = np.asarray(buffer.obs, np.float64)
    inputs = np.asarray(task.model_input(obs))
    targets = np.asarray(task.model_target(obs, np.asarray(buffer.next_obs, np.float64)))
    return ModelData(inputs, buffer.actions, targets)
