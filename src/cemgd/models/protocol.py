"""The model protocol: what the rollout, the training and the PETS loop need of an ensemble.

Any pure JAX ensemble plugs in (hand-written, Flax, Equinox, ...) through an object
with these methods (:class:`EnsembleModel`); ``params`` is whatever pytree the model
uses. Shapes: ``E`` members, ``N`` rows per member, ``D = S' + A`` model inputs
(``concat(task.model_input(obs), action)``), ``S`` predicted dims (the delta
``task.model_target(obs, next_obs)``, by default ``next_obs - obs``)::

    init(key, input_dim D, output_dim S) -> params
    predict(params, inputs: [E, N, D]) -> (mean: [E, N, S], logvar: [E, N, S])
        member e predicts for its own rows inputs[e]
    num_members(params) -> E
    take_members(params, members: int array [K] or slice) -> params of K members
    penalty(params) -> scalar added to the training loss (0 if none)
    decay_mask(params) -> pytree of bools: leaves that get weight decay

Two methods are optional: ``architecture(params) -> {size name: int}`` (what a
checkpoint of another architecture is told in; default: the shape of every leaf,
:func:`architecture`) and ``fold_normalizer(params, Normalizer) -> params`` that take raw
inputs (default: :class:`Normalized`, :func:`raw_input_model`).

:class:`StackedEnsemble` builds all six from one member's ``init`` and ``predict``
when every leaf of ``params`` has a leading member axis ``E`` (``jax.vmap`` over the
members); :class:`MLPEnsemble` is the built-in PETS ensemble
(:class:`~cemgd.models.ensemble.EnsembleParams`) behind the same protocol.
:class:`Normalized` wraps any model so it takes raw inputs, its params being
``(params, Normalizer)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np

from cemgd.models.ensemble import (
    EnsembleParams,
    _activation,
    ensemble_apply,
    init_ensemble,
)
from cemgd.models.io import model_architecture
from cemgd.models.normalizer import Normalizer, fold_normalizer

Array = jax.Array
Members = Array | slice


@runtime_checkable
class EnsembleModel(Protocol):
    """A probabilistic ensemble as pure functions of its ``params`` pytree (see module)."""

    def init(self, key: Array, input_dim: int, output_dim: int) -> Any:
        """Fresh params for ``D = input_dim`` inputs and ``S = output_dim`` outputs."""
        ...

    def predict(self, params: Any, inputs: Array) -> tuple[Array, Array]:
        """``inputs: [E, N, D] -> (mean: [E, N, S], logvar: [E, N, S])``."""
        ...

    def num_members(self, params: Any) -> int:
        """Ensemble size ``E``."""
        ...

    def take_members(self, params: Any, members: Members) -> Any:
        """The ensemble of members ``members`` (int array ``[K]`` or a slice), in order."""
        ...

    def penalty(self, params: Any) -> Array:
        """A scalar added to the training loss."""
        ...

    def decay_mask(self, params: Any) -> Any:
        """Which leaves of ``params`` get weight decay (a pytree of bools)."""
        ...


@dataclass(frozen=True)
class StackedEnsemble:
    """An ensemble of ``num_members`` copies of one member model, params stacked on axis 0.

    Attributes:
        member_init: ``(key, input_dim, output_dim) -> member params``.
        member_predict: ``(member params, inputs: [N, D]) -> (mean [N, S], logvar [N, S])``.
        members: ``E`` (>= 1), used by :meth:`init`.
        name: recorded in a PETS run's ``config.json``.
    """

    member_init: Callable[[Array, int, int], Any]
    member_predict: Callable[[Any, Array], tuple[Array, Array]]
    members: int = 5
    name: str = "stacked"

    def init(self, key: Array, input_dim: int, output_dim: int) -> Any:
        keys = jax.random.split(key, self.members)
        return jax.vmap(lambda k: self.member_init(k, input_dim, output_dim))(keys)

    def predict(self, params: Any, inputs: Array) -> tuple[Array, Array]:
        return jax.vmap(self.member_predict)(params, inputs)

    def num_members(self, params: Any) -> int:
        return int(jax.tree.leaves(params)[0].shape[0])

    def take_members(self, params: Any, members: Members) -> Any:
        return jax.tree.map(lambda leaf: leaf[members], params)

    def penalty(self, params: Any) -> Array:
        return jnp.zeros((), jnp.float32)

    def decay_mask(self, params: Any) -> Any:
        """Leaves with two or more axes per member (weight matrices), not vectors."""
        return jax.tree.map(lambda leaf: leaf.ndim >= 3, params)


@dataclass(frozen=True)
class MLPEnsemble:
    """The built-in PETS ensemble (:mod:`cemgd.models.ensemble`) behind the protocol.

    Attributes: ``members``, ``hidden``, ``num_layers``, ``activation`` as in
    :func:`~cemgd.models.ensemble.init_ensemble`; ``bound_coef`` weighs the
    log-variance bound penalty ``sum max_logvar - sum min_logvar``; with
    ``learn_bounds=False`` the bounds get no gradient and no penalty (they keep their
    initial values when trained); ``decay_biases`` puts the biases under weight decay
    beside the weight matrices.
    """

    members: int = 5
    hidden: int = 200
    num_layers: int = 3
    activation: str = "silu"
    bound_coef: float = 0.01
    name: str = "mlp"
    learn_bounds: bool = True
    decay_biases: bool = False

    def __post_init__(self) -> None:
        _activation(self.activation)

    def init(self, key: Array, input_dim: int, output_dim: int) -> EnsembleParams:
        """``input_dim`` is ``D = S' + A``; the first layer takes it whole."""
        return init_ensemble(key, output_dim, 1, self.members, self.hidden, self.num_layers,
                             self.activation, input_dim=input_dim - 1)

    def predict(self, params: EnsembleParams, inputs: Array) -> tuple[Array, Array]:
        empty = inputs[..., :0]  # ensemble_apply concatenates obs and actions
        if not self.learn_bounds:  # fixed bounds: no gradient reaches them
            params = params._replace(max_logvar=jax.lax.stop_gradient(params.max_logvar),
                                     min_logvar=jax.lax.stop_gradient(params.min_logvar))
        return ensemble_apply(params, inputs, empty, self.activation)

    def num_members(self, params: EnsembleParams) -> int:
        return int(params.weights[0].shape[0])

    def take_members(self, params: EnsembleParams, members: Members) -> EnsembleParams:
        return params._replace(weights=tuple(w[members] for w in params.weights),
                               biases=tuple(b[members] for b in params.biases))

    def penalty(self, params: EnsembleParams) -> Array:
        if not self.learn_bounds:
            return jnp.zeros((), jnp.float32)
        return self.bound_coef * (jnp.sum(params.max_logvar) - jnp.sum(params.min_logvar))

    def decay_mask(self, params: EnsembleParams) -> EnsembleParams:
        """The weight matrices of every layer, and the biases with ``decay_biases`` (never
        the log-variance bounds)."""
        return EnsembleParams(weights=tuple(True for _ in params.weights),
                              biases=tuple(self.decay_biases for _ in params.biases),
                              max_logvar=False, min_logvar=False)

    def architecture(self, params: EnsembleParams) -> dict[str, Any]:
        """``num_members``, ``hidden``, ``num_layers``, ``input_dim``, ``state_dim``."""
        return model_architecture(params)

    def fold_normalizer(self, params: EnsembleParams, normalizer: Normalizer) -> EnsembleParams:
        """Params that take raw inputs: the normaliser folded into the first layer (the
        planner's hot path pays nothing for it)."""
        return fold_normalizer(params, normalizer)


