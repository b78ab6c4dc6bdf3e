"""Base class of every planner and the pieces they share.

A planner is a frozen config dataclass plus one pure function, ``_optimize``,
that searches for a ``[T, A]`` sequence from a warm-start mean. The base class
owns validation, jit, the warm-start shift (drop the first action, repeat the
last, Algorithm 1 of the CEM-GD paper), the NaN guard and the bookkeeping of
:class:`~cemgd.problem.PlanInfo`.
"""

from __future__ import annotations

import dataclasses
import math
import weakref
from collections.abc import Callable
from typing import Any, ClassVar, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from cemgd.problem import Array, PlanInfo, PlanState, Problem, evaluate, i32, map_chunks

PlanFn = Callable[[PlanState, Array], tuple[Array, PlanState, PlanInfo]]


class Result(NamedTuple):
    """What ``_optimize`` returns (arrays; counters are int32 scalars, zero when not given).

    Attributes:
        actions: best sequence found, ``[T, A]``.
        best_return: its return (``-inf`` if not finite).
        num_samples: sequences sampled from the search distribution.
        num_rollouts: all sequences evaluated.
        grad_steps: accepted gradient steps.
        line_search_trials: line-search trials.
        num_nonfinite: non-finite evaluations.
        extra: the planner's next ``PlanState.extra``.
    """

    actions: Array
    best_return: Array
    num_samples: Array | int = 0
    num_rollouts: Array | int = 0
    grad_steps: Array | int = 0
    line_search_trials: Array | int = 0
    num_nonfinite: Array | int = 0
    extra: Any = ()


def shift(actions: Array) -> Array:
    """Warm start for the next step: drop the first action, repeat the last.

    Args:
        actions: ``[..., T, A]`` (one sequence or a batch).
    """
    return jnp.concatenate([actions[..., 1:, :], actions[..., -1:, :]], axis=-2)


def half_range(problem: Problem) -> Array:
    """Half the width of the action box, ``[A]`` (std = 1 on a [-1, 1] box)."""
    return 0.5 * (problem.action_high - problem.action_low)


Truncation = Literal["box", "pets"]

#: Default ``max_batch`` of the sampling planners (sequences rolled out at a time);
#: measured with CEM-GD's first step, see ``cemgd bench``'s first-step columns.
DEFAULT_MAX_BATCH = 1000


def sample_truncated(
    key: Array, mean: Array, std: Array, problem: Problem, num: int,
    truncation: Truncation = "pets",
) -> Array:
    """Truncated-normal samples inside the action box.

    ``"pets"`` (PETS and the CEM-GD paper's code): the std is capped at half the
    distance from the mean to the nearer bound and the normal truncated at two std,
    so samples tighten near a bound (a coordinate whose mean sits on a bound is
    frozen). ``"box"``: ``N(mean, std^2)`` truncated to the box, so the std is what
    it says and a mean on a bound still explores inward, at the price of noisier
    samples near bounds (on ``barrier2d`` it made closed-loop returns worse).

    Args:
        key: PRNG key.
        mean: ``[T, A]``.
        std: ``[T, A]``.
        problem: gives the action box.
        num: number of sequences.
        truncation: ``"box"`` or ``"pets"``.

    Returns:
        actions: ``[num, T, A]``.
    """
    shape = (num, *mean.shape)
    if truncation == "pets":
        dist = jnp.minimum(mean - problem.action_low, problem.action_high - mean)
        std = jnp.minimum(std, jnp.maximum(dist, 0.0) / 2.0)
        noise = jax.random.truncated_normal(key, -2.0, 2.0, shape, jnp.float32)
    else:
        std = jnp.maximum(std, 1e-6)
        lower = (problem.action_low - mean) / std
        upper = (problem.action_high - mean) / std
        noise = jax.random.truncated_normal(key, lower, upper, shape, jnp.float32)
    return problem.clip(mean + std * noise)


def check_truncation(value: Any) -> None:
    """Raise ValueError unless ``value`` is ``"box"`` or ``"pets"``."""
    if value not in ("box", "pets"):
        raise ValueError(f"truncation: expected 'box' or 'pets', got {value!r}")


