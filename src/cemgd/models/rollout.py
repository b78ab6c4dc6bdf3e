"""Particle rollouts of a probabilistic ensemble: the ``Rollout`` a planner is given.

``make_rollout(params, reward_fn)`` closes over ensemble parameters and a known
reward and returns ``rollout(obs: [S], actions: [B, T, A], key) -> returns: [B]``,
a pure, jit-able, vmap-able function, differentiable in ``actions`` (PETS
trajectory sampling, Chua et al. 2018, Sec. 4). :func:`ensemble_rollout` is the
same computation with ``params`` as an argument, for code that jits over the params.

The ensemble is any model that follows :class:`cemgd.models.protocol.EnsembleModel`
(``model=``; ``predict(params, inputs: [E, N, D]) -> (mean, logvar)``, member
selection by ``take_members``): a Flax, Equinox or hand-written ensemble rolls out
exactly as the built-in one (``model=None``: :class:`~cemgd.models.protocol.MLPEnsemble`
with ``activation``, on :class:`~cemgd.models.ensemble.EnsembleParams`).

Each sequence is rolled out by ``P = num_particles`` particles; its return is the
sum over ``t`` of ``reward_fn(obs_t, action_t, obs_{t+1})`` and ``returns[i]`` is
the mean over the particles of sequence ``i``. A step predicts a delta from the
model input ``input_fn(obs_t)`` (default: ``obs_t``) and maps it to
``obs_{t+1} = output_fn(obs_t, delta)`` (default: ``obs_t + delta``); rewards and
termination always see the full ``S``-dim observations. With ``sample=True`` the
delta is ``mean + std * noise`` (standard-normal ``noise`` from ``key``);
``sample=False`` uses the mean. With ``termination_fn`` a particle's rewards after
its first done step count 0 (the done step's reward counts) and its state is
frozen. Rows never mix: ``returns[i]`` depends only on ``actions[i]``, ``obs`` and
``key``.

Propagation (``propagation``, PETS Sec. 4):

``"tsinf"`` (default)
    A particle keeps one member for the whole horizon (TS-infinity).
``"ts1"``
    Every particle re-draws its member at every step (TS1). Under
    ``assignment="row"`` each step permutes all ``B * P`` rows (padded) by one random
    permutation and hands them to the members in equal blocks (mbrl-lib's layout).
    Under ``assignment="particle"``, with ``P >= E`` the ``Q * E`` particle slots
    (``Q = ceil(P / E)``, member ``e`` serving slots ``e * Q .. e * Q + Q - 1``) are
    shuffled by one random permutation per step, drawn from ``key`` and shared by all
    sequences: a cheap gather of the states before the model call, so each member
    still does ``Q`` particles per step. With ``P < E`` each step draws which ``P``
    of the ``E`` members are used (distinct, in random order), so even ``P = 1``
    visits every member over the horizon. The draws depend on ``key`` also with
    ``sample=False``.
``"expectation"``
    Deterministic: one trajectory per sequence whose delta is the mean over the
    ``E`` members of their mean predictions; ``num_particles``, ``sample``,
    ``assignment`` and ``key`` are ignored.

Giving rows to members (``assignment``, for ``"tsinf"`` and ``"ts1"``):

``"particle"`` (default)
    Particle ``p`` of every sequence uses member ``p % E`` (under ``"tsinf"``) and
    one noise draw per ``(particle, t)`` shared by all sequences. A sequence's
    return is then a function of ``(obs, its actions, key)`` alone, whatever its
    position or the batch size, so returns computed in different batches under one
    key are paired (common random numbers); CEM-GD's line search compares a return
    from the CEM batch with one from the ``k``-batch and needs exactly this. Under
    ``"tsinf"`` with ``P < E`` only members ``0..P-1`` are used (``P = 1``: member 0
    alone); ``P`` above ``E`` is padded up to a multiple of ``E`` with particles that
    are rolled out and dropped.

``"row"``
    Row ``r = b * P + p`` of the ``B * P`` rows uses member ``r % E`` (under
    ``"tsinf"``; ``"ts1"``: see above) with its own noise; ``B * P`` is padded up to
    a multiple of ``E`` with zero-action rows that are rolled out and dropped. Every
    member does an equal share of the rows, but unless ``P % E == 0`` the member a
    sequence gets depends on its index, and the noise always depends on its index and
    the padded batch size: the same sequence can score differently in another batch
    even under the same key, so CEM-GD's line search then compares unpaired returns.

Both do the same matmul FLOPs per row (``"row"`` adds up to ``E - 1`` pad rows), but
small batches are latency-bound and XLA's CPU batched matmul (``E > 1`` members) is
several times slower there than a plain one, so ``"particle"`` is faster at ``P = 1``
(docs/results/bench/README.md).
"""

from __future__ import annotations

from typing import Any, Literal

import jax
import jax.numpy as jnp

