"""Where one sequence's gradient stage spends its time: the stage against its own passes.

    python benchmarks/gradient_passes.py [--rounds 15]

On the bench ensemble (5 members, 3 x 200, 18-D state, 6-D action, T = 45, one particle)
with CEM-GD's default gradient settings (k = 1, G = 10, J = 8), for the rollout with and
without ``remat`` (``jax.checkpoint`` per time step; by default only above
``REMAT_ROWS`` rows, so off here), times interleaved in
one process, each the minimum over ``--rounds`` rounds (robust to a loaded machine):

- ``stage``: :func:`~cemgd.planners.gradient.gradient_ascent`, one jitted call;
- ``fwd`` and ``fwd+bwd``: ten passes of the gradient rollout inside one jitted
  ``lax.scan`` (a forward, or a forward under ``jax.vjp`` and its pullback), per pass;
- ``matmuls``: ten passes of only the rollout's matrix-vector products (one member's four
  layers per time step, no bias, activation, noise or reward), per pass: what reading
  the weights costs as XLA compiles it;

and prints ``bwd = fwd+bwd - fwd``, the stage predicted from its passes (``cemgd bench``'s
count: ``1 + trials`` forwards, one backward per gradient) and the bench's lower bound
(weight bytes a row reads per time step x T x passes / the measured read bandwidth: the
best of a copy, counted as bytes read + written, and a BLAS matrix-vector product), and
the same bound at the matrix-vector product's rate alone.
Ratios, not absolute times, are the result: stage / passes says what the loop around the
rollouts costs, fwd / (T x weight read) and bwd / fwd what each pass costs, matmuls / fwd
how much of a forward is the weights' matrix-vector products.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from cemgd.experiments.bench import reward
from cemgd.experiments.steptime import read_rates, weight_bytes
from cemgd.models import EnsembleParams, init_ensemble, make_rollout
from cemgd.planners import make_planner
from cemgd.planners.chunking import evaluate
from cemgd.planners.gradient import gradient_ascent
from cemgd.problem import Array, Problem

S, A, T = 18, 6, 45


def parts(problem: Problem, params: EnsembleParams, obs: Array, start: Array,
          key: Array) -> dict[str, Callable]:
    """The jitted stage and ten-pass loops of ``problem``'s gradient rollout and of its
    matrix-vector products alone, each a function of the start ``[1, T, A]``."""
    config = make_planner("cem-gd").config
    r0, _ = evaluate(problem, obs, start, key)

    def raw(a: Array) -> Array:
        return problem.rollout_for_gradient(obs, a, key).reshape(a.shape[0])

    def matmuls(a: Array) -> Array:  # member 0's layers on one row, step by step
        def step(x: Array, a_t: Array) -> tuple[Array, Array]:
            h = jnp.concatenate([x, a_t], axis=-1)  # [1, S + A]
            for w in params.weights:
                h = h @ w[0]
            return h[:, :S], h[0, 0]

        return jnp.sum(jax.lax.scan(step, obs[None], a[0][:, None])[1])  # a_t: [1, A]

    def fwd_bwd(a: Array) -> Array:
        r, pullback = jax.vjp(raw, a)
        return jnp.sum(pullback(jnp.ones_like(r))[0])

    def ten(pass_: Callable[[Array], Array]) -> Callable[[Array], Array]:
        def body(x: Array, _: None) -> tuple[Array, None]:  # x: a dependency between passes
            return x + 1e-6 * jnp.sum(pass_(start + x)), None

        return jax.jit(lambda a: jax.lax.scan(body, 0.0, None, length=10)[0])

    return {"stage": jax.jit(lambda a: gradient_ascent(problem, obs, a, r0, key, config)),
            "fwd": ten(raw), "fwd+bwd": ten(fwd_bwd), "matmuls": ten(matmuls)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    model_key, obs_key, key = jax.random.split(jax.random.key(0), 3)
    params = init_ensemble(model_key, S, A, 5, 200, 3)
    obs = 0.1 * jax.random.normal(obs_key, (S,), jnp.float32)
    start = jax.random.uniform(jax.random.fold_in(key, 1), (1, T, A), minval=-1, maxval=1)
    ones = np.ones(A, np.float32)
    runs = {}
    for remat in (True, False):
        problem = Problem(make_rollout(params, reward, 1, remat=remat), T, -ones, ones,
                          obs_shape=(S,), rollout_rows=1)
        runs[remat] = parts(problem, params, obs, start, key)
    for fns in runs.values():
        for f in fns.values():
            jax.block_until_ready(f(start))
    info = runs[True]["stage"](start)[2]
    trials, grads = int(info.line_search_trials), int(info.num_rollouts - info.line_search_trials)
    step_bytes = weight_bytes(params, 1)
    rates = read_rates(step_bytes)
    read_us = step_bytes / (max(rates.values()) * 1e9) * 1e6
    bound = read_us * T * (1 + trials + grads) / 1e3
    matvec_bound = bound * max(rates.values()) / rates["matvec"]  # the same passes, read slower
    best = {(r, n): np.inf for r, fns in runs.items() for n in fns}
    for _ in range(args.rounds):
        for (remat, name) in best:
            t0 = time.perf_counter()
            jax.block_until_ready(runs[remat][name](start))
            best[remat, name] = min(best[remat, name], (time.perf_counter() - t0) * 1e3)
    print(f"counters: {grads} gradients, {trials} trials; weight read per time step "
          f"{read_us:.2f} us; bound {bound:.2f} ms")
    print(f"read rates of the weights' {step_bytes / 1e3:.0f} kB: copy (read + written) "
          f"{rates['copy']:.1f} GB/s, BLAS matrix-vector {rates['matvec']:.1f} GB/s; "
          f"at the matrix-vector rate a time step's read takes "
          f"{read_us * matvec_bound / bound:.2f} us and the bound is {matvec_bound:.2f} ms")
    for remat in (True, False):
        stage, fwd = best[remat, "stage"], best[remat, "fwd"] / 10
        bwd = best[remat, "fwd+bwd"] / 10 - fwd
        passes = (1 + trials) * fwd + grads * bwd
        print(f"remat={remat}: stage {stage:.2f} ms, fwd {fwd:.3f} ms, bwd {bwd:.3f} ms; "
              f"stage/bound {stage / bound:.2f}, stage/passes {stage / passes:.2f}, "
              f"fwd/(T x read) {fwd * 1e3 / (T * read_us):.2f}, bwd/fwd {bwd / fwd:.2f}")
    matmuls, fwd = best[False, "matmuls"] / 10, best[False, "fwd"] / 10
    print(f"matmuls alone: {matmuls * 1e3 / T:.2f} us a time step ({matmuls / fwd:.2f} of a "
          f"forward), {step_bytes / (matmuls / T * 1e-3) / 1e9:.1f} GB/s; stage/bound at the "
          f"matrix-vector rate {best[False, 'stage'] / matvec_bound:.2f}")
    print(f"stage remat=True / remat=False: {best[True, 'stage'] / best[False, 'stage']:.2f}")


if __name__ == "__main__":
    main()
