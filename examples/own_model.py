"""Plan with your own dynamics model: a hand-written JAX ensemble behind CEM-GD.

cemgd's rollout, training and PETS loop take any ensemble that follows the model
protocol (``cemgd.models.EnsembleModel``, docs/guide/own-model.md). This script
writes one member of a small probabilistic MLP from scratch (a dict of arrays, no
cemgd model code), makes it an ensemble with ``cemgd.models.StackedEnsemble``, trains
it with its own optax loop on random transitions of the ``pendulum`` task, rolls it
out with ``cemgd.models.make_rollout(..., model=MODEL)`` and drives the real
environment closed-loop with CEM-GD through ``cemgd.MPC``. With ``--pets OUT`` the
same model runs the whole PETS loop instead (``cemgd.pets.run(..., model=MODEL)``).

The protocol, as ``StackedEnsemble`` fills it from one member's two functions::

    member_init(key, input_dim D, output_dim S) -> member params (any pytree)
    member_predict(member params, inputs [N, D]) -> (mean [N, S], logvar [N, S])
        inputs:  concat(task.model_input(obs), action)
        outputs: a Gaussian over task.model_target(obs, next_obs) (next_obs - obs)

A Flax module fits as ``member_predict = module.apply`` and
``member_init = lambda key, d, s: module.init(key, jnp.zeros((1, d)))``.

Run it:  python examples/own_model.py            (2000 random steps, 5 members, horizon 25)
         python examples/own_model.py --quick    (tiny sizes, a smoke test)
         python examples/own_model.py --quick --pets runs/own-model
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cemgd import MPC, Problem, make_planner, pets
from cemgd.models import StackedEnsemble, make_rollout
from cemgd.tasks import EnvTask, make_env_task

Array = jax.Array
Params = dict[str, Array]


# ----------------------------------------------------------------------- the user's model
def member_init(key: Array, n_in: int, n_out: int, hidden: int = 64) -> Params:
    """One member: a two-layer tanh MLP with a mean and a log-variance head."""
    k1, k2 = jax.random.split(key)
    return {
        "w1": jax.random.normal(k1, (n_in, hidden)) / np.sqrt(n_in),
        "b1": jnp.zeros((hidden,)),
        "w2": jax.random.normal(k2, (hidden, 2 * n_out)) / np.sqrt(hidden),
        "b2": jnp.zeros((2 * n_out,)),
    }


def member_predict(member: Params, inputs: Array) -> tuple[Array, Array]:
    """One member: ``inputs [N, S'+A] -> (mean [N, S], logvar [N, S])``."""
    hidden = jnp.tanh(inputs @ member["w1"] + member["b1"])
    mean, raw = jnp.split(hidden @ member["w2"] + member["b2"], 2, axis=-1)
    return mean, jnp.clip(raw, -10.0, 0.5)


def make_model(members: int, hidden: int) -> StackedEnsemble:
    """The user's ensemble: ``members`` copies of the member, params stacked on axis 0."""
    init = functools.partial(member_init, hidden=hidden)
    return StackedEnsemble(init, member_predict, members=members, name=f"tanh-mlp-{hidden}")


def nll(model: StackedEnsemble, params: Params, inputs: Array, targets: Array) -> Array:
    """Mean Gaussian negative log-likelihood of every member on the same rows."""
    members = model.num_members(params)
    mean, logvar = model.predict(params, jnp.broadcast_to(inputs, (members, *inputs.shape)))
    return jnp.mean((mean - targets) ** 2 * jnp.exp(-logvar) + logvar)


def train(model: StackedEnsemble, params: Params, inputs: np.ndarray, targets: np.ndarray,
          epochs: int) -> Params:
    """Full-batch Adam on :func:`nll` (one jitted loop)."""
    optimizer = optax.adam(3e-3)

    @jax.jit
    def fit(params: Params) -> Params:
        def step(carry: tuple, _: None) -> tuple[tuple, None]:
            params, opt_state = carry
            grads = jax.grad(lambda p: nll(model, p, inputs, targets))(params)
            updates, opt_state = optimizer.update(grads, opt_state)
            return (optax.apply_updates(params, updates), opt_state), None

        (params, _), _ = jax.lax.scan(step, (params, optimizer.init(params)), None, epochs)
        return params

    return fit(params)


def model_problem(model: StackedEnsemble, params: Params, task: EnvTask, horizon: int
                  ) -> Problem:
    """The planning problem on the model: cemgd's particle rollout with ``model=``.

    CEM scores sequences by one sampled particle per member (TS-inf); the gradient
    stage ascends the members' deterministic mean predictions (``[B, E]`` returns).
    """
    members = model.num_members(params)
    common = dict(model=model, input_fn=task.model_input,
                  output_fn=task.model_output_to_next_obs, termination_fn=task.termination)
    return Problem(
        rollout=make_rollout(params, task.reward, members, **common),
        grad_rollout=make_rollout(params, task.reward, members, sample=False,
                                  per_particle=True, **common),
        horizon=horizon, action_low=task.action_low, action_high=task.action_high,
        obs_shape=(task.obs_dim,),
    )


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


def episode(task: EnvTask, seed: int, policy: Callable[[np.ndarray], np.ndarray]) -> float:
    """The return of one closed-loop episode of ``policy`` (obs -> action ``[A]``)."""
    env = task.make_env(seed)
    obs, _ = env.reset()
    total = 0.0
    for _ in range(task.episode_length):
        obs, reward, terminated, truncated, _ = env.step(policy(obs))
        total += float(reward)
        if terminated or truncated:
            break
    return total


def run_pets(model: StackedEnsemble, out: str, quick: bool, seed: int) -> dict[str, float]:
    """The whole PETS loop (random data, training, MPC episodes) with the user's model."""
    config = pets.PETSConfig(task="pendulum", planner="cem-gd", seed=seed, trials=3,
                             episode_length=100, random_steps=500, horizon=20)
    if quick:
        config = dataclasses.replace(pets.quick(config), task="pendulum")
    rows = pets.run(config, out, show_progress=False, model=model)
    return {f"trial{row.trial}_return": row.episode_return for row in rows}


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Train the model, plan with it on the real pendulum; returns the episode's numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pets", metavar="OUT", help="run the PETS loop into OUT instead")
    args = parser.parse_args(argv)
    sizes = dict(data=200, epochs=100, members=2, hidden=32, horizon=5, steps=10) if args.quick \
        else dict(data=2000, epochs=1500, members=5, hidden=64, horizon=25, steps=100)
    model = make_model(sizes["members"], sizes["hidden"])
    start = time.perf_counter()
    if args.pets:
        result = run_pets(model, args.pets, args.quick, args.seed)
        result["seconds"] = time.perf_counter() - start
        print(" ".join(f"{k}={v:.4g}" for k, v in result.items()))
        return result
    task = make_env_task("pendulum", episode_length=sizes["steps"])
    inputs, targets = collect(task, sizes["data"], args.seed)
    params = model.init(jax.random.PRNGKey(args.seed), inputs.shape[1], task.obs_dim)
    params = train(model, params, inputs, targets, sizes["epochs"])
    mean, _ = model.predict(params, jnp.broadcast_to(inputs, (sizes["members"], *inputs.shape)))
    mse = float(jnp.mean((mean - targets) ** 2))
    # 200 rollouts per step over 4 CEM iterations: with 20 over 2 the episode's return
    # depended on the start (a start near upright was often dropped)
    planner = make_planner("cem-gd", n_init=1000, n_replan=200, num_iterations=4, grad_steps=5) \
        if not args.quick else make_planner("cem-gd", n_init=200, n_replan=20,
                                            num_iterations=2, grad_steps=3)
    mpc = MPC(planner, model_problem(model, params, task, sizes["horizon"]))
    mpc.reset(jax.random.PRNGKey(args.seed + 1))
    rng = np.random.default_rng(args.seed + 1)
    result = {
        "train_mse": mse,
        "episode_return": episode(task, args.seed + 1, mpc.act),
        "zero_torque_return": episode(task, args.seed + 1, lambda obs: np.zeros(1, np.float32)),
        "random_return": episode(task, args.seed + 1, lambda obs: rng.uniform(
            task.action_low, task.action_high).astype(np.float32)),
        "seconds": time.perf_counter() - start,
    }
    print(" ".join(f"{k}={v:.4g}" for k, v in result.items()))
    return result


if __name__ == "__main__":
    main()
