"""Particle rollouts of a probabilistic ensemble: the ``Rollout`` a planner is given.

``make_rollout(params, reward_fn)`` closes over ensemble parameters and a known
reward and returns ``rollout(obs: [S], actions: [B, T, A], key) -> returns: [B]``,
a pure, jit-able function, differentiable in ``actions`` (PETS trajectory
sampling, Chua et al. 2018, Sec. 4). :func:`ensemble_rollout` is the same
computation with ``params`` as an argument, for code that jits over the params.

Each sequence is rolled out by ``P = num_particles`` particles; a particle keeps
one ensemble member for the whole horizon (a fixed assignment, what PETS calls
TS-infinity) and its return is the sum over ``t`` of ``reward_fn(obs_t, action_t,
obs_{t+1})``; ``returns[i]`` is the mean over the particles of sequence ``i``.
With ``sample=True`` a step draws ``obs_{t+1} = obs_t + mean + std * noise``
(standard-normal ``noise`` from ``key``); ``sample=False`` uses the mean and is
deterministic. Rows never mix: ``returns[i]`` depends only on ``actions[i]``,
``obs`` and ``key``. Two ways of giving rows to members (``assignment``):

``"particle"`` (default)
    Particle ``p`` of every sequence uses member ``p % E`` and one noise draw per
    ``(particle, t)`` shared by all sequences. A sequence's return is then a
    function of ``(obs, its actions, key)`` alone, whatever its position or the
    batch size, so returns computed in different batches under one key are paired
    (common random numbers); CEM-GD's line search compares a return from the CEM
    batch with one from the ``k``-batch and needs exactly this. With ``P < E`` only
    members ``0..P-1`` are used (``P = 1``: member 0 alone); ``P`` above ``E`` is
    padded up to a multiple of ``E`` with particles that are rolled out and dropped.

``"row"``
    Row ``r = b * P + p`` of the ``B * P`` rows uses member ``r % E`` with its own
    noise; ``B * P`` is padded up to a multiple of ``E`` with zero-action rows that
    are rolled out and dropped. Every member does an equal share of the rows, but
    unless ``P % E == 0`` the member a sequence gets depends on its index, and the
    noise always depends on its index and the padded batch size: the same sequence
    can score differently in another batch even under the same key, so CEM-GD's
    line search then compares unpaired returns.

Both do the same matmul FLOPs per row (``"row"`` adds up to ``E - 1`` pad rows), but
small batches are latency-bound and XLA's CPU batched matmul (``E > 1`` members)
is several times slower there than a plain one: with ``P = 1`` (one member) a
CEM-GD replan step (N_r = 50, T = 45, 5 x 3 x 200) measured 15 ms with
``"particle"`` and 37 ms with ``"row"`` (31 vs 237 ms when every line search runs
all J trials).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import jax
import jax.numpy as jnp

from cemgd.models.ensemble import EnsembleParams, _activation, ensemble_apply, num_members
from cemgd.problem import Rollout

Array = jax.Array
#: ``reward_fn(obs: [..., S], action: [..., A], next_obs: [..., S]) -> reward: [...]``.
RewardFn = Callable[[Array, Array, Array], Array]
Assignment = Literal["particle", "row"]


def make_rollout(
    params: EnsembleParams,
    reward_fn: RewardFn,
    num_particles: int = 1,
    sample: bool = True,
    activation: str = "silu",
    assignment: Assignment = "particle",
    unroll: int = 1,
) -> Rollout:
    """Build the rollout of ensemble ``params`` under ``reward_fn``.

    Args:
        params: ensemble parameters (:func:`cemgd.models.ensemble.init_ensemble`).
            They are closed over: a jitted planner embeds them as constants, so new
            params need a new rollout (and a recompile); see :func:`ensemble_rollout`.
        reward_fn: ``reward_fn(obs: [..., S], action: [..., A], next_obs: [..., S])
            -> [...]``, pure JAX, differentiable for gradient planners.
        num_particles: ``P`` particles per sequence (>= 1).
        sample: draw next states from the predicted Gaussian (``True``) or use its
            mean (``False``, deterministic).
        activation: the activation the ensemble was built with.
        assignment: ``"particle"`` or ``"row"``; see the module docstring.
        unroll: time steps per iteration of the compiled loop over ``T``
            (``lax.scan``'s ``unroll``); more trades compile time for less loop
            overhead, which dominates small batches on the CPU.

    Returns:
        ``rollout(obs: [S], actions: [B, T, A], key) -> returns: [B]``.

    Raises:
        ValueError: ``num_particles`` < 1, ``reward_fn`` not callable, an unknown
            activation or assignment.
    """
    _check(reward_fn, num_particles, activation, assignment, unroll)

    def rollout(obs: Array, actions: Array, key: Array) -> Array:
        return ensemble_rollout(
            params, reward_fn, obs, actions, key, num_particles, sample, activation, assignment,
            unroll,
        )

    return rollout


def ensemble_rollout(
    params: EnsembleParams,
    reward_fn: RewardFn,
    obs: Array,
    actions: Array,
    key: Array,
    num_particles: int = 1,
    sample: bool = True,
    activation: str = "silu",
    assignment: Assignment = "particle",
    unroll: int = 1,
) -> Array:
    """Mean particle return of each sequence, ``[B]`` (``params`` as an argument).

    Args:
        params: ensemble parameters, ``E`` members.
        reward_fn: see :func:`make_rollout`.
        obs: current observation, ``[S]``.
        actions: ``[B, T, A]``.
        key: PRNG key for the transition noise (unused if ``sample=False``).
        num_particles, sample, activation, assignment, unroll: see
            :func:`make_rollout` (static).
    """
    _check(reward_fn, num_particles, activation, assignment, unroll)
    obs = jnp.asarray(obs, jnp.float32)
    actions = jnp.asarray(actions, jnp.float32)
    if obs.ndim != 1:
        raise ValueError(f"obs: expected shape [S], got {obs.shape}")
    if actions.ndim != 3:
        raise ValueError(f"actions: expected shape [B, T, A], got {actions.shape}")
    if assignment == "particle":
        return _by_particle(params, reward_fn, obs, actions, key, num_particles, sample,
                            activation, unroll)
    return _by_row(params, reward_fn, obs, actions, key, num_particles, sample, activation,
                   unroll)


def _by_particle(
    params: EnsembleParams, reward_fn: RewardFn, obs: Array, actions: Array, key: Array,
    particles: int, sample: bool, activation: str, unroll: int,
) -> Array:
    """Particle ``p`` -> member ``p % E``; noise per ``(particle, t)``, shared by sequences."""
    batch, horizon, action_dim = actions.shape
    state_dim = obs.shape[0]
    members = num_members(params)
    used = min(particles, members)  # members in use
    per_member = -(-particles // used)  # particle slots per member, Q
    if used < members:
        params = params._replace(
            weights=tuple(w[:used] for w in params.weights),
            biases=tuple(b[:used] for b in params.biases),
        )
    # state and actions: [used, Q * B, .]; slot (q, e) is particle q * used + e.
    rows = per_member * batch
    a = jnp.broadcast_to(
        jnp.swapaxes(actions, 0, 1)[:, None, None], (horizon, used, per_member, batch, action_dim)
    ).reshape(horizon, used, rows, action_dim)
    x0 = jnp.broadcast_to(obs, (used, rows, state_dim))
    if sample:
        noise = jax.random.normal(key, (horizon, used, per_member, 1, state_dim), jnp.float32)
    else:
        noise = jnp.zeros((horizon, 0), jnp.float32)

    def step(x: Array, inputs: tuple[Array, Array]) -> tuple[Array, Array]:
        a_t, noise_t = inputs
        mean, logvar = ensemble_apply(params, x, a_t, activation)
        if sample:
            shape = (used, per_member, batch, state_dim)
            delta = mean.reshape(shape) + jnp.exp(0.5 * logvar).reshape(shape) * noise_t
            delta = delta.reshape(used, rows, state_dim)
        else:
            delta = mean
        next_x = x + delta
        return next_x, reward_fn(x, a_t, next_x)

    _, rewards = jax.lax.scan(step, x0, (a, noise), unroll=unroll)  # [T, used, Q * B]
    total = jnp.sum(rewards, axis=0).reshape(used, per_member, batch)
    per_particle = jnp.swapaxes(total, 0, 1).reshape(per_member * used, batch)[:particles]
    return jnp.mean(per_particle, axis=0)


def _by_row(
    params: EnsembleParams, reward_fn: RewardFn, obs: Array, actions: Array, key: Array,
    particles: int, sample: bool, activation: str, unroll: int,
) -> Array:
    """Row ``r = b * P + p`` -> member ``r % E``; own noise per row; pad to a multiple of E."""
    batch, horizon, action_dim = actions.shape
    state_dim = obs.shape[0]
    members = num_members(params)
    rows = batch * particles
    per_member = -(-rows // members)
    pad = per_member * members - rows
    a = jnp.repeat(actions, particles, axis=0) if particles > 1 else actions
    if pad:
        a = jnp.concatenate([a, jnp.zeros((pad, horizon, action_dim), a.dtype)], axis=0)
    # row r -> (slot r // E, member r % E); scan wants time first: [T, E, M, A].
    a = jnp.transpose(a.reshape(per_member, members, horizon, action_dim), (2, 1, 0, 3))
    x0 = jnp.broadcast_to(obs, (members, per_member, state_dim))
    if sample:
        noise = jax.random.normal(key, (horizon, members, per_member, state_dim), jnp.float32)
    else:
        noise = jnp.zeros((horizon, 0), jnp.float32)

    def step(x: Array, inputs: tuple[Array, Array]) -> tuple[Array, Array]:
        a_t, noise_t = inputs
        mean, logvar = ensemble_apply(params, x, a_t, activation)
        delta = mean + jnp.exp(0.5 * logvar) * noise_t if sample else mean
        next_x = x + delta
        return next_x, reward_fn(x, a_t, next_x)

    _, rewards = jax.lax.scan(step, x0, (a, noise), unroll=unroll)  # [T, E, M]
    per_row = jnp.transpose(jnp.sum(rewards, axis=0)).reshape(per_member * members)[:rows]
    return jnp.mean(per_row.reshape(batch, particles), axis=1)


def _check(
    reward_fn: RewardFn, num_particles: int, activation: str, assignment: str, unroll: int = 1
) -> None:
    if isinstance(num_particles, bool) or not isinstance(num_particles, int) or num_particles < 1:
        raise ValueError(f"num_particles: expected an int >= 1, got {num_particles!r}")
    if not callable(reward_fn):
        raise ValueError(f"reward_fn: expected a callable, got {type(reward_fn).__name__}")
    _activation(activation)
    if assignment not in ("particle", "row"):
        raise ValueError(f"assignment: expected 'particle' or 'row', got {assignment!r}")
    if isinstance(unroll, bool) or not isinstance(unroll, int) or unroll < 1:
        raise ValueError(f"unroll: expected an int >= 1, got {unroll!r}")
