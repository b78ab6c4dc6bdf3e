"""PETS run folders (pets.run, runs): one writer, crash-safe at every instant, check first.

The fault sweep kills a run at each write (rename) and unlink of its folder in turn,
before and after it, and resumes: the metrics must equal an uninterrupted run's and no
stale file may stay. The full sweep is slow; CI runs the points of the trial-0 commit
and of a later commit.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import jax
import numpy as np
import pytest

pytest.importorskip("gymnasium")
pytest.importorskip("mujoco")

from jax.experimental.compilation_cache import compilation_cache  # noqa: E402

from cemgd import pets  # noqa: E402
from cemgd.cli import main  # noqa: E402
from cemgd.runs import RunError, lock_folder, read_metrics  # noqa: E402
from cemgd.runtime import enable_compilation_cache  # noqa: E402

#: Columns that depend on the machine's speed, not on the computation.
TIMING = {"train_s", "plan_ms_mean", "plan_ms_max", "plan_ms_first", "peak_rss_mb",
          "compile_s", "episode_s", "plan_memory_mb"}


def _config(**changes: object) -> pets.PETSConfig:
    config = pets.quick(pets.PETSConfig(task="cartpole-swingup", planner="cem-gd"))
    return dataclasses.replace(config, **{"trials": 2, "episode_length": 6, **changes})


def _deterministic(folder: Path) -> list[dict]:
    return [{k: v for k, v in row.as_row().items() if k not in TIMING}
            for row in read_metrics(folder)]


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module", autouse=True)
def compile_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Runs in this module compile the same steps again and again: cache them on disk."""
    before = jax.config.jax_compilation_cache_dir
    enable_compilation_cache(tmp_path_factory.mktemp("jax-cache"))
    yield
    jax.config.update("jax_compilation_cache_dir", before)
    # the cache object JAX initialised stays live after the config changes back: drop it,
    # so no later test of the session serialises its compiles into a removed folder
    compilation_cache.reset_cache()


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("finished") / "run"
    pets.run(_config(), folder, show_progress=False)
    return folder


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# ----------------------------------------------------------------------------- fault sweep
class Killed(BaseException):
    """Stands in for SIGKILL: no ``except Exception`` handler sees it."""


@dataclasses.dataclass
class _Faults:
    """Counts renames and unlinks inside ``folder``; raises Killed at point ``kill``."""

    folder: Path
    kill: int = -1  # point index: 2 * event (before) or 2 * event + 1 (after)
    points: int = 0
    names: list[str] = dataclasses.field(default_factory=list)

    def wrap(self, real: Callable, target: Callable[[tuple], str]) -> Callable:
        def wrapped(*args: object, **kwargs: object) -> object:
            path = str(target(args))
            if not path.startswith(str(self.folder)):
                return real(*args, **kwargs)
            self._point(f"before {real.__name__} {Path(path).name}")
            result = real(*args, **kwargs)
            self._point(f"after {real.__name__} {Path(path).name}")
            return result

        return wrapped

    def _point(self, name: str) -> None:
        self.names.append(name)
        self.points += 1
        if self.points - 1 == self.kill:
            raise Killed(name)


@pytest.fixture
def faults(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path, int], _Faults]]:
    def install(folder: Path, kill: int) -> _Faults:
        f = _Faults(folder.resolve(), kill)
        monkeypatch.setattr(os, "replace", f.wrap(os.replace, lambda a: Path(a[1]).resolve()))
        monkeypatch.setattr(os, "unlink", f.wrap(os.unlink, lambda a: Path(a[0]).resolve()))
        return f

    yield install


def _points(tmp_path: Path, faults: Callable[[Path, int], _Faults]) -> list[str]:
    folder = tmp_path / "count"
    counter = faults(folder, -1)
    pets.run(_config(), folder, show_progress=False)
    return counter.names