def uniform_sequences(key: Array, problem: Problem, num: int) -> Array:
    """``num`` action sequences drawn uniformly in the box, ``[num, T, A]``."""
    shape = (num, problem.horizon, problem.action_dim)
    return jax.random.uniform(
        key, shape, jnp.float32, minval=problem.action_low, maxval=problem.action_high
    )


def merge_top_k(
    best_actions: Array, best_returns: Array, actions: Array, returns: Array
) -> tuple[Array, Array]:
    """Keep the ``k`` best of a running top-k set and a new batch.

    Args:
        best_actions: ``[k, T, A]``; best_returns: ``[k]``.
        actions: ``[B, T, A]``; returns: ``[B]``.

    Returns:
        ``(best_actions: [k, T, A], best_returns: [k])``, best first.
    """
    k = best_returns.shape[0]
    all_returns = jnp.concatenate([best_returns, returns])
    top_returns, idx = jax.lax.top_k(all_returns, k)
    return jnp.concatenate([best_actions, actions])[idx], top_returns


class CEMSearch(NamedTuple):
    """Result of :func:`cem_search`.

    Attributes:
        top_actions: the ``k`` best sequences seen, ``[k, T, A]``, best first.
        top_returns: their returns, ``[k]``.
        mean: final distribution mean, ``[T, A]``.
        std: final distribution std, ``[T, A]``.
        num_nonfinite: non-finite evaluations.
    """

    top_actions: Array
    top_returns: Array
    mean: Array
    std: Array
    num_nonfinite: Array


def cem_search(
    problem: Problem, obs: Array, key: Array, eval_key: Array, mean: Array, std: Array,
    num_samples: int, num_iterations: int, num_elites: int, alpha: float, top_k: int,
    refine: Callable[[Array, Array], Array] | None = None, truncation: Truncation = "pets",
    max_batch: int | None = None,
) -> CEMSearch:
    """The Cross-Entropy Method (CEM-GD paper, Eq. 2), as one ``lax.scan``.

    Each iteration samples ``num_samples`` sequences, evaluates them, and moves
    the mean and std toward the elites' with weight ``alpha``. The ``top_k``
    best sequences seen across all iterations are kept.

    Args:
        problem: the planning problem.
        obs: current observation.
        key: sampling key.
        eval_key: rollout key, shared by every evaluation of this step.
        mean: initial mean ``[T, A]``; std: initial std ``[T, A]``.
        num_samples: sequences per iteration (static).
        num_iterations: iterations (static).
        num_elites: elites per iteration (static).
        alpha: weight of the elite statistics in the moving average.
        top_k: sequences to keep (static).
        refine: optional ``refine(actions: [B, T, A], key) -> [B, T, A]`` applied to
            samples before evaluation (GradCEM's gradient step).
        truncation: how samples are kept in the box (:func:`sample_truncated`).
        max_batch: sequences refined and evaluated at a time (static; ``None``: all);
            the result is the same, the compiled memory bounded.
    """
    top_actions = jnp.broadcast_to(mean, (top_k, *mean.shape))
    top_returns = jnp.full((top_k,), -jnp.inf, jnp.float32)

    def body(carry: tuple, step_key: Array) -> tuple[tuple, None]:
        mean, std, top_actions, top_returns, bad = carry
        actions = sample_truncated(step_key, mean, std, problem, num_samples, truncation)
        if refine is not None:
            actions = map_chunks(lambda a: refine(a, step_key), actions, max_batch)
        returns, nonfinite = evaluate(problem, obs, actions, eval_key, max_batch=max_batch)
        best_returns, idx = jax.lax.top_k(returns, max(num_elites, top_k))
        elites = actions[idx[:num_elites]]
        mean = (1 - alpha) * mean + alpha * jnp.mean(elites, axis=0)
        std = jnp.sqrt((1 - alpha) * std**2 + alpha * jnp.var(elites, axis=0))
        top_actions, top_returns = merge_top_k(
            top_actions, top_returns, actions[idx[:top_k]], best_returns[:top_k]
        )
        return (mean, std, top_actions, top_returns, bad + nonfinite), None

    keys = jax.random.split(key, num_iterations)
    (mean, std, top_actions, top_returns, bad), _ = jax.lax.scan(
        body, (mean, std, top_actions, top_returns, i32(0)), keys
    )
    return CEMSearch(top_actions, top_returns, mean, std, bad)


