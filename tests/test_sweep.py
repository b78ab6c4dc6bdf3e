"""``cemgd sweep``: expansion, the local pool and Ray give the same runs, idempotent reruns,
resuming after a kill, retries and failure reports."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import pytest

from cemgd import pets, sweep
from cemgd.cli import main
from cemgd.planners.spec import PlannerSpec
from cemgd.runs.tensorboard import read_scalars, tensorboard_available
from cemgd.runtime import hardware_info
from cemgd.sweep import SweepConfig, run_sweep
from cemgd.sweep import local as sweep_local
from cemgd.sweep import worker as sweep_worker
from cemgd.sweep.book import Book

TINY = dict(tasks=("cartpole-swingup",), planners=("cem-50", "cem-gd"), seeds=(0,), quick=True)
#: Columns that measure time or the process, not what the run computed.
TIMING = {"train_s", "plan_ms_mean", "plan_ms_max", "plan_ms_first", "peak_rss_mb",
          "compile_s", "episode_s"}


#: The pool sweep writes TensorBoard events too where the extra is installed.
TENSORBOARD = tensorboard_available()


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _computed(path: Path) -> list[dict[str, str]]:
    """metrics.csv without the timing columns."""
    return [{k: v for k, v in row.items() if k not in TIMING} for row in _rows(path)]


def _layout(root: Path) -> set[str]:
    """Files under ``root`` (TensorBoard event files by folder: their names hold a time)."""
    return {p.parent.relative_to(root).as_posix() + "/events" if p.name.startswith(
        "events.out.tfevents.") else p.relative_to(root).as_posix()
        for p in root.rglob("*") if p.is_file()}


def _mtimes(folder: Path) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): p.stat().st_mtime_ns
            for p in folder.rglob("*") if p.is_file()}


# ----------------------------------------------------------------------------- parsing
def test_parse_seeds_and_lists() -> None:
    assert sweep.parse_seeds("0-3") == (0, 1, 2, 3)
    assert sweep.parse_seeds("0,1,5") == (0, 1, 5)
    assert sweep.parse_seeds("0-2,7,3") == (0, 1, 2, 7, 3)
    assert sweep.format_seeds((0, 1, 2, 7, 9, 10)) == "0-2,7,9-10"
    for bad in ("", "a", "3-1", "-1", "1-x", "0-2,7,1", "4294967296"):
        with pytest.raises(ValueError, match="seeds"):
            sweep.parse_seeds(bad)
    assert sweep.parse_list("planners", ["cem-50,cem-gd:n_replan=20,top_k=2", "gd"]) == (
        "cem-50", "cem-gd:n_replan=20,top_k=2", "gd")
    with pytest.raises(ValueError, match="tasks"):
        sweep.parse_list("tasks", " , ")


def test_planner_specs_are_typed_and_named_folders() -> None:
    spec = PlannerSpec.parse("cem-gd:n_replan=20,line_search=parallel", where="planners")
    assert (spec.name, spec.settings) == ("cem-gd", {"n_replan": 20, "line_search": "parallel"})
    assert sweep.planner_folder("cem-gd:n_replan=20") == "cem-gd_n_replan=20"
    for bad, message in (("nope", "unknown planner"), ("cem-gd:bogus=1", "bogus"),
                         ("cem-gd:n_replan=x", "n_replan: expected a value of type int"),
                         ("cem-gd:n_replan", "key=value")):
        with pytest.raises(ValueError, match=message):
            PlannerSpec.parse(bad, where="planners")


def test_a_sweep_holds_specs_parsed_once_and_names_folders_by_the_text_given(
        tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="planners: 'cem-gd:n-replan=20' is given twice"):
        SweepConfig(**{**TINY, "planners": ("cem-gd:n-replan=20", "cem-gd:n-replan=20")})
    config = SweepConfig(**{**TINY, "planners": (
        "cem-gd:n-replan=20", PlannerSpec("gd", {"grad_steps": 2}))})
    first, second = config.planners
    assert first == PlannerSpec("cem-gd", {"n_replan": 20}) and second.name == "gd"
    assert (first.text, str(first)) == ("cem-gd:n-replan=20", "cem-gd:n_replan=20")
    assert [sweep.planner_folder(p) for p in config.planners] == [
        "cem-gd_n-replan=20", "gd_grad_steps=2"]  # the folder keeps the text as given
    runs = sweep.expand(config, tmp_path)
    assert runs[0].planner is first and runs[0].name == "cartpole-swingup/cem-gd_n-replan=20/seed-0"
    assert runs[0].folder == tmp_path / "cartpole-swingup" / "cem-gd_n-replan=20" / "seed-0"
    assert runs[0].config.planner.settings["n_replan"] == 20
    assert dataclasses.replace(config, seeds=(1,)).planners == config.planners  # as given
    Book(config, tmp_path, runs).write()  # sweep.json records each planner as given
    record = json.loads((tmp_path / "sweep.json").read_text())
    assert record["config"]["planners"] == ["cem-gd:n-replan=20", "gd:grad_steps=2"]
    assert record["runs"][0]["planner"] == "cem-gd:n-replan=20"
    with pytest.warns(DeprecationWarning, match=r"cemgd\.sweep\.planner_folder"):
        old = sweep.planner_label
    assert old is sweep.planner_folder


@pytest.mark.parametrize("changes, message", [
    ({"tasks": ("nope",)}, "tasks: unknown task"),
    ({"tasks": ()}, "tasks: expected at least one"),
    ({"seeds": (-1,)}, "seeds"),
    ({"workers": 0}, "workers"),
    ({"max_retries": -1}, "max_retries"),
    ({"overrides": {"bogus": 1}}, "overrides: 'bogus'"),
    ({"overrides": {"horizon": 0}}, "horizon"),
    ({"train": {"seed": 3}}, "train: 'seed'"),
    ({"planner_options": {"n_init": 5}, "planners": ("cem-50",)}, "planner_options: 'n_init'"),
    ({"planners": ("cem-gd:n_init=-5",)}, "n_init"),
    ({"preset": "huge"}, "preset"),
])
def test_bad_sweep_config_names_the_field(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SweepConfig(**{**TINY, **changes})


def test_expand_presets_and_precedence(tmp_path: Path) -> None:
    paper = SweepConfig.from_preset("paper")
    specs = sweep.expand(paper, tmp_path)
    assert len(specs) == 4 * 5 * 20
    assert specs[0].folder == tmp_path / "cartpole-paper" / "cem-50" / "seed-0"
    assert specs[0].config == pets.PETSConfig(task="cartpole-paper", planner="cem-50")
    assert {s.config.make_planner().config.n_init for s in specs
            if s.planner.text == "cem-gd"} == {15000}

    laptop = SweepConfig.from_preset("laptop", trials=2, seeds=(4,))
    spec = sweep.expand(laptop, tmp_path)[0]
    assert spec.config.trials == 2 and spec.seed == 4  # explicit values win
    assert spec.config.horizon == sweep.LAPTOP["horizon"]
    assert spec.config.hidden == sweep.LAPTOP["hidden"]

    # quick replaces the preset's sizes; settings given explicitly are applied after it
    quick = SweepConfig.from_preset("laptop", quick=True, overrides={"trials": 3},
                                    planner_options={"n_replan": 8})
    configs = {s.planner.text: s.config for s in sweep.expand(quick, tmp_path)
               if s.task == "cartpole-swingup" and s.seed == 0}
    tiny = pets.quick(pets.PETSConfig(task="cartpole-swingup", planner="cem-gd"))
    assert configs["cem-gd"] == dataclasses.replace(
        tiny, trials=3, planner=tiny.planner.with_settings(n_replan=8))
    assert configs["cem-50"].trials == 3 and "n_replan" not in configs["cem-50"].planner.settings


def test_importing_sweep_does_not_import_ray() -> None:
    code = "import sys, cemgd.sweep, cemgd.cli; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_ray_missing_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(ValueError, match=r"ray: Ray is not installed.*pip install -e \.\[ray\]"):
        run_sweep(SweepConfig(**TINY, ray="local"), tmp_path / "s")
    assert main(["sweep", "--tasks", "cartpole-swingup", "--planners", "cem-50", "--quick",
                 "--ray", "auto", "--out", str(tmp_path / "s")]) == 2
    assert "Ray is not installed" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("argv, message", [
    (["--planners", "cem-50"], "--tasks: required"),
    (["--tasks", "cartpole-swingup", "--planners", "cem-50", "--planner.n-init", "5"],
     "--planner.n-init: 'n_init' is not a setting of planner 'cem'"),
    (["--tasks", "cartpole-swingup", "--planners", "cem-50", "--seeds", "2-1"], "seeds"),
    (["--tasks", "cartpole-swingup", "--planners", "cem-gd", "--planner.n-init", "-3"],
     "n_init"),
])
def test_bad_cli_input(argv: list[str], message: str, tmp_path: Path,
                       capsys: pytest.CaptureFixture) -> None:
    assert main(["sweep", "--quick", "--out", str(tmp_path / "s"), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


# ----------------------------------------------------------------------------- running
@pytest.fixture(scope="module")
def pool_sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, sweep.SweepSummary]:
    out = tmp_path_factory.mktemp("pool")
    start = time.perf_counter()
    summary = run_sweep(SweepConfig(**TINY, workers=2, tensorboard=TENSORBOARD), out,
                        show_progress=False)
    print(f"tiny sweep of 2 runs on 2 local workers: {time.perf_counter() - start:.1f} s")
    return out, summary


def test_local_pool_writes_every_run(pool_sweep: tuple[Path, sweep.SweepSummary]) -> None:
    out, summary = pool_sweep
    assert summary.ok and summary.counts() == {"done": 2}
    for planner in ("cem-50", "cem-gd"):
        folder = out / "cartpole-swingup" / planner / "seed-0"
        rows = _rows(folder / "metrics.csv")
        assert [r["trial"] for r in rows] == ["0", "1"]
        assert json.loads((folder / "config.json").read_text())["planner"] == planner
        assert (folder / "checkpoints" / "state.json").exists()
        if TENSORBOARD:  # --tensorboard: every run folder's trials, as in metrics.csv
            returns = read_scalars(folder)["episode/return"]
            assert returns == [(int(r["trial"]), pytest.approx(float(r["episode_return"])))
                               for r in rows]
    record = json.loads((out / "sweep.json").read_text())
    assert record["finished"] and record["counts"] == {"done": 2}
    assert record["hardware"]["cpu_count"] == os.cpu_count()
    # the devices JAX ran on (issue 11 item 8), as cemgd.runtime reports them
    assert record["devices"] == hardware_info()["devices"] and record["devices"]
    assert record["hardware"]["jax_backend"] == jax.default_backend()
    assert {r["status"] for r in record["runs"]} == {"done"}
    assert all(r["final_return"] is not None for r in record["runs"])
    assert (out / "failures.csv").read_text().splitlines() == [
        "task,planner,seed,folder,status,attempts,error"]


def test_rerun_skips_finished_runs_without_a_process(
    pool_sweep: tuple[Path, sweep.SweepSummary], monkeypatch: pytest.MonkeyPatch,
) -> None:
    out, _ = pool_sweep
    before = _mtimes(out / "cartpole-swingup")

    def no_pool(*args: object, **kwargs: object) -> None:
        raise AssertionError("a process pool was started for finished runs")

    monkeypatch.setattr(sweep_local, "start_worker", no_pool)
    summary = run_sweep(SweepConfig(**TINY, workers=2), out, show_progress=False)
    assert summary.ok and summary.counts() == {"skipped": 2}
    assert [r.final_return is not None for r in summary.results] == [True, True]
    assert _mtimes(out / "cartpole-swingup") == before


@pytest.mark.slow  # over 25 s on 2 cores; run with -m slow
def test_ray_gives_the_same_runs_as_the_pool(
    pool_sweep: tuple[Path, sweep.SweepSummary], tmp_path: Path,
) -> None:
    pytest.importorskip("ray", reason="Ray is not installed (pip install -e .[ray])")
    out, _ = pool_sweep
    start = time.perf_counter()
    summary = run_sweep(SweepConfig(**TINY, workers=2, ray="local", tensorboard=TENSORBOARD),
                        tmp_path, show_progress=False)
    print(f"tiny sweep of 2 runs on a local Ray: {time.perf_counter() - start:.1f} s")
    assert summary.ok and summary.counts() == {"done": 2}
    assert _layout(tmp_path) == _layout(out)
    for planner in ("cem-50", "cem-gd"):
        rel = Path("cartpole-swingup") / planner / "seed-0"
        assert _computed(tmp_path / rel / "metrics.csv") == _computed(out / rel / "metrics.csv")
        assert (json.loads((tmp_path / rel / "config.json").read_text())
                == json.loads((out / rel / "config.json").read_text()))


@pytest.mark.slow  # over 25 s on 2 cores; run with -m slow
def test_killed_sweep_resumes_and_loses_nothing(tmp_path: Path) -> None:
    """Kill the driver and its worker (SIGKILL) during the second run, then rerun."""
    out = tmp_path / "s"
    argv = ["sweep", "--tasks", "cartpole-swingup", "--planners", "cem-50", "--seeds", "0,1",
            "--quick", "--trials", "3", "--workers", "1", "--no-progress", "--out", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "cemgd.cli", *argv],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    first = out / "cartpole-swingup" / "cem-50" / "seed-0"
    second = out / "cartpole-swingup" / "cem-50" / "seed-1"
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if (second / "metrics.csv").exists() and len(_rows(second / "metrics.csv")) >= 1:
                break
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    kept = _rows(second / "metrics.csv")
    assert 1 <= len(kept) < 3, "the kill came too late to interrupt the second run"
    assert len(_rows(first / "metrics.csv")) == 3
    finished = _mtimes(first)

    config = SweepConfig(tasks=("cartpole-swingup",), planners=("cem-50",), seeds=(0, 1),
                         quick=True, overrides={"trials": 3}, workers=1)
    summary = run_sweep(config, out, show_progress=False)
    assert summary.ok
    assert {r.seed: r.status for r in summary.results} == {0: "skipped", 1: "resumed"}
    assert _mtimes(first) == finished  # the finished run was not touched
    rows = _rows(second / "metrics.csv")
    assert [r["trial"] for r in rows] == ["0", "1", "2"]
    assert rows[:len(kept)] == kept  # completed trials kept as they were, timings included
    assert "resuming after trial" in sweep_worker.log_path(second).read_text()


def test_failing_run_is_retried_then_reported(tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "s"
    blocked = out / "cartpole-swingup" / "cem-50" / "seed-0"
    blocked.parent.mkdir(parents=True)
    blocked.write_text("a file where the run folder should be\n")
    code = main(["sweep", "--tasks", "cartpole-swingup", "--planners", "cem-50", "--seeds", "0",
                 "--quick", "--workers", "1", "--max-retries", "2", "--no-progress",
                 "--out", str(out)])
    assert code == 1
    text = capsys.readouterr().out
    assert text.count("retrying") == 2 and "failed" in text
    record = json.loads((out / "sweep.json").read_text())
    (run,) = record["runs"]
    assert run["status"] == "failed" and run["attempts"] == 3
    assert "FileExistsError" in run["error"] or "NotADirectoryError" in run["error"]
    (row,) = _rows(out / "failures.csv")
    assert row["folder"] == "cartpole-swingup/cem-50/seed-0" and row["attempts"] == "3"


def test_folder_with_another_config_is_a_conflict_not_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = SweepConfig(tasks=("cartpole-swingup",), planners=("cem-50",), seeds=(0,),
                         quick=True)
    (spec,) = sweep.expand(config, tmp_path)
    other = pets.config_to_json(dataclasses.replace(spec.config, horizon=5))
    spec.folder.mkdir(parents=True)
    (spec.folder / "config.json").write_text(json.dumps(other, default=str))
    monkeypatch.setattr(sweep_local, "start_worker", None)  # nothing may be started
    summary = run_sweep(config, tmp_path, show_progress=False)
    (result,) = summary.results
    assert not summary.ok and result.status == "conflict" and result.attempts == 0
    assert "horizon: 5 -> 8" in result.error
    (row,) = _rows(tmp_path / "failures.csv")
    assert row["status"] == "conflict"


def test_torn_metrics_row_is_left_out(pool_sweep: tuple[Path, sweep.SweepSummary],
                                      tmp_path: Path) -> None:
    import shutil

    out, _ = pool_sweep
    folder = tmp_path / "run"
    shutil.copytree(out / "cartpole-swingup" / "cem-50" / "seed-0", folder)
    metrics = folder / "metrics.csv"
    whole = sweep.returns(folder)
    text = metrics.read_text()
    metrics.write_text(text[: len(text) - 5])  # the last row torn mid-write
    torn = sweep.returns(folder)
    assert whole["trials_done"] == 2 and torn["trials_done"] == 1
    assert torn["final_return"] == torn["best_return"] == float(_rows(
        out / "cartpole-swingup" / "cem-50" / "seed-0" / "metrics.csv")[0]["episode_return"])
