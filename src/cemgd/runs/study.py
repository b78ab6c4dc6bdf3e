"""A study's results folder: ``config.json`` once, CSV tables appended row by row.

Rule when the configuration changes: **refuse** (the same rule as a PETS run folder).
A changed configuration is almost always a forgotten flag; refusing loses nothing and
says what differs, where setting the old tables aside (``*.csv.old``) kept files that
nothing reads and lost them on the next change.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from cemgd.runs.errors import RunError
from cemgd.runs.files import fsync_folder, write_atomic
from cemgd.runs.folder import CONFIG_FILE, check_out_path, config_diff, read_json_object
from cemgd.runs.lock import FolderLock

#: The ``config.json`` key of a study's resolved planner settings (``StudyFolder``).
SETTINGS_KEY = "resolved_settings"


def _check_same(old: Mapping[str, Any], new: Mapping[str, Any], where: str) -> None:
    """Refuse a folder whose ``config.json`` (``old``) holds another configuration than
    ``new``, or other resolved settings where it records them.

    Raises:
        RunError: naming ``where``, each setting that differs, and what to do.
    """
    recorded = old.get(SETTINGS_KEY)
    current = new.get(SETTINGS_KEY)
    plain_old = {k: v for k, v in old.items() if k != SETTINGS_KEY}
    plain_new = {k: v for k, v in new.items() if k != SETTINGS_KEY}
    diff = config_diff(plain_old, plain_new)
    if isinstance(recorded, Mapping) and isinstance(current, Mapping):
        for spec in sorted(set(recorded) & set(current)):
            before, now = recorded[spec], current[spec]
            if isinstance(before, Mapping) and isinstance(now, Mapping):  # shared keys:
                diff += [f"{spec}: {k} {before[k]!r} -> {now[k]!r}"  # one added since keeps
                         for k in sorted(set(before) & set(now)) if before[k] != now[k]]
    if diff:
        raise RunError(f"{where} holds results of another configuration ({'; '.join(diff)}); "
                       "choose another --out or remove the folder")


class StudyFolder:
    """A locked results folder whose CSV tables are written as rows come.

    Rows already in a table are kept when the folder is reopened with the same
    configuration, so a killed study resumes by skipping :meth:`done_keys`. A torn last
    row (power loss, full disk) is dropped when read and cut off before the next append.

    ``settings`` are what the configuration names without spelling out: each planner
    spec's resolved settings, which change with a preset or a default. They are kept in
    ``config.json`` (:data:`SETTINGS_KEY`) and a folder that records them refuses others
    (a setting added since, absent from the record, keeps the value it had before it
    existed and is not compared). A folder written before settings were recorded is
    checked on its configuration alone: its rows do not say what their presets resolved
    to.

    Raises:
        RunError: the path cannot hold a folder, another process holds it, or its
            ``config.json`` is corrupt or holds another configuration.
    """

    def __init__(self, out: str | os.PathLike[str], config: Any, what: str = "out",
                 tables: Mapping[str, Sequence[str]] | None = None,
                 settings: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        """Lock ``out`` and check its ``config.json`` (with ``settings``: ``{spec: its
        resolved settings}``) and the tables a resume reads (``{name: key columns}``, as
        :meth:`done_keys` reads them), all before the first byte is written, so a refusal
        leaves the folder as it was."""
        self.path = check_out_path(out, what)
        payload = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else config
        if settings is not None:
            payload = {**payload, SETTINGS_KEY: settings}
        payload = json.loads(json.dumps(payload, default=str))
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock = FolderLock(self.path, what).acquire(record=False)
        try:
            old = read_json_object(self.path / CONFIG_FILE)
            if old is not None:
                _check_same(old, payload, f"{what}: {self.path}")
            for name, keys in (tables or {}).items():
                self.done_keys(name, keys)
        except BaseException:
            self._lock.release()
            raise
        self._lock.record()
        if old is None:
            write_atomic(self.path / CONFIG_FILE, json.dumps(payload, indent=2) + "\n")

    def close(self) -> None:
        """Release the folder lock."""
        self._lock.release()

    def __enter__(self) -> StudyFolder:
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def append(self, name: str, row: Mapping[str, Any]) -> None:
        """Append ``row`` to the table ``name`` (header first if new), fsynced."""
        file = self.path / name
        header = list(row)
        if file.exists() and file.stat().st_size > 0:
            data = file.read_bytes()
            if not data.endswith(b"\n"):  # cut a torn last row before appending
                with file.open("r+b") as fh:
                    fh.truncate(data.rfind(b"\n") + 1)
                data = file.read_bytes()
            existing = next(csv.reader(io.StringIO(self._decode(file, data))), [])
            if existing and existing != header:
                raise RunError(f"{file}: columns {existing} differ from the row's {header}")
            new = not existing
        else:
            new = True
        with file.open("a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=header)
            if new:
                writer.writeheader()
            writer.writerow(row)
            fh.flush()
            os.fsync(fh.fileno())
        if new:
            fsync_folder(self.path)

    def read(self, name: str) -> list[dict[str, str]]:
        """Rows of table ``name`` (empty if absent; a torn last row is left out)."""
        file = self.path / name
        if not file.exists():
            return []
        text = self._decode(file, file.read_bytes())
        if text and not text.endswith("\n"):
            text = text[: text.rfind("\n") + 1]
        try:
            return list(csv.DictReader(io.StringIO(text, newline="")))
        except csv.Error as err:
            raise RunError(f"{file}: corrupt ({err})") from None

    def done_keys(self, name: str, keys: Sequence[str]) -> set[tuple[str, ...]]:
        """The ``keys`` tuples of rows already written to ``name`` (for resuming)."""
        try:
            return {tuple(row[k] for k in keys) for row in self.read(name)}
        except KeyError as err:
            raise RunError(f"{self.path / name}: column {err} missing") from None

    @staticmethod
    def _decode(file: Path, data: bytes) -> str:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as err:
            raise RunError(f"{file}: corrupt (not UTF-8 text at byte {err.start})") from None

