"""``--tensorboard``: event files beside metrics.csv that a reader gets the same numbers from."""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

import pytest

from cemgd.cli import main
from cemgd.runs import tensorboard as tb

needs_extra = pytest.mark.skipif(not tb.tensorboard_available(),
                                 reason="the 'tensorboard' extra (tensorboardX) is not installed")


@needs_extra
def test_writer_round_trip_and_what_it_skips(tmp_path: Path) -> None:
    with tb.open_tensorboard(tmp_path) as writer:
        for step in range(3):
            tags = writer.add_trial(step, {"episode_return": 10.0 * step, "val_mse": math.nan,
                                           "rollouts_per_step": 50, "fallback": True,
                                           "name": "cem-gd", "custom": -1.5})
    assert tags == ["episode/return", "planning/rollouts_per_step", "custom"]
    scalars = tb.read_scalars(tmp_path)
    assert scalars == {"episode/return": [(0, 0.0), (1, 10.0), (2, 20.0)],
                       "planning/rollouts_per_step": [(s, 50.0) for s in range(3)],
                       "custom": [(s, -1.5) for s in range(3)]}
    assert tb.open_tensorboard(tmp_path, enabled=False) is None


@needs_extra
def test_tensorboards_own_reader_reads_the_events(tmp_path: Path) -> None:
    # TensorBoard itself is in the 'tensorboard' extra (it is what shows the files)
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator",
                                      reason="the 'tensorboard' extra is not installed")
    with tb.open_tensorboard(tmp_path) as writer:
        writer.add_trial(0, {"episode_return": 1.25})
        writer.add_trial(1, {"episode_return": -2.5})
    acc = accumulator.EventAccumulator(str(tmp_path / tb.FOLDER))
    acc.Reload()
    events = acc.Scalars("episode/return")
    assert [(e.step, e.value) for e in events] == [(0, 1.25), (1, -2.5)]


@needs_extra
def test_corrupt_event_file_is_an_error(tmp_path: Path) -> None:
    with tb.open_tensorboard(tmp_path) as writer:
        writer.add_trial(0, {"episode_return": 1.0})
    path = next((tmp_path / tb.FOLDER).glob("events.out.tfevents.*"))
    blob = bytearray(path.read_bytes())
    blob[-6] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="corrupt record"):
        tb.read_scalars(tmp_path)


@needs_extra
def test_train_writes_every_trial_beside_metrics_csv(tmp_path: Path) -> None:
    pytest.importorskip("gymnasium")
    out = tmp_path / "run"
    code = main(["train", "--task", "cartpole-swingup", "--planner", "cem-50", "--quick",
                 "--no-progress", "--tensorboard", "--out", str(out)])
    assert code == 0
    with open(out / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    scalars = tb.read_scalars(out)
    for name, tag in tb.TAGS.items():
        assert [step for step, _ in scalars[tag]] == [0, 1], tag
        for (_, value), row in zip(scalars[tag], rows, strict=True):
            assert value == pytest.approx(float(row[name]), rel=1e-6), tag


def test_missing_extra_exits_2_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # find_spec -> None
    assert not tb.tensorboard_available()
    for argv in (["train", "--quick", "--out", str(tmp_path / "t")],
                 ["sweep", "--quick", "--tasks", "cartpole-swingup", "--planners", "cem-50",
                  "--out", str(tmp_path / "s")]):
        assert main([*argv, "--tensorboard"]) == 2
        err = capsys.readouterr().err.strip()
        assert "--tensorboard" in err and "cemgd[tensorboard]" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "t").exists() and not (tmp_path / "s").exists()
