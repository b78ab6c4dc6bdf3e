"""cemgd.runs: the trial metrics record, metrics.csv reading, the run folder and its lock."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cemgd.runs import (
    METRIC_COLUMNS,
    RunError,
    RunFolder,
    StudyFolder,
    TrialMetrics,
    lock_folder,
    metrics_csv_text,
    read_metrics,
    write_atomic,
)


def _row(trial: int, **changes: object) -> TrialMetrics:
    values = {name: 1.5 for name in METRIC_COLUMNS}
    values.update(trial=trial, episode_steps=10, env_steps=40 + 10 * trial, train_epochs=3,
                  fallback_steps=0)
    values.update(changes)
    return TrialMetrics(**values)


def test_metric_columns_are_the_record_fields() -> None:
    assert METRIC_COLUMNS == tuple(f.name for f in dataclasses.fields(TrialMetrics))
    assert {"train_loss", "val_mse", "train_epochs", "train_s"} <= set(METRIC_COLUMNS)


def test_metrics_round_trip_exactly(tmp_path: Path) -> None:
    rows = [_row(0, episode_return=0.1 + 0.2), _row(1, val_mse=1e-17)]
    (tmp_path / "metrics.csv").write_text(metrics_csv_text(rows))
    assert read_metrics(tmp_path) == rows
    assert read_metrics(tmp_path / "absent") == []


def test_torn_last_line_is_left_out(tmp_path: Path) -> None:
    text = metrics_csv_text([_row(0), _row(1)])
    (tmp_path / "metrics.csv").write_text(text[:-7])  # the last row lost its end
    assert read_metrics(tmp_path) == [_row(0)]


def test_missing_float_column_reads_as_nan(tmp_path: Path) -> None:
    text = metrics_csv_text([_row(0)]).replace(",compile_s", ",other")
    (tmp_path / "metrics.csv").write_text(text)
    assert math.isnan(read_metrics(tmp_path)[0].compile_s)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda t: b"trial,episode\xff\xfe\n" + t, "not UTF-8"),
        (lambda t: t.replace(b"episode_return", b"ret", 1), "episode_return"),
        (lambda t: t.replace(b"\n0,", b"\n0.5,", 1), "trial = '0.5' is not an integer"),
        (lambda t: t.replace(b"\n1,", b"\n7,", 1), "row 2 is trial 7"),
        (lambda t: t.replace(b",1.5,", b",abc,", 1), "is not a number"),
    ],
)
def test_corrupt_metrics_name_the_file(damage, message: str, tmp_path: Path) -> None:
    text = metrics_csv_text([_row(0), _row(1)]).encode()
    (tmp_path / "metrics.csv").write_bytes(damage(text))
    with pytest.raises(RunError, match=message) as err:
        read_metrics(tmp_path)
    assert str(tmp_path / "metrics.csv") in str(err.value)


def test_from_row_requires_the_counts() -> None:
    row = _row(0).as_row()
    del row["env_steps"]
    with pytest.raises(RunError, match="env_steps missing"):
        TrialMetrics.from_row(row)
    with pytest.raises(RunError, match="not a mapping|expected a mapping"):
        TrialMetrics.from_row([1, 2])  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- the lock
def _hold_lock_in_child(folder: Path) -> subprocess.Popen:
    code = ("import sys, time; from cemgd.runs import lock_folder; "
            f"lock = lock_folder({str(folder)!r}); print('held', flush=True); time.sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child


def test_second_writer_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    child = _hold_lock_in_child(tmp_path)
    try:
        with pytest.raises(RunError, match=f"^out: run folder in use by pid {child.pid}$"):
            lock_folder(tmp_path)
        with pytest.raises(RunError, match=f"in use by pid {child.pid}"):
            RunFolder(tmp_path).lock()
    finally:
        child.kill()
        child.wait()
    with lock_folder(tmp_path) as lock:  # a killed holder never blocks a rerun
        assert lock.held
        assert (tmp_path / ".lock").read_text().strip() == str(os.getpid())


def test_holder_is_named_before_it_records_its_pid(tmp_path: Path) -> None:
    """A run holds the lock unrecorded while it validates the folder (nothing written):
    a second writer still names its pid (from the kernel's lock table), not 'another
    process' (found by benchmarks/chaos.py: two `cemgd train` started at once)."""
    code = ("import time; from cemgd.runs import FolderLock; "
            f"lock = FolderLock({str(tmp_path)!r}).acquire(record=False); "
            "print('held', flush=True); time.sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        assert not (tmp_path / ".lock").exists()
        with pytest.raises(RunError, match=f"^out: run folder in use by pid {child.pid}$"):
            RunFolder(tmp_path).lock()
        assert list(tmp_path.iterdir()) == []  # the refused writer wrote nothing
    finally:
        child.kill()
        child.wait()


def test_two_locks_in_one_process_exclude_each_other(tmp_path: Path) -> None:
    first = lock_folder(tmp_path, what="sweep")
    with pytest.raises(RunError, match="^sweep: run folder in use by pid"):
        lock_folder(tmp_path, what="sweep")
    first.release()
    lock_folder(tmp_path).release()


# ----------------------------------------------------------------------------- atomic writes
def test_atomic_writes_use_unique_temporary_names(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    real = os.replace

    def spy(src: str, dst: str) -> None:
        seen.append(Path(src).name)
        real(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    write_atomic(tmp_path / "a.json", "1")
    write_atomic(tmp_path / "a.json", b"2")
    assert len(set(seen)) == 2 and all(n.startswith(".cemgd-tmp-a.json.") for n in seen)
    assert "a.json.tmp" not in seen  # not the fixed name two writers would share
    assert (tmp_path / "a.json").read_text() == "2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_failed_write_keeps_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    write_atomic(tmp_path / "a", "old")

    def broken(fh: object) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(tmp_path / "a", broken)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]
    assert (tmp_path / "a").read_text() == "old"


# ----------------------------------------------------------------------------- paths
def test_bad_out_paths_are_refused(tmp_path: Path) -> None:
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(RunError, match="^out: expected a folder path"):
        RunFolder("")
    with pytest.raises(RunError, match="exists and is not a folder"):
        RunFolder(file)
    with pytest.raises(RunError, match="which is not a folder"):
        RunFolder(file / "run")
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        try:
            with pytest.raises(RunError, match="not writable"):
                RunFolder(ro / "run")
        finally:
            ro.chmod(0o700)


@pytest.mark.parametrize("content", [b"[]", b"null", b"42", b"{ half", b"\xff\xfe{}"])
def test_config_that_is_not_an_object_names_the_file(content: bytes, tmp_path: Path) -> None:
    (tmp_path / "config.json").write_bytes(content)
    with pytest.raises(RunError, match="config.json: (expected a JSON object|not valid|corrupt)"):
        RunFolder(tmp_path).read_config()


# ----------------------------------------------------------------------------- study tables
def test_study_keeps_rows_for_the_same_config_and_refuses_another(tmp_path: Path) -> None:
    config = {"trials": 3, "seed": 0}
    with StudyFolder(tmp_path, config) as study:
        study.append("x.csv", {"a": 1, "b": 2.5})
        study.append("x.csv", {"a": 2, "b": 3.5})
    with StudyFolder(tmp_path, config) as study:
        assert study.done_keys("x.csv", ["a"]) == {("1",), ("2",)}
    before = (tmp_path / "x.csv").read_bytes()
    with pytest.raises(RunError, match="another configuration.*trials: 3 -> 7"):
        StudyFolder(tmp_path, {"trials": 7, "seed": 0})
    assert (tmp_path / "x.csv").read_bytes() == before  # nothing moved or lost
    assert json.loads((tmp_path / "config.json").read_text()) == config


def test_study_drops_a_torn_last_row(tmp_path: Path) -> None:
    with StudyFolder(tmp_path, {"n": 1}) as study:
        study.append("x.csv", {"a": 1, "b": 2.5})
        study.append("x.csv", {"a": 2, "b": 3.5})
    file = tmp_path / "x.csv"
    file.write_bytes(file.read_bytes()[:-3])  # "2,3" without its end
    with StudyFolder(tmp_path, {"n": 1}) as study:
        assert study.read("x.csv") == [{"a": "1", "b": "2.5"}]
        study.append("x.csv", {"a": 3, "b": 4.5})
        assert study.read("x.csv") == [{"a": "1", "b": "2.5"}, {"a": "3", "b": "4.5"}]


def test_study_refuses_a_corrupt_config_and_a_second_writer(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{ half")
    with pytest.raises(RunError, match="config.json: not valid JSON"):
        StudyFolder(tmp_path, {"n": 1})
    (tmp_path / "config.json").unlink()
    with StudyFolder(tmp_path, {"n": 1}):
        with pytest.raises(RunError, match="in use by pid"):
            StudyFolder(tmp_path, {"n": 1})


@pytest.mark.parametrize(("data", "match"), [
    (b"a,b\n1,\xff\n", r"x.csv: corrupt \(not UTF-8 text at byte 6\)"),
    (b"b,c\n1,2\n", "x.csv: column 'a' missing"),
])
def test_study_checks_its_tables_before_writing_a_byte(data: bytes, match: str,
                                                       tmp_path: Path) -> None:
    with StudyFolder(tmp_path, {"n": 1}) as study:
        study.append("x.csv", {"a": 1, "b": 2})
    (tmp_path / "x.csv").write_bytes(data)
    (tmp_path / ".lock").write_text("1\n")  # the last holder's pid, as a killed run leaves it
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(RunError, match=match):
        StudyFolder(tmp_path, {"n": 1}, tables={"x.csv": ["a"]})
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    if "missing" in match:  # the same table read with the columns it has is accepted
        StudyFolder(tmp_path, {"n": 1}, tables={"x.csv": ["b"]}).close()


def test_atomic_writes_get_the_mode_open_would_give(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "a.csv", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.csv").stat().st_mode & 0o777 == 0o644


def test_study_refuses_other_resolved_settings_and_reads_a_folder_without_them(
        tmp_path: Path) -> None:
    """A preset that resolves otherwise than the folder recorded is refused, naming the
    spec and setting; a folder written before settings were recorded opens as it is."""
    config = {"planners": ["p"], "seed": 0}
    with StudyFolder(tmp_path / "a", config, settings={"p": {"fill": "last"}}) as study:
        study.append("x.csv", {"a": 1})
    with StudyFolder(tmp_path / "a", config, settings={"p": {"fill": "last", "added": 1}}):
        pass  # a setting the record lacks (added since) is not compared
    with pytest.raises(RunError, match="another configuration.*p: fill 'last' -> 'initial'"):
        StudyFolder(tmp_path / "a", config, settings={"p": {"fill": "initial"}})
    with StudyFolder(tmp_path / "old", config):  # recorded before settings were
        pass
    with StudyFolder(tmp_path / "old", config, settings={"p": {"fill": "initial"}}):
        pass
    assert json.loads((tmp_path / "old" / "config.json").read_text()) == config
