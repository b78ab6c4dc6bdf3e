"""Splitting rollouts over two CPU devices gives the same returns and plans (subprocess)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from cemgd.sharding import shard_rollout

SCRIPT = textwrap.dedent("""
    import jax, numpy as np, jax.numpy as jnp
    from cemgd.sharding import use_cpu_devices, shard_rollout
    assert use_cpu_devices(2) == 2, jax.devices()
    from cemgd import Problem, make_planner
    from cemgd.models import init_ensemble, make_rollout

    params = init_ensemble(jax.random.key(0), 4, 2, 5, 16, 2)
    base = make_rollout(params, lambda o, a, n: -jnp.sum(n**2, -1) - 0.1 * jnp.sum(a**2, -1))
    split = shard_rollout(base, min_batch=8)
    obs = jnp.ones(4)
    acts = jax.random.uniform(jax.random.key(1), (37, 6, 2), minval=-1, maxval=1)
    key = jax.random.key(2)
    np.testing.assert_allclose(jax.jit(split)(obs, acts, key), jax.jit(base)(obs, acts, key),
                               rtol=1e-6, atol=1e-6)
    g1 = jax.grad(lambda a: split(obs, a, key).sum())(acts)
    g0 = jax.grad(lambda a: base(obs, a, key).sum())(acts)
    np.testing.assert_allclose(g1, g0, rtol=1e-5, atol=1e-6)
    plans = []
    for r in (base, split):
        problem = Problem(r, 6, -np.ones(2), np.ones(2))
        planner = make_planner("cem", num_samples=20, num_iterations=3)
        state = planner.init(problem, jax.random.key(3))
        for _ in range(2):
            actions, state, _ = planner.plan(state, obs)
        plans.append(np.asarray(actions))
    np.testing.assert_allclose(plans[0], plans[1], rtol=1e-5, atol=1e-6)
    print("OK")
""")


@pytest.mark.slow  # over 25 s on 2 cores; run with -m slow
def test_two_devices_give_the_same_returns_gradients_and_plans():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("OK")


def test_small_batches_and_one_device_pass_through():
    calls = []

    def rollout(obs, actions, key):
        calls.append(actions.shape)
        return actions.sum(axis=(1, 2))

    acts = np.ones((5, 3, 2), np.float32)
    # below min_batch the rollout is called as is, whatever the device count
    np.testing.assert_allclose(shard_rollout(rollout, min_batch=6)(None, acts, None), 6.0)
    assert calls == [(5, 3, 2)]
    if jax.device_count() == 1:
        np.testing.assert_allclose(shard_rollout(rollout, min_batch=1)(None, acts, None), 6.0)
        assert calls == [(5, 3, 2), (5, 3, 2)]
    with pytest.raises(ValueError, match="min_batch"):
        shard_rollout(rollout, min_batch=0)
