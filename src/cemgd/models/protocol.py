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

from cemgd.models.ensemble import (
    EnsembleParams,
    _activation,
    ensemble_apply,
    init_ensemble,
)
from cemgd.models.normalizer import Normalizer

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
