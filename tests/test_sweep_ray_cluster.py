"""`--ray`: an address that is no Ray is refused in bounded time before anything is
written; `--ray local` listens on loopback only."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

from cemgd.cli import main
from cemgd.sweep import ray_cluster


def _listening_inodes() -> dict[str, str]:
    """Socket inode -> local address (hex, as /proc/net/tcp* writes it) of every
    listening TCP socket."""
    found: dict[str, str] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # TCP_LISTEN
                found[fields[9]] = fields[1].rsplit(":", 1)[0]
    return found


def _descendants(root: int) -> set[int]:
    """``root`` and every process below it."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(text.rpartition(")")[2].split()[1])
    family, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in family} - family
        family |= more
        grew = bool(more)
    return family


def _socket_inodes(pids: set[int]) -> set[str]:
    inodes: set[str] = set()
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[len("socket:["):-1])
    return inodes


LOOPBACK = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}


def test_a_tcp_port_that_is_no_ray_is_refused_in_time_before_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A listener that accepts and stays silent (and one that answers like a web server)
    is refused within twice the connect timeout, and the sweep folder is never made."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install -e .[ray])")
    monkeypatch.setattr(ray_cluster, "CONNECT_TIMEOUT_S", 1.5)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel accepts; nothing ever answers
        port = silent.getsockname()[1]
        start = time.monotonic()
        code = main(["sweep", "--tasks", "cartpole-swingup", "--planners", "cem-50",
                     "--quick", "--no-progress", "--ray", f"127.0.0.1:{port}",
                     "--out", str(tmp_path / "s")])
        took = time.monotonic() - start
    assert code == 2 and took < 2 * 1.5 + 2, took
    err = capsys.readouterr().err
    assert f"ray: cannot reach a Ray cluster at 127.0.0.1:{port} within 1.5 s (timed out)" in err
    assert "Traceback" not in err
    assert not (tmp_path / "s").exists()  # no sweep.json, no failures.csv

    with socket.socket() as web:  # answers the first request as an HTTP/1 server would
        web.bind(("127.0.0.1", 0))
        web.listen(8)
        port = web.getsockname()[1]

        def answer() -> None:
            conn, _ = web.accept()
            with conn:
                conn.recv(64)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        with pytest.raises(ValueError, match=r"ray: 127\.0\.0\.1:\d+ accepts connections but "
                                             r"is no Ray cluster .*b'HTTP/1\.1 "):
            ray_cluster.check_reachable(f"127.0.0.1:{port}")
        thread.join(5)


def test_local_ray_listens_on_loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--ray local`: every listening socket of the cluster's processes (gcs_server,
    raylet, agents, workers) is on 127.0.0.1, the node advertises 127.0.0.1, and its GCS
    passes the address check a cluster address gets."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e .[ray])")
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)  # a cluster connect's, if any
    if ray.is_initialized():  # another test's cluster: this one must be started here
        ray.shutdown()
    assert ray_cluster.connect(ray, "local", 1)
    try:
        def pid() -> int:
            return os.getpid()

        assert ray.get(ray.remote(num_cpus=1)(pid).remote()) != os.getpid()  # a worker
        node = ray._private.worker._global_node
        assert node.node_ip_address == "127.0.0.1"
        assert node.gcs_address.startswith("127.0.0.1:")
        ray_cluster.check_reachable(node.gcs_address)  # a real GCS answers as gRPC
        ours = _socket_inodes(_descendants(os.getpid()))
        listening = {inode: addr for inode, addr in _listening_inodes().items()
                     if inode in ours}
        assert len(listening) >= 2, listening  # gcs_server and raylet at least
        assert set(listening.values()) <= LOOPBACK, listening
    finally:
        ray.shutdown()
    from ray._private import ray_constants

    assert ray_constants.ENABLE_RAY_CLUSTER  # restored for later cluster addresses
