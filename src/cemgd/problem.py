"""The planning contract: what a planner is given and what it hands back.

A planner sees only a :class:`Problem`: a pure, differentiable JAX function that
scores batches of action sequences from an observation, a horizon and an
action box. It knows nothing of models or tasks.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from cemgd.validate import check_int

Array = jax.Array
#: ``rollout(obs: [S...], actions: [B, T, A], key) -> returns: [B]``; higher is better.
Rollout = Callable[[Array, Array, Array], Array]


@dataclass(frozen=True, eq=False)
class Problem:
    """A finite-horizon planning problem over a box of actions.

    Attributes:
        rollout: ``rollout(obs, actions: [B, T, A], key) -> returns: [B]``, pure JAX,
            differentiable in ``actions`` for gradient planners. ``returns[i]`` must
            depend only on ``actions[i]``.
        horizon: planning horizon ``T`` (>= 1).
        action_low: lower action bound, ``[A]``.
        action_high: upper action bound, ``[A]``.
        obs_shape: shape of one observation; ``None`` to take it from the first ``plan``.
        grad_rollout: optional second rollout with ``rollout``'s signature, used by every
            gradient step: the objective whose gradient is taken and the line search's
            acceptance test (e.g. the ensemble's deterministic mean prediction while
            ``rollout`` samples particles, as the CEM-GD paper does, Sec. 5).
            Sampling, ranking and the final choice of a plan use ``rollout``. ``None``:
            gradients are taken of ``rollout``. It may return per-particle returns
            ``[B, P]`` (e.g. one per ensemble member): gradient planners reduce them with
            their ``grad_objective`` (mean, pessimistic or CVaR), without knowing what a
            particle is.
        rollout_rows: rows of work one sequence costs in ``rollout`` (e.g. its particles:
            a model rollout of ``B`` sequences with ``P`` particles evaluates ``B * P``
            rows). Sampling planners size their default chunk by it, so a chunk's
            compiled memory and speed depend on its rows, not on ``P``.
    """

    rollout: Rollout
    horizon: int
    action_low: Array
    action_high: Array
    obs_shape: tuple[int, ...] | None = None
    grad_rollout: Rollout | None = None
    rollout_rows: int = 1

    def __post_init__(self) -> None:
        if not callable(self.rollout):
            raise ValueError(f"rollout: expected a callable, got {type(self.rollout).__name__}")
        if self.grad_rollout is not None and not callable(self.grad_rollout):
            raise ValueError(
                f"grad_rollout: expected a callable or None, got {type(self.grad_rollout).__name__}"
            )
        if isinstance(self.horizon, bool) or not isinstance(self.horizon, int | np.integer):
            raise ValueError(f"horizon: expected an int >= 1, got {self.horizon!r}")
        if self.horizon < 1:
            raise ValueError(f"horizon: expected an int >= 1, got {self.horizon}")
        check_int("rollout_rows", self.rollout_rows)
        bounds = []
        for name in ("action_low", "action_high"):
            try:
                bounds.append(np.asarray(getattr(self, name), dtype=np.float32))
            except (TypeError, ValueError) as err:
                raise ValueError(f"{name}: expected numbers of shape [A], got {err}") from None
        low, high = bounds
        for name, value in (("action_low", low), ("action_high", high)):
            if value.ndim != 1 or value.shape[0] < 1:
                raise ValueError(f"{name}: expected shape [A] with A >= 1, got {value.shape}")
            if not np.all(np.isfinite(value)):
                raise ValueError(f"{name}: expected finite values, got {value}")
        if low.shape != high.shape:
            raise ValueError(
                f"action_high: expected the shape of action_low {low.shape}, got {high.shape}"
            )
        if np.any(low > high):
            raise ValueError(f"action_low: must be <= action_high, got low={low}, high={high}")
        if self.obs_shape is not None:
            try:
                shape = tuple(int(s) for s in self.obs_shape)
            except (TypeError, ValueError):
                raise ValueError(
                    f"obs_shape: expected a tuple of ints or None, got {self.obs_shape!r}"
                ) from None
            if any(s < 0 for s in shape):
                raise ValueError(f"obs_shape: expected sizes >= 0, got {shape}")
            object.__setattr__(self, "obs_shape", shape)
        object.__setattr__(self, "horizon", int(self.horizon))
        object.__setattr__(self, "rollout_rows", int(self.rollout_rows))
        object.__setattr__(self, "action_low", jnp.asarray(low))
        object.__setattr__(self, "action_high", jnp.asarray(high))

    @property
    def rollout_for_gradient(self) -> Rollout:
        """The rollout gradient steps use: ``grad_rollout`` if set, else ``rollout``."""
        return self.rollout if self.grad_rollout is None else self.grad_rollout

    @property
    def action_dim(self) -> int:
        """Action dimension ``A``."""
        return int(self.action_low.shape[0])

    def clip(self, actions: Array) -> Array:
        """Project ``actions: [..., A]`` onto the action box."""
        return jnp.clip(actions, self.action_low, self.action_high)


class PlanState(NamedTuple):
    """What a planner carries from one ``plan`` call to the next (a pytree): the state of
    a planner that declares no state type of its own. The built-in planners each have
    one with the same first fields (``CEMState``, ``CEMGDState``, ``ICEMState(kept=...)``,
    ...; ``Planner.State``).

    Attributes:
        mean: warm-start mean, already shifted for the next call, ``[T, A]``.
        key: PRNG key for the next call.
        step: number of ``plan`` calls since ``init`` (int32 scalar).
        extra: planner-specific arrays (e.g. iCEM's kept elites), a pytree.
    """

    mean: Array
    key: Array
    step: Array
    extra: Any = ()


#: the counters of :class:`Info` (its other fields describe the plan)
COUNTERS = ("num_samples", "num_rollouts", "grad_steps", "line_search_trials", "num_nonfinite")


class Info(NamedTuple):
    """Every planner's counters and diagnostics of one step (all scalars).

    Built inside the jitted step: :func:`~cemgd.planners.chunking.score` adds every
    evaluated batch to ``num_rollouts`` and ``num_nonfinite``, the other counters are
    added where the work happens (:meth:`add`); the planner's step sets ``best_return``
    and ``fallback`` last. Counters start at 0.

    Attributes:
        num_samples: action sequences sampled from the search distribution.
        num_rollouts: all sequences evaluated, line-search trials and re-evaluation included.
        grad_steps: accepted gradient steps, summed over refined sequences.
        line_search_trials: line-search trials, summed over refined sequences.
        best_return: return of the returned sequence (``-inf`` if none was finite).
        num_nonfinite: evaluations that returned NaN or inf (they rank last).
        fallback: True if no finite candidate was found and the warm start was returned.
    """

    num_samples: Array | int = 0
    num_rollouts: Array | int = 0
    grad_steps: Array | int = 0
    line_search_trials: Array | int = 0
    best_return: Array | float = -float("inf")
    num_nonfinite: Array | int = 0
    fallback: Array | bool = False

    def add(self, **counts: Array | int) -> Info:
        """This info with ``counts`` (e.g. ``num_samples=n``) added to its counters."""
        unknown = set(counts) - set(COUNTERS)
        if unknown:
            raise ValueError(f"counts: not counters of an Info: {sorted(unknown)}; "
                             f"expected some of {list(COUNTERS)}")
        return self._replace(**{k: i32(getattr(self, k)) + i32(v) for k, v in counts.items()})

    def merge(self, other: Info) -> Info:
        """This info with ``other``'s counters added (``best_return``, ``fallback``: this one's)."""
        return self.add(**{k: getattr(other, k) for k in COUNTERS})

    def as_arrays(self) -> Info:
        """Every field as a scalar array: counters int32, ``best_return`` float32,
        ``fallback`` bool (e.g. the carry of a ``lax.scan``, or the step's result)."""
        return self._replace(**{k: i32(getattr(self, k)) for k in COUNTERS},
                             best_return=jnp.asarray(self.best_return, jnp.float32),
                             fallback=jnp.asarray(self.fallback, jnp.bool_))

    def times(self, n: Array | int) -> Info:
        """The counters multiplied by ``n`` (e.g. a per-sequence cost for ``n`` sequences)."""
        return self._replace(**{k: i32(n) * i32(getattr(self, k)) for k in COUNTERS})


def i32(x: Any) -> Array:
    """An int32 scalar array."""
    return jnp.asarray(x, dtype=jnp.int32)


def finite_or_neg_inf(returns: Array) -> tuple[Array, Array]:
    """Replace non-finite returns by ``-inf`` so they rank last.

    Args:
        returns: ``[B]``.

    Returns:
        ``(returns: [B], num_nonfinite: int32 scalar)``.
    """
    ok = jnp.isfinite(returns)
    return jnp.where(ok, returns, -jnp.inf), i32(jnp.sum(~ok))


def check_returns(returns: object, batch: int, per_particle_ok: bool = False) -> Array:
    """A rollout's ``returns`` as an array, or ValueError naming ``rollout``: the one
    check of what a rollout gives back (planners, gradient objectives, line search).

    Args:
        returns: what the rollout returned; expected a JAX or NumPy array of real numbers
            (floating point or integer: not bool, not complex) of shape ``[B]`` (or, for
            a gradient rollout, per-particle ``[B, P]``).
        batch: ``B``, the number of action sequences rolled out.
        per_particle_ok: accept ``[B, P]``.
    """
    want = "[B] or per-particle [B, P]" if per_particle_ok else "[B]"
    if not isinstance(returns, (jax.Array, np.ndarray)):
        raise ValueError(f"rollout: expected an array of float returns of shape {want}, "
                         f"got a {type(returns).__name__}")
    dtype = returns.dtype
    if dtype == jnp.bool_ or not (jnp.issubdtype(dtype, jnp.floating)
                                  or jnp.issubdtype(dtype, jnp.integer)):
        raise ValueError(f"rollout: expected float returns of shape {want}, got dtype {dtype}")
    shape = tuple(returns.shape)
    if shape == (batch,) or (per_particle_ok and len(shape) == 2 and shape[0] == batch):
        return jnp.asarray(returns)
    raise ValueError(
        f"rollout: expected returns of shape {want} with B = {batch}, got shape {shape}"
    )


def moved(old: str, names: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for names moved out of module ``old`` (kept one release):
    ``names`` maps each to its new ``"module.name"``, served with a DeprecationWarning
    naming it. The new module is imported when a name is first asked for, by name, so a
    moved name may live in a higher layer than ``old``."""

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        module, new = names[name].rsplit(".", 1)
        warnings.warn(f"{old}.{name} moved to {module}.{new}; import it from there",
                      DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(module), new)

    return __getattr__


#: kept one release: the memory-saving evaluation (now :mod:`cemgd.planners.chunking`),
#: ``PlanInfo`` and ``Tally`` (now :class:`Info`)
__getattr__ = moved("cemgd.problem", {
    **{n: f"cemgd.planners.chunking.{n}" for n in (
        "Rows", "chunk_layout", "evaluate", "map_chunks", "score", "score_top_k")},
    "PlanInfo": "cemgd.problem.Info", "Tally": "cemgd.problem.Info"})
