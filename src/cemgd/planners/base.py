"""Base class of every planner and the pieces they share.

A planner is a frozen config dataclass plus one pure function, ``_optimize``,
that searches for a ``[T, A]`` sequence from a warm-start mean. The base class
owns the pure step around it: the warm-start shift (drop the first action, repeat
the last, Algorithm 1 of the CEM-GD paper; a planner whose config has
``warm_fill = "initial"`` starts the new last step at the initial mean instead), the
NaN guard and the bookkeeping of :class:`~cemgd.problem.Info`. A planner object holds
only its config; ``init`` and ``plan`` hand over to the convenience layer
(:mod:`cemgd.planners.checked`: the host-side checks, the step compiled once per
problem).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import warnings
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Literal, NamedTuple

import jax
import jax.numpy as jnp

from cemgd.planners.checked import (
    PlanFn,
    check_problem,
    check_state_type,
    checked_step,
    last_problem,
)
from cemgd.problem import Array, Info, PlanState, Problem, i32, moved


class Result(NamedTuple):
    """What ``_optimize`` returns.

    Attributes:
        actions: best sequence found, ``[T, A]``.
        best_return: its return (``-inf`` if not finite).
        counts: the step's counters (:class:`~cemgd.problem.Info`; zero when not given;
            its ``best_return`` and ``fallback`` are set by the step).
        extra: the planner's own next state fields (see :attr:`Planner.State`).
    """

    actions: Array
    best_return: Array
    counts: Info = Info()
    extra: Any = ()


#: ``(problem, obs, state, key) -> Result``: a planner's search of one step
Optimize = Callable[[Problem, Array, PlanState, Array], Result]


#: What the warm start's new last step starts at: ``"last"`` (the plan's last action) or
#: ``"initial"`` (the initial mean, :func:`initial_action`).
WarmFill = Literal["last", "initial"]


def shift(actions: Array, fill: Array | None = None) -> Array:
    """Warm start for the next step: drop the first action, then repeat the last
    (``fill=None``, the CEM-GD paper's Algorithm 1) or append ``fill: [A]`` (PETS' code
    and mbrl-lib append the box centre).

    Near a bound the PETS truncation caps the std at half the distance to it, so a last
    action close to a bound, repeated, is close to frozen, and so is every copy of it the
    next steps shift in: a plan whose tail saturates keeps it until it is executed.
    A fresh last step at the initial mean explores again with the full initial std.

    Args:
        actions: ``[..., T, A]`` (one sequence or a batch).
        fill: ``[A]`` or ``None``.
    """
    last = actions[..., -1:, :] if fill is None else jnp.broadcast_to(
        fill, actions[..., -1:, :].shape).astype(actions.dtype)
    return jnp.concatenate([actions[..., 1:, :], last], axis=-2)


def check_warm_fill(value: Any) -> None:
    """Raise ValueError unless ``value`` is ``"last"`` or ``"initial"``."""
    if value not in ("last", "initial"):
        raise ValueError(f"warm_fill: expected 'last' or 'initial', got {value!r}")


def initial_action(problem: Problem) -> Array:
    """The initial mean of one step, ``[A]``: 0 in every coordinate whose box has 0
    strictly inside, the box centre elsewhere (so sampling never starts on a bound)."""
    low, high = problem.action_low, problem.action_high
    return jnp.where((low < 0) & (high > 0), 0.0, 0.5 * (low + high))


def half_range(problem: Problem) -> Array:
    """Half the width of the action box, ``[A]`` (std = 1 on a [-1, 1] box)."""
    return 0.5 * (problem.action_high - problem.action_low)


def num_elites_for(num_samples: int, elite_ratio: float) -> int:
    """Elites per iteration: ``ceil(num_samples * elite_ratio)``, at least 1."""
    return max(1, math.ceil(num_samples * elite_ratio))


def check_settings(planner: str, config_cls: type, keys: Iterable[str], where: str) -> None:
    """The one answer to "is this a setting of planner X?": every key of ``keys`` is a
    field of ``config_cls``, the Config of ``planner`` (specs, planners and the CLI ask it).

    Raises:
        ValueError: ``"<where>: 'key' is not a setting of planner 'X'; expected one of ..."``.
    """
    fields = [f.name for f in dataclasses.fields(config_cls)]
    for key in keys:
        if key not in fields:
            raise ValueError(f"{where}: {key!r} is not a setting of planner {planner!r}; "
                             f"expected one of {sorted(fields)}")


class Planner:
    """Base of every planner: its config, the pure step (warm start, NaN guard, Info)
    and the checked ``init``/``plan``.

    Subclasses set ``name`` and ``Config`` (a frozen dataclass whose fields carry
    paper defaults and whose ``__post_init__`` validates them) and implement
    :meth:`_optimize`.
    """

    name: ClassVar[str] = "base"
    Config: ClassVar[type]
    #: The planner's state, a NamedTuple (a pytree): ``mean`` (the warm start, ``[T, A]``),
    #: ``key``, ``step`` (calls since ``init``), then the planner's own fields, made by
    #: :meth:`_init_extra` and handed on as ``Result.extra`` (a tuple of them; e.g.
    #: :class:`~cemgd.planners.icem.ICEMState`'s ``kept``). The default,
    #: :class:`~cemgd.problem.PlanState`, carries any pytree in ``extra``.
    State: ClassVar[type] = PlanState

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        if config is None:
            config = self.Config()
        elif not isinstance(config, self.Config):
            raise ValueError(
                f"config: expected a {self.Config.__name__}, got {type(config).__name__}"
            )
        check_settings(self.name, self.Config, overrides, where="overrides")
        self.config = dataclasses.replace(config, **overrides)  # the planner's only field

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.config == self.config  # type: ignore[attr-defined]

    def __hash__(self) -> int:  # equal planners share a compiled step (:meth:`compiled`)
        try:
            return hash((type(self), self.config))
        except TypeError:  # a config with unhashable fields: this planner alone
            return object.__hash__(self)

    # ---- the pure core ------------------------------------------------------------

    def init(self, problem: Problem, key: Array) -> Any:
        """A fresh :attr:`State` for ``problem``, its arguments checked (the convenience
        layer's; :meth:`initial_state` is the state itself, unchecked and vmap-able).

        Args:
            problem: the planning problem.
            key: a JAX PRNG key.
        """
        return checked_step(self, check_problem(problem)).init(key)

    def step(self, problem: Problem, state: Any, obs: Array) -> tuple[Array, Any, Info]:
        """One planning step, pure and jittable as it stands (``problem`` static, e.g.
        ``jax.jit(functools.partial(planner.step, problem))``): ``(actions: [T, A],
        next State, Info)``. :meth:`plan` is the same step with the host-side checks,
        compiled once per problem."""
        return self.plan_fn(problem)(state, obs)

    def initial_state(self, problem: Problem, key: Array) -> Any:
        """The state ``init`` returns, as a pure function (no binding, no checks; vmap-able).

        The mean is :func:`initial_action` at every step (the paper's mu = 0 where 0 is
        inside the box).
        """
        mean = jnp.broadcast_to(initial_action(problem), (problem.horizon, problem.action_dim))
        return self._make_state(mean, key, i32(0), self._init_extra(problem))

    def _make_state(self, mean: Array, key: Array, step: Array, extra: Any) -> Any:
        """A :attr:`State` from the shared fields and the planner's own (``extra``)."""
        if self.State is PlanState:
            return PlanState(mean, key, step, extra)
        return self.State(mean, key, step, *extra)

    # ---- the convenience layer: host-side checks, compiled once per problem --------

    def compiled(self, problem: Problem) -> PlanFn:
        """The jitted :meth:`plan_fn` of ``problem``, shared by equal planners (kept by
        :func:`~cemgd.planners.checked.checked_step`, not by the planner)."""
        return checked_step(self, check_problem(problem)).step

    def plan(self, state: Any, obs: Any, problem: Problem | None = None
             ) -> tuple[Array, Any, Info]:
        """:meth:`step` with the host-side checks, one jitted call (compiled once per
        problem): ``state`` is this planner's with a finite warm start, ``obs`` numeric,
        finite, in float32's range and of the problem's (or the first call's) observation
        shape (:class:`~cemgd.planners.checked.CheckedStep`).

        Args:
            state: from :meth:`init` or the previous ``plan``.
            obs: current observation (finite).
            problem: the problem to plan on. Deprecated default (a DeprecationWarning):
                the problem whose step handed out ``state``, else the one an equal
                planner was last initialised or planned on.

        Returns:
            ``(actions: [T, A], next_state, info)``.
        """
        check_state_type(self, state)
        if problem is None:
            problem = last_problem(self, state)
            if problem is None:
                raise ValueError("problem: expected a cemgd.Problem: plan(state, obs, problem)")
            warnings.warn("Planner.plan without problem= is deprecated: pass the problem "
                          "(plan(state, obs, problem)), or use cemgd.MPC",
                          DeprecationWarning, stacklevel=2)
        return checked_step(self, check_problem(problem))(state, obs)

    def plan_fn(self, problem: Problem, first: bool | None = None) -> PlanFn:
        """The pure, unjitted planning step for embedding in ``jit``/``vmap``/``scan``.

        Args:
            problem: the planning problem.
            first: a static option for planners whose first step differs (CEM-GD; see
                :meth:`_optimizer`): ``True`` or ``False`` fixes the branch (no
                ``lax.cond``; use under ``vmap``), ``None`` lets the planner decide from
                its state. Other planners ignore it.
        """
        optimize = self._optimizer(first)
        fill = (initial_action(problem)
                if getattr(self.config, "warm_fill", "last") == "initial" else None)

        def step(state: PlanState, obs: Array) -> tuple[Array, PlanState, Info]:
            key, opt_key = jax.random.split(state.key)
            res = optimize(problem, obs, state, opt_key)
            # a non-finite warm start must not become the action: centre of the box there
            centre = 0.5 * (problem.action_low + problem.action_high)
            fallback_actions = problem.clip(jnp.where(jnp.isfinite(state.mean), state.mean,
                                                      centre))
            ok = jnp.isfinite(res.best_return) & jnp.all(jnp.isfinite(res.actions))
            actions = jnp.where(ok, problem.clip(res.actions), fallback_actions)
            info = res.counts.as_arrays()._replace(
                best_return=jnp.where(ok, res.best_return, -jnp.inf).astype(jnp.float32),
                fallback=~ok,
            )
            next_state = self._make_state(shift(actions, fill), key, state.step + 1, res.extra)
            return actions, next_state, info

        return step

    # ---- for subclasses -----------------------------------------------------------

    def _init_extra(self, problem: Problem) -> Any:
        """The planner's own initial state fields: a tuple of them for a typed
        :attr:`State`, any pytree for ``PlanState.extra`` (default: none)."""
        return ()

    def _optimize(self, problem: Problem, obs: Array, state: PlanState, key: Array) -> Result:
        """Search for the best ``[T, A]`` sequence from ``state.mean``."""
        raise NotImplementedError

    def _optimizer(self, first: bool | None) -> Optimize:
        """The search :meth:`plan_fn` runs, given its static ``first`` option: this
        planner's :meth:`_optimize`. A planner whose first step differs (CEM-GD)
        overrides this to fix its branch; no other planner sees ``first``.

        A subclass written against the earlier ``_optimize(..., first)`` still runs
        (``first`` passed on) with a DeprecationWarning."""
        if "first" not in inspect.signature(self._optimize).parameters:
            return self._optimize
        warnings.warn(f"{type(self).__name__}._optimize: the 'first' argument is deprecated; "
                      "define _optimize(problem, obs, state, key) (a planner whose first "
                      "step differs overrides _optimizer)", DeprecationWarning, stacklevel=3)
        return functools.partial(_with_first, self._optimize, first)


def _with_first(optimize: Callable[..., Result], first: bool | None, problem: Problem,
                obs: Array, state: PlanState, key: Array) -> Result:
    """An earlier-style ``_optimize`` called with its ``first`` argument."""
    return optimize(problem, obs, state, key, first)


#: kept one release: the host-side checks live in the convenience layer
__getattr__ = moved("cemgd.planners.base", {
    n: f"cemgd.planners.checked.{n}" for n in ("check_obs", "check_warm_start")})
