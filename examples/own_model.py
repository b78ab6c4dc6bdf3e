"""Plan with your own dynamics model: a hand-written JAX ensemble behind CEM-GD.

cemgd's planners need one thing from a model: a pure JAX
``rollout(obs: [S], actions: [B, T, A], key) -> returns: [B]`` (``cemgd.Problem``).
This script writes a small probabilistic ensemble from scratch (no cemgd model
code), trains it with optax on random transitions of the ``pendulum`` task, turns
it into a rollout with :func:`model_rollout`, and drives the real environment
closed-loop with CEM-GD through ``cemgd.MPC``.

The model protocol the rollout below relies on (any Flax, Equinox or hand-written
model fits it)::

    predict(member_params, inputs) -> (mean, logvar)
        inputs:        [N, S' + A]   concat(task.model_input(obs), action)
        mean, logvar:  [N, S]        a Gaussian over task.model_target(obs, next_obs)
                                     (by default next_obs - obs)
    params: a pytree whose every leaf has a leading member axis E
            (member e is jax.tree.map(lambda leaf: leaf[e], params))

Run it:  python examples/own_model.py            (about a minute on 2 CPU cores)
         python examples/own_model.py --quick    (a few seconds, tiny sizes)
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cemgd import MPC, Problem, make_planner
from cemgd.tasks import EnvTask, make_env_task

Array = jax.Array
Params = dict[str, Array]
#: ``predict(member_params, inputs: [N, S' + A]) -> (mean: [N, S], logvar: [N, S])``.
Predict = Callable[[Any, Array], tuple[Array, Array]]


# ----------------------------------------------------------------------- the user's model
def init_params(key: Array, members: int, n_in: int, n_out: int, hidden: int) -> Params:
    """A two-layer MLP per member, stacked on a leading axis ``E``."""
    k1, k2 = jax.random.split(key)
    return {
        "w1": jax.random.normal(k1, (members, n_in, hidden)) / np.sqrt(n_in),
        "b1": jnp.zeros((members, hidden)),
        "w2": jax.random.normal(k2, (members, hidden, 2 * n_out)) / np.sqrt(hidden),
        "b2": jnp.zeros((members, 2 * n_out)),
    }


def predict(member: Params, inputs: Array) -> tuple[Array, Array]:
    """One member: ``inputs [N, S'+A] -> (mean [N, S], logvar [N, S])``."""
    hidden = jnp.tanh(inputs @ member["w1"] + member["b1"])
    mean, raw = jnp.split(hidden @ member["w2"] + member["b2"], 2, axis=-1)
    return mean, jnp.clip(raw, -10.0, 0.5)


def nll(params: Params, inputs: Array, targets: Array) -> Array:
    """Mean Gaussian negative log-likelihood of every member on the same rows."""
    mean, logvar = jax.vmap(predict, in_axes=(0, None))(params, inputs)
    return jnp.mean((mean - targets) ** 2 * jnp.exp(-logvar) + logvar)


def train(params: Params, inputs: np.ndarray, targets: np.ndarray, epochs: int) -> Params:
    """Full-batch Adam on :func:`nll` (one jitted loop)."""
    optimizer = optax.adam(3e-3)

    @jax.jit
    def fit(params: Params) -> Params:
        def step(carry: tuple, _: None) -> tuple[tuple, None]:
            params, opt_state = carry
            grads = jax.grad(nll)(params, inputs, targets)
            updates, opt_state = optimizer.update(grads, opt_state)
            return (optax.apply_updates(params, updates), opt_state), None

        (params, _), _ = jax.lax.scan(step, (params, optimizer.init(params)), None, epochs)
        return params

    return fit(params)


# ----------------------------------------------------------------------- model -> rollout
def model_rollout(
    predict: Predict, params: Any, task: EnvTask, sample: bool = True
) -> Callable[[Array, Array, Array], Array]:
    """The planner's rollout on any model that follows the protocol (TS-inf particles).

    Every sequence is rolled out once per member (member ``e`` is particle ``e`` for
    the whole horizon); its return is the particles' mean, so ``returns[i]`` depends
    only on ``actions[i]``, ``obs`` and ``key``, as ``cemgd.Problem`` requires.
    ``sample=False`` uses the members' means (the gradient objective of CEM-GD).
    """

    def one_particle(member: Any, obs: Array, actions: Array, noise: Array) -> Array:
        def step(x: Array, inputs: tuple[Array, Array]) -> tuple[Array, Array]:
            a, eps = inputs
            model_in = jnp.concatenate([task.model_input(x), a])[None]
            mean, logvar = predict(member, model_in)
            delta = mean[0] + (jnp.exp(0.5 * logvar[0]) * eps if sample else 0.0)
            next_x = task.model_output_to_next_obs(x, delta)
            return next_x, task.reward(x, a, next_x)

        _, rewards = jax.lax.scan(step, obs, (actions, noise))
        return jnp.sum(rewards)

    def rollout(obs: Array, actions: Array, key: Array) -> Array:
        members = jax.tree.leaves(params)[0].shape[0]
        horizon = actions.shape[1]
        noise = jax.random.normal(key, (members, horizon, obs.shape[-1]))
        per_member = jax.vmap(  # over members (params and noise), then sequences
            jax.vmap(one_particle, in_axes=(None, None, 0, None)), in_axes=(0, None, None, 0)
        )(params, jnp.asarray(obs, jnp.float32), actions, noise)  # [E, B]
        return jnp.mean(per_member, axis=0)

    return rollout


# ----------------------------------------------------------------------- the experiment
def collect(task: EnvTask, steps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``steps`` random-action transitions as model inputs ``[N, S'+A]`` and targets."""
    env = task.make_env(seed)
    obs, _ = env.reset()
    rows, targets = [], []
    for _ in range(steps):
        action = env.action_space.sample()
        next_obs, _, terminated, truncated, _ = env.step(action)
        rows.append(np.concatenate([np.asarray(task.model_input(obs)), action]))
        targets.append(np.asarray(task.model_target(obs, next_obs)))
        obs = next_obs
        if terminated or truncated:
            obs, _ = env.reset()
    return np.asarray(rows, np.float32), np.asarray(targets, np.float32)


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Train the model, plan with it on the real pendulum; returns the episode's numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sizes = dict(data=200, epochs=100, members=2, hidden=32, horizon=5, steps=10) if args.quick \
        else dict(data=2000, epochs=1500, members=5, hidden=64, horizon=20, steps=100)
    task = make_env_task("pendulum", episode_length=sizes["steps"])
    inputs, targets = collect(task, sizes["data"], args.seed)
    key = jax.random.PRNGKey(args.seed)
    params = init_params(key, sizes["members"], inputs.shape[1], task.obs_dim, sizes["hidden"])
    start = time.perf_counter()
    params = train(params, inputs, targets, sizes["epochs"])
    mean, _ = jax.vmap(predict, in_axes=(0, None))(params, inputs)
    mse = float(jnp.mean((mean - targets) ** 2))
    problem = Problem(
        rollout=model_rollout(predict, params, task),
        grad_rollout=model_rollout(predict, params, task, sample=False),
        horizon=sizes["horizon"], action_low=task.action_low, action_high=task.action_high,
        obs_shape=(task.obs_dim,),
    )
    planner = make_planner("cem-gd", n_init=200, n_replan=20, num_iterations=2, grad_steps=3)
    mpc = MPC(planner, problem)
    mpc.reset(jax.random.PRNGKey(args.seed + 1))
    env = task.make_env(args.seed + 1)
    obs, _ = env.reset()
    total = 0.0
    for _ in range(task.episode_length):
        obs, reward, terminated, truncated, _ = env.step(mpc.act(obs))
        total += float(reward)
        if terminated or truncated:
            break
    result = {"train_mse": mse, "episode_return": total, "seconds": time.perf_counter() - start}
    print(" ".join(f"{k}={v:.4g}" for k, v in result.items()))
    return result


if __name__ == "__main__":
    main()