from cemgd.models.ensemble import EnsembleParams
from cemgd.models.particles import (
    Dynamics,
    InputFn,
    OutputFn,
    RewardFn,
    TerminationFn,
    by_particle,
    by_row,
    expectation,
)
from cemgd.models.protocol import (
    EnsembleModel,
    MLPEnsemble,
    architecture,
    output_size,
    resolve_model,
)
from cemgd.problem import Rollout

Array = jax.Array
Assignment = Literal["particle", "row"]
Propagation = Literal["tsinf", "ts1", "expectation"]
PROPAGATIONS = ("tsinf", "ts1", "expectation")
ASSIGNMENTS = ("particle", "row")


def make_rollout(
    params: EnsembleParams, reward_fn: RewardFn, num_particles: int = 1, sample: bool = True,
    activation: str = "silu", assignment: Assignment = "particle", unroll: int = 1, *,
    propagation: Propagation = "tsinf", input_fn: InputFn | None = None,
    output_fn: OutputFn | None = None, termination_fn: TerminationFn | None = None,
    per_particle: bool = False, model: EnsembleModel | None = None, remat: bool | None = None,
) -> Rollout:
    """Build the rollout of ensemble ``params`` under ``reward_fn``.

    Args:
        params: the model's parameters (``model=None``: :class:`EnsembleParams` from
            :func:`cemgd.models.ensemble.init_ensemble`). They are closed over: a
            jitted planner embeds them as constants, so new params need a new rollout
            (and a recompile); see :func:`ensemble_rollout`.
        reward_fn: ``reward_fn(obs: [..., S], action: [..., A], next_obs: [..., S])
            -> [...]``, pure JAX, differentiable for gradient planners.
        num_particles: ``P`` particles per sequence (>= 1; ignored by ``"expectation"``).
        sample: draw next states from the predicted Gaussian (``True``) or use its
            mean (``False``).
        activation: the activation the built-in ensemble was built with (``model=None``).
        assignment: ``"particle"`` or ``"row"``; see the module docstring.
        unroll: time steps per iteration of the compiled loop over ``T``
            (``lax.scan``'s ``unroll``); more trades compile time for less loop
            overhead, which dominates small batches on the CPU.
        propagation: ``"tsinf"``, ``"ts1"`` or ``"expectation"``; see the module
            docstring.
        input_fn: what the model sees of an observation, ``[..., S] -> [..., S']``
            (``None``: the observation itself).
        output_fn: next observation from the observation and the predicted delta,
            ``([..., S], [..., S]) -> [..., S]`` (``None``: their sum).
        termination_fn: ``(obs, action, next_obs) -> done: bool [...]``; rewards after
            a particle's first done step count 0 (``None``: never done).
        per_particle: return every particle's return, ``[B, P]`` (``[B, 1]`` for
            ``"expectation"``), instead of their mean: what a ``Problem.grad_rollout``
            gives risk-aware gradient objectives (with ``sample=False`` and ``P = E``
            under TS-inf, particle ``p`` is member ``p``'s deterministic prediction).
        model: the ensemble (:class:`~cemgd.models.protocol.EnsembleModel`); ``None``:
            the built-in MLP ensemble with ``activation``.
        remat: checkpoint each time step; ``None``: above ``REMAT_ROWS`` rows (``Dynamics.scan``).

    Returns:
        ``rollout(obs: [S], actions: [B, T, A], key) -> returns: [B]`` (``[B, P]`` with
        ``per_particle``).

    Raises:
        ValueError: ``num_particles`` < 1, a function argument not callable, an
            unknown activation, assignment or propagation, or a ``model`` without the
            protocol's methods.
    """
    _check(reward_fn, num_particles, activation, assignment, unroll, propagation, input_fn,
           output_fn, termination_fn, model)

    def rollout(obs: Array, actions: Array, key: Array) -> Array:
        return ensemble_rollout(
            params, reward_fn, obs, actions, key, num_particles, sample, activation, assignment,
            unroll, propagation=propagation, input_fn=input_fn, output_fn=output_fn,
            termination_fn=termination_fn, per_particle=per_particle, model=model, remat=remat,
        )

    return rollout


