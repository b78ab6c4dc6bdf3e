"""Save and load any model's params and normaliser: a plain ``.npz`` (no pickles), read
back bit for bit (into the structure of the model's params, :func:`load_model`).

:func:`write_model` writes into an open binary file, so a crash-safe writer (the run
folder's :func:`cemgd.runs.write_atomic`) can own the file; :func:`read_npz` reads any
``.npz`` without ever unpickling.
"""

from __future__ import annotations

import hashlib
import os
import warnings
import zipfile
from pathlib import Path
from typing import IO, Any

import jax
import jax.numpy as jnp
import numpy as np

from cemgd.models.ensemble import EnsembleParams
from cemgd.models.normalizer import Normalizer

#: The format of a model file: any params pytree's leaves and the normaliser.
_FORMAT = "cemgd-pytree-v1"
#: The first format, the built-in ensemble's arrays by name (read, no longer written).
_LEGACY_FORMAT = "cemgd-ensemble-v1"


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


def model_arrays(params: Any, normalizer: Normalizer) -> dict[str, np.ndarray]:
    """The arrays of a model file: the params' leaves (``leaf_0, leaf_1, ...`` in
    ``jax.tree.leaves`` order) and the normaliser, as stored (no pickles)."""
    leaves = {f"leaf_{i}": np.asarray(leaf) for i, leaf in enumerate(jax.tree.leaves(params))}
    return {"format": np.asarray(_FORMAT), "norm_mean": np.asarray(normalizer.mean),
            "norm_std": np.asarray(normalizer.std), **leaves}


def model_digest(params: Any, normalizer: Normalizer) -> str:
    """A hash of a model's weights and normaliser as :func:`write_model` stores them
    (:func:`file_digest` of its file): 16 hex digits."""
    return _digest(model_arrays(params, normalizer))


def file_digest(path: str | os.PathLike[str]) -> str:
    """A hash of the weights and normaliser of the model file ``path`` as stored (every
    array but the elites and the optimizer state: name, shape, dtype and bytes; no
    arithmetic, so the same file gives the same hash on any machine): 16 hex digits.
    A file of the first format (``cemgd-ensemble-v1``) keeps the hash it had.

    Raises:
        ValueError: naming ``path``, if the file is missing or damaged.
    """
    return _digest(read_npz(path, "model"))


