"""An episode in progress, kept on disk so that a killed episode resumes mid-way.

A long episode (CEM 5000 at the paper's sizes, on a CPU) would otherwise lose all its
steps to a kill or a pre-empted node. :class:`EpisodeCheckpoint` keeps what the episode
recorded so far and the planner's state after its last step (``np.savez``, written
atomically every ``every_s`` seconds).
:func:`replay` (which :func:`cemgd.pets.run_episode` calls) resumes from it by replaying
the recorded actions on a freshly reset environment (same seed): where every replayed
observation and reward equals the recorded one to the last bit, the planner continues
from its saved state and the episode ends exactly as an uninterrupted one would (plan
times aside); otherwise (another episode's file, a damaged one, a replay that differs)
the episode restarts from its first step and its next save replaces the file.

A file carries a digest of everything in it (:func:`file_digest`), written with it; a file
whose contents do not match it (an edited mean, key or counter), or whose planner state
fails the checks ``plan()`` applies to a state from outside (a finite warm start, its
step count) is not resumed from: the episode restarts, with a one-line notice.
"""

from __future__ import annotations

import hashlib
import io
import time
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from cemgd.pets.record import RECORD_FIELDS, Progress
from cemgd.planners.checked import check_warm_start
from cemgd.problem import PlanState
from cemgd.runs import remove, write_atomic
from cemgd.runtime import console
from cemgd.tasks import EnvTask


