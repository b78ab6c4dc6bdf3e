"""Crash-safe file operations: the one way cemgd writes or removes a file a later run reads.

Every write goes to a unique temporary name beside its target (``.cemgd-tmp-NAME.XXXX``), is
fsynced, renamed over the target and the folder fsynced, so a crash at any instant
leaves the old file or the new one, and two writers never share a temporary file. A
killed writer may leave a temporary file behind; :func:`remove_temporaries` clears them.
Only names with cemgd's own prefix (:data:`TEMP_PREFIX`) are temporaries: a user's
``labels.tmp`` is a file like any other, never deleted.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

Data = bytes | str | Callable[[IO[bytes]], None]

#: What every temporary file cemgd writes starts with (and no other file it removes).
TEMP_PREFIX = ".cemgd-tmp-"


def is_temporary(name: str) -> bool:
    """Whether file ``name`` is one of cemgd's temporaries (:data:`TEMP_PREFIX`)."""
    return name.startswith(TEMP_PREFIX)


def _file_mode() -> int:
    """``0o666`` less this process's umask: the mode ``open()`` would give a new file."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def fsync_folder(folder: str | os.PathLike[str]) -> None:
    """Flush ``folder``'s entries (a rename or unlink in it) to disk, where the OS allows."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def write_atomic(path: str | os.PathLike[str], data: Data) -> None:
    """Write ``data`` to ``path`` so that a crash leaves the old file or the new one.

    Args:
        path: destination file (its folder must exist).
        data: the content, or a function that writes it into the open binary file.

    Raises:
        OSError: naming ``path`` (``err.filename``) whatever step failed: a full disk
            (ENOSPC) at a write or at fsync names the file, not only its errno.
        ValueError: naming ``path``, for text that is not UTF-8 (a lone surrogate: a
            path with non-UTF-8 bytes written into the text).
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{TEMP_PREFIX}{path.name}.")
    except OSError as err:
        raise _named(err, path) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            if callable(data):
                data(fh)
            else:
                fh.write(_utf8(path, data) if isinstance(data, str) else data)
            fh.flush()
            os.fchmod(fh.fileno(), _file_mode())  # mkstemp makes 0600; results are shared
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except Exception as err:  # a failed write (full disk, bad data) leaves no temporary file
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(err, OSError):
            raise _named(err, path) from None
        raise
    fsync_folder(path.parent)


def _named(err: OSError, path: Path) -> OSError:
    """``err`` as an OSError of the same kind whose ``filename`` is ``path``."""
    if err.errno is None:
        return OSError(f"{path}: {err}")
    return OSError(err.errno, err.strerror or os.strerror(err.errno), str(path))


def _utf8(path: Path, text: str) -> bytes:
    """``text`` as UTF-8, or ValueError naming ``path``."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(
            f"{path}: cannot be written: its text holds {err.object[err.start:err.end]!r}, "
            "which is not UTF-8 (a path with non-UTF-8 bytes?); rename the folder"
        ) from None


def remove(path: str | os.PathLike[str]) -> None:
    """Delete ``path`` if it exists and flush the folder entry."""
    path = Path(path)
    try:
        os.unlink(path)
    except FileNotFoundError:
        return
    fsync_folder(path.parent)


def temporaries(folder: str | os.PathLike[str]) -> list[Path]:
    """Temporary files a killed writer of this module left in ``folder``
    (:func:`is_temporary`; any other file is the user's or a run's)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and is_temporary(p.name))


def remove_temporaries(folder: str | os.PathLike[str]) -> None:
    """Delete what :func:`temporaries` lists."""
    for path in temporaries(folder):
        remove(path)