def _digest(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name, value in sorted(arrays.items()):
        if name == "elites" or name.startswith("opt_"):
            continue
        digest.update(f"{name}{value.shape}{value.dtype}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()[:16]


def write_model(fh: IO[bytes], params: Any, normalizer: Normalizer,
                elites: np.ndarray | None = None, opt_state: Any = None) -> None:
    """Write any model's params pytree and its normaliser as ``.npz`` into the open binary
    file ``fh`` (:func:`load_model` reads them back); with ``elites`` (member indices
    ``[K]``) also the members to plan with (:func:`load_elites`), with ``opt_state`` the
    training's optimizer state (:func:`load_opt_state`)."""
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


def save_model(path: str | os.PathLike[str], params: Any, normalizer: Normalizer) -> None:
    """Write params and normaliser to ``path`` as a plain ``.npz`` (no pickles).

    The file is written exactly at ``path`` (no suffix added). Arrays are stored as they
    are, so :func:`load_model` gives them back bit for bit. For a write that a crash
    cannot tear, write through :func:`cemgd.runs.write_atomic` with :func:`write_model`
    (as the PETS run folder does).
    """
    with Path(path).open("wb") as fh:
        write_model(fh, params, normalizer)


def load_model(path: str | os.PathLike[str], template: Any = None) -> tuple[Any, Normalizer]:
    """Read what :func:`write_model` wrote (or a file of the first format,
    ``cemgd-ensemble-v1``), leaf for leaf, bit for bit.

    Args:
        path: the model file.
        template: a pytree of the model's params (its ``init``, or ``jax.eval_shape`` of
            it) whose structure and leaf shapes the file must have; ``None``: the built-in
            ensemble's :class:`EnsembleParams`, its sizes taken from the file.

    Raises:
        ValueError: naming ``path``: missing or damaged file, another format, arrays
            inconsistent with one another, or leaves whose count or shapes differ from
            ``template``'s (``model of another architecture``).
    """
    params, normalizer = read_model(path, template)
    path = Path(path)
    if template is None:
        _check_loaded(path, params, normalizer)
    else:
        shapes = [tuple(np.shape(x)) for x in jax.tree.leaves(params)]
        expected = [tuple(np.shape(x)) for x in jax.tree.leaves(template)]
        if shapes != expected:
            raise ValueError(f"{path}: model of another architecture: leaf shapes {shapes}, "
                             f"expected {expected}")
    return params, normalizer


def read_model(path: str | os.PathLike[str], template: Any = None) -> tuple[Any, Normalizer]:
    """The params and normaliser of the model file ``path`` in the structure of
    ``template`` (``None``: :class:`EnsembleParams`), the leaf shapes as stored and not
    compared with ``template``'s (:func:`load_model` compares them).

    Raises:
        ValueError: naming ``path``: missing or damaged file, another format, non-finite
            values, or another number of leaves than ``template`` has
            (``model of another architecture``).
    """
    path = Path(path)
    f = read_npz(path, "model")
    fmt = str(f["format"]) if "format" in f else None
    if fmt not in (_FORMAT, _LEGACY_FORMAT):
        raise ValueError(f"{path}: not a cemgd model file ({_FORMAT})")
    try:
        leaves = _legacy_leaves(f) if fmt == _LEGACY_FORMAT else [
            f[k] for k in sorted((k for k in f if k.startswith("leaf_")), key=lambda k: int(k[5:]))]
        normalizer = Normalizer(jnp.asarray(f["norm_mean"]), jnp.asarray(f["norm_std"]))
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: corrupt model file ({type(err).__name__}: {err})") from None
    if template is None:
        if len(leaves) < 4 or len(leaves) % 2:
            raise ValueError(f"{path}: corrupt model file (inconsistent array shapes)")
        layers = (len(leaves) - 2) // 2
        template = EnsembleParams((0,) * layers, (0,) * layers, 0, 0)
    treedef = jax.tree.structure(template)
    if treedef.num_leaves != len(leaves):
        raise ValueError(f"{path}: model of another architecture: {len(leaves)} parameter "
                         f"arrays, expected {treedef.num_leaves}")
    params = jax.tree.unflatten(treedef, [jnp.asarray(leaf) for leaf in leaves])
    if not all(bool(jnp.all(jnp.isfinite(a))) for a in jax.tree.leaves((params, normalizer))):
        raise ValueError(f"{path}: corrupt model file (non-finite values)")
    return params, normalizer


def _legacy_leaves(f: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The arrays of a ``cemgd-ensemble-v1`` file in :class:`EnsembleParams` leaf order."""
    layers = int(f["num_layers"])
    return ([f[f"weight_{i}"] for i in range(layers)] + [f[f"bias_{i}"] for i in range(layers)]
            + [f["max_logvar"], f["min_logvar"]])


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


def write_params(fh: IO[bytes], params: Any, normalizer: Normalizer,
                 opt_state: Any = None) -> None:
    """Deprecated: :func:`write_model` writes any model's params."""
    warnings.warn("cemgd.models.write_params is deprecated; use cemgd.models.write_model",
                  DeprecationWarning, stacklevel=2)
    write_model(fh, params, normalizer, opt_state=opt_state)


def load_params(path: str | os.PathLike[str], template: Any) -> tuple[Any, Normalizer]:
    """Deprecated: :func:`load_model` with ``template`` reads any model's params."""
    warnings.warn("cemgd.models.load_params is deprecated; use "
                  "cemgd.models.load_model(path, template)", DeprecationWarning, stacklevel=2)
    return load_model(path, template)