def tree_digest(tree: Any) -> str:
    """A hash of every array in ``tree`` (shapes, dtypes and bytes): names a model in an
    episode's tag, so an episode planned on one model never resumes on another."""
    digest = hashlib.sha256()
    for leaf in jax.tree_util.tree_leaves(jax.device_get(tree)):
        value = np.asarray(leaf)
        digest.update(f"{value.shape}{value.dtype}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()[:16]


def file_digest(arrays: Mapping[str, Any]) -> str:
    """A hash of every array in an episode file but ``digest`` itself (names, shapes,
    dtypes and bytes, in name order): written with the file, checked on load."""
    digest = hashlib.sha256()
    for name in sorted(n for n in arrays if n != "digest"):
        value = np.asarray(arrays[name])
        digest.update(f"{name}{value.shape}{value.dtype}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def _is_key(leaf: Any) -> bool:
    return jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def state_arrays(state: PlanState) -> dict[str, np.ndarray]:
    """The leaves of ``state`` as host arrays (``state_i``; a PRNG key as its key data)."""
    leaves = jax.tree_util.tree_leaves(state)
    return {f"state_{i}": jax.device_get(jax.random.key_data(leaf) if _is_key(leaf) else leaf)
            for i, leaf in enumerate(leaves)}


def restore_state(arrays: Any, like: PlanState) -> PlanState | None:
    """The state saved by :func:`state_arrays`, shaped as ``like``; None where a leaf is
    missing or has another shape or dtype (a file of another planner)."""
    leaves, treedef = jax.tree_util.tree_flatten(like)
    restored = []
    for i, leaf in enumerate(leaves):
        name = f"state_{i}"
        if name not in arrays:
            return None
        value = np.asarray(arrays[name])
        template = jax.random.key_data(leaf) if _is_key(leaf) else leaf
        if value.shape != template.shape or value.dtype != template.dtype:
            return None
        restored.append(jax.random.wrap_key_data(value, impl=jax.random.key_impl(leaf))
                        if _is_key(leaf) else jax.device_put(value))
    if f"state_{len(leaves)}" in arrays:
        return None
    return treedef.unflatten(restored)


@dataclass
class EpisodeCheckpoint:
    """Where one episode in progress is kept.

    Attributes:
        path: the ``.npz`` file (its folder is made on the first save).
        tag: what the episode is (planner, seed, model, length); a file with another tag
            is not resumed from.
        every_s: seconds between saves (a step that ends later than this after the last
            save saves).
    """

    path: Path
    tag: str
    every_s: float = 30.0
    _last: float = field(default_factory=time.perf_counter, repr=False)

    def due(self) -> bool:
        """Whether ``every_s`` has passed since the last save (or since this was made)."""
        return time.perf_counter() - self._last >= self.every_s

    def save(self, progress: Progress, state: PlanState) -> None:
        """Write ``progress`` and the planner's ``state`` for the next step, atomically."""
        arrays = {name: np.asarray(values) for name, values in progress.record.items()}
        arrays.update(state_arrays(state))
        arrays["tag"] = np.asarray(self.tag)
        arrays["total"] = np.asarray(progress.total, np.float64)
        arrays["seconds"] = np.asarray(progress.seconds, np.float64)
        arrays["digest"] = np.asarray(file_digest(arrays))
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, buffer.getvalue())
        self._last = time.perf_counter()

    def load(self, like: PlanState) -> tuple[Progress, PlanState] | None:
        """The saved progress and planner state; None when there is no file, or it is
        damaged, of another episode (tag) or of another planner's state (``like``), or
        fails its digest or the state checks (those two with a notice)."""
        if not self.path.is_file():
            return None
        try:
            with np.load(self.path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError):
            return None
        if "tag" not in arrays or str(arrays["tag"]) != self.tag:
            return None
        problem = self._problem(arrays, like)
        if isinstance(problem, str):
            console().print(f"{self.path}: {problem}; the episode restarts")
            return None
        return problem

    @staticmethod
    def _problem(arrays: Mapping[str, Any], like: PlanState
                 ) -> tuple[Progress, PlanState] | str | None:
        """The file's progress and state, or what is wrong with it (None: not this
        planner's, or not a file of this format)."""
        if "digest" not in arrays or str(arrays["digest"]) != file_digest(arrays):
            return "its digest does not match its contents"
        try:
            state = restore_state(arrays, like)
            record = {name: list(arrays[name]) for name in RECORD_FIELDS}
            progress = Progress(record, float(arrays["total"]), float(arrays["seconds"]))
        except (KeyError, ValueError, TypeError):
            return None
        if state is None or len({len(v) for v in record.values()}) != 1 or not progress.steps:
            return None
        try:
            check_warm_start(state.mean)
        except ValueError as err:
            return f"its planner {err}"
        if int(np.asarray(state.step)) != progress.steps:
            return (f"its planner state counts {int(np.asarray(state.step))} steps, its "
                    f"record {progress.steps}")
        return progress, state

    def remove(self) -> None:
        """Delete the file (the episode's row is written)."""
        remove(self.path)


class EpisodeStart(NamedTuple):
    """Where an episode's steps start: its environment (reset, or replayed up to the
    step), the observation there (``[S]``), the progress so far and the planner state."""

    env: Any
    obs: np.ndarray
    progress: Progress
    state: PlanState


def replay(task: EnvTask, env_seed: int, checkpoint: EpisodeCheckpoint,
           state: PlanState) -> EpisodeStart | None:
    """The episode saved in ``checkpoint``, its recorded actions replayed on a fresh
    environment (seed ``env_seed``); None when there is none, or the replay differs from
    the record in any bit (with a notice). ``state`` is the planner state the episode
    would start from (its shapes check the file's)."""
    loaded = checkpoint.load(state)
    if loaded is None:
        return None
    progress, saved = loaded
    record = progress.record
    env = task.make_env(seed=env_seed)
    obs, _ = env.reset()
    for i, action in enumerate(record["actions"]):
        same = np.array_equal(obs, record["obs"][i], equal_nan=True)
        obs, reward, terminated, truncated, _ = env.step(action)
        if not (same and np.array_equal(obs, record["next_obs"][i], equal_nan=True)
                and reward == record["rewards"][i]) or terminated or truncated:
            env.close()
            console().print(f"{checkpoint.path}: its replay differs from its record at "
                            f"step {i}; the episode restarts")
            return None
    console().print(f"{checkpoint.path}: resumed at step {progress.steps}")
    return EpisodeStart(env, obs, progress, saved)
