"""The convenience layer: a planner's step on one problem, compiled once, with the
host-side checks.

A planner holds only its config; its pure core (``initial_state``, ``step``,
``plan_fn``) checks nothing on the host. :class:`CheckedStep` is that step for one
``(planner, problem)`` pair with every check the library makes before planning:

- the state is the planner's :attr:`~cemgd.planners.base.Planner.State`, of the
  problem's shape and structure (not another planner's), with a finite warm start;
- the observation is numeric, finite, inside float32's range and of the problem's
  observation shape (or, when the problem leaves it open, the first one's).

The warm start is copied to the host for its check only when the state is not the one
this step handed out last (``init``'s or the previous call's, finite by construction).
:func:`checked_step` keeps one :class:`CheckedStep` per ``(planner, problem)`` (equal
planners share one) in a small least-recently-used cache owned by this module, so
``Planner.plan`` compiles once per problem; :class:`cemgd.MPC` holds its own.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from cemgd.problem import Array, Info, Problem

PlanFn = Callable[[Any, Array], tuple[Array, Any, Info]]

#: ``(planner, problem)`` pairs whose compiled step :func:`checked_step` keeps; the
#: least recently used is dropped first (with the problem and the model it closes over).
MAX_CACHED = 32


class Stepper(Protocol):
    """What the convenience layer needs of a planner (a :class:`~cemgd.planners.base.
    Planner`): its name, its state type, its initial state and its pure step."""

    name: str
    State: type

    def initial_state(self, problem: Problem, key: Array) -> Any: ...

    def plan_fn(self, problem: Problem, first: bool | None = None) -> PlanFn: ...


class CheckedStep:
    """``planner``'s step on ``problem`` with the host-side checks, jitted once.

    Attributes:
        planner: the planner (its config only).
        problem: the problem planned on.
        step: the jitted pure step, ``(state, obs) -> (actions [T, A], state, Info)``.
        obs_shape: the observation shape expected (``problem.obs_shape``, else the first
            observation's; ``None`` until then).
        issued: the state this step handed out last (its warm start needs no host check).
    """

    def __init__(self, planner: Stepper, problem: Problem) -> None:
        self.planner = planner
        self.problem = problem
        self.step = jax.jit(planner.plan_fn(problem))
        self.obs_shape: tuple[int, ...] | None = problem.obs_shape
        self.issued: Any = None
        self._structure: Any = None

    def init(self, key: Any) -> Any:
        """A fresh state from PRNG ``key`` (checked), remembered as issued."""
        state = self.planner.initial_state(self.problem, check_key(key))
        if not any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(state)):
            self.issued = state  # (under jit or vmap there is nothing to keep)
        return state

    def __call__(self, state: Any, obs: Any) -> tuple[Array, Any, Info]:
        """Check ``state`` and ``obs``, then run the compiled step:
        ``(actions: [T, A], next state, Info)``."""
        self.check_state(state)
        obs32 = self._check_obs(obs)
        actions, self.issued, info = self.step(state, jnp.asarray(obs32))
        return actions, self.issued, info

    def check_state(self, state: Any) -> None:
        """Raise ValueError naming ``state`` unless it is this planner's, fits the problem
        and has a finite warm start (copied to the host unless it is :attr:`issued`)."""
        check_state_type(self.planner, state)
        expected = (self.problem.horizon, self.problem.action_dim)
        if tuple(np.shape(state.mean)) != expected:
            raise ValueError(
                f"state: mean has shape {tuple(np.shape(state.mean))}, expected {expected}"
            )
        if state is not self.issued:
            check_warm_start(state.mean)
        if self._structure is None:
            init = functools.partial(self.planner.initial_state, self.problem)
            self._structure = jax.tree.structure(jax.eval_shape(init, state.key))
        if jax.tree.structure(state) != self._structure:
            raise ValueError(f"state: not a state of planner {self.planner.name!r} "
                             f"(expected the structure {self._structure})")

    def _check_obs(self, obs: Any) -> np.ndarray:
        """``obs`` as float32 (:func:`check_obs`); the first one fixes an open shape."""
        obs32 = check_obs(obs, self.obs_shape)
        if self.obs_shape is None:
            self.obs_shape = obs32.shape
        return obs32


_CACHE: OrderedDict[tuple[Stepper, Problem], CheckedStep] = OrderedDict()
_LOCK = threading.Lock()  # plan may be called from several threads


def checked_step(planner: Stepper, problem: Problem) -> CheckedStep:
    """The :class:`CheckedStep` of ``planner`` (equal planners: the same) on ``problem``,
    made on first use and kept while among the :data:`MAX_CACHED` most recently used."""
    key = (planner, problem)
    with _LOCK:
        found = _CACHE.get(key)
        if found is None:
            found = _CACHE[key] = CheckedStep(planner, problem)
            while len(_CACHE) > MAX_CACHED:
                _CACHE.popitem(last=False)
        _CACHE.move_to_end(key)
    return found


def last_problem(planner: Stepper, state: Any) -> Problem | None:
    """The problem a ``plan`` without one falls back to (deprecated): the one whose step
    handed out ``state``, else the one an equal planner was last initialised or planned
    on; ``None`` if there is none."""
    with _LOCK:
        mine = [(problem, entry) for (p, problem), entry in reversed(_CACHE.items())
                if p == planner]
    for problem, entry in mine:
        if entry.issued is state:
            return problem
    return mine[0][0] if mine else None


def check_problem(problem: Any) -> Problem:
    """``problem``, or ValueError naming it unless it is a :class:`~cemgd.problem.Problem`."""
    if not isinstance(problem, Problem):
        raise ValueError(f"problem: expected a cemgd.Problem, got {type(problem).__name__}")
    return problem


def check_state_type(planner: Stepper, state: Any) -> None:
    """Raise ValueError naming ``state`` unless it is a ``planner.State``."""
    if not isinstance(state, planner.State):
        raise ValueError(f"state: not a state of planner {planner.name!r}: expected a "
                         f"{planner.State.__name__}, got {type(state).__name__}")


def check_obs(obs: Any, shape: tuple[int, ...] | Problem | None) -> np.ndarray:
    """``obs`` as float32, or ValueError naming ``obs``: numeric, of ``shape`` (``None``:
    any; a problem: its ``obs_shape``), finite and inside float32's range (planning runs
    in float32)."""
    if isinstance(shape, Problem):
        shape = shape.obs_shape
    try:
        obs_np = np.asarray(obs, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"obs: expected a numeric array, got {err}") from None
    if shape is not None and obs_np.shape != shape:
        raise ValueError(f"obs: expected shape {shape}, got {obs_np.shape}")
    if not np.all(np.isfinite(obs_np)):
        raise ValueError("obs: expected finite values, got NaN or inf")
    with np.errstate(over="ignore"):
        obs32 = obs_np.astype(np.float32)
    if not np.all(np.isfinite(obs32)):
        raise ValueError(f"obs: values exceed float32's range (largest |value| "
                         f"{np.max(np.abs(obs_np)):.3g}); planning runs in float32")
    return obs32


def check_warm_start(mean: Array) -> None:
    """Raise ValueError naming ``state`` if the warm start ``mean: [T, A]`` is not finite
    (copies it to the host)."""
    if not np.all(np.isfinite(np.asarray(mean))):
        raise ValueError("state: mean holds NaN or inf; expected a finite warm start")


def check_key(key: Any) -> Array:
    """Accept a raw ``uint32[2]`` key or a typed key; raise ValueError otherwise."""
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise ValueError(f"key: expected a single PRNG key, got shape {key.shape}")
        return key
    arr = jnp.asarray(key)
    if arr.dtype != jnp.uint32 or arr.ndim != 1:
        raise ValueError(
            f"key: expected a JAX PRNG key (jax.random.key or PRNGKey), got {arr.dtype}{arr.shape}"
        )
    return arr
