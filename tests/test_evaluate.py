"""``cemgd evaluate`` on a tiny ``--quick`` PETS run: a row per planner and episode on the
same seeds, resume after a kill, and a missing or corrupt model refused (exit 2, the
output folder untouched)."""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import jax
import numpy as np
import pytest

from cemgd import runtime
from cemgd.cli import main
from cemgd.evaluate import (
    EvaluateConfig,
    PlannerRun,
    build_planner,
    compile_planner,
    dispatch,
    evaluate,
    folder_identity,
    frozen_model,
    load_frozen_model,
    play,
)
from cemgd.planners.spec import make_planner
from cemgd.report.episodes import EPISODE_COLUMNS, read_evaluation
from cemgd.tasks import EnvTask

PLANNERS = ("cem-gd", "cem-50", "gd")


def _rows(folder: Path) -> list[dict[str, str]]:
    with (folder / "episodes.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_every_planner_runs_on_the_same_seeds(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    assert main(["evaluate", str(run_dir), "--planners", ",".join(PLANNERS), "--episodes", "2",
                 "--quick", "--no-progress", "--out", str(out)]) == 0
    rows = _rows(out)
    assert list(rows[0]) == list(EPISODE_COLUMNS)
    assert sorted((r["planner"], r["episode"]) for r in rows) == sorted(
        (p, str(k)) for p in PLANNERS for k in range(2))
    seeds = {p: [r["seed"] for r in rows if r["planner"] == p] for p in PLANNERS}
    assert seeds["cem-50"] == seeds["cem-gd"] == seeds["gd"] == ["0", "1"]
    for r in rows:
        assert r["task"] == "cartpole-swingup" and int(r["steps"]) == 15
        assert float(r["plan_ms_mean"]) > 0 and float(r["plan_ms_p90"]) > 0
        assert float(r["rollouts_per_step"]) > 0 and float(r["peak_rss_mb"]) > 0
    # cem-50 at --quick: 10 x 2 rollouts per step, whatever the model
    # quick cem-50: 10 x 2 samples and CEM's final mean (return_mean, the default)
    assert {float(r["rollouts_per_step"]) for r in rows if r["planner"] == "cem-50"} == {21.0}
    description, parsed = read_evaluation(out)
    labels = {p["spec"]: p["label"] for p in description["planners"]}
    assert labels["cem-50"] == "CEM 20 (10x2)"  # the settings it ran with, not its name's
    assert description["config"]["quick"] is True and description["hardware"]["jax"]
    code = runtime.code_version()  # each episode's row records what produced it
    hardware = runtime.hardware_info()
    for r in rows:
        assert r["code"] == code and r["model_hash"] == description["config"]["model"]
        assert r["cpu_model"] == hardware["cpu_model"]
        assert r["jax_backend"] == hardware["jax_backend"]
    as_run = {r["planner"]: r["spec_as_run"] for r in rows}
    for spec in PLANNERS:  # the spec as run builds the planner that ran (--quick: shrunk)
        assert make_planner(as_run[spec]).config == build_planner(spec, quick=True).config
    assert "code" not in description["planners"][0]  # on the rows, not merged here
    summary = (out / "summary.md").read_text()
    assert "`--quick`" in summary and "against `cem-gd`" in summary
    for name in ("returns.png", "return_vs_rollouts.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    # cemgd report reads the evaluation: --quick said at the top, planners as they ran
    assert main(["report", str(out), "--out", str(tmp_path / "report")]) == 0
    text = (tmp_path / "report" / "REPORT.md").read_text()
    assert "These are `--quick` runs" in text.split("## Hardware")[0]
    assert f"| cem-50 | cem | CEM 20 (10x2) | num_iterations=2 | {code} |" in text
    assert "## The paper's claims on the frozen-model comparison" in text
    # the same seeds give the same returns: a rerun with more episodes adds only episode 2
    before = {(r["planner"], r["episode"]): r["return"] for r in rows}
    evaluate(EvaluateConfig(str(run_dir), ("cem-50",), episodes=3, quick=True), out,
             show_progress=False)
    after = _rows(out)
    assert len(after) == len(rows) + 1
    assert {(r["planner"], r["episode"]): r["return"] for r in after[:len(rows)]} == before
    # evaluate.json still describes the planners of the first command (their labels)
    again, _ = read_evaluation(out)
    assert [p["spec"] for p in again["planners"]] == ["cem-gd", "gd", "cem-50"]
    assert again["config"]["reference"] == "cem-gd" and again["config"]["seeds"] == [0, 1, 2]
    # one process per planner: the same seeds give the same returns as in this process
    pooled = tmp_path / "pooled"
    evaluate(EvaluateConfig(str(run_dir), ("gd", "cem-50"), episodes=2, quick=True, workers=2),
             pooled, show_progress=False)
    again = {(r["planner"], r["episode"]): float(r["return"]) for r in _rows(pooled)}
    assert set(again) == {(p, str(k)) for p in ("gd", "cem-50") for k in range(2)}
    for key, value in again.items():
        assert value == pytest.approx(float(before[key]), rel=1e-5), key


def test_resume_after_a_kill(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    cmd = [sys.executable, "-m", "cemgd.cli", "evaluate", str(run_dir), "--planners",
           "cem-50,gd", "--seeds", "0,1,2,3,4,5", "--quick", "--no-progress", "--out", str(out)]
    env = {**os.environ, "CEMGD_NO_PROGRESS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    try:
        while time.time() < deadline and proc.poll() is None:
            if (out / "episodes.csv").exists() and len(_rows(out)) >= 2:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the evaluation ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    killed = _rows(out)
    assert 2 <= len(killed) < 12
    evaluate(EvaluateConfig(str(run_dir), ("cem-50", "gd"), seeds=(0, 1, 2, 3, 4, 5),
                            quick=True), out, show_progress=False)
    rows = _rows(out)
    keys = [(r["planner"], r["episode"]) for r in rows]
    assert len(keys) == len(set(keys)) == 12
    assert rows[:len(killed)] == killed  # rows written before the kill kept as they were


def test_missing_or_corrupt_model_is_refused(run_dir: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    broken = tmp_path / "run"
    shutil.copytree(run_dir, broken)
    model = broken / "checkpoints" / "model-000.npz"
    assert model.is_file()
    model.write_bytes(b"not a model")
    out = tmp_path / "eval"
    args = ["evaluate", str(broken), "--planners", "cem-50", "--episodes", "1", "--quick",
            "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "model-000.npz" in err and "corrupt" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    model.unlink()
    assert main(args) == 2
    assert "model-000.npz" in capsys.readouterr().err and not out.exists()
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(args) == 2
    assert [p.name for p in out.iterdir()] == ["keep.txt"]  # an existing folder untouched
    assert main(["evaluate", str(tmp_path / "nothing"), "--planners", "cem-50", "--out",
                 str(tmp_path / "e2")]) == 2
    assert "run_dir" in capsys.readouterr().err
    assert main(["evaluate", str(run_dir), "--planners", "cem-50,nope", "--out",
                 str(tmp_path / "e3")]) == 2
    assert "nope" in capsys.readouterr().err and not (tmp_path / "e3").exists()


def test_damaged_episodes_csv_is_refused_before_a_byte_is_written(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Found by benchmarks/chaos.py: evaluate.json used to be rewritten (and .lock taken)
    before episodes.csv was read."""
    out = tmp_path / "eval"
    config = EvaluateConfig(str(run_dir), ("cem-50",), episodes=1, quick=True)
    out.mkdir()
    (out / "config.json").write_text(
        json.dumps(folder_identity(config, frozen_model(config)), indent=2) + "\n")
    (out / "evaluate.json").write_text("{}")
    (out / "episodes.csv").write_bytes(b"task,planner,episode\n\xffcartpole,cem-50,0\n")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main(["evaluate", str(run_dir), "--planners", "cem-50", "--episodes", "1",
                 "--quick", "--no-progress", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "episodes.csv: corrupt (not UTF-8" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


class _FakeRay:
    """Stands in for the ``ray`` module: tasks run at once in this process, in order."""

    class TaskError(Exception):
        def __init__(self, cause: BaseException) -> None:
            super().__init__(str(cause))
            self.cause = cause

    def __init__(self) -> None:
        self.inits: list[dict] = []
        self.submitted: list[tuple[str, list[int]]] = []
        self.shut = False

    def is_initialized(self) -> bool:
        return bool(self.inits)

    def init(self, **kwargs: object) -> None:
        self.inits.append(kwargs)

    def remote(self, **options: object) -> Callable:
        fake = self

        class Remote:
            def __init__(self, fn: Callable) -> None:
                self.fn = fn

            def options(self, **kw: object) -> Remote:
                return self

            def remote(self, *args: object) -> object:
                fake.submitted.append((str(args[1]), list(args[2])))
                try:
                    return _FakeRay.Ref(self.fn(*args), None)
                except Exception as err:  # noqa: BLE001 - returned as Ray would
                    return _FakeRay.Ref(None, err)

        return Remote

    def wait(self, refs: list, num_returns: int = 1) -> tuple[list, list]:
        return refs[:num_returns], refs[num_returns:]

    @dataclasses.dataclass(eq=False)
    class Ref:
        value: object
        error: Exception | None

    def get(self, ref: _FakeRay.Ref) -> object:
        if ref.error is not None:
            raise self.TaskError(ref.error)
        return ref.value

    def shutdown(self) -> None:
        self.shut = True


def test_ray_dispatch_one_task_per_planner_rows_written_by_the_driver(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Ray path's logic (a stand-in for ray; the real `--ray local` is the slow test):
    one task per planner with only the episodes not yet written, the model's files sent,
    every row written by the driver, the same returns as in this process."""
    fake = _FakeRay()
    monkeypatch.setattr(dispatch, "import_ray", lambda: fake)
    out = tmp_path / "eval"
    here = EvaluateConfig(str(run_dir), ("cem-50",), episodes=2, quick=True)
    evaluate(here, out, show_progress=False)
    config = dataclasses.replace(here, planners=("cem-50", "gd"), ray="local")
    evaluate(config, out, show_progress=False)
    assert fake.submitted == [("gd", [0, 1])]  # cem-50's episodes were done: resumed
    assert fake.inits[0]["address"] == "local" and fake.inits[0]["num_cpus"] == 1
    assert fake.inits[0]["_node_ip_address"] == "127.0.0.1" and fake.shut
    rows = _rows(out)
    assert sorted((r["planner"], r["episode"]) for r in rows) == sorted(
        (p, str(k)) for p in ("cem-50", "gd") for k in range(2))
    local = tmp_path / "local"
    evaluate(dataclasses.replace(here, planners=("gd",)), local, show_progress=False)
    assert {r["episode"]: r["return"] for r in _rows(local)} == {
        r["episode"]: r["return"] for r in rows if r["planner"] == "gd"}
    # a task that fails on a bad model: its ValueError (exit 2) reaches the caller
    files = dispatch.model_files(frozen_model(here))
    name = next(n for n in files if n.endswith(".npz"))
    monkeypatch.setattr(dispatch, "model_files", lambda model: {**files, name: b"garbage"})
    with pytest.raises(ValueError, match=r"model\.npz: corrupt"):
        evaluate(dataclasses.replace(config, episodes=3), out, show_progress=False)
    assert len(_rows(out)) == 4  # nothing half-written


@pytest.mark.slow
def test_ray_local_evaluates_every_planner(run_dir: Path, tmp_path: Path) -> None:
    """`cemgd evaluate --ray local`: a real local Ray, one task per planner."""
    pytest.importorskip("ray")
    out = tmp_path / "eval"
    assert main(["evaluate", str(run_dir), "--planners", "cem-50,gd", "--episodes", "2",
                 "--quick", "--no-progress", "--ray", "local", "--out", str(out)]) == 0
    rows = _rows(out)
    assert sorted((r["planner"], r["episode"]) for r in rows) == sorted(
        (p, str(k)) for p in ("cem-50", "gd") for k in range(2))
    local = tmp_path / "local"
    evaluate(EvaluateConfig(str(run_dir), ("cem-50", "gd"), episodes=2, quick=True), local,
             show_progress=False)
    ours = {(r["planner"], r["episode"]): float(r["return"]) for r in _rows(local)}
    for r in rows:
        assert float(r["return"]) == pytest.approx(ours[(r["planner"], r["episode"])],
                                                   rel=1e-5)


def test_tensorboard_events_per_planner_and_episode(run_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("tensorboardX")
    from cemgd.runs.tensorboard import read_scalars

    out = tmp_path / "eval"
    assert main(["evaluate", str(run_dir), "--planners", "cem-50", "--episodes", "2",
                 "--quick", "--no-progress", "--tensorboard", "--out", str(out)]) == 0
    rows = _rows(out)
    assert not (out / "tensorboard" / "cem-50" / "tensorboard").exists()  # not nested
    scalars = read_scalars(out / "tensorboard" / "cem-50")
    assert [step for step, _ in scalars["episode/return"]] == [0, 1]
    assert [v for _, v in scalars["episode/return"]] == pytest.approx(
        [float(r["return"]) for r in rows])
    assert [v for _, v in scalars["planning/rollouts_per_step"]] == [21.0, 21.0]  # 20 + mean
    assert len(scalars["planning/ms_per_step"]) == 2


class _Compiles(logging.Handler):
    """Counts JAX's "Compiling ..." log records: one per jit cache miss (traced and lowered)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.names: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Compiling "):
            self.names.append(message.split(" with ")[0])


@pytest.fixture
def compiles() -> Iterator[_Compiles]:
    handler, logger = _Compiles(), logging.getLogger("jax")
    before = jax.config.jax_log_compiles
    jax.config.update("jax_log_compiles", True)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        jax.config.update("jax_log_compiles", before)


def _count(log: _Compiles, action: Callable[[], object]) -> int:
    n = len(log.names)
    action()
    return len(log.names) - n


def _bare_episode(task: EnvTask, seed: int) -> None:
    """The environment alone for one episode: what it compiles is not the planner's."""
    env = task.make_env(seed=seed)
    env.reset()
    for _ in range(task.episode_length):
        env.step(np.zeros(task.action_dim, np.float32))
    env.close()


@pytest.mark.parametrize("spec", ["cem-gd"])
def test_plan_step_compiles_once_per_planner_not_per_episode(
    spec: str, run_dir: Path, compiles: _Compiles
) -> None:
    """Issue 10 review: the planning step (CEM-GD's N_init first step and its N_r later
    steps alike) is compiled once per planner, and the environment's jitted dynamics once
    per task: a later episode compiles nothing."""
    model = frozen_model(EvaluateConfig(str(run_dir), (spec,), quick=True))
    holder: list[PlannerRun] = []
    assert _count(compiles, lambda: holder.append(compile_planner(model, spec, True))) >= 1
    run = holder[0]
    _count(compiles, lambda: play(model, run, 0))  # helper ops compile once (key, indexing)
    later = [_count(compiles, lambda s=s: play(model, run, s)) for s in (1, 2)]
    env_alone = _count(compiles, lambda: _bare_episode(model.task, 3))
    assert later == [0, 0] and env_alone == 0, compiles.names[-12:]


def test_unreachable_ray_address_is_refused_before_out_is_made(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = tmp_path / "eval"
    assert main(["evaluate", str(run_dir), "--planners", "cem-50", "--episodes", "1",
                 "--quick", "--no-progress", "--ray", f"127.0.0.1:{port}",
                 "--out", str(out)]) == 2
    assert f"ray: cannot reach a Ray cluster at 127.0.0.1:{port}" in capsys.readouterr().err
    assert not out.exists()


def test_trial_argument(run_dir: Path) -> None:
    assert load_frozen_model(run_dir).trial == 0
    with pytest.raises(ValueError, match="trial: 5 not completed"):
        load_frozen_model(run_dir, trial=5)
    with pytest.raises(ValueError, match="reference"):
        EvaluateConfig(str(run_dir), ("cem-50",), reference="gd")
    with pytest.raises(ValueError, match="seeds"):
        EvaluateConfig(str(run_dir), ("cem-50",), seeds=(1, 1))
