"""Runs as Ray tasks (one CPU each), on a local Ray or a cluster. Ray is optional:
it is imported only here, only when a sweep asks for it.

Security: a Ray cluster runs any code a connected client sends. ``--ray local`` starts
a cluster on 127.0.0.1 alone: its node address is the loopback one, so its servers
(``gcs_server``, ``raylet``, the agents) listen on loopback only, and it requires Ray's
token (Ray 2.60 generates ``~/.ray/auth_token`` for a new local cluster). For a cluster
address, cemgd expects token authentication (``RAY_AUTH_MODE=token``, ``ray
get-auth-token --generate``) and refuses to connect without a token. An address is
refused with a message unless it accepts a TCP connection within
:data:`CONNECT_TIMEOUT_S` seconds and then answers as a gRPC server (Ray's GCS and Ray
Client both are) within as long again: at most about 20 s, before anything is written.

One writer per run folder, as on the local pool: unless ``--ray-shared-fs`` (where the
task's own ``pets.run`` locks the folder), the driver holds the run folder's lock
(:class:`cemgd.runs.FolderLock`) from reading its files until the task's files are
written back; a folder another process holds is that run's failure, never overwritten.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

from cemgd.runs import FolderLock, RunError, lock_folder
from cemgd.sweep.config import RunSpec, SweepConfig
from cemgd.sweep.worker import log_path, ray_task, read_files, worker_env, write_files

#: Seconds ``--ray ADDRESS`` may take to accept a TCP connection, and again to answer it.
CONNECT_TIMEOUT_S = 10.0
#: What an HTTP/2 (gRPC) client sends first: the preface, then an empty SETTINGS frame.
_HTTP2_HELLO = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00" + bytes(4)
#: Port of a Ray head's GCS when the address names none (Ray's default).
DEFAULT_GCS_PORT = 6379

Finish = Callable[[RunSpec, str, dict[str, Any], int], None]
Retry = Callable[[RunSpec, dict[str, Any], int], None]


def import_ray() -> Any:
    """The ``ray`` module, or ValueError naming ``ray`` with how to install it."""
    try:
        import ray  # optional dependency: imported only for --ray
    except ImportError:
        raise ValueError(
            "ray: Ray is not installed; install the extra with `pip install -e .[ray]` "
            "(or `pip install 'ray>=2.60'`), or leave out --ray to use the local process pool"
        ) from None
    return ray


def split_address(address: str) -> tuple[str, int]:
    """``"host:port"`` (or ``ray://host:port``, or ``host``) -> ``(host, port)``."""
    text = address.removeprefix("ray://")
    host, colon, port = text.rpartition(":")
    if not colon:
        return text, DEFAULT_GCS_PORT
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        raise ValueError(f"ray: expected HOST:PORT, got {address!r}") from None


def check_reachable(address: str, timeout: float | None = None) -> None:
    """Refuse an address that does not accept a TCP connection within ``timeout`` s
    (default :data:`CONNECT_TIMEOUT_S`), or that is no gRPC server: one whose first
    answer, within ``timeout`` s more, is not an HTTP/2 SETTINGS frame (a silent port, a
    web server, anything but a Ray head or Ray Client server). Skipped for TLS
    (``RAY_USE_TLS``), whose handshake comes first.

    Raises:
        ValueError: ``ray: cannot reach ...`` or ``ray: ... is no Ray cluster``, naming
            the address and the reason.
    """
    timeout = CONNECT_TIMEOUT_S if timeout is None else timeout
    host, port = split_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            answer = b"" if _uses_tls() else _http2_answer(conn, timeout)
    except OSError as err:
        reason = "timed out" if isinstance(err, TimeoutError) else (err.strerror or str(err))
        raise ValueError(
            f"ray: cannot reach a Ray cluster at {address} within {timeout:g} s ({reason}); "
            "check the address (HOST:PORT of the head, default port 6379) and that the "
            "cluster is running"
        ) from None
    # an HTTP/2 server's first frame is SETTINGS (type 4), not an ACK, on stream 0
    if answer and not (len(answer) == 9 and answer[3] == 4 and not answer[4] & 1
                       and answer[5:] == bytes(4)):
        raise ValueError(
            f"ray: {address} accepts connections but is no Ray cluster (it does not answer "
            f"as a gRPC server; first bytes {answer[:9]!r}); check the address (HOST:PORT "
            "of the head's GCS, default port 6379)"
        )


def _uses_tls() -> bool:
    return os.environ.get("RAY_USE_TLS", "0").strip().lower() in ("1", "true")


def _http2_answer(conn: socket.socket, timeout: float) -> bytes:
    """Send the HTTP/2 client preface on ``conn``; the first 9 bytes answered (a frame
    header), within ``timeout`` s. Raises TimeoutError (an OSError) on silence and
    ConnectionError when the peer closes first."""
    deadline = time.monotonic() + timeout
    conn.settimeout(timeout)
    conn.sendall(_HTTP2_HELLO)
    answer = b""
    while len(answer) < 9:
        conn.settimeout(max(deadline - time.monotonic(), 1e-3))
        chunk = conn.recv(9 - len(answer))
        if not chunk:
            raise ConnectionError(0, "closed the connection without answering")
        answer += chunk
    return answer


def check_token() -> None:
    """Refuse to connect to a cluster without a Ray authentication token.

    Raises:
        ValueError: naming ``ray`` and how to make a token.
    """
    try:
        from ray._raylet import AuthenticationTokenLoader  # Ray >= 2.5x: token auth
    except ImportError:
        return  # a Ray without token authentication: nothing to check
    if not AuthenticationTokenLoader.instance().has_token(ignore_auth_mode=True):
        raise ValueError(
            "ray: cemgd connects to Ray clusters with token authentication, and no token "
            "was found; run `ray get-auth-token --generate` (or set RAY_AUTH_TOKEN to the "
            "cluster's token) and start the cluster with RAY_AUTH_MODE=token"
        )


def check_cluster(address: str | None) -> None:
    """For a cluster ``address`` (not ``None``, ``local`` or ``auto``): reachable within
    the TCP timeout (:func:`check_reachable`) and a token at hand (:func:`check_token`);
    callers run it before they write anything."""
    if address not in (None, "local", "auto"):
        check_reachable(address)
        check_token()


def connect(ray: Any, address: str, workers: int) -> bool:
    """Connect to or start the Ray at ``address`` (``local``, ``auto`` or host:port).

    ``workers``: the CPUs a ``local`` Ray gets. True if this call started Ray.
    """
    if ray.is_initialized():
        return False
    if address == "local":
        with _loopback_node():
            ray.init(address="local", num_cpus=workers, include_dashboard=False,
                     _node_ip_address="127.0.0.1")
    elif address == "auto":
        ray.init(address=None, include_dashboard=False)
    else:
        check_cluster(address)
        os.environ.setdefault("RAY_AUTH_MODE", "token")  # Ray reads its mode from here
        try:
            ray.init(address=address)
        except (ConnectionError, RuntimeError) as err:  # reachable, but not a Ray head
            raise ValueError(
                f"ray: cannot connect to a Ray cluster at {address} "
                f"({' '.join(str(err).split())[:200]})"
            ) from None
    return True


@contextlib.contextmanager
def _loopback_node() -> Iterator[None]:
    """While a local Ray starts: its node address is 127.0.0.1. ``ray.init`` replaces
    a loopback ``_node_ip_address`` by this machine's network address unless Ray's
    single-machine mode is on (``ENABLE_RAY_CLUSTER`` false, as on macOS); with the
    loopback address, ``gcs_server`` and ``raylet`` listen on loopback only and every
    process of the cluster advertises 127.0.0.1. The flag is restored afterwards, so a
    later cluster address in this process connects as usual."""
    constants = _ray_constants()
    if constants is None or not hasattr(constants, "ENABLE_RAY_CLUSTER"):
        yield
        return
    before = constants.ENABLE_RAY_CLUSTER
    constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        constants.ENABLE_RAY_CLUSTER = before


def _ray_constants() -> Any:
    """Ray's ``ray_constants`` module, or None where this Ray has none."""
    try:
        from ray._private import ray_constants
    except ImportError:
        return None
    return ray_constants


@contextlib.contextmanager
def cancel_on_interrupt(ray: Any, running: dict[Any, Any], started_here: bool) -> Iterator[None]:
    """On Ctrl-C, cancel the tasks still in ``running`` (refs as keys); in any case shut
    Ray down if this process started it (``started_here``, from :func:`connect`)."""
    try:
        yield
    except KeyboardInterrupt:
        for ref in list(running):
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        raise
    finally:
        if started_here:
            ray.shutdown()


def run_ray(config: SweepConfig, todo: list[tuple[RunSpec, str]], finish: Finish,
            retry: Retry, cache_dir: str | None = None) -> None:
    """Run ``todo`` as Ray tasks (one CPU each); files come back to the driver unless
    ``config.ray_shared_fs``."""
    ray = import_ray()
    started_here = connect(ray, config.ray, config.workers)
    remote = ray.remote(num_cpus=1, max_retries=0, max_calls=1)(ray_task).options(
        runtime_env={"env_vars": worker_env(single_thread=True)})
    attempts = {spec.name: 0 for spec, _ in todo}
    running: dict[Any, tuple[RunSpec, str]] = {}
    locks: dict[str, FolderLock] = {}

    def submit(spec: RunSpec, how: str) -> None:
        attempts[spec.name] += 1
        files = None
        if not config.ray_shared_fs:  # the driver writes the folder: it holds the lock
            try:
                locks[spec.name] = lock_folder(spec.folder, str(spec.folder))
            except RunError as err:
                finish(spec, how, {"ok": False, "retry": False, "seconds": 0.0,
                                   "error": f"RunError: {err}"}, attempts[spec.name])
                return
            files = read_files(spec.folder)
        ref = remote.remote(spec.config, str(spec.folder.resolve()), files,
                            config.ray_shared_fs, cache_dir, config.tensorboard)
        running[ref] = (spec, how)

    with cancel_on_interrupt(ray, running, started_here), _released(locks):
        for spec, how in todo:
            submit(spec, how)
        while running:
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                spec, how = running.pop(ref)
                result = _result(ray, ref, spec)
                if spec.name in locks:
                    locks.pop(spec.name).release()
                n = attempts[spec.name]
                if not result["ok"] and result["retry"] and n <= config.max_retries:
                    retry(spec, result, n)
                    submit(spec, how)
                else:
                    finish(spec, how, result, n)


@contextlib.contextmanager
def _released(locks: dict[str, FolderLock]) -> Iterator[None]:
    """Release every run folder lock still held when the block ends (an interruption)."""
    try:
        yield
    finally:
        for lock in locks.values():
            lock.release()
        locks.clear()


def _result(ray: Any, ref: Any, spec: RunSpec) -> dict[str, Any]:
    """A finished task's result, its files written into the run folder."""
    try:
        result = ray.get(ref)
    except Exception as err:  # noqa: BLE001 - a Ray error: worker died, ...
        return {"ok": False, "retry": True, "seconds": 0.0,
                "error": f"{type(err).__name__}: {err}"}
    files = result.pop("files", None)
    log = result.pop("log", None)
    try:
        if files:
            write_files(spec.folder, files)
        if log is not None:
            spec.folder.parent.mkdir(parents=True, exist_ok=True)
            with log_path(spec.folder).open("ab") as fh:
                fh.write(log)
    except OSError as err:
        return {"ok": False, "retry": True, "seconds": result["seconds"],
                "error": f"cannot write the run's files into {spec.folder}: "
                         f"{type(err).__name__}: {err}"}
    return result
