"""Runs as Ray tasks (one CPU each), on a local Ray or a cluster. Ray is optional:
it is imported only here, only when a sweep asks for it.

Security: a Ray cluster runs any code a connected client sends. ``--ray local`` starts
a cluster whose nodes advertise 127.0.0.1 and that requires Ray's token (Ray 2.60
generates ``~/.ray/auth_token`` for a new local cluster); Ray's servers still listen
on every interface, so the token is what keeps others out. For a cluster address,
cemgd expects token authentication (``RAY_AUTH_MODE=token``, ``ray get-auth-token
--generate``) and refuses to connect without a token. An address that does not accept
a TCP connection within :data:`CONNECT_TIMEOUT_S` seconds is refused with a message;
one that accepts it but is no Ray head is refused when ``ray.init`` gives up (Ray
retries for about 20 s).

One writer per run folder, as on the local pool: unless ``--ray-shared-fs`` (where the
task's own ``pets.run`` locks the folder), the driver holds the run folder's lock
(:class:`cemgd.runs.FolderLock`) from reading its files until the task's files are
written back; a folder another process holds is that run's failure, never overwritten.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, Iterator
from typing import Any

from cemgd.runs import FolderLock, RunError, lock_folder
from cemgd.sweep.config import RunSpec, SweepConfig
from cemgd.sweep.worker import log_path, ray_task, read_files, worker_env, write_files

#: Seconds ``--ray ADDRESS`` may take to accept a TCP connection.
CONNECT_TIMEOUT_S = 10.0
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


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Refuse an address that does not accept a TCP connection within ``timeout`` s.

    Raises:
        ValueError: ``ray: cannot reach ...`` naming the address and the reason.
    """
    host, port = split_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as err:
        reason = "timed out" if isinstance(err, TimeoutError) else (err.strerror or str(err))
        raise ValueError(
            f"ray: cannot reach a Ray cluster at {address} within {timeout:g} s ({reason}); "
            "check the address (HOST:PORT of the head, default port 6379) and that the "
            "cluster is running"
        ) from None


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