def num_elites_for(num_samples: int, elite_ratio: float) -> int:
    """Elites per iteration: ``ceil(num_samples * elite_ratio)``, at least 1."""
    return max(1, math.ceil(num_samples * elite_ratio))


class Planner:
    """Base of every planner: validation, jit, warm start and PlanInfo.

    Subclasses set ``name`` and ``Config`` (a frozen dataclass whose fields carry
    paper defaults and whose ``__post_init__`` validates them) and implement
    :meth:`_optimize`.
    """

    name: ClassVar[str] = "base"
    Config: ClassVar[type]

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        if config is None:
            config = self.Config()
        elif not isinstance(config, self.Config):
            raise ValueError(
                f"config: expected a {self.Config.__name__}, got {type(config).__name__}"
            )
        fields = {f.name for f in dataclasses.fields(self.Config)}
        for key in overrides:
            if key not in fields:
                raise ValueError(
                    f"{key}: not a setting of planner {self.name!r}; expected one of "
                    f"{sorted(fields)}"
                )
        self.config = dataclasses.replace(config, **overrides)
        self._problem: Problem | None = None
        # per problem: the jitted step and the observation shape it was first called with
        self._compiled: weakref.WeakKeyDictionary[Problem, PlanFn] = weakref.WeakKeyDictionary()
        self._obs_shapes: weakref.WeakKeyDictionary[Problem, tuple[int, ...]] = (
            weakref.WeakKeyDictionary()
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config})"

    # ---- public API -------------------------------------------------------------

    def init(self, problem: Problem, key: Array) -> PlanState:
        """Make ``problem`` the default of :meth:`plan`; return a fresh state.

        The state's mean is zero clipped to the box. One planner may serve several
        problems (each compiled once); pass ``problem=`` to :meth:`plan` for any but
        the last one given to ``init``, as :class:`~cemgd.mpc.MPC` does.

        Args:
            problem: the planning problem.
            key: a JAX PRNG key.
        """
        if not isinstance(problem, Problem):
            raise ValueError(f"problem: expected a cemgd.Problem, got {type(problem).__name__}")
        key = _check_key(key)
        self._problem = problem
        return self.initial_state(problem, key)

    def initial_state(self, problem: Problem, key: Array) -> PlanState:
        """The state ``init`` returns, as a pure function (no binding, no checks; vmap-able).

        The mean is zero (the paper's mu = 0) in every coordinate whose box has 0
        strictly inside, and the box centre elsewhere, so sampling never starts on a
        bound.
        """
        low, high = problem.action_low, problem.action_high
        start = jnp.where((low < 0) & (high > 0), 0.0, 0.5 * (low + high))
        mean = jnp.broadcast_to(start, (problem.horizon, problem.action_dim))
        return PlanState(mean, key, i32(0), self._init_extra(problem))

    def compiled(self, problem: Problem) -> PlanFn:
        """The jitted step of :meth:`plan_fn` for ``problem`` (compiled once per problem)."""
        if problem not in self._compiled:
            self._compiled[problem] = jax.jit(self.plan_fn(problem))
        return self._compiled[problem]

    def plan(
        self, state: PlanState, obs: Any, problem: Problem | None = None
    ) -> tuple[Array, PlanState, PlanInfo]:
        """One MPC planning step (one jitted call).

        Args:
            state: from :meth:`init` or the previous ``plan``.
            obs: current observation (finite).
            problem: the problem to plan on; default: the last one given to :meth:`init`.

        Returns:
            ``(actions: [T, A], next_state, info)``.
        """
        problem = self._problem if problem is None else problem
        if problem is None:
            raise ValueError("state: call init(problem, key) before plan")
        if not isinstance(problem, Problem):
            raise ValueError(f"problem: expected a cemgd.Problem, got {type(problem).__name__}")
        self._check_state(state, problem)
        try:
            obs_np = np.asarray(obs, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(f"obs: expected a numeric array, got {err}") from None
        expected_obs = problem.obs_shape or self._obs_shapes.setdefault(problem, obs_np.shape)
        if obs_np.shape != expected_obs:
            raise ValueError(f"obs: expected shape {expected_obs}, got {obs_np.shape}")
        if not np.all(np.isfinite(obs_np)):
            raise ValueError("obs: expected finite values, got NaN or inf")
        with np.errstate(over="ignore"):
            obs32 = obs_np.astype(np.float32)
        if not np.all(np.isfinite(obs32)):
            raise ValueError(f"obs: values exceed float32's range (largest |value| "
                             f"{np.max(np.abs(obs_np)):.3g}); planning runs in float32")
        return self.compiled(problem)(state, jnp.asarray(obs32))

    def _check_state(self, state: Any, problem: Problem) -> None:
        """Raise ValueError naming ``state`` unless it fits this planner and ``problem``."""
        if not isinstance(state, PlanState):
            raise ValueError(f"state: expected a PlanState, got {type(state).__name__}")
        expected = (problem.horizon, problem.action_dim)
        if tuple(np.shape(state.mean)) != expected:
            raise ValueError(
                f"state: mean has shape {tuple(np.shape(state.mean))}, expected {expected}"
            )
        if not np.all(np.isfinite(np.asarray(state.mean))):
            raise ValueError("state: mean holds NaN or inf; expected a finite warm start")
        want = jax.tree.structure(self._init_extra(problem))
        if jax.tree.structure(state.extra) != want:
            raise ValueError(f"state: not a state of planner {self.name!r} (extra is {want})")

    def plan_fn(self, problem: Problem, first: bool | None = None) -> PlanFn:
        """The pure, unjitted planning step for embedding in ``jit``/``vmap``/``scan``.

        Args:
            problem: the planning problem.
            first: for planners that treat the first call apart (CEM-GD): ``True`` or
                ``False`` fixes the branch statically (no ``lax.cond``; use under
                ``vmap``), ``None`` decides from ``state.step``.
        """

        def step(state: PlanState, obs: Array) -> tuple[Array, PlanState, PlanInfo]:
            key, opt_key = jax.random.split(state.key)
            res = self._optimize(problem, obs, state, opt_key, first)
            # a non-finite warm start must not become the action: centre of the box there
            centre = 0.5 * (problem.action_low + problem.action_high)
            fallback_actions = problem.clip(jnp.where(jnp.isfinite(state.mean), state.mean,
                                                      centre))
            ok = jnp.isfinite(res.best_return) & jnp.all(jnp.isfinite(res.actions))
            actions = jnp.where(ok, problem.clip(res.actions), fallback_actions)
            info = PlanInfo(
                num_samples=i32(res.num_samples),
                num_rollouts=i32(res.num_rollouts),
                grad_steps=i32(res.grad_steps),
                line_search_trials=i32(res.line_search_trials),
                best_return=jnp.where(ok, res.best_return, -jnp.inf).astype(jnp.float32),
                num_nonfinite=i32(res.num_nonfinite),
                fallback=~ok,
            )
            next_state = PlanState(shift(actions), key, state.step + 1, res.extra)
            return actions, next_state, info

        return step

    # ---- for subclasses -----------------------------------------------------------

    def _init_extra(self, problem: Problem) -> Any:
        """Planner-specific initial ``PlanState.extra`` (default: none)."""
        return ()

    def _optimize(
        self, problem: Problem, obs: Array, state: PlanState, key: Array, first: bool | None
    ) -> Result:
        """Search for the best ``[T, A]`` sequence from ``state.mean``."""
        raise NotImplementedError


def _check_key(key: Any) -> Array:
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