@dataclass(frozen=True)
class Normalized:
    """``model`` on raw inputs: params ``(model params, Normalizer)``, inputs scaled first."""

    model: Any

    @property
    def name(self) -> str:
        return str(getattr(self.model, "name", type(self.model).__name__))

    def init(self, key: Array, input_dim: int, output_dim: int) -> tuple[Any, Normalizer]:
        ones = jnp.ones((input_dim,), jnp.float32)
        return self.model.init(key, input_dim, output_dim), Normalizer(0.0 * ones, ones)

    def predict(self, params: tuple[Any, Normalizer], inputs: Array) -> tuple[Array, Array]:
        inner, norm = params
        return self.model.predict(inner, (inputs - norm.mean) / norm.std)

    def num_members(self, params: tuple[Any, Normalizer]) -> int:
        return self.model.num_members(params[0])

    def take_members(self, params: tuple[Any, Normalizer], members: Members
                     ) -> tuple[Any, Normalizer]:
        return self.model.take_members(params[0], members), params[1]

    def penalty(self, params: tuple[Any, Normalizer]) -> Array:
        return self.model.penalty(params[0])

    def decay_mask(self, params: tuple[Any, Normalizer]) -> tuple[Any, Normalizer]:
        return self.model.decay_mask(params[0]), Normalizer(False, False)


