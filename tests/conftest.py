"""Shared fixtures: every planner in the registry, at a size that compiles fast."""

from __future__ import annotations

import dataclasses
import gc
import os
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("CEMGD_NO_PROGRESS", "1")
# No persistent compilation cache unless a test names one: an in-process `cemgd` command
# would otherwise turn it on for the rest of the session, and every later compile would be
# serialised into it (XLA's executable serialisation once crashed the suite there).
os.environ.setdefault("CEMGD_CACHE_DIR", "")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import cemgd  # noqa: E402

SMALL = {"num_samples": 16, "n_init": 40, "n_replan": 20, "num_iterations": 2}


def small_planner(name: str, **overrides: object) -> cemgd.Planner:
    """Planner ``name`` with its sample counts shrunk so tests compile and run fast."""
    fields = {f.name for f in dataclasses.fields(cemgd.PLANNERS[name].Config)}
    settings = {k: v for k, v in SMALL.items() if k in fields}
    settings.update(overrides)
    return cemgd.make_planner(name, **settings)


def integrator_rollout(obs: jax.Array, actions: jax.Array, key: jax.Array) -> jax.Array:
    """Single integrator ``x <- x + 0.1 a`` with reward ``-|x|^2 - 0.01 |a|^2``.

    obs: [S] with S = A; actions: [B, T, A] -> returns: [B].
    """

    def step(x: jax.Array, a: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = x + 0.1 * a
        return x, -jnp.sum(x**2, -1) - 0.01 * jnp.sum(a**2, -1)

    x0 = jnp.broadcast_to(obs, (actions.shape[0], obs.shape[-1]))
    _, rewards = jax.lax.scan(step, x0, jnp.swapaxes(actions, 0, 1))
    return rewards.sum(0)


def integrator_problem(horizon: int = 8, action_dim: int = 2) -> cemgd.Problem:
    return cemgd.Problem(
        integrator_rollout, horizon, -np.ones(action_dim), np.ones(action_dim),
        obs_shape=(action_dim,),
    )


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one test process per core, at most 4 (each compiles and holds ~1 GB)."""
    return max(1, min(os.cpu_count() or 1, 4))


@pytest.fixture(scope="module", autouse=True)
def _drop_compiled_executables() -> Iterator[None]:
    """Free every compiled executable after each test module.

    Each XLA CPU executable holds its own memory mappings; a whole suite in one process
    would otherwise collect thousands of them and hit the kernel's map limit
    (``vm.max_map_count``), where XLA segfaults instead of raising.
    """
    yield
    jax.clear_caches()
    gc.collect()


@pytest.fixture(params=sorted(cemgd.PLANNERS))
def planner_name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-trial ``--quick`` PETS run on cart-pole: the model ``evaluate``'s tests load."""
    from cemgd import pets  # here, not above: other tests' processes need no gymnasium

    out = tmp_path_factory.mktemp("run") / "run"
    config = pets.quick(pets.PETSConfig(task="cartpole-swingup", trials=1, seed=3))
    pets.run(config, out, show_progress=False)
    return out
