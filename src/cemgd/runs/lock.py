"""One writer per folder: an exclusive OS-level lock on the folder itself.

The lock is ``flock`` on the folder's own handle (no lock file is needed to exclude),
so it is released when the holder's process dies, however it dies: a killed holder
never blocks a rerun. The holder writes its pid to ``.lock`` in the folder so that a
refused process can say who holds it. POSIX only (``fcntl``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from types import TracebackType

from cemgd.runs.errors import RunError

LOCK_FILE = ".lock"


class FolderLock:
    """An exclusive lock on ``folder`` (which must exist).

    Use as a context manager, or :meth:`acquire` / :meth:`release`. ``what`` starts the
    refusal message: ``"out: run folder in use by pid N"``.
    """

    def __init__(self, folder: str | os.PathLike[str], what: str = "out") -> None:
        self.folder = Path(folder)
        self.what = what
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self, record: bool = True) -> FolderLock:
        """Take the lock at once or raise :class:`RunError` naming the holder's pid.

        Args:
            record: write this process's pid to ``.lock`` now; with ``False`` the caller
                calls :meth:`record` once it is ready to write (nothing is written yet).
        """
        if self._fd is not None:
            return self
        try:
            fd = os.open(self.folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError as err:
            raise RunError(f"{self.what}: cannot open {self.folder} ({err.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise RunError(f"{self.what}: run folder in use by {self.holder()}") from None
        self._fd = fd
        if record:
            self.record()
        return self

    def holder(self) -> str:
        """``"pid N"`` of the holder: the kernel's lock table (Linux ``/proc/locks``, so a
        holder that has not written ``.lock`` yet is named too), else the pid recorded in
        ``.lock``, else ``"another process"``."""
        pid = kernel_lock_holder(self.folder)
        if pid is not None:
            return f"pid {pid}"
        with contextlib.suppress(OSError, ValueError, UnicodeDecodeError):
            return f"pid {int((self.folder / LOCK_FILE).read_text().strip())}"
        return "another process (pid not yet recorded)"

    def record(self) -> None:
        """Write this process's pid to ``.lock`` (only while holding the lock)."""
        if self._fd is None:
            raise RuntimeError("record() without holding the lock")
        (self.folder / LOCK_FILE).write_text(f"{os.getpid()}\n")

    def release(self) -> None:
        """Give the lock back (``.lock`` stays: the lock itself is the folder handle)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()

    def __del__(self) -> None:
        self.release()


def kernel_lock_holder(folder: str | os.PathLike[str]) -> int | None:
    """The pid holding a ``flock`` on ``folder`` per ``/proc/locks`` (None: not Linux, no
    such lock, or the table cannot be read). Reads only: a refused process writes nothing."""
    try:
        st = os.stat(folder)
        table = Path("/proc/locks").read_text()
    except OSError:
        return None
    device = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    for line in table.splitlines():
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 26688 fe:00:5309469 0 EOF"
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == device:
            with contextlib.suppress(ValueError):
                pid = int(fields[4])
                if pid > 0:
                    return pid
    return None


def lock_folder(folder: str | os.PathLike[str], what: str = "out") -> FolderLock:
    """Create ``folder`` if needed and lock it (see :class:`FolderLock`).

    Raises:
        RunError: ``folder`` cannot be created, or another process holds it.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunError(f"{what}: cannot create {folder} ({err.strerror or err})") from None
    return FolderLock(folder, what).acquire()
