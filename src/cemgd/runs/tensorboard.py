"""TensorBoard event files beside a folder's ``metrics.csv`` (the ``tensorboard`` extra).

``metrics.csv`` stays the source of truth; the events are a live view of the same
numbers for those who watch runs in TensorBoard (``tensorboard --logdir RUNS``). One
writer per folder, one call per finished trial (or episode)::

    writer = open_tensorboard(run_folder)          # None when not asked for
    writer.add_trial(trial, {"episode_return": 123.0, "val_mse": 0.01, ...})
    writer.close()

The events go to ``<folder>/tensorboard/`` (a resumed run adds a new events file
there; TensorBoard merges them). Known metric names get grouped tags (:data:`TAGS`:
``episode/return``, ``model/train_loss``, ``model/heldout_mse``,
``planning/ms_per_step``, ``planning/rollouts_per_step``); any other finite number is
written under its own name, so callers with other metrics (``cemgd evaluate``) use the
same call.

The writer is tensorboardX (pure Python, protobuf only), chosen over TensorFlow's or
PyTorch's writers, which would pull a deep-learning framework into a JAX tool.
:func:`read_scalars` reads the events back (TFRecord framing, CRC-checked, parsed with
tensorboardX's ``Event`` proto) without the ``tensorboard`` package.
"""

from __future__ import annotations

import importlib.util
import math
import os
import struct
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

#: The optional extra that provides the writer.
EXTRA = "tensorboard"
#: Folder of the event files inside a run folder.
FOLDER = "tensorboard"
#: Metric name -> TensorBoard tag for the numbers every PETS trial records.
TAGS: dict[str, str] = {
    "episode_return": "episode/return",
    "train_loss": "model/train_loss",
    "val_mse": "model/heldout_mse",
    "plan_ms_mean": "planning/ms_per_step",
    "rollouts_per_step": "planning/rollouts_per_step",
}

__all__ = ["EXTRA", "FOLDER", "TAGS", "TensorBoardWriter", "check_tensorboard",
           "open_tensorboard", "read_scalars", "tensorboard_available"]


def tensorboard_available() -> bool:
    """Whether the ``tensorboard`` extra (tensorboardX) is installed."""
    return importlib.util.find_spec("tensorboardX") is not None


def check_tensorboard(argument: str = "--tensorboard") -> None:
    """Raise ``ValueError`` naming ``argument`` and the extra when it is not installed."""
    if not tensorboard_available():
        raise ValueError(
            f"{argument}: needs the '{EXTRA}' extra (tensorboardX); install it with "
            f"pip install 'cemgd[{EXTRA}]'"
        )


class TensorBoardWriter:
    """Scalars of one folder, one :meth:`add_trial` per finished trial (a context manager)."""

    def __init__(self, folder: str | os.PathLike[str], subfolder: str = FOLDER) -> None:
        """Events go to ``folder/subfolder`` (``subfolder=""``: ``folder`` itself)."""
        check_tensorboard()
        from tensorboardX import SummaryWriter

        self.path = Path(folder) / subfolder
        self.path.mkdir(parents=True, exist_ok=True)
        self._writer = SummaryWriter(logdir=str(self.path), flush_secs=10)

    def add_trial(self, step: int, metrics: Mapping[str, Any] | Any) -> list[str]:
        """Write every finite number of ``metrics`` at ``step`` and flush; returns the tags.

        Args:
            step: the trial (or episode) index, TensorBoard's x axis.
            metrics: a mapping or a dataclass row (``TrialMetrics``); names in
                :data:`TAGS` get their grouped tag, other numbers their own name,
                non-numbers and NaN/inf are skipped.
        """
        values = asdict(metrics) if is_dataclass(metrics) else dict(metrics)
        tags = []
        for name, value in values.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if not math.isfinite(float(value)):
                continue
            tag = TAGS.get(name, name)
            self._writer.add_scalar(tag, float(value), global_step=int(step))
            tags.append(tag)
        self._writer.flush()
        return tags

    def close(self) -> None:
        """Flush and close the events file."""
        self._writer.close()

    def __enter__(self) -> TensorBoardWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_tensorboard(
    folder: str | os.PathLike[str], enabled: bool = True
) -> TensorBoardWriter | None:
    """A writer into ``folder/tensorboard`` when ``enabled``, else ``None``.

    Raises:
        ValueError: ``enabled`` and the extra is not installed (the message names it).
    """
    return TensorBoardWriter(folder) if enabled else None


def read_scalars(folder: str | os.PathLike[str]) -> dict[str, list[tuple[int, float]]]:
    """Every scalar in the event files under ``folder`` (recursively): tag -> [(step, value)].

    Steps are sorted; files are read in name order (a resumed run's later file last).

    Raises:
        ValueError: a file whose record framing or checksum is broken.
    """
    check_tensorboard("read_scalars")
    from tensorboardX.proto.event_pb2 import Event

    scalars: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(Path(folder).rglob("events.out.tfevents.*")):
        for record in _records(path):
            event = Event.FromString(record)
            for value in event.summary.value:
                if value.HasField("simple_value"):
                    scalars.setdefault(value.tag, []).append(
                        (int(event.step), float(value.simple_value)))
    return {tag: sorted(points) for tag, points in scalars.items()}


def _records(path: Path) -> list[bytes]:
    """The TFRecord payloads of ``path`` (length, masked CRC32C of it, data, its CRC)."""
    from tensorboardX.crc32c import crc32c

    def masked(data: bytes) -> int:
        crc = crc32c(data)
        return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF

    blob, records, at = path.read_bytes(), [], 0
    while at < len(blob):
        header = blob[at:at + 8]
        if len(header) < 8 or len(blob) < at + 12:
            raise ValueError(f"{path}: truncated record at byte {at}")
        (length,) = struct.unpack("<Q", header)
        (header_crc,) = struct.unpack("<I", blob[at + 8:at + 12])
        data = blob[at + 12:at + 12 + length]
        if header_crc != masked(header) or len(blob) < at + 16 + length:
            raise ValueError(f"{path}: corrupt record at byte {at}")
        (data_crc,) = struct.unpack("<I", blob[at + 12 + length:at + 16 + length])
        if data_crc != masked(data):
            raise ValueError(f"{path}: corrupt record at byte {at}")
        records.append(data)
        at += 16 + length
    return records
