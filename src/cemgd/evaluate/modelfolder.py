"""A model folder: one frozen model, small enough to commit, that ``cemgd evaluate`` reads.

``cemgd export-model RUN_DIR --out DIR`` (:func:`cemgd.evaluate.export_model`) writes::

    DIR/model.npz    the ensemble's weights and input normaliser (the run's checkpoint
                     file, byte for byte: plain arrays, no pickles)
    DIR/config.json  the run's configuration (task, horizon, particles, model sizes)
    DIR/model.json   format, task, the trial the model is of, its hash (weights and
                     normaliser, :func:`cemgd.models.io.file_digest`), its architecture
                     and the run it came from (as the command was given it)

``cemgd evaluate DIR ...`` accepts the folder wherever a run folder goes: it checks the
hash and the architecture before anything is written. A folder that is neither a whole
model folder nor a readable run folder is refused naming what is missing or damaged
(:func:`refuse_incomplete_model_folder`, :func:`refuse_torn_metrics`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cemgd.runs import METRICS_FILE, RunError, read_json_object

#: What ``model.json``'s ``format`` says.
MODEL_FOLDER_FORMAT = "cemgd-model-v1"
#: The weights and normaliser of a model folder.
MODEL_FILE = "model.npz"
#: What a model folder holds besides ``config.json`` and :data:`MODEL_FILE`.
META_FILE = "model.json"
_KEYS = {"task": str, "trial": int, "model_hash": str}


def is_model_folder(path: Path) -> bool:
    """``path`` is a model folder (it holds :data:`META_FILE`)."""
    return (path / META_FILE).is_file()


def read_meta(path: Path) -> dict[str, Any]:
    """``model.json`` of the model folder ``path``, checked.

    Raises:
        RunError: naming the file: corrupt, another format, a key missing or of another
            type.
    """
    file = path / META_FILE
    meta = read_json_object(file)
    if meta is None:
        raise RunError(f"{file}: missing")
    if meta.get("format") != MODEL_FOLDER_FORMAT:
        raise RunError(f"{file}: not a cemgd model folder (format {meta.get('format')!r}, "
                       f"expected {MODEL_FOLDER_FORMAT!r})")
    for key, kind in _KEYS.items():
        if not isinstance(meta.get(key), kind) or isinstance(meta.get(key), bool):
            raise RunError(f"{file}: corrupt ({key!r} missing or not a {kind.__name__})")
    return meta


def refuse_incomplete_model_folder(path: Path) -> None:
    """Refuse a folder that holds :data:`MODEL_FILE` as a model folder does, but neither
    :data:`META_FILE` nor a run's ``metrics.csv`` (``model.json`` lost or not copied).

    Raises:
        RunError: naming the missing ``model.json``.
    """
    if (path / MODEL_FILE).is_file() and not is_model_folder(path) \
            and not (path / METRICS_FILE).exists():
        raise RunError(f"run_dir: {path / META_FILE} is missing: {path} holds {MODEL_FILE} "
                       f"as a model folder (cemgd export-model) does, but not its {META_FILE}")


def refuse_torn_metrics(path: Path, missing: Path | None = None) -> None:
    """Refuse a run folder whose ``metrics.csv`` ends in a line cut off mid-row (the last
    row, or the header), naming the file and the row; ``missing``: the model file that
    is not there because of it. A file that ends whole passes.

    Raises:
        RunError: naming ``metrics.csv`` and the row cut off.
    """
    file = path / METRICS_FILE
    try:
        data = file.read_bytes()
    except OSError:
        return
    if not data or data.endswith(b"\n"):
        return
    lines = data.count(b"\n")  # the header's line and every whole row
    cut = "its header is cut off" if lines == 0 else \
        f"row {lines} (trial {lines - 1}) is cut off mid-row"
    gone = f", and the model file {missing} is not there" if missing is not None else ""
    raise RunError(f"run_dir: {file} is damaged: {cut}{gone} (resuming the run, "
                   "`cemgd train --resume`, repairs it)")


def meta_text(task: str, trial: int, digest: str, architecture: dict[str, Any],
              source: str) -> str:
    """The text of ``model.json``."""
    return json.dumps({"format": MODEL_FOLDER_FORMAT, "task": task, "trial": trial,
                       "model_hash": digest, "architecture": architecture,
                       "source": source}, indent=2) + "\n"