def _kill_and_resume(point: int, tmp_path: Path, finished: Path,
                     faults: Callable[[Path, int], _Faults],
                     monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / f"killed-{point}"
    f = faults(folder, point)
    with pytest.raises(Killed):
        pets.run(_config(), folder, show_progress=False)
    monkeypatch.undo()
    pets.run(_config(), folder, resume=True, show_progress=False)
    assert _deterministic(folder) == _deterministic(finished), f.names[-1]
    assert _files(folder) == _files(finished), f.names[-1]  # nothing stale is left


#: The first config.json, the trial-0 commit, trial 1's unlinks.
CI_POINTS = ("before replace config.json", "after replace buffer-000.npz",
             "after replace state.json", "after unlink model-000.npz")


def test_kill_at_ci_points_resumes_to_an_uninterrupted_run(
    tmp_path: Path, finished: Path, faults: Callable[[Path, int], _Faults],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    names = _points(tmp_path, faults)
    monkeypatch.undo()
    chosen = [names.index(n) for n in CI_POINTS]
    for point in chosen:
        _kill_and_resume(point, tmp_path, finished, faults, monkeypatch)


@pytest.mark.slow
def test_kill_at_every_point_resumes_to_an_uninterrupted_run(
    tmp_path: Path, finished: Path, faults: Callable[[Path, int], _Faults],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    names = _points(tmp_path, faults)
    monkeypatch.undo()
    assert len(names) >= 24  # 2 per rename/unlink: config, metrics, 2 trials' commits
    for point in range(len(names)):
        _kill_and_resume(point, tmp_path, finished, faults, monkeypatch)


def test_sigkill_in_trial_0_commit_resumes_in_a_new_process(tmp_path: Path,
                                                          finished: Path) -> None:
    """A kill inside the trial-0 commit: the process kills itself after its 3rd os.replace."""
    folder = tmp_path / "run"
    argv = ["train", "--task", "cartpole-swingup", "--quick", "--trials", "2",
            "--episode-length", "6", "--no-progress", "--out", str(folder)]
    code = ("import os, signal, sys\n"
            "real, calls = os.replace, [0]\n"
            "def replace(*a, **k):\n"
            "    real(*a, **k)\n"
            f"    if str(a[1]).startswith({str(folder)!r}):\n"
            "        calls[0] += 1\n"
            "        if calls[0] == 3: os.kill(os.getpid(), signal.SIGKILL)\n"
            "os.replace = replace\n"
            "from cemgd.cli import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    # one compilation cache for both processes: the resumed one compiles nothing again
    env = {**os.environ, "CEMGD_CACHE_DIR": str(tmp_path / "cache"), "MUJOCO_GL": "egl"}
    killed = subprocess.run([sys.executable, "-c", code, *argv], env=env,
                            capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr
    ckpt = folder / "checkpoints"  # torn inside trial 0's commit: model written, no state
    assert (ckpt / "model-000.npz").exists() and not (ckpt / "state.json").exists()
    resumed = subprocess.run([sys.executable, "-m", "cemgd.cli", *argv, "--resume"], env=env,
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert _deterministic(folder) == _deterministic(finished)


# ----------------------------------------------------------------------------- one writer
def test_second_writer_is_refused_and_the_folder_untouched(finished: Path,
                                                          tmp_path: Path) -> None:
    folder = _copy(finished, tmp_path / "run")
    code = ("import time; from cemgd.runs import lock_folder; "
            f"lock = lock_folder({str(folder)!r}); print('held', flush=True); time.sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        before = _snapshot(folder)
        with pytest.raises(RunError, match=f"^out: run folder in use by pid {child.pid}$"):
            pets.run(_config(trials=3), folder, resume=True, show_progress=False)
        assert _snapshot(folder) == before
    finally:
        child.kill()
        child.wait()


def test_second_writer_exits_2_in_the_cli(finished: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture) -> None:
    folder = _copy(finished, tmp_path / "run")
    with lock_folder(folder):  # the holder: this process, through another handle
        before = _snapshot(folder)
        code = main(["train", "--task", "cartpole-swingup", "--quick", "--trials", "3",
                     "--episode-length", "6", "--no-progress", "--resume", "--out", str(folder)])
        assert code == 2
        assert f"out: run folder in use by pid {os.getpid()}" in capsys.readouterr().err
        assert _snapshot(folder) == before


# ----------------------------------------------------------------------------- check first
def _refused(folder: Path, match: str, config: pets.PETSConfig | None = None,
             resume: bool = True) -> None:
    before = _snapshot(folder)
    with pytest.raises(RunError, match=match):
        pets.run(config or _config(trials=3), folder, resume=resume, show_progress=False)
    assert _snapshot(folder) == before  # byte for byte as it was


def test_run_files_without_config_are_not_overwritten(finished: Path, tmp_path: Path) -> None:
    folder = _copy(finished, tmp_path / "run")
    (folder / "config.json").unlink()
    _refused(folder, "holds files but no config.json", _config(seed=1), resume=False)


@pytest.mark.parametrize(("change", "match"), [
    ({"completed": 99}, "expected 99 metrics rows"),
    ({"completed": -3}, "completed must be an integer >= 0"),
    ({"rows": [1, 2]}, r"rows\[0\]: expected a mapping"),
    ({"completed": True}, "completed must be an integer"),
    ({"files": {"model": "../x.npz", "buffer": "buffer-001.npz"}}, "model file must be"),
])
def test_bad_state_values_are_refused(change: dict, match: str, finished: Path,
                                      tmp_path: Path) -> None:
    folder = _copy(finished, tmp_path / "run")
    state_file = folder / "checkpoints" / "state.json"
    state = json.loads(state_file.read_text())
    state_file.write_text(json.dumps({**state, **change}))
    _refused(folder, f"state.json: {match}")


@pytest.mark.parametrize(("change", "match"), [
    ({"hidden": 16}, "hidden 16 \\(config: 32\\)"),
    ({"num_members": 3}, "num_members 3 \\(config: 2\\)"),
])
def test_checkpoint_of_another_architecture_is_refused(
    change: dict, match: str, finished: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    pets.run(_config(trials=1, **change), other, show_progress=False)
    folder = _copy(finished, tmp_path / "run")
    shutil.copy(other / "checkpoints" / "model-000.npz", folder / "checkpoints" / "model-001.npz")
    _refused(folder, f"model-001.npz: model of another architecture: {match}")


@pytest.mark.parametrize(("damage", "match"), [
    ("short-buffer", "buffer-001.npz: holds 40 transitions, expected 42"),
    ("state-not-utf8", r"state.json: corrupt \(not UTF-8"),
    ("state-folder", "state.json: expected a file"),
    ("config-list", "config.json: expected a JSON object, got list"),
    ("config-null", "config.json: expected a JSON object, got NoneType"),
    ("config-int", "config.json: expected a JSON object, got int"),
    ("metrics-ahead", "metrics.csv: 3 rows that do not match"),
    ("garbage-model", r"model-001.npz: corrupt model file \(not an .npz archive\)"),
    ("pickled-buffer", "buffer-001.npz: corrupt buffer file .*pickled objects"),
])
def test_damaged_files_are_refused_naming_the_file(damage: str, match: str, finished: Path,
                                                   tmp_path: Path) -> None:
    folder = _copy(finished, tmp_path / "run")
    ckpt = folder / "checkpoints"
    if damage == "short-buffer":
        with np.load(ckpt / "buffer-001.npz") as f:
            arrays = {k: f[k][:40] for k in f.files}
        with open(ckpt / "buffer-001.npz", "wb") as fh:
            np.savez(fh, **arrays)
    elif damage == "state-not-utf8":
        (ckpt / "state.json").write_bytes(b'{"completed": "\xff"}')
    elif damage == "state-folder":
        (ckpt / "state.json").unlink()
        (ckpt / "state.json").mkdir()
    elif damage.startswith("config-"):
        (folder / "config.json").write_text({"list": "[]", "null": "null", "int": "42"}[
            damage.split("-")[1]])
    elif damage == "metrics-ahead":
        text = (folder / "metrics.csv").read_text()
        last = text.splitlines()[-1].replace("1,", "2,", 1)
        (folder / "metrics.csv").write_text(text + last + "\n")
    elif damage == "garbage-model":
        (ckpt / "model-001.npz").write_bytes(b"\x80\x04garbage pickle")
    else:
        with open(ckpt / "buffer-001.npz", "wb") as fh:
            np.savez(fh, obs=np.array([{"a": 1}], dtype=object))
    before = _snapshot(folder)
    with pytest.raises(RunError, match=match) as err:
        pets.run(_config(trials=3), folder, resume=True, show_progress=False)
    assert "allow_pickle" not in str(err.value)
    assert _snapshot(folder) == before


@pytest.mark.parametrize("out", ["", "file", "file/run"])
def test_bad_out_is_refused(out: str, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunError, match="^out: "):
        pets.run(_config(trials=1), tmp_path / out if out else "", show_progress=False)
    assert (tmp_path / "file").read_text() == "x"


def test_stale_checkpoints_and_temporaries_are_removed_on_resume(
    finished: Path, tmp_path: Path
) -> None:
    folder = _copy(finished, tmp_path / "run")
    ckpt = folder / "checkpoints"
    shutil.copy(ckpt / "model-001.npz", ckpt / "model-000.npz")  # unlink never ran
    (ckpt / "buffer-002.npz").write_bytes(b"half a trial")  # the next commit, torn
    (ckpt / ".cemgd-tmp-state.json.abc123").write_text("{")
    (ckpt / "notes.tmp").write_text("mine")  # not cemgd's temporary: kept
    pets.run(_config(trials=3), folder, resume=True, show_progress=False)
    assert sorted(p.name for p in ckpt.iterdir()) == [
        "buffer-002.npz", "model-002.npz", "notes.tmp", "state.json"]


def test_a_users_tmp_file_makes_a_folder_not_empty(tmp_path: Path) -> None:
    """Only cemgd's own temporaries (``.cemgd-tmp-*``) are ignored and removed: a user's
    ``labels.tmp`` is a file like any other, so the folder is not a new run's."""
    out = tmp_path / "d"
    out.mkdir()
    (out / "labels.tmp").write_text("data")
    (out / ".cemgd-tmp-config.json.x1y2z3").write_text("{")  # a killed write's leftover
    with pytest.raises(RunError, match="holds files but no config.json"):
        pets.run(_config(trials=1), out, show_progress=False)
    assert sorted(p.name for p in out.iterdir()) == [".cemgd-tmp-config.json.x1y2z3",
                                                    "labels.tmp"]
    assert (out / "labels.tmp").read_text() == "data"
    (out / "labels.tmp").unlink()  # only cemgd's leftover: a fresh run, which clears it
    pets.run(_config(trials=1), out, show_progress=False)
    assert not any(p.name.startswith(".cemgd-tmp-") for p in out.rglob("*"))


def test_old_run_folder_with_members_and_layers_resumes(finished: Path, tmp_path: Path) -> None:
    folder = _copy(finished, tmp_path / "run")
    config = json.loads((folder / "config.json").read_text())
    config["members"], config["layers"] = config.pop("num_members"), config.pop("num_layers")
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    state_file = folder / "checkpoints" / "state.json"
    state = json.loads(state_file.read_text())  # the first state format
    state.update(model=state["files"]["model"], buffer=state["files"]["buffer"])
    del state["files"]
    state_file.write_text(json.dumps(state))
    rows = pets.run(_config(trials=3), folder, resume=True, show_progress=False)
    assert [r.trial for r in rows] == [0, 1, 2]
    assert json.loads((folder / "config.json").read_text())["num_members"] == 2
