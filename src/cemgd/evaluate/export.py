"""``cemgd export-model``: a run's frozen model as a model folder
(:mod:`cemgd.evaluate.modelfolder`) that ``cemgd evaluate`` reads anywhere."""

from __future__ import annotations

import os
from pathlib import Path

from cemgd.evaluate.core import FrozenModel, load_frozen_model
from cemgd.evaluate.modelfolder import META_FILE, MODEL_FILE, meta_text
from cemgd.models.protocol import architecture
from cemgd.runs import RunError, write_atomic
from cemgd.runs.folder import CONFIG_FILE, check_out_path


def model_folder_files(model: FrozenModel) -> dict[str, bytes]:
    """The files of ``model``'s model folder (name -> bytes): the model file as read,
    the configuration it was read with, and ``model.json`` (the source as given)."""
    meta = meta_text(model.config.task, model.trial, model.digest,
                     architecture(model.model, model.params), str(model.run_dir))
    return {MODEL_FILE: model.model_file.read_bytes(),
            CONFIG_FILE: (model.run_dir / CONFIG_FILE).read_bytes(),
            META_FILE: meta.encode()}


def export_model(run_dir: str | os.PathLike[str], out: str | os.PathLike[str],
                 trial: int | None = None) -> Path:
    """Write the model of ``run_dir`` after ``trial`` (default its last) as a model
    folder ``out``, checked as ``evaluate`` checks it (hash, architecture); returns
    ``out``.

    Raises:
        ValueError: naming the argument or file: a bad run folder or model, or ``out``
            exists and is not empty (nothing is written).
    """
    model = load_frozen_model(run_dir, trial)
    folder = check_out_path(out, "out")
    if folder.exists() and any(folder.iterdir()):
        raise RunError(f"out: {folder} exists and is not empty; give a new folder")
    files = model_folder_files(model)
    folder.mkdir(parents=True, exist_ok=True)
    for name in (MODEL_FILE, CONFIG_FILE, META_FILE):  # model.json last: it marks it done
        write_atomic(folder / name, files[name])
    return folder