def ensemble_rollout(
    params: Any,
    reward_fn: RewardFn,
    obs: Array,
    actions: Array,
    key: Array,
    num_particles: int = 1,
    sample: bool = True,
    activation: str = "silu",
    assignment: Assignment = "particle",
    unroll: int = 1,
    *,
    propagation: Propagation = "tsinf",
    input_fn: InputFn | None = None,
    output_fn: OutputFn | None = None,
    termination_fn: TerminationFn | None = None,
    per_particle: bool = False,
    model: EnsembleModel | None = None,
    remat: bool | None = None,
) -> Array:
    """Mean particle return of each sequence, ``[B]`` (``params`` as an argument).

    Args:
        params: the model's parameters, ``E`` members, input size ``S' + A``.
        reward_fn: see :func:`make_rollout`.
        obs: current observation, ``[S]``.
        actions: ``[B, T, A]``.
        key: PRNG key for the transition noise and TS1's member draws (unused by
            ``"expectation"``, and by ``"tsinf"`` with ``sample=False``).
        num_particles, sample, activation, assignment, unroll, propagation, input_fn,
            output_fn, termination_fn, per_particle, model, remat: see :func:`make_rollout`
            (static).

    Raises:
        ValueError: as :func:`make_rollout`, or shapes that do not fit the ensemble.
    """
    model = _check(reward_fn, num_particles, activation, assignment, unroll, propagation,
                   input_fn, output_fn, termination_fn, model)
    obs = jnp.asarray(obs, jnp.float32)
    actions = jnp.asarray(actions, jnp.float32)
    if obs.ndim != 1:
        raise ValueError(f"obs: expected shape [S], got {obs.shape}")
    if actions.ndim != 3:
        raise ValueError(f"actions: expected shape [B, T, A], got {actions.shape}")
    _check_shapes(model, params, obs, actions, input_fn, output_fn)
    dyn = Dynamics(reward_fn, input_fn, output_fn, termination_fn, model, remat)
    if propagation == "expectation":
        returns = expectation(params, dyn, obs, actions, unroll)[None]
    elif assignment == "particle":
        returns = by_particle(params, dyn, obs, actions, key, num_particles, sample,
                               propagation == "ts1", unroll)
    else:
        returns = by_row(params, dyn, obs, actions, key, num_particles, sample, unroll,
                         propagation == "ts1")
    # returns: [P, B]
    return jnp.swapaxes(returns, 0, 1) if per_particle else jnp.mean(returns, axis=0)


def _check_shapes(
    model: EnsembleModel, params: Any, obs: Array, actions: Array, input_fn: InputFn | None,
    output_fn: OutputFn | None,
) -> None:
    """Raise ValueError unless ``obs: [S]``, ``actions: [B, T, A]`` fit the ensemble."""
    state_dim, action_dim = obs.shape[0], actions.shape[2]
    model_dim = state_dim
    if input_fn is not None:
        shape = jax.eval_shape(input_fn, jax.ShapeDtypeStruct((state_dim,), jnp.float32)).shape
        if len(shape) != 1:
            raise ValueError(f"input_fn: expected to map [S] to [S'], got shape {shape}")
        model_dim = shape[0]
    in_size = architecture(model, params).get("input_dim", model_dim + action_dim)
    if model_dim + action_dim != in_size:
        name = "obs" if input_fn is None else "input_fn"
        raise ValueError(
            f"{name}: the ensemble takes {in_size} inputs, but the model input "
            f"[{model_dim}] and actions [..., {action_dim}] make {model_dim + action_dim}"
        )
    out_size = output_size(model, params, in_size)
    if output_fn is None:
        if out_size != state_dim:
            raise ValueError(
                f"obs: the ensemble predicts {out_size}-dim deltas, obs has {state_dim} dims; "
                "give output_fn to map them"
            )
        return
    x = jax.ShapeDtypeStruct((state_dim,), jnp.float32)
    shape = jax.eval_shape(output_fn, x, jax.ShapeDtypeStruct((out_size,), jnp.float32)).shape
    if tuple(shape) != (state_dim,):
        raise ValueError(f"output_fn: expected next_obs of shape ({state_dim},), got {shape}")


def _check(
    reward_fn: RewardFn, num_particles: int, activation: str, assignment: str, unroll: int = 1,
    propagation: str = "tsinf", input_fn: InputFn | None = None,
    output_fn: OutputFn | None = None, termination_fn: TerminationFn | None = None,
    model: EnsembleModel | None = None,
) -> EnsembleModel:
    """Check the arguments; return the model (``None``: the built-in one, ``activation``)."""
    if isinstance(num_particles, bool) or not isinstance(num_particles, int) or num_particles < 1:
        raise ValueError(f"num_particles: expected an int >= 1, got {num_particles!r}")
    if not callable(reward_fn):
        raise ValueError(f"reward_fn: expected a callable, got {type(reward_fn).__name__}")
    for name, fn in (("input_fn", input_fn), ("output_fn", output_fn),
                     ("termination_fn", termination_fn)):
        if fn is not None and not callable(fn):
            raise ValueError(f"{name}: expected a callable or None, got {type(fn).__name__}")
    model = resolve_model(model, lambda: MLPEnsemble(activation=activation))
    if assignment not in ASSIGNMENTS:
        raise ValueError(f"assignment: expected 'particle' or 'row', got {assignment!r}")
    if propagation not in PROPAGATIONS:
        raise ValueError(f"propagation: expected one of {PROPAGATIONS}, got {propagation!r}")
    if isinstance(unroll, bool) or not isinstance(unroll, int) or unroll < 1:
        raise ValueError(f"unroll: expected an int >= 1, got {unroll!r}")
    return model
