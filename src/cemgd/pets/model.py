"""The dynamics model of a PETS run: the built-in ensemble, or a user's, by name.

``PETSConfig.model`` names it:

``"mlp"`` (:data:`BUILTIN_MODEL`)
    The built-in PETS ensemble (:class:`~cemgd.models.MLPEnsemble`) of the config's
    ``num_members``, ``hidden``, ``num_layers`` and ``activation`` (and ``train``'s
    ``bound_coef``, ``learn_logvar_bounds``, ``decay_biases``).
``"package.module:factory"`` or ``"path/to/file.py:factory"``
    A callable taking no arguments that returns an
    :class:`~cemgd.models.EnsembleModel` (or the model object itself), as
    ``cemgd train --model`` names it. An import path is code: it is imported by the task
    importer (:func:`cemgd.tasks.load_code`), so under a command line only when that
    command's own ``--model`` named it, never because a folder's ``config.json``
    records it (:func:`cemgd.tasks.only_named_code`).

Either way the loop then sees only the protocol: :func:`fresh_params` initialises it,
:func:`load_checkpoint` reads a checkpoint into its params' structure and refuses one of
another architecture.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import jax

from cemgd.models import EnsembleModel, Normalizer
from cemgd.models.io import read_model
from cemgd.models.protocol import architecture, check_model
from cemgd.runs import RunError
from cemgd.tasks import EnvTask, is_code_spec, load_code

#: ``PETSConfig.model`` of the built-in ensemble.
BUILTIN_MODEL = "mlp"
_METHODS = ("init", "predict", "num_members", "take_members", "penalty", "decay_mask")


def check_model_spec(spec: object, argument: str = "model") -> None:
    """Check ``spec`` without building the model: a non-empty name; an import path must
    import and name an attribute (under a command line, only one it named).

    Raises:
        ValueError: starting with ``argument``.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"{argument}: expected {BUILTIN_MODEL} or package.module:factory, "
                         f"got {spec!r}")
    if is_code_spec(spec):
        load_code(spec, argument=argument, flag="--model")


def make_model(spec: str, builtin: Callable[[], EnsembleModel]) -> EnsembleModel:
    """The model ``spec`` names (see the module docstring); ``builtin()`` builds the
    built-in one (:meth:`cemgd.pets.PETSConfig.builtin_model`).

    Raises:
        ValueError: starting with ``model``: an unknown name, an import path that fails
            (or that the command line did not name), a factory that raises or returns
            something without the protocol's methods.
    """
    if spec == BUILTIN_MODEL:
        return builtin()
    if not is_code_spec(spec):
        raise ValueError(
            f"model: {spec!r} is neither the built-in model ({BUILTIN_MODEL}) nor an import "
            "path package.module:factory (a run given a model object in Python records its "
            "name; pass that model object again)")
    target = load_code(spec, argument="model", flag="--model")
    model = target
    if isinstance(target, type) or not all(callable(getattr(target, m, None)) for m in _METHODS):
        if not callable(target):
            raise ValueError(f"model: {spec!r} is a {type(target).__name__}, expected a "
                             "factory returning an ensemble model")
        try:
            model = target()
        except Exception as err:  # noqa: BLE001 - any error of the user's factory, one line
            text = " ".join(str(err).split())[:300]
            raise ValueError(f"model: the model factory {spec} raised "
                             f"{type(err).__name__}: {text}") from None
    check_model(model, "model")
    return model


def fresh_params(model: EnsembleModel, task: EnvTask, key: jax.Array) -> Any:
    """``model.init`` for ``task``: ``D = S' + A`` inputs, ``S`` outputs."""
    return model.init(key, task.model_obs_dim + task.action_dim, task.obs_dim)


def params_shape(model: EnsembleModel, task: EnvTask) -> Any:
    """The structure and leaf shapes of ``model``'s params for ``task`` (nothing computed)."""
    return jax.eval_shape(functools.partial(fresh_params, model, task), jax.random.key(0))


def load_checkpoint(file: str | os.PathLike[str], model: EnsembleModel, task: EnvTask,
                    task_name: str) -> tuple[Any, Normalizer]:
    """The params and normaliser of the model file ``file``, read into the structure of
    ``model``'s params for ``task`` (the run's task, named ``task_name``) and checked
    (:func:`check_sizes`); ``train --resume`` and ``evaluate`` both load with this.

    Raises:
        RunError: naming ``file``: missing or damaged, or a model of another architecture.
    """
    template = params_shape(model, task)
    try:
        params, normalizer = read_model(file, template)
    except ValueError as err:  # a damaged checkpoint is not worth retrying
        raise RunError(str(err)) from None
    check_sizes(file, model, params, template, task_name)
    inputs = task.model_obs_dim + task.action_dim
    if normalizer.mean.shape != (inputs,) or normalizer.std.shape != (inputs,):
        raise RunError(f"{file}: model of another architecture: a normaliser of "
                       f"{normalizer.mean.shape} inputs (config: {inputs})")
    return params, normalizer


def check_sizes(file: str | os.PathLike[str], model: EnsembleModel, params: Any,
                expected: Any, task_name: str) -> None:
    """Refuse ``params`` (read from ``file``) whose sizes (:func:`cemgd.models.protocol.
    architecture`: the built-in ensemble's members, hidden width, layers, input and state
    sizes; another model's leaf shapes) are not those of ``expected`` (the params the
    run's config gives for its task, ``task_name``).

    Raises:
        RunError: naming ``file`` and each size that differs.
    """
    want, found = architecture(model, expected), architecture(model, params)
    wrong = [f"{k} {found.get(k)} (config: {v})" for k, v in want.items() if found.get(k) != v]
    if wrong:
        task_dims = any(found.get(k) != want[k] for k in ("input_dim", "state_dim") if k in want)
        hint = f"; a model of another task than {task_name}?" if task_dims else ""
        raise RunError(f"{file}: model of another architecture: {', '.join(wrong)}{hint}")
