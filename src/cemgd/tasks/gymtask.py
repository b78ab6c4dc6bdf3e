"""Any registered gymnasium environment as an :class:`~cemgd.tasks.env.EnvTask`.

:func:`from_gymnasium` takes an environment id (``"InvertedPendulum-v5"``) and the
user's known reward, a pure JAX function of *one* transition::

    def reward(obs, action, next_obs):   # [S], [A], [S] -> []
        return -jnp.sum(next_obs ** 2) - 0.01 * jnp.sum(action ** 2)

(it is vectorised with ``jnp.vectorize``, so a function that already broadcasts over
leading dimensions works too), and optionally a ``termination`` of the same
signature returning a bool, and a ``model_input(obs: [S]) -> [S']`` map from an
observation to what the dynamics model sees. It checks at construction what it can:

* the action space is a ``Box`` (``ValueError`` naming ``env_id`` otherwise), the
  observation space a 1-D ``Box``;
* ``reward``, ``termination`` and ``model_input`` trace under ``jax.jit`` with the
  right shapes (``ValueError`` naming the argument);
* on ``check_transitions`` random transitions, ``reward`` matches the environment's
  reward and ``termination`` its ``terminated`` flag; a difference is a
  ``UserWarning`` naming the argument and stating the largest difference, not an
  error, since a planning reward may leave out terms on purpose.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cemgd.problem import Array
from cemgd.tasks.env import EnvTask, _require_gymnasium, gymnasium
from cemgd.validate import check_int

#: ``fn(obs: [S], action: [A], next_obs: [S]) -> []`` (reward) or ``-> bool []``.
TransitionFn = Callable[[Array, Array, Array], Array]
#: ``model_input(obs: [S]) -> [S']``.
InputFn = Callable[[Array], Array]

#: Episode length when the environment's spec has none.
DEFAULT_EPISODE_LENGTH = 1000


@dataclass(frozen=True, eq=False)
class GymnasiumTask(EnvTask):
    """A registered gymnasium environment plus the user's JAX reward (see :func:`from_gymnasium`).

    Attributes:
        env_id: the gymnasium id, e.g. ``"InvertedPendulum-v5"``.
        reward_fn: reward of one transition, ``([S], [A], [S]) -> []``.
        termination_fn: ``([S], [A], [S]) -> bool []``, or ``None`` (never done).
        model_input_fn: ``[S] -> [S']``, or ``None`` (the whole observation).
        episode_length: steps of one episode.
        env_kwargs: keyword arguments of ``gymnasium.make``.
        name: the task's name (default: ``env_id``).
    """

    env_id: str
    reward_fn: TransitionFn
    termination_fn: TransitionFn | None = None
    model_input_fn: InputFn | None = None
    episode_length: int = DEFAULT_EPISODE_LENGTH
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    name: str = ""  # type: ignore[misc]  # an instance field here, a ClassVar in EnvTask
    _spaces: tuple[int, np.ndarray, np.ndarray, int] = field(
        default=(0, np.zeros(0), np.zeros(0), 0), repr=False)

    def __post_init__(self) -> None:
        check_int("episode_length", self.episode_length, 1)
        if not self.name:
            object.__setattr__(self, "name", self.env_id)
        if not self._spaces[0]:
            object.__setattr__(self, "_spaces", _inspect(self))

    @property
    def obs_dim(self) -> int:
        """Size ``S`` of the environment's observation."""
        return self._spaces[0]

    @property
    def action_low(self) -> np.ndarray:
        """The action space's lower bound, ``[A]`` (float32)."""
        return self._spaces[1]

    @property
    def action_high(self) -> np.ndarray:
        """The action space's upper bound, ``[A]`` (float32)."""
        return self._spaces[2]

    @property
    def model_obs_dim(self) -> int:
        """Size ``S'`` of :meth:`model_input`."""
        return self._spaces[3]

    def make_base_env(self, render_mode: str | None = None) -> gymnasium.Env:
        """``gymnasium.make(env_id, render_mode=..., **env_kwargs).unwrapped``."""
        _require_gymnasium()
        kwargs = dict(self.env_kwargs)
        if render_mode is not None:
            kwargs["render_mode"] = render_mode
        return gymnasium.make(self.env_id, disable_env_checker=True, **kwargs).unwrapped

    def reward(self, obs: Array, action: Array, next_obs: Array) -> Array:
        """``reward_fn`` over ``obs [..., S], action [..., A], next_obs [..., S] -> [...]``."""
        return jnp.vectorize(self.reward_fn, signature="(s),(a),(s)->()")(obs, action, next_obs)

    def termination(self, obs: Array, action: Array, next_obs: Array) -> Array:
        """``termination_fn`` over the leading dimensions: ``[...]`` bool (default never)."""
        if self.termination_fn is None:
            return super().termination(obs, action, next_obs)
        one = jnp.vectorize(self.termination_fn, signature="(s),(a),(s)->()")
        return jnp.asarray(one(obs, action, next_obs)).astype(bool)

    def model_input(self, obs: Array) -> Array:
        """``model_input_fn`` over the leading dimensions: ``[..., S] -> [..., S']``."""
        if self.model_input_fn is None:
            return obs
        return jnp.vectorize(self.model_input_fn, signature="(s)->(m)")(obs)


def from_gymnasium(
    env_id: str,
    reward: TransitionFn,
    termination: TransitionFn | None = None,
    model_input: InputFn | None = None,
    *,
    episode_length: int | None = None,
    name: str | None = None,
    check_transitions: int = 64,
    **env_kwargs: Any,
) -> GymnasiumTask:
    """The gymnasium environment ``env_id`` with the known JAX ``reward``, as an EnvTask.

    Args:
        env_id: a registered gymnasium id with a ``Box`` action space.
        reward: pure JAX reward of one transition, ``(obs [S], action [A],
            next_obs [S]) -> []``, differentiable in ``action`` and ``next_obs`` for
            gradient planners.
        termination: ``(obs, action, next_obs) -> bool []``; ``None``: never done.
        model_input: what the dynamics model sees of ``obs [S]``, ``-> [S']``;
            ``None``: the observation itself.
        episode_length: steps per episode; ``None`` takes the environment's
            ``max_episode_steps`` (else 1000).
        name: the task's name (default ``env_id``).
        check_transitions: random transitions on which ``reward`` and
            ``termination`` are compared with the environment's (0 skips it).
        **env_kwargs: keyword arguments of ``gymnasium.make``.

    Raises:
        ValueError: naming ``env_id`` (unknown id, non-Box spaces), ``reward``,
            ``termination`` or ``model_input`` (not callable, does not trace under
            ``jax.jit``, wrong output shape), or ``episode_length``.

    Warns:
        UserWarning: naming ``reward`` (or ``termination``) with the largest
            difference from the environment's on the random transitions.
    """
    _require_gymnasium()
    if not isinstance(env_id, str) or not env_id:
        raise ValueError(f"env_id: expected a gymnasium id, got {env_id!r}")
    for arg, fn, required in (("reward", reward, True), ("termination", termination, False),
                              ("model_input", model_input, False)):
        if (fn is not None or required) and not callable(fn):
            raise ValueError(f"{arg}: expected a JAX function, got {type(fn).__name__}")
    check_int("check_transitions", check_transitions, 0)
    if episode_length is None:
        spec = gymnasium.spec(env_id) if env_id in gymnasium.registry else None
        episode_length = (spec.max_episode_steps if spec is not None else None) or \
            DEFAULT_EPISODE_LENGTH
    task = GymnasiumTask(env_id, reward, termination, model_input, episode_length,
                         dict(env_kwargs), name or env_id)
    if check_transitions:
        compare_with_env(task, check_transitions)
    return task


def _inspect(task: GymnasiumTask) -> tuple[int, np.ndarray, np.ndarray, int]:
    """``(S, low, high, S')`` from the environment's spaces; traces the user functions."""
    try:
        env = task.make_base_env()
    except Exception as err:  # gymnasium raises several types for a bad id or kwargs
        raise ValueError(f"env_id: cannot make {task.env_id!r}: {err}") from None
    box = gymnasium.spaces.Box
    action_space, obs_space = env.action_space, env.observation_space
    env.close()
    if not isinstance(action_space, box) or len(action_space.shape) != 1:
        raise ValueError(
            f"env_id: {task.env_id!r} has action space {action_space}; from_gymnasium "
            "needs a 1-D Box (continuous actions)"
        )
    if not isinstance(obs_space, box) or len(obs_space.shape) != 1:
        raise ValueError(
            f"env_id: {task.env_id!r} has observation space {obs_space}; from_gymnasium "
            "needs a 1-D Box"
        )
    low = np.asarray(action_space.low, np.float32)
    high = np.asarray(action_space.high, np.float32)
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
        raise ValueError(f"env_id: {task.env_id!r} has an unbounded action space")
    obs = jax.ShapeDtypeStruct(obs_space.shape, jnp.float32)
    act = jax.ShapeDtypeStruct(action_space.shape, jnp.float32)
    _trace("reward", task.reward_fn, (obs, act, obs), ())
    if task.termination_fn is not None:
        _trace("termination", task.termination_fn, (obs, act, obs), ())
    model_dim = obs_space.shape[0]
    if task.model_input_fn is not None:
        shape = _trace("model_input", task.model_input_fn, (obs,), None)
        if len(shape) != 1:
            raise ValueError(f"model_input: expected to map [S] to [S'], got shape {shape}")
        model_dim = shape[0]
    return int(obs_space.shape[0]), low, high, int(model_dim)


def _trace(arg: str, fn: Callable[..., Any], args: tuple, shape: tuple | None) -> tuple:
    """Trace ``fn`` under ``jax.jit``; ``ValueError`` naming ``arg`` if that fails."""
    try:
        out = jax.eval_shape(jax.jit(fn), *args)
    except Exception as err:  # any tracing failure is the user's function's
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise ValueError(
            f"{arg}: does not trace under jax.jit ({type(err).__name__}: {first}); it must be "
            "a pure JAX function of one transition (obs [S], action [A], next_obs [S])"
        ) from None
    if not hasattr(out, "shape"):
        raise ValueError(f"{arg}: expected to return one array, got {type(out).__name__}")
    if shape is not None and tuple(out.shape) != shape:
        raise ValueError(
            f"{arg}: expected a scalar for one transition, got shape {tuple(out.shape)}"
        )
    return tuple(out.shape)


def compare_with_env(task: GymnasiumTask, num: int, seed: int = 0) -> dict[str, float]:
    """Compare ``task``'s reward and termination with its environment's on random steps.

    Runs ``num`` uniformly random transitions (resetting when an episode ends) and
    warns (``UserWarning`` naming ``reward`` or ``termination``) when they differ.

    Returns:
        ``{"reward": largest |difference|, "termination": fraction of disagreeing steps}``.
    """
    env = task.make_base_env()
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    rows: dict[str, list] = {"obs": [], "action": [], "next": [], "reward": [], "done": []}
    for _ in range(num):
        action = env.action_space.sample()
        next_obs, reward, terminated, truncated, _ = env.step(action)
        for key, value in zip(rows, (obs, action, next_obs, reward, terminated), strict=True):
            rows[key].append(np.asarray(value, np.float64))
        obs = next_obs
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()
    o, a, n = (jnp.asarray(np.stack(rows[k]), jnp.float32) for k in ("obs", "action", "next"))
    ours = np.asarray(jax.jit(task.reward)(o, a, n), np.float64)
    theirs = np.asarray(rows["reward"])
    gap = np.where(ours == theirs, 0.0, np.abs(ours - theirs))
    gap = np.where(np.isnan(gap), np.inf, gap)  # NaN on one side only: the worst gap
    worst = int(np.argmax(gap))
    if not np.isfinite(gap[worst]):
        bad = int(np.sum(~np.isfinite(gap)))
        warnings.warn(
            f"reward: returns {ours[worst]:.6g} where {task.env_id}'s reward is "
            f"{theirs[worst]:.6g}, on {bad} of {num} random transitions; a planner ranks "
            "non-finite returns last, so every plan may fall back",
            UserWarning, stacklevel=3,
        )
    elif gap[worst] > 1e-4 + 1e-4 * abs(theirs[worst]):
        warnings.warn(
            f"reward: differs from {task.env_id}'s reward on {num} random transitions by up "
            f"to {gap[worst]:.4g} (yours {ours[worst]:.6g}, the environment's "
            f"{theirs[worst]:.6g}); fine if you leave terms out on purpose",
            UserWarning, stacklevel=3,
        )
    done = np.asarray(jax.jit(task.termination)(o, a, n), bool)
    disagree = float(np.mean(done != np.asarray(rows["done"], bool)))
    if disagree:
        which = "termination" if task.termination_fn is not None else "termination (None)"
        warnings.warn(
            f"{which}: disagrees with {task.env_id}'s 'terminated' on {disagree:.0%} of "
            f"{num} random transitions",
            UserWarning, stacklevel=3,
        )
    return {"reward": float(gap[worst]), "termination": disagree}
