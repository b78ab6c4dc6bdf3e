"""Save and load the PETS ensemble: a plain ``.npz`` (no pickles), read back bit for bit.

:func:`write_model` writes into an open binary file, so a crash-safe writer (the run
folder's :func:`cemgd.runs.write_atomic`) can own the file; :func:`read_npz` reads any
``.npz`` without ever unpickling.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path
from typing import IO, Any

import jax
import jax.numpy as jnp
import numpy as np

from cemgd.models.ensemble import EnsembleParams
from cemgd.models.normalizer import Normalizer

_FORMAT = "cemgd-ensemble-v1"


_NPZ_MAGIC = b"PK\x03\x04"  # an .npz file is a zip archive


def read_npz(path: str | os.PathLike[str], what: str = "array") -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` file ``path``, never unpickling anything.

    Raises:
        ValueError: naming ``path`` and ``what`` (e.g. ``"model"``), if the file is
            missing, not an ``.npz`` archive, damaged, or holds pickled objects.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no {what} file there")
    try:
        with path.open("rb") as fh:
            head = fh.read(len(_NPZ_MAGIC))
        if head != _NPZ_MAGIC:
            raise ValueError(f"{path}: corrupt {what} file (not an .npz archive)")
        with np.load(path, allow_pickle=False) as f:
            return {name: f[name] for name in f.files}
    except ValueError as err:
        if str(err).startswith(str(path)):
            raise
        if "pickle" in str(err):
            raise ValueError(f"{path}: corrupt {what} file (it holds pickled objects, "
                             "which cemgd never loads)") from None
        raise ValueError(f"{path}: corrupt {what} file ({err})") from None
    except (OSError, EOFError, KeyError, zipfile.BadZipFile) as err:
        raise ValueError(
            f"{path}: corrupt {what} file ({type(err).__name__}: {err})") from None


def model_arrays(params: EnsembleParams, normalizer: Normalizer) -> dict[str, np.ndarray]:
    """The arrays of a model file: params and normaliser as stored (float32, no pickles)."""
    arrays: dict[str, np.ndarray] = {
        "format": np.asarray(_FORMAT),
        "num_layers": np.asarray(len(params.weights), np.int64),
        "max_logvar": np.asarray(params.max_logvar),
        "min_logvar": np.asarray(params.min_logvar),
        "norm_mean": np.asarray(normalizer.mean),
        "norm_std": np.asarray(normalizer.std),
    }
    for i, (w, b) in enumerate(zip(params.weights, params.biases, strict=True)):
        arrays[f"weight_{i}"] = np.asarray(w)
        arrays[f"bias_{i}"] = np.asarray(b)
    return arrays


def model_digest(params: EnsembleParams, normalizer: Normalizer) -> str:
    """A hash of a model's weights and normaliser as stored (every array of
    :func:`model_arrays`: name, shape, dtype and bytes; no arithmetic, so the same file
    gives the same hash on any machine): 16 hex digits."""
    digest = hashlib.sha256()
    for name, value in sorted(model_arrays(params, normalizer).items()):
        digest.update(f"{name}{value.shape}{value.dtype}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()[:16]


def write_model(fh: IO[bytes], params: EnsembleParams, normalizer: Normalizer,
                elites: np.ndarray | None = None, opt_state: Any = None) -> None:
    """Write params and normaliser as ``.npz`` into the open binary file ``fh``; with
    ``elites`` (member indices ``[K]``) also the members to plan with (:func:`load_elites`),
    with ``opt_state`` the training's optimizer state (:func:`load_opt_state`)."""
    extra = {} if elites is None else {"elites": np.asarray(elites, np.int64)}
    np.savez(fh, **model_arrays(params, normalizer), **extra, **_opt_arrays(opt_state))


def _opt_arrays(opt_state: Any) -> dict[str, np.ndarray]:
    """``opt_state``'s leaves as ``opt_0, opt_1, ...`` (none for ``None``)."""
    if opt_state is None:
        return {}
    return {f"opt_{i}": np.asarray(leaf) for i, leaf in enumerate(jax.tree.leaves(opt_state))}


def load_opt_state(path: str | os.PathLike[str], template: Any) -> Any:
    """The optimizer state stored in the model file ``path``, in the structure of
    ``template`` (a fresh state of the same optimizer and params), or ``None`` when the
    file holds none or one of another structure (a fresh state is then the fallback).

    Raises:
        ValueError: naming ``path``, if the file is missing or damaged.
    """
    f = read_npz(path, "model")
    stored = sorted((k for k in f if k.startswith("opt_")), key=lambda k: int(k[4:]))
    leaves, treedef = jax.tree.flatten(template)
    if not stored or [tuple(f[k].shape) for k in stored] != [np.shape(x) for x in leaves]:
        return None
    return jax.tree.unflatten(treedef, [jnp.asarray(f[k], jnp.asarray(x).dtype)
                                        for k, x in zip(stored, leaves, strict=True)])


def load_elites(path: str | os.PathLike[str]) -> np.ndarray | None:
    """The members to plan with that :func:`write_model` stored in ``path`` (``[K]``), or
    ``None`` when it stored none (plan with every member).

    Raises:
        ValueError: naming ``path``, if the file is missing or damaged.
    """
    f = read_npz(path, "model")
    return None if "elites" not in f else np.asarray(f["elites"], np.int64)


def save_model(
    path: str | os.PathLike[str], params: EnsembleParams, normalizer: Normalizer
) -> None:
    """Write params and normaliser to ``path`` as a plain ``.npz`` (no pickles).

    The file is written exactly at ``path`` (no suffix added). Arrays are stored as they
    are (float32), so :func:`load_model` gives them back bit for bit. For a write that a
    crash cannot tear, write through :func:`cemgd.runs.write_atomic` with
    :func:`write_model` (as the PETS run folder does).
    """
    with Path(path).open("wb") as fh:
        write_model(fh, params, normalizer)


