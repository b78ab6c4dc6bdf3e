"""A user's own dynamics model through the command line, like a user's task: ``cemgd
train/evaluate --model module:factory``, imported only when named there; and the run
folders of the built-in ensemble's first file format still load."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from cemgd.cli import main
from cemgd.evaluate import load_frozen_model
from cemgd.models import load_model, read_npz

pytest.importorskip("gymnasium")

ROOT = Path(__file__).resolve().parents[1]

#: A user's model module: a linear-Gaussian ensemble, leaving a marker when imported.
MODEL_MODULE = '''
from pathlib import Path

import jax
import jax.numpy as jnp

from cemgd.models import StackedEnsemble

Path(__file__).with_name("MARKER").write_text("model code ran")


def member_init(key, n_in, n_out):
    return {"w": 0.01 * jax.random.normal(key, (n_in, n_out)), "logvar": jnp.full(n_out, -6.0)}


def member_predict(member, inputs):
    mean = inputs @ member["w"]
    return mean, jnp.broadcast_to(member["logvar"], mean.shape)


def make():
    return StackedEnsemble(member_init, member_predict, members=2, name="linear")


def broken():
    raise RuntimeError("no weights today")
'''

SPEC = "my_model.py:make"
TRAIN = ["train", "--task", "pendulum", "--planner", "cem", "--quick", "--trials", "1",
         "--episode-length", "4", "--no-progress"]
EVALUATE = ["evaluate", "--planners", "cem-50", "--episodes", "1", "--quick",
            "--episode-length", "3", "--no-progress"]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory holding ``my_model.py``."""
    (tmp_path / "my_model.py").write_text(MODEL_MODULE)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    for name in [n for n in sys.modules if n.startswith("cemgd_user_tasks.my_model")]:
        del sys.modules[name]


def _one_line_error(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_a_user_model_trains_and_evaluates_through_the_cli(workdir: Path, capsys) -> None:
    assert main([*TRAIN, "--model", SPEC, "--out", "run"]) == 0, capsys.readouterr().err
    assert (workdir / "MARKER").exists()
    config = json.loads((workdir / "run" / "config.json").read_text())
    assert config["model"] == SPEC and config["task"] == "pendulum"
    stored = read_npz(workdir / "run" / "checkpoints" / "model-000.npz")
    assert str(stored["format"]) == "cemgd-pytree-v1"
    shapes = {stored[k].shape for k in stored if k.startswith("leaf_")}
    assert shapes == {(2, 3), (2, 3 + 1, 3)}  # the user's leaves: [E, S] and [E, D, S]
    assert main([*EVALUATE, "run", "--model", SPEC, "--out", "ev"]) == 0, \
        capsys.readouterr().err
    with (workdir / "ev" / "episodes.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1 and rows[0]["steps"] == "3" and np.isfinite(float(rows[0]["return"]))
    # another model (or the built-in one) cannot evaluate or resume the folder
    assert main([*EVALUATE, "run", "--model", "my_model.py:broken", "--out", "ev2"]) == 2
    assert f"pass --model {SPEC}" in _one_line_error(capsys)
    assert main([*TRAIN, "--out", "run", "--resume", "--trials", "2"]) == 2
    assert f"pass --model {SPEC}" in _one_line_error(capsys)
    assert not (workdir / "ev2").exists()
    # named again, the run resumes with the same model
    assert main([*TRAIN, "--model", SPEC, "--out", "run", "--resume", "--trials", "2"]) == 0
    assert len((workdir / "run" / "metrics.csv").read_text().splitlines()) == 3


def test_a_folder_that_needs_a_model_never_imports_it(run_dir: Path, workdir: Path,
                                                       capsys) -> None:
    run = workdir / "run"
    shutil.copytree(run_dir, run)
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "model": SPEC}, indent=2))
    assert main([*EVALUATE, str(run), "--out", "ev"]) == 2
    err = _one_line_error(capsys)
    assert f"config.json names the model {SPEC!r}" in err and f"pass --model {SPEC}" in err
    assert main([*TRAIN[:1], "--out", str(run), "--resume", "--quick", "--trials", "2",
                 "--task", "cartpole-swingup", "--no-progress"]) == 2
    assert f"pass --model {SPEC}" in _one_line_error(capsys)
    assert main(["export-model", str(run), "--out", "exported"]) == 2
    assert f"pass --model {SPEC}" in _one_line_error(capsys)
    assert not (workdir / "MARKER").exists() and not (workdir / "ev").exists()
    # a factory that fails is named in one line (the model code ran: it was named)
    assert main([*TRAIN, "--model", "my_model.py:broken", "--out", "bad"]) == 2
    err = _one_line_error(capsys)
    assert "model: the model factory my_model.py:broken raised RuntimeError" in err
    assert main([*TRAIN, "--model", "no-such-model", "--out", "bad"]) == 2
    assert "model: 'no-such-model' is neither the built-in model" in _one_line_error(capsys)


