"""Output folders a user names on the command line, checked before anything is written."""

from __future__ import annotations

import os
from pathlib import Path


def check_out(value: str | None, flag: str = "--out") -> Path:
    """``value`` as a folder that exists or can be created and written, else ValueError.

    Checks, without writing: not empty; not a file; no file on the way to it; the
    nearest existing folder on the way is writable.

    Raises:
        ValueError: ``"--out: ..."`` naming the path and what is wrong.
    """
    if value is None or not str(value).strip():
        raise ValueError(f"{flag}: expected a folder path, got {value!r}")
    path = Path(value).expanduser()
    if path.exists() and not path.is_dir():
        raise ValueError(f"{flag}: {path} is a file, not a folder")
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise ValueError(f"{flag}: {existing} is a file, so {path} cannot be created")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{flag}: {existing} is not writable")
    return path
