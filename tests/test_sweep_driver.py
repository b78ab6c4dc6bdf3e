"""``cemgd sweep``'s driver (cemgd.sweep): one driver per folder, workers die with it,
only a dead worker's run is charged, damaged files never crash the driver, a Ray address
is reachable or refused, local Ray binds loopback and clusters need a token."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_sweep import _rows

from cemgd import pets, sweep
from cemgd.cli import main
from cemgd.sweep import SweepConfig, run_sweep
from cemgd.sweep import worker as sweep_worker


def _worker_pid(log: Path, timeout: float = 240.0) -> int:
    """The pid a worker wrote as the first line of its run's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists():
            for line in log.read_text().splitlines():
                if " pid " in line:
                    return int(line.split(" pid ")[1].split()[0])
        time.sleep(0.1)
    raise AssertionError(f"no worker wrote {log}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as fh:  # a zombie is dead
        return fh.read().split(") ")[1][0] != "Z"


def test_second_driver_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from cemgd.runs import lock_folder

    out = tmp_path / "s"
    with lock_folder(out, "out"):
        code = main(["sweep", "--tasks", "cartpole-swingup", "--planners", "cem-50",
                     "--quick", "--no-progress", "--out", str(out)])
        assert code == 2
        err = capsys.readouterr().err
        assert err == f"cemgd sweep: --out: run folder in use by pid {os.getpid()}\n"
        assert sorted(p.name for p in out.iterdir()) == [".lock"]  # nothing written


def test_workers_die_with_their_driver(tmp_path: Path) -> None:
    out = tmp_path / "s"
    argv = ["sweep", "--tasks", "cartpole-swingup", "--planners", "cem-50", "--quick",
            "--trials", "3", "--workers", "1", "--no-progress", "--out", str(out)]
    driver = subprocess.Popen([sys.executable, "-m", "cemgd.cli", *argv],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        worker = _worker_pid(sweep_worker.log_path(out / "cartpole-swingup" / "cem-50"
                                                   / "seed-0"))
        assert _alive(worker)
    finally:
        driver.kill()  # the driver only: SIGKILL, no chance to clean up
        driver.wait()
    deadline = time.monotonic() + 10
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(worker), "the worker outlived its driver"
    # and the folder's lock went with the driver: a rerun finishes the run
    summary = run_sweep(SweepConfig(tasks=("cartpole-swingup",), planners=("cem-50",),
                                    seeds=(0,), quick=True, overrides={"trials": 3},
                                    workers=1), out, show_progress=False)
    assert summary.ok


def test_only_the_dead_workers_run_is_charged(tmp_path: Path) -> None:
    import threading

    config = SweepConfig(tasks=("cartpole-swingup",), planners=("cem-50",), seeds=(0, 1),
                         quick=True, overrides={"trials": 3}, workers=2, max_retries=0)
    victim = sweep_worker.log_path(tmp_path / "cartpole-swingup" / "cem-50" / "seed-0")
    killer = threading.Thread(target=lambda: os.kill(_worker_pid(victim), signal.SIGKILL))
    killer.start()
    summary = run_sweep(config, tmp_path, show_progress=False)
    killer.join()
    runs = {r.seed: r for r in summary.results}
    assert runs[0].status == "failed" and runs[0].attempts == 1
    assert "worker process died (killed by signal 9)" in runs[0].error
    assert runs[1].status == "done" and runs[1].attempts == 1 and runs[1].trials_done == 3
    (row,) = _rows(tmp_path / "failures.csv")
    assert row["seed"] == "0"


def test_damaged_metrics_never_crash_the_driver(tmp_path: Path) -> None:
    config = SweepConfig(tasks=("cartpole-swingup",), planners=("cem-50",), seeds=(0, 1),
                         quick=True, overrides={"trials": 1}, workers=1)
    damaged, other = sweep.expand(config, tmp_path)
    damaged.folder.mkdir(parents=True)
    (damaged.folder / "config.json").write_text(
        json.dumps(pets.config_to_json(damaged.config), default=str))
    (damaged.folder / "metrics.csv").write_bytes(b"trial,episode_return\n\xff\xfe0,1\n")
    assert sweep.inspect_run(damaged)[0] == "partial"
    assert sweep.returns(damaged.folder) == {"trials_done": 0}
    summary = run_sweep(config, tmp_path, show_progress=False)
    runs = {r.seed: r for r in summary.results}
    assert runs[1].status == "done"  # the queued run was not abandoned
    assert runs[0].status == "failed" and "metrics.csv" in runs[0].error
    (row,) = _rows(tmp_path / "failures.csv")
    assert row["seed"] == "0" and "metrics.csv" in row["error"]


def test_unreachable_ray_address_fails_within_the_timeout(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("ray", reason="Ray is not installed (pip install -e .[ray])")
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    start = time.monotonic()
    code = main(["sweep", "--tasks", "cartpole-swingup", "--planners", "cem-50", "--quick",
                 "--no-progress", "--ray", f"127.0.0.1:{port}", "--out", str(tmp_path / "s")])
    assert code == 2 and time.monotonic() - start < sweep.CONNECT_TIMEOUT_S + 5
    err = capsys.readouterr().err
    assert f"ray: cannot reach a Ray cluster at 127.0.0.1:{port} within 10 s" in err
    assert not (tmp_path / "s").exists()  # refused before the sweep folder is made

    # an address that never answers is given CONNECT_TIMEOUT_S, then refused
    from cemgd.sweep import ray_cluster

    asked: list[float] = []

    def silent(address: tuple[str, int], timeout: float) -> None:
        asked.append(timeout)
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket, "create_connection", silent)
    with pytest.raises(ValueError, match=r"ray: cannot reach .* within 10 s \(timed out\)"):
        ray_cluster.check_reachable("10.255.255.1:6379")
    assert asked == [ray_cluster.CONNECT_TIMEOUT_S] == [10.0]


class _FakeRay:
    """Records how a sweep starts Ray (no cluster is started)."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def is_initialized(self) -> bool:
        return False

    def init(self, **kwargs: object) -> None:
        self.calls.append(kwargs)


def test_local_ray_binds_loopback_and_clusters_need_a_token(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    from cemgd.sweep import ray_cluster

    fake = _FakeRay()
    assert ray_cluster.connect(fake, "local", 2)
    assert fake.calls == [{"address": "local", "num_cpus": 2,
                           "include_dashboard": False, "_node_ip_address": "127.0.0.1"}]
    pytest.importorskip("ray", reason="Ray is not installed (pip install -e .[ray])")
    # a cluster address with no token anywhere is refused before connecting
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(ray_cluster, "check_reachable", lambda address: None)
    from ray._raylet import AuthenticationTokenLoader

    AuthenticationTokenLoader.instance().reset_cache()
    try:
        with pytest.raises(ValueError, match="ray: cemgd connects to Ray clusters with token"):
            ray_cluster.connect(fake, "10.0.0.1:6379", 2)
        assert len(fake.calls) == 1
        monkeypatch.setenv("RAY_AUTH_TOKEN", "a" * 32)
        AuthenticationTokenLoader.instance().reset_cache()
        assert ray_cluster.connect(fake, "10.0.0.1:6379", 2)
        assert fake.calls[-1] == {"address": "10.0.0.1:6379"}
    finally:
        monkeypatch.undo()
        AuthenticationTokenLoader.instance().reset_cache()


@pytest.mark.slow
def test_sweep_on_a_two_node_token_cluster(tmp_path: Path) -> None:
    """Two `ray start` on this machine (token authentication), then `cemgd sweep --ray`."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install -e .[ray])")
    import shutil
    import socket
    import tempfile

    ray_bin = shutil.which("ray")
    if ray_bin is None:
        pytest.skip("the ray command is not on PATH")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    temp = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # short: Ray's socket paths
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "c" * 32,
           "RAY_USAGE_STATS_ENABLED": "0"}
    common = ["--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--temp-dir", temp]
    try:
        subprocess.run([ray_bin, "start", "--head", "--port", str(port),
                        "--include-dashboard", "false", *common],
                       env=env, check=True, capture_output=True, timeout=120)
        subprocess.run([ray_bin, "start", "--address", f"127.0.0.1:{port}", *common],
                       env=env, check=True, capture_output=True, timeout=120)
        out = tmp_path / "s"
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "cemgd.cli", "sweep", "--tasks", "cartpole-swingup",
             "--planners", "cem-50", "--seeds", "0,1", "--quick", "--trials", "1",
             "--no-progress", "--ray", f"127.0.0.1:{port}", "--out", str(out)],
            env=env, capture_output=True, text=True, timeout=600)
        print(f"2 runs on a two-node local cluster: {time.perf_counter() - start:.1f} s")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        record = json.loads((out / "sweep.json").read_text())
        assert record["counts"] == {"done": 2}
        for seed in (0, 1):
            rows = _rows(out / "cartpole-swingup" / "cem-50" / f"seed-{seed}" / "metrics.csv")
            assert [r["trial"] for r in rows] == ["0"]
    finally:  # stop only this cluster's processes (their command lines name its folder)
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            with contextlib.suppress(OSError):
                if temp.encode() in cmdline.read_bytes():
                    os.kill(int(cmdline.parent.name), signal.SIGKILL)
        shutil.rmtree(temp, ignore_errors=True)


def test_ray_sweep_takes_the_run_folder_lock(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The Ray path (files copied to the task and back) locks each run folder as the
    pool's ``pets.run`` does: a folder another process holds is that run's failure, and
    its files (``my-notes.txt``) are left as they were."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install -e .[ray])")
    from cemgd.runs import lock_folder

    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)  # set by a cluster connect above

    out = tmp_path / "s"
    config = SweepConfig(tasks=("cartpole-swingup",), planners=("cem-50",), seeds=(0,),
                         quick=True, workers=1, ray="local")
    (spec,) = sweep.expand(config, out)
    folder = spec.folder  # the run, begun by another process that holds it
    holder = lock_folder(folder, "out")
    (folder / "config.json").write_text(json.dumps(pets.config_payload(spec.config)))
    (folder / "my-notes.txt").write_text("mine")
    try:
        summary = run_sweep(config, out, show_progress=False)
    finally:
        holder.release()
    assert not summary.ok and summary.counts() == {"failed": 1}
    assert f"run folder in use by pid {os.getpid()}" in summary.results[0].error
    assert sorted(p.name for p in folder.iterdir()) == [".lock", "config.json", "my-notes.txt"]
    assert (folder / "my-notes.txt").read_text() == "mine"
