"""Crash-safe file writes: the one way cemgd writes a file that a later run reads."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import IO


def write_atomic(path: str | os.PathLike[str], data: bytes | str | Callable[[IO[bytes]], None]
                 ) -> None:
    """Write ``data`` to ``path`` so that a crash leaves the old file or the new one.

    The bytes go to ``path + ".tmp"``, are flushed and fsynced, the temporary file is
    renamed over ``path`` and the folder is fsynced, so after a power loss ``path``
    never points at a half-written or empty file.

    Args:
        path: destination file (its folder must exist).
        data: the content, or a function that writes it into the open binary file.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        if callable(data):
            data(fh)
        else:
            fh.write(data.encode() if isinstance(data, str) else data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    try:
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)