def _legacy_arrays(params, normalizer) -> dict[str, np.ndarray]:
    """The arrays the first format (``cemgd-ensemble-v1``) stored for an ensemble."""
    arrays = {"format": np.asarray("cemgd-ensemble-v1"),
              "num_layers": np.asarray(len(params.weights), np.int64),
              "max_logvar": np.asarray(params.max_logvar),
              "min_logvar": np.asarray(params.min_logvar),
              "norm_mean": np.asarray(normalizer.mean), "norm_std": np.asarray(normalizer.std)}
    for i, (w, b) in enumerate(zip(params.weights, params.biases, strict=True)):
        arrays[f"weight_{i}"], arrays[f"bias_{i}"] = np.asarray(w), np.asarray(b)
    return arrays


def _legacy_digest(arrays: dict[str, np.ndarray]) -> str:
    """The first format's model hash: name, shape, dtype and bytes of each array."""
    digest = hashlib.sha256()
    for name, value in sorted(arrays.items()):
        digest.update(f"{name}{value.shape}{value.dtype}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()[:16]


def test_a_run_folder_of_the_first_format_evaluates_and_resumes(run_dir: Path, tmp_path: Path,
                                                                capsys) -> None:
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    config = json.loads((run / "config.json").read_text())
    config.pop("model")  # written before the setting existed
    (run / "config.json").write_text(json.dumps(config, indent=2))
    file = run / "checkpoints" / "model-000.npz"
    params, normalizer = load_model(file)
    arrays = _legacy_arrays(params, normalizer)
    np.savez(file, **arrays)
    frozen = load_frozen_model(run)
    assert frozen.digest == _legacy_digest(arrays)  # the hash it always had
    again, _ = load_model(file)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(again),
                                                     jax.tree.leaves(params), strict=True))
    assert main(["train", "--out", str(run), "--resume", "--quick", "--trials", "2",
                 "--task", "cartpole-swingup", "--seed", "3", "--no-progress"]) == 0, \
        capsys.readouterr().err
    assert len((run / "metrics.csv").read_text().splitlines()) == 3


@pytest.mark.parametrize("folder", [
    "docs/results/halfcheetah-exp/model-1/run", "docs/results/halfcheetah-exp/model-2/run",
    "docs/results/cartpole-paper/run", "docs/results/pets-parity/runs/all/seed-0",
])
def test_the_committed_run_folders_still_load(folder: str) -> None:
    pytest.importorskip("mujoco")
    path = ROOT / folder
    if not path.is_dir():
        pytest.skip(f"{folder} is not in this checkout")
    frozen = load_frozen_model(path)
    config = json.loads((path / "config.json").read_text())
    assert frozen.model.num_members(frozen.params) == (config.get("num_elites")
                                                      or config["num_members"])
    evaluation = path.parent / "eval" / "evaluate.json"
    if evaluation.is_file():  # the hash its committed evaluation recorded
        assert frozen.digest == json.loads(evaluation.read_text())["config"]["model"]


def test_the_old_params_io_names_warn_and_read_the_one_format(tmp_path: Path) -> None:
    from cemgd.models import (
        MLPEnsemble,
        identity_normalizer,
        load_params,
        write_model,
        write_params,
    )

    model = MLPEnsemble(members=2, hidden=4, num_layers=1)
    params, norm = model.init(jax.random.key(0), 3, 2), identity_normalizer(2, 1)
    old, new = tmp_path / "old.npz", tmp_path / "new.npz"
    with old.open("wb") as fh, pytest.warns(DeprecationWarning, match="use .*write_model"):
        write_params(fh, params, norm)
    with new.open("wb") as fh:
        write_model(fh, params, norm)
    stored, written = read_npz(old), read_npz(new)
    assert stored.keys() == written.keys()
    assert all(np.array_equal(stored[k], written[k]) for k in stored)
    with pytest.warns(DeprecationWarning, match=r"use cemgd.models.load_model\(path, template\)"):
        loaded, _ = load_params(tmp_path / "old.npz", params)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(loaded),
                                                     jax.tree.leaves(params), strict=True))
    with pytest.raises(ValueError, match="new.npz: model of another architecture"):
        load_model(tmp_path / "new.npz", model.init(jax.random.key(0), 4, 2))
