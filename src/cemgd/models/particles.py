"""The particle layouts of :mod:`cemgd.models.rollout`: one function per propagation.

Each returns per-particle returns ``[P, B]`` (``expectation``: ``[B]``); the module
docstring of :mod:`cemgd.models.rollout` describes the layouts and propagations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from cemgd.models.protocol import EnsembleModel
from cemgd.problem import Array

#: The model's params: any pytree its :class:`~cemgd.models.protocol.EnsembleModel` takes.
Params = Any

#: ``reward_fn(obs: [..., S], action: [..., A], next_obs: [..., S]) -> reward: [...]``.
RewardFn = Callable[[Array, Array, Array], Array]
#: ``input_fn(obs: [..., S]) -> model input: [..., S']``.
InputFn = Callable[[Array], Array]
#: ``output_fn(obs: [..., S], prediction: [..., S]) -> next_obs: [..., S]``.
OutputFn = Callable[[Array, Array], Array]
#: ``termination_fn(obs: [..., S], action: [..., A], next_obs: [..., S]) -> done: bool [...]``.
TerminationFn = Callable[[Array, Array, Array], Array]


#: ``remat=None`` checkpoints a rollout's time steps only when the model sees more than
#: this many rows a step (sequences x particles; x members for ``expectation``): below it
#: a gradient keeps every step's activations (about T x rows x the hidden widths: about
#: 1 MB at CEM-GD's top-k, up to about 200 MB at 1024 rows, T = 30 and 4 x 200 layers)
#: and skips the recomputation, which takes a backward pass from about 1.5-2x a forward to
#: about 1.0-1.35x (``benchmarks/gradient_passes.py``); above it memory would grow with
#: the batch. Under ``vmap`` the rows are one instance's.
REMAT_ROWS = 1024


class Dynamics(NamedTuple):
    """The static functions of one rollout and the transition they make together."""

    reward_fn: RewardFn
    input_fn: InputFn | None
    output_fn: OutputFn | None
    termination_fn: TerminationFn | None
    model: EnsembleModel
    remat: bool | None = None

    def scan(self, step: Callable, init: Any, xs: Any, unroll: int,
             rows: int) -> tuple[Any, Array]:
        """``lax.scan`` of ``step`` over the horizon, the model seeing ``rows`` rows a step;
        with remat the step is ``jax.checkpoint``-ed: a backward pass keeps only each step's
        carry and inputs and recomputes the step's forward, so a gradient's memory does not
        grow with ``T x rows x hidden``, at some cost in time where gradients dominate
        (both measured in docs/results/bench/README.md). ``remat=None`` checkpoints above
        :data:`REMAT_ROWS` rows. Forward-only rollouts are unchanged."""
        body = jax.checkpoint(step, prevent_cse=False) if self.checkpoints(rows) else step
        return jax.lax.scan(body, init, xs, unroll=unroll)

    def checkpoints(self, rows: int) -> bool:
        """Whether :meth:`scan` checkpoints a step whose model sees ``rows`` rows (static)."""
        if self.remat is not None:
            return self.remat
        return rows > REMAT_ROWS

    def predict(self, params: Params, x: Array, a: Array) -> tuple[Array, Array]:
        """Members' ``(mean, logvar)`` of the delta, ``[E, R, S]``, from ``x: [E, R, S]``
        and ``a: [E, R, A]``."""
        model_in = x if self.input_fn is None else self.input_fn(x)
        return self.model.predict(params, jnp.concatenate([model_in, a], axis=-1))

    def advance(
        self, x: Array, a: Array, delta: Array, done: Array | None
    ) -> tuple[Array, Array, Array | None]:
        """``(next_x, reward, done)`` from ``x: [..., S]``, ``a: [..., A]``, ``delta``.

        A particle already done keeps its state and earns 0; ``done`` is ``None``
        without a ``termination_fn``.
        """
        next_x = x + delta if self.output_fn is None else self.output_fn(x, delta)
        reward = self.reward_fn(x, a, next_x)
        if self.termination_fn is None or done is None:
            return next_x, reward, done
        ends = jnp.asarray(self.termination_fn(x, a, next_x)).astype(bool)
        reward = jnp.where(done, jnp.zeros_like(reward), reward)
        next_x = jnp.where(done[..., None], x, next_x)
        return next_x, reward, done | ends

    def no_done(self, shape: tuple[int, ...]) -> Array | None:
        """Initial done flags of ``shape`` (``None`` without a ``termination_fn``)."""
        return None if self.termination_fn is None else jnp.zeros(shape, bool)


def by_particle(
    params: Params, dyn: Dynamics, obs: Array, actions: Array, key: Array,
    particles: int, sample: bool, ts1: bool, unroll: int,
) -> Array:
    """``[P, B]``; particle ``p`` at ``(p % used, p // used)`` of ``[used, Q, B]`` (TS1: see
    :func:`_particle_draws`)."""
    batch, horizon, action_dim = actions.shape
    state_dim = obs.shape[0]
    members = dyn.model.num_members(params)
    used = min(particles, members)  # members in use (per step)
    per_member = -(-particles // used)  # particle slots per member, Q
    slots = used * per_member
    rows = per_member * batch
    choose = ts1 and used < members  # TS1, P < E: draw P of the E members every step
    shuffle = ts1 and not choose and slots > 1  # TS1, P >= E: permute the particles
    if used < members and not choose:
        params = dyn.model.take_members(params, slice(0, used))
    # state: [used, Q * B, S]; every particle of a sequence sees its actions, broadcast
    # step by step (never a [T, used, Q * B, A] copy of the chunk's actions).
    x0 = jnp.broadcast_to(obs, (used, rows, state_dim))
    noise_shape = (used, per_member, 1, state_dim)
    in_scan = sample and batch >= NOISE_IN_SCAN_BATCH
    noise_key, noise, draws = _particle_draws(key, horizon, members, used, per_member,
                                              noise_shape if sample and not in_scan else None,
                                              ts1)

    def step(carry: tuple, inputs: tuple[Array, Array, Array]) -> tuple[tuple, Array]:
        x, done = carry
        a_b, noise_t, draw_t = inputs  # a_b: [B, A]
        a_t = jnp.broadcast_to(a_b, (used, per_member, batch, action_dim)).reshape(
            used, rows, action_dim)
        p_t, x_in = params, x
        if choose:
            p_t = dyn.model.take_members(params, draw_t)
        elif shuffle:
            x_in = x.reshape(slots, batch, state_dim)[draw_t[0]].reshape(used, rows, state_dim)
        mean, logvar = dyn.predict(p_t, x_in, a_t)
        if sample:
            if in_scan:
                noise_t = step_noise(noise_key, noise_t, noise_shape)
            if shuffle:  # each particle brings its own noise into its slot
                noise_t = noise_t.reshape(slots, 1, state_dim)[draw_t[0]]
            shape = (used, per_member, batch, state_dim)
            delta = mean.reshape(shape) + jnp.exp(0.5 * logvar).reshape(shape) * (
                noise_t.reshape(used, per_member, 1, state_dim)
            )
            delta = delta.reshape(used, rows, state_dim)
        else:
            delta = mean
        if shuffle:  # slots -> particle positions
            delta = delta.reshape(slots, batch, state_dim)[draw_t[1]].reshape(used, rows, state_dim)
        next_x, reward, done = dyn.advance(x, a_t, delta, done)
        return (next_x, done), reward

    init = (x0, dyn.no_done((used, rows)))
    xs = (jnp.swapaxes(actions, 0, 1), noise, draws)
    _, rewards = dyn.scan(step, init, xs, unroll, used * rows)  # [T, used, Q * B]
    total = jnp.sum(rewards, axis=0).reshape(used, per_member, batch)
    return jnp.swapaxes(total, 0, 1).reshape(slots, batch)[:particles]  # [P, B]


def _particle_draws(
    key: Array, horizon: int, members: int, used: int, per_member: int,
    noise_shape: tuple[int, ...] | None, ts1: bool,
) -> tuple[Array, Array, Array]:
    """``(noise_key, noise, draws)`` of :func:`by_particle` under ``key``.

    ``noise_key``: :func:`step_noise`'s key; ``noise``: with ``noise_shape`` every step's
    noise drawn now, ``[T, *noise_shape]``, else the step indices ``[T]`` (the scan draws
    it, or there is none); ``draws``: TS1's members per step ``[T, P]`` (P < E), its
    particle permutation and inverse ``[T, 2, slots]`` (P >= E), or ``[T, 0]``.
    """
    slots = used * per_member
    choose = ts1 and used < members
    shuffle = ts1 and not choose and slots > 1
    noise_key, draw_key = jax.random.split(key) if ts1 else (key, key)
    steps = jnp.arange(horizon, dtype=jnp.int32)
    noise = steps if noise_shape is None else jax.vmap(
        lambda t: step_noise(noise_key, t, noise_shape))(steps)
    if not ts1:
        return noise_key, noise, jnp.zeros((horizon, 0), jnp.int32)
    draw_keys = jax.random.split(draw_key, horizon)
    if choose:  # [T, P]: member of particle p at step t, distinct within a step
        draws = jax.vmap(lambda k: jax.random.permutation(k, members)[:used])(draw_keys)
    elif shuffle:  # [T, slots]: flat position f = e * Q + q of [used, Q] takes gather[t, f]
        perm = jax.vmap(lambda k: jax.random.permutation(k, slots))(draw_keys)
        flat = jnp.arange(slots)
        particle = perm[:, (flat % per_member) * used + flat // per_member]
        gather = (particle % used) * per_member + particle // used
        draws = jnp.stack([gather, jnp.argsort(gather, axis=-1)], axis=1)  # [T, 2, slots]
    else:
        draws = jnp.zeros((horizon, 0), jnp.int32)
    return noise_key, noise, draws


#: Batches of at least this many sequences draw :func:`by_particle`'s noise inside the
#: scan, step by step; smaller ones draw all ``T`` steps' before it (the same numbers).
#: Drawn before, the ``[T, P, S]`` noise depends only on the key, so XLA computes it once
#: for a whole chunked batch and keeps it live through every chunk (45 x 20 x 18 floats,
#: 65 kB, at the bench ensemble's sizes); drawn inside, a small batch's replan step pays
#: for the per-step draws (``benchmarks/bench_versions.py`` compares the two settings).
NOISE_IN_SCAN_BATCH = 64


def step_noise(key: Array, t: Array, shape: tuple[int, ...]) -> Array:
    """Standard normal noise of time step ``t`` (int32 scalar) under ``key``, ``shape``:
    ``normal(fold_in(key, t))``, so a rollout that draws it step by step and one that
    draws all steps at once see the same numbers (common random numbers across batch
    sizes)."""
    return jax.random.normal(jax.random.fold_in(key, t), shape, jnp.float32)


def by_row(
    params: Params, dyn: Dynamics, obs: Array, actions: Array, key: Array,
    particles: int, sample: bool, unroll: int, ts1: bool = False,
) -> Array:
    """Returns ``[P, B]``; row ``r = b * P + p`` -> member ``r % E``; own noise per row.

    With ``ts1`` every step permutes the ``E * M`` (padded) rows at random and member
    ``e`` predicts for the rows the permutation puts in block ``e`` (``M`` each).
    """
    batch, horizon, action_dim = actions.shape
    state_dim = obs.shape[0]
    members = dyn.model.num_members(params)
    rows = batch * particles
    per_member = -(-rows // members)
    pad = per_member * members - rows
    a = jnp.repeat(actions, particles, axis=0) if particles > 1 else actions
    if pad:
        a = jnp.concatenate([a, jnp.zeros((pad, horizon, action_dim), a.dtype)], axis=0)
    # row r -> (slot r // E, member r % E); scan wants time first: [T, E, M, A].
    a = jnp.transpose(a.reshape(per_member, members, horizon, action_dim), (2, 1, 0, 3))
    x0 = jnp.broadcast_to(obs, (members, per_member, state_dim))
    noise_key, draw_key = jax.random.split(key) if ts1 else (key, key)
    if sample:
        noise = jax.random.normal(noise_key, (horizon, members, per_member, state_dim),
                                  jnp.float32)
    else:
        noise = jnp.zeros((horizon, 0), jnp.float32)
    total = members * per_member
    if ts1:  # [T, 2, total]: each step's permutation and its inverse
        perm = jax.vmap(lambda k: jax.random.permutation(k, total))(
            jax.random.split(draw_key, horizon))
        inverse = jax.vmap(lambda p: jnp.zeros_like(p).at[p].set(jnp.arange(total)))(perm)
        perms = jnp.stack([perm, inverse], axis=1)
    else:
        perms = jnp.zeros((horizon, 0), jnp.int32)

    def step(carry: tuple, inputs: tuple[Array, Array, Array]) -> tuple[tuple, Array]:
        x, done = carry
        a_t, noise_t, perm_t = inputs
        if ts1:  # rows perm[e * M: (e + 1) * M] go to member e, then back to their places
            shape = (members, per_member, -1)
            perm, inverse = perm_t[0], perm_t[1]
            mean, logvar = dyn.predict(
                params, x.reshape(total, state_dim)[perm].reshape(shape),
                a_t.reshape(total, action_dim)[perm].reshape(shape))
            mean, logvar = (v.reshape(total, state_dim)[inverse].reshape(x.shape)
                            for v in (mean, logvar))
        else:
            mean, logvar = dyn.predict(params, x, a_t)
        delta = mean + jnp.exp(0.5 * logvar) * noise_t if sample else mean
        next_x, reward, done = dyn.advance(x, a_t, delta, done)
        return (next_x, done), reward

    init = (x0, dyn.no_done((members, per_member)))
    _, rewards = dyn.scan(step, init, (a, noise, perms), unroll, members * per_member)  # [T, E, M]
    per_row = jnp.transpose(jnp.sum(rewards, axis=0)).reshape(per_member * members)[:rows]
    return jnp.swapaxes(per_row.reshape(batch, particles), 0, 1)  # [P, B]


def expectation(
    params: Params, dyn: Dynamics, obs: Array, actions: Array, unroll: int
) -> Array:
    """One trajectory per sequence; delta = mean over members of their mean deltas."""
    batch, _, action_dim = actions.shape
    members = dyn.model.num_members(params)
    x0 = jnp.broadcast_to(obs, (batch, obs.shape[0]))

    def step(carry: tuple, a_t: Array) -> tuple[tuple, Array]:
        x, done = carry
        xe = jnp.broadcast_to(x, (members, *x.shape))
        ae = jnp.broadcast_to(a_t, (members, batch, action_dim))
        mean, _ = dyn.predict(params, xe, ae)
        next_x, reward, done = dyn.advance(x, a_t, jnp.mean(mean, axis=0), done)
        return (next_x, done), reward

    init = (x0, dyn.no_done((batch,)))
    _, rewards = dyn.scan(step, init, jnp.swapaxes(actions, 0, 1), unroll, members * batch)
    return jnp.sum(rewards, axis=0)
