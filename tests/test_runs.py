"""cemgd.runs: the trial metrics record, metrics.csv reading, the run folder and its lock."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from cemgd.runs import METRIC_COLUMNS, RunError, TrialMetrics, metrics_csv_text, read_metrics


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