def load_model(path: str | os.PathLike[str]) -> tuple[EnsembleParams, Normalizer]:
    """Read what :func:`save_model` wrote.

    Raises:
        ValueError: naming ``path``, if the file is missing, not an ``.npz`` written by
            :func:`save_model`, or its arrays are inconsistent.
    """
    path = Path(path)
    f = read_npz(path, "model")
    if "format" not in f or str(f["format"]) != _FORMAT:
        raise ValueError(f"{path}: not a cemgd ensemble file ({_FORMAT})")
    try:
        layers = int(f["num_layers"])
        weights = tuple(jnp.asarray(f[f"weight_{i}"]) for i in range(layers))
        biases = tuple(jnp.asarray(f[f"bias_{i}"]) for i in range(layers))
        params = EnsembleParams(weights, biases, jnp.asarray(f["max_logvar"]),
                                jnp.asarray(f["min_logvar"]))
        normalizer = Normalizer(jnp.asarray(f["norm_mean"]), jnp.asarray(f["norm_std"]))
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: corrupt model file ({type(err).__name__}: {err})") from None
    _check_loaded(path, params, normalizer)
    return params, normalizer


def model_architecture(params: EnsembleParams) -> dict[str, Any]:
    """``num_members``, ``hidden``, ``num_layers`` (hidden layers), ``input_dim``,
    ``state_dim`` of an ensemble (to compare a checkpoint with a run's config)."""
    return {"num_members": int(params.weights[0].shape[0]),
            "hidden": int(params.weights[0].shape[2]),
            "num_layers": len(params.weights) - 1,
            "input_dim": int(params.weights[0].shape[1]),
            "state_dim": int(params.max_logvar.shape[0])}


def _check_loaded(path: Path, params: EnsembleParams, normalizer: Normalizer) -> None:
    ws, bs = params.weights, params.biases
    ok = len(ws) >= 2 and all(w.ndim == 3 for w in ws) and all(b.ndim == 3 for b in bs)
    if ok:
        members, state_dim = ws[0].shape[0], ws[-1].shape[2] // 2
        ok = all(w.shape[0] == members for w in ws) and ws[-1].shape[2] == 2 * state_dim
        ok = ok and all(a.shape[2] == b.shape[1] for a, b in zip(ws[:-1], ws[1:], strict=True))
        ok = ok and all(b.shape == (members, 1, w.shape[2]) for w, b in zip(ws, bs, strict=True))
        ok = ok and params.max_logvar.shape == params.min_logvar.shape == (state_dim,)
        ok = ok and normalizer.mean.shape == normalizer.std.shape == (ws[0].shape[1],)
    if not ok:
        raise ValueError(f"{path}: corrupt model file (inconsistent array shapes)")
    finite = all(bool(jnp.all(jnp.isfinite(a))) for a in jax.tree.leaves((params, normalizer)))
    if not finite:
        raise ValueError(f"{path}: corrupt model file (non-finite values)")


_PYTREE_FORMAT = "cemgd-pytree-v1"


def write_params(fh: IO[bytes], params: Any, normalizer: Normalizer,
                 opt_state: Any = None) -> None:
    """Write any model's params pytree (its leaves in ``jax.tree.leaves`` order) and the
    normaliser as ``.npz`` into ``fh``; :func:`load_params` reads them back (with
    ``opt_state`` also the training's optimizer state, :func:`load_opt_state`)."""
    arrays = {f"leaf_{i}": np.asarray(leaf) for i, leaf in enumerate(jax.tree.leaves(params))}
    np.savez(fh, format=np.asarray(_PYTREE_FORMAT), norm_mean=np.asarray(normalizer.mean),
             norm_std=np.asarray(normalizer.std), **arrays, **_opt_arrays(opt_state))


def load_params(path: str | os.PathLike[str], template: Any) -> tuple[Any, Normalizer]:
    """Read what :func:`write_params` wrote into the structure of ``template`` (e.g. the
    model's fresh ``init``), leaf for leaf, bit for bit.

    Raises:
        ValueError: naming ``path``: missing or damaged file, another format, or leaves
            whose count or shapes differ from ``template``'s (another architecture).
    """
    path = Path(path)
    f = read_npz(path, "model")
    if "format" not in f or str(f["format"]) != _PYTREE_FORMAT:
        raise ValueError(f"{path}: not a cemgd model-params file ({_PYTREE_FORMAT})")
    leaves, treedef = jax.tree.flatten(template)
    stored = sorted((k for k in f if k.startswith("leaf_")), key=lambda k: int(k[5:]))
    shapes = [tuple(f[k].shape) for k in stored]
    expected = [tuple(np.shape(leaf)) for leaf in leaves]
    if shapes != expected:
        raise ValueError(f"{path}: model of another architecture: leaf shapes {shapes}, "
                         f"expected {expected}")
    try:
        normalizer = Normalizer(jnp.asarray(f["norm_mean"]), jnp.asarray(f["norm_std"]))
    except KeyError as err:
        raise ValueError(f"{path}: corrupt model file (array {err} missing)") from None
    params = jax.tree.unflatten(treedef, [jnp.asarray(f[k]) for k in stored])
    if not all(bool(jnp.all(jnp.isfinite(a))) for a in jax.tree.leaves((params, normalizer))):
        raise ValueError(f"{path}: corrupt model file (non-finite values)")
    return params, normalizer
