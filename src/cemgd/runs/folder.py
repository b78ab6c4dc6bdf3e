"""A run folder: layout, config.json, validated state, the lock and the atomic trial commit.

Layout::

    config.json                 the resolved configuration (written by :meth:`RunFolder.begin`)
    metrics.csv                 one row per completed trial (derived from state.json)
    checkpoints/state.json      {"completed": n, "rows": [...], "files": {kind: name}}
    checkpoints/KIND-TTT.npz    the files trial TTT committed (e.g. model, buffer)
    partial/episode-TTT.npz     trial TTT's episode in progress (:mod:`cemgd.pets.resume`),
                                removed once the trial is committed
    .lock                       pid of the last holder of the folder lock

Commit protocol of trial ``t`` (:meth:`RunFolder.commit`), every write atomic:
the trial's files, then ``state.json`` (the commit point), then ``metrics.csv``, then
the unlink of trial ``t - 1``'s files. A kill at any instant leaves either the state
before the commit (the new files are stale and removed on resume) or after it
(``metrics.csv`` is rewritten from the state, old files removed).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from cemgd.runs.errors import RunError
from cemgd.runs.files import remove, temporaries, write_atomic
from cemgd.runs.lock import LOCK_FILE, FolderLock
from cemgd.runs.metrics import METRICS_FILE, TrialMetrics, metrics_csv_text, read_metrics

CONFIG_FILE = "config.json"
CHECKPOINTS = "checkpoints"
STATE_FILE = "state.json"
#: The folder of the episode in progress (:attr:`RunFolder.episode_file`).
PARTIAL = "partial"
_FILE_NAME = re.compile(r"^([a-z_]+)-(\d{3,})\.npz$")


@dataclass(frozen=True)
class RunState:
    """What ``checkpoints/state.json`` records: ``completed`` trials, their ``rows``, and
    the files of the last one by kind (``{"model": "model-003.npz", ...}``)."""

    completed: int = 0
    rows: tuple[TrialMetrics, ...] = ()
    files: Mapping[str, str] = field(default_factory=dict)


def check_out_path(path: str | os.PathLike[str], what: str = "out") -> Path:
    """``path`` as a folder a run may use; refuse "" , a file, or a path under a file.

    Raises:
        RunError: starting with ``what``.
    """
    if str(path).strip() == "":
        raise RunError(f"{what}: expected a folder path, got an empty string")
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise RunError(f"{what}: {folder} exists and is not a folder")
    for parent in folder.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise RunError(f"{what}: {folder} is under {parent}, which is not a folder")
            break
    target = folder if folder.exists() else next(p for p in folder.absolute().parents
                                                 if p.exists())
    if not os.access(target, os.W_OK | os.X_OK):
        raise RunError(f"{what}: {target} is not writable")
    return folder


def read_json_object(file: Path) -> dict[str, Any] | None:
    """The JSON object in ``file`` (``None`` if the file does not exist).

    Raises:
        RunError: naming the file, if it is not a readable UTF-8 JSON object.
    """
    if not file.exists():
        return None
    if not file.is_file():
        raise RunError(f"{file}: expected a file, found a folder or device")
    try:
        payload = json.loads(file.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as err:
        raise RunError(f"{file}: corrupt (not UTF-8 text at byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise RunError(f"{file}: not valid JSON ({err})") from None
    except OSError as err:
        raise RunError(f"{file}: cannot be read ({err.strerror})") from None
    if not isinstance(payload, dict):
        raise RunError(f"{file}: expected a JSON object, got {type(payload).__name__}")
    return payload


def config_diff(old: Mapping[str, Any], new: Mapping[str, Any],
                ignore: Iterable[str] = ()) -> list[str]:
    """Settings that differ between two configurations, as ``"key: old -> new"``."""
    keys = sorted((set(old) | set(new)) - set(ignore))
    return [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]


class RunFolder:
    """One run's folder; every method that writes needs the lock (:meth:`lock`).

    Reading (:meth:`read_config`, :meth:`read_state`) writes nothing, so a run checks
    everything before :meth:`begin` writes its first byte.
    """

    def __init__(self, path: str | os.PathLike[str], what: str = "out") -> None:
        self.path = check_out_path(path, what)
        self.what = what
        self.config_file = self.path / CONFIG_FILE
        self.metrics_file = self.path / METRICS_FILE
        self.checkpoints = self.path / CHECKPOINTS
        self.state_file = self.checkpoints / STATE_FILE
        self.partial = self.path / PARTIAL
        self._lock = FolderLock(self.path, what)
        self._created = False
        self.state = RunState()

    def episode_file(self, trial: int) -> Path:
        """Where trial ``trial``'s episode in progress is kept (:mod:`cemgd.pets.resume`)."""
        return self.partial / f"episode-{trial:03d}.npz"

    def _committed_episodes(self) -> list[Path]:
        """Episode files (:meth:`episode_file`) of trials already committed."""
        if not self.partial.is_dir():
            return []
        return [self.episode_file(t) for t in range(self.state.completed)
                if self.episode_file(t).exists()]

    # ------------------------------------------------------------------ lock
    def lock(self) -> RunFolder:
        """Create the folder if missing and take its lock (nothing else is written).

        Raises:
            RunError: ``out: run folder in use by pid N``, or the folder cannot be made.
        """
        if not self.path.exists():
            try:
                self.path.mkdir(parents=True)
                self._created = True
            except FileExistsError:
                pass
            except OSError as err:
                raise RunError(f"{self.what}: cannot create {self.path} ({err.strerror})"
                               ) from None
        self._lock.acquire(record=False)
        return self

    def release(self) -> None:
        """Release the lock; a folder this object created and left empty is removed."""
        self._lock.release()
        if self._created and self.path.is_dir() and not any(self.path.iterdir()):
            self.path.rmdir()

    def __enter__(self) -> RunFolder:
        return self.lock()

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()

    # ------------------------------------------------------------------ reading
    def read_config(self) -> dict[str, Any] | None:
        """``config.json`` (``None`` if absent). Raises RunError naming the file."""
        return read_json_object(self.config_file)

    def has_run_files(self) -> bool:
        """Whether anything but the lock file and temporaries (what a run killed before
        its ``config.json`` leaves) is in the folder."""
        if not self.path.is_dir():
            return False
        ignore = {LOCK_FILE, *(p.name for p in temporaries(self.path))}
        return any(p.name not in ignore for p in self.path.iterdir())

    def read_state(self, kinds: Iterable[str]) -> RunState:
        """The validated state; ``kinds`` are the file kinds a trial commits.

        Checks ``state.json`` against ``metrics.csv`` and the checkpoint files, reading
        only. A missing ``state.json`` is a run with no completed trial, unless
        ``metrics.csv`` has rows or checkpoints of a later trial exist.

        Raises:
            RunError: naming the file and what was expected.
        """
        kinds = tuple(kinds)
        if self.checkpoints.exists() and not self.checkpoints.is_dir():
            raise RunError(f"{self.checkpoints}: expected a folder")
        metrics = read_metrics(self.path)
        payload = read_json_object(self.state_file)
        if payload is None:
            stray = [p.name for p in self._checkpoint_files() if _trial_of(p.name) != 0]
            if metrics or stray:
                raise RunError(
                    f"{self.state_file}: checkpoint state missing, but the run has completed "
                    "trials; restore it or choose another --out"
                )
            self.state = RunState()
            return self.state
        state = _parse_state(self.state_file, payload, kinds)
        written = metrics_csv_text(metrics).splitlines()
        expected = metrics_csv_text(state.rows).splitlines()
        if len(metrics) > state.completed or written != expected[: len(written)]:
            raise RunError(
                f"{self.metrics_file}: {len(metrics)} rows that do not match the "
                f"{state.completed} completed trials in {self.state_file}"
            )
        self.state = state
        return state

    def file(self, kind: str) -> Path:
        """The committed checkpoint file of ``kind`` (of the last completed trial)."""
        return self.checkpoints / self.state.files[kind]

    def _checkpoint_files(self) -> list[Path]:
        if not self.checkpoints.is_dir():
            return []
        return sorted(p for p in self.checkpoints.iterdir()
                      if p.is_file() and _FILE_NAME.match(p.name))

    # ------------------------------------------------------------------ writing
    def begin(self, payload: Mapping[str, Any]) -> None:
        """Start writing (lock held, everything checked): record the pid, remove stale
        checkpoints and temporary files, write ``config.json`` and make ``metrics.csv``
        hold exactly the completed rows."""
        if not self._lock.held:
            raise RuntimeError("RunFolder.begin() without the lock")
        self._lock.record()
        text = json.dumps(payload, indent=2, default=str) + "\n"
        if not self.config_file.exists() or self.config_file.read_text() != text:
            write_atomic(self.config_file, text)  # first: a folder without it is not a run
        self.checkpoints.mkdir(exist_ok=True)
        for path in self.leftovers():
            remove(path)
        self._sync_metrics()

    def commit(self, row: TrialMetrics,
               files: Mapping[str, Callable[[IO[bytes]], None]]) -> None:
        """Commit trial ``row.trial`` (the next one): its files, then the state, then the
        metrics, then the unlink of the previous trial's files."""
        trial = row.trial
        if trial != self.state.completed:
            raise ValueError(f"row: expected trial {self.state.completed}, got {trial}")
        names = {kind: f"{kind}-{trial:03d}.npz" for kind in files}
        for kind, writer in files.items():
            write_atomic(self.checkpoints / names[kind], writer)
        old = self.state.files
        self.state = RunState(trial + 1, (*self.state.rows, row), names)
        state = {"completed": self.state.completed,
                 "rows": [r.as_row() for r in self.state.rows], "files": names}
        write_atomic(self.state_file, json.dumps(state, indent=1) + "\n")
        self._sync_metrics()
        for name in old.values():
            if name not in names.values():
                remove(self.checkpoints / name)
        remove(self.episode_file(trial))  # the trial's episode, committed above
        with contextlib.suppress(OSError):
            self.partial.rmdir()  # only when empty

    def _sync_metrics(self) -> None:
        text = metrics_csv_text(self.state.rows)
        if not self.metrics_file.exists() or self.metrics_file.read_text() != text:
            write_atomic(self.metrics_file, text)

    def leftovers(self) -> list[Path]:
        """What :meth:`begin` removes: temporary files, episode files of committed trials
        (a kill before :meth:`commit` removed them) and checkpoints of no committed trial."""
        keep = set(self.state.files.values())
        stale = [p for p in self._checkpoint_files() if p.name not in keep]
        return (temporaries(self.path) + temporaries(self.checkpoints)
                + temporaries(self.partial) + self._committed_episodes() + stale)


