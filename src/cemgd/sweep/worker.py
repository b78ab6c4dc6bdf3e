"""One run of a sweep in a worker process (local pool) or a Ray task.

:func:`run_one` never raises: it returns ``{"ok", "retry", "error", "seconds"}`` and
appends the run's output to ``<folder>.log`` beside the run folder. :func:`worker_main`
is the body of a local worker process: it dies with its driver (``PR_SET_PDEATHSIG``
on Linux), runs one run and sends its result back through a pipe.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import io
import os
import platform
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator, Mapping
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from cemgd import pets
from cemgd.runs import RunError, write_atomic
from cemgd.runs.files import is_temporary
from cemgd.runs.lock import LOCK_FILE
from cemgd.runtime import enable_compilation_cache

#: XLA settings of a worker process when several share the machine (one thread each).
SINGLE_THREAD_XLA = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"

#: ``prctl`` option: the signal this process gets when its parent dies (Linux).
PR_SET_PDEATHSIG = 1


def worker_env(single_thread: bool) -> dict[str, str]:
    """Environment defaults of a worker process, applied before its JAX starts computing;
    a variable the driver's environment already sets (and the worker inherits) wins.

    Args:
        single_thread: several workers share the machine: one XLA thread each
            (:data:`SINGLE_THREAD_XLA`).
    """
    env = {"MUJOCO_GL": "egl"}
    if single_thread:
        env["XLA_FLAGS"] = SINGLE_THREAD_XLA
    return env


def die_with_parent(parent_pid: int) -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux); exit now if
    the parent is already gone. Elsewhere a no-op: there the driver's own exit path
    terminates its workers."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def worker_main(conn: Connection, parent_pid: int, env: Mapping[str, str],
                config: pets.PETSConfig, folder: str, cache_dir: str | None,
                tensorboard: bool = False) -> None:
    """Body of a local worker process: one :func:`run_one`, its result sent on ``conn``."""
    die_with_parent(parent_pid)
    for key, value in env.items():
        os.environ.setdefault(key, value)
    result = run_one(config, folder, cache_dir, tensorboard)
    with contextlib.suppress(OSError):
        conn.send(result)
    conn.close()


def log_path(folder: str | os.PathLike[str]) -> Path:
    """Where a sweep writes a run's output: beside its folder (``seed-0`` -> ``seed-0.log``),
    so the run folder holds only what the run writes."""
    folder = Path(folder)
    return folder.with_name(folder.name + ".log")


def run_one(config: pets.PETSConfig, folder: str | os.PathLike[str],
            cache_dir: str | None = None, tensorboard: bool = False) -> dict[str, Any]:
    """Run (or resume) one PETS run into ``folder``; never raises.

    Args:
        config: the run.
        folder: its run folder; the run's output is appended to :func:`log_path`.
        cache_dir: JAX compilation cache folder (``None``: off).
        tensorboard: also write TensorBoard events into ``folder`` (``pets.run``).

    Returns:
        ``{"ok", "retry", "error", "seconds"}``: ``retry`` is False for errors another
        attempt cannot fix (``RunError``: the folder holds another run or a damaged file).
    """
    start = time.perf_counter()
    result: dict[str, Any] = {"ok": False, "retry": True, "error": "", "seconds": 0.0}
    try:
        enable_compilation_cache(cache_dir)
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        with log_path(path).open("a") as log, _redirect_fds(log), \
                contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            print(f"--- {dt.datetime.now().isoformat(timespec='seconds')} pid {os.getpid()} "
                  f"host {platform.node()}: pets.run(resume=True)", flush=True)
            try:
                pets.run(config, path, resume=True, show_progress=False,
                         tensorboard=tensorboard)
                result["ok"] = True
            except RunError as err:
                result.update(retry=False, error=f"RunError: {err}")
                print(result["error"])
            except Exception as err:  # noqa: BLE001 - reported to the driver, then retried
                result["error"] = f"{type(err).__name__}: {err}"
                traceback.print_exc(file=log)
    except Exception as err:  # noqa: BLE001 - e.g. the folder cannot be created
        result["error"] = f"{type(err).__name__}: {err}"
    result["seconds"] = time.perf_counter() - start
    return result


@contextlib.contextmanager
def _redirect_fds(log: io.TextIOBase) -> Iterator[None]:
    """Send file descriptors 1 and 2 (C-level output: XLA, MuJoCo) to ``log``, then back."""
    saved = []
    try:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        for fd in (1, 2):
            saved.append((fd, os.dup(fd)))
            os.dup2(log.fileno(), fd)
    except OSError:  # no such descriptors (embedded interpreters): Python-level only
        pass
    try:
        yield
    finally:
        for stream in (sys.stdout, sys.stderr, log):
            with contextlib.suppress(Exception):
                stream.flush()
        for fd, copy in saved:
            os.dup2(copy, fd)
            os.close(copy)


def read_files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder``: relative POSIX path -> bytes (temporary files and the
    lock's pid record aside: the lock is the folder's, never copied)."""
    if not folder.is_dir():
        return {}
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*"))
            if p.is_file() and not is_temporary(p.name) and p.name != LOCK_FILE}


def write_files(folder: Path, files: Mapping[str, bytes]) -> None:
    """Make ``folder`` hold exactly ``files`` (each written atomically; the lock's pid
    record, never in ``files``, is kept)."""
    folder.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, data)
    for p in sorted(folder.rglob("*"), reverse=True):
        rel = p.relative_to(folder).as_posix()
        if p.is_file() and rel not in files and rel != LOCK_FILE:
            p.unlink()


def ray_task(config: pets.PETSConfig, folder: str, files: Mapping[str, bytes] | None,
             shared_fs: bool, cache_dir: str | None = None, tensorboard: bool = False
             ) -> dict[str, Any]:
    """Body of a Ray task: :func:`run_one`, in a temporary copy of the folder unless
    ``shared_fs``; the result then carries the folder's files (``"files"``) and the
    attempt's output (``"log"``)."""
    if shared_fs:
        return run_one(config, folder, cache_dir, tensorboard)
    with tempfile.TemporaryDirectory(prefix="cemgd-run-") as tmp:
        path = Path(tmp) / "run"
        if files:
            write_files(path, files)
        result = run_one(config, path, cache_dir, tensorboard)
        result["files"] = read_files(path)
        with contextlib.suppress(OSError):
            result["log"] = log_path(path).read_bytes()
    return result