def resolve_model(model: EnsembleModel | None,
                  default: Callable[[], EnsembleModel]) -> EnsembleModel:
    """``model``, checked; ``None`` (what the functions that take a ``model`` default to):
    the built-in ensemble as ``default()`` builds it. The one place a missing model
    becomes the built-in one; past it every code path runs the protocol.

    Raises:
        ValueError: a ``model`` without the protocol's methods, or an unknown activation.
    """
    if model is None:
        return default()
    check_model(model)
    return model


def model_name(model: Any) -> str:
    """What a run folder records of ``model``: its ``name``, else its class name."""
    return str(getattr(model, "name", type(model).__name__))


def architecture(model: EnsembleModel, params: Any) -> dict[str, Any]:
    """The sizes of ``params`` by name: ``model.architecture(params)`` where the model has
    it, else the shape of every leaf by its path (``"['w']": (E, D, S)``)."""
    describe = getattr(model, "architecture", None)
    if callable(describe):
        return dict(describe(params))
    flat, _ = jax.tree_util.tree_flatten_with_path(params)
    return {jax.tree_util.keystr(path): tuple(np.shape(leaf)) for path, leaf in flat}


def raw_input_model(model: EnsembleModel, params: Any, normalizer: Normalizer
                    ) -> tuple[EnsembleModel, Any]:
    """The model and params to plan with on raw inputs: ``model`` with the normaliser
    folded into its params where it can fold it (``fold_normalizer``, the built-in
    ensemble: no cost per step), else ``Normalized(model)`` on ``(params, normalizer)``."""
    fold = getattr(model, "fold_normalizer", None)
    if callable(fold):
        return model, fold(params, normalizer)
    return Normalized(model), (params, normalizer)


def output_size(model: EnsembleModel, params: Any, in_size: int) -> int:
    """``S`` of ``model.predict`` on ``[E, 1, in_size]`` inputs, checked.

    Raises:
        ValueError: ``predict`` fails on such inputs or returns other shapes.
    """
    members = model.num_members(params)
    inputs = jax.ShapeDtypeStruct((members, 1, in_size), jnp.float32)
    try:
        mean, logvar = jax.eval_shape(model.predict, params, inputs)
    except Exception as err:  # noqa: BLE001 - any failure of the user's model, named
        raise ValueError(f"model: predict(params, inputs [E={members}, N, {in_size}]) "
                         f"failed: {type(err).__name__}: {err}") from None
    if mean.shape != logvar.shape or len(mean.shape) != 3 or mean.shape[:2] != (members, 1):
        raise ValueError(f"model: predict must return (mean, logvar) of shape [E, N, S] "
                         f"each, got {mean.shape} and {logvar.shape}")
    return int(mean.shape[2])


def check_model(model: Any, argument: str = "model") -> None:
    """Raise ``ValueError`` naming ``argument`` unless ``model`` has the protocol's methods."""
    missing = [m for m in ("init", "predict", "num_members", "take_members", "penalty",
                           "decay_mask") if not callable(getattr(model, m, None))]
    if missing:
        raise ValueError(f"{argument}: expected an ensemble model (cemgd.models.EnsembleModel); "
                         f"{type(model).__name__} lacks {', '.join(missing)}")