def _trial_of(name: str) -> int:
    match = _FILE_NAME.match(name)
    return int(match.group(2)) if match else -1


def _parse_state(file: Path, payload: Mapping[str, Any], kinds: tuple[str, ...]) -> RunState:
    """Check a ``state.json`` payload (this format or the first one, with ``model`` and
    ``buffer`` keys instead of ``files``)."""
    completed, rows = payload.get("completed"), payload.get("rows")
    if isinstance(completed, bool) or not isinstance(completed, int) or completed < 0:
        raise RunError(f"{file}: completed must be an integer >= 0, got {completed!r}")
    if not isinstance(rows, list) or len(rows) != completed:
        got = len(rows) if isinstance(rows, list) else repr(rows)
        raise RunError(f"{file}: expected {completed} metrics rows (completed), got {got}")
    parsed = []
    for i, row in enumerate(rows):
        metrics = TrialMetrics.from_row(row, where=f"{file}: rows[{i}]")
        if metrics.trial != i:
            raise RunError(f"{file}: rows[{i}] is trial {metrics.trial}, expected {i}")
        parsed.append(metrics)
    files = payload.get("files", {k: payload.get(k) for k in kinds})
    if completed == 0:
        return RunState()
    if not isinstance(files, dict) or set(files) != set(kinds):
        raise RunError(f"{file}: expected files of kinds {sorted(kinds)}, got {files!r}")
    for kind, name in files.items():
        if name != f"{kind}-{completed - 1:03d}.npz":
            raise RunError(f"{file}: {kind} file must be {kind}-{completed - 1:03d}.npz, "
                           f"got {name!r}")
    return RunState(completed, tuple(parsed), dict(files))
