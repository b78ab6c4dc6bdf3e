"""Planner or model, on a learned model: one episode planned on a run's frozen model
under several ways of rolling it out.

Loads the model a run planned with after ``--trial`` (default: its last) and runs one
real 200-step episode per rollout mode, with the run's planner and settings:

``run``
    the run's own rollout (its propagation, assignment, 20 sampled particles).
``fresh``
    the same, but every batch of candidates is rolled out under its own key (mbrl-lib
    draws new members and noise at every evaluation; cemgd reuses one key per step).
``mean``
    the members' mean predictions, no sampled noise (TS1 still switches members).
``expectation``
    one trajectory per sequence on the mean over the members.

::

    python docs/results/pets-parity/frozen_model.py RUN [--trial T] [--seed 0]
        [--modes run fresh mean expectation] [--warm-fill last|initial]
        [--return-mean true|false] [--num-samples N] [--num-iterations M]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np

from cemgd.evaluate.core import load_frozen_model
from cemgd.models import make_rollout
from cemgd.pets.episode import model_problem
from cemgd.planners import make_planner
from cemgd.problem import Problem

MODES = ("run", "fresh", "mean", "expectation")


def problem_for(mode: str, frozen: object) -> Problem:
    """The planning problem of ``mode`` on the frozen model."""
    config, task, params = frozen.config, frozen.task, frozen.params  # type: ignore[attr-defined]
    if mode == "expectation":
        config = dataclasses.replace(config, propagation="expectation")
    base = model_problem(task, params, config)
    if mode in ("run", "expectation"):
        return base
    if mode == "mean":
        rollout = make_rollout(params, task.reward, config.num_particles, sample=False,
                               propagation=config.propagation, assignment=config.assignment,
                               activation=config.activation, input_fn=task.model_input,
                               output_fn=task.model_output_to_next_obs,
                               termination_fn=task.termination)
        return dataclasses.replace(base, rollout=rollout)

    def fresh(obs: jax.Array, actions: jax.Array, key: jax.Array) -> jax.Array:
        # a key of its own for every batch: folded with the bits of the batch's sum
        salt = jax.lax.bitcast_convert_type(jnp.sum(actions).astype(jnp.float32), jnp.int32)
        return base.rollout(obs, actions, jax.random.fold_in(key, salt))

    return dataclasses.replace(base, rollout=fresh)


def episode(frozen: object, mode: str, seed: int, overrides: dict) -> float:
    """One real episode planned on ``mode``'s problem (planner settings ``overrides``
    applied to the run's); its return."""
    config, task = frozen.config, frozen.task  # type: ignore[attr-defined]
    planner = make_planner(config.planner.with_settings(**overrides))
    problem = problem_for(mode, frozen)
    state = planner.init(problem, jax.random.key(seed))
    env = task.make_env(seed=seed)
    obs, _ = env.reset()
    total = 0.0
    for _ in range(task.episode_length):
        actions, state, _ = planner.plan(state, obs, problem)
        obs, reward, _, _, _ = env.step(np.asarray(actions[0]))
        total += float(reward)
    env.close()
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--trial", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--warm-fill", choices=["last", "initial"], default=None)
    parser.add_argument("--return-mean", choices=["true", "false"], default=None)
    parser.add_argument("--num-samples", type=int, default=None)
    parser.add_argument("--num-iterations", type=int, default=None)
    args = parser.parse_args()
    overrides: dict = {k: getattr(args, k) for k in ("num_samples", "num_iterations")
                       if getattr(args, k) is not None}
    if args.warm_fill is not None:
        overrides["warm_fill"] = args.warm_fill
    if args.return_mean is not None:
        overrides["return_mean"] = args.return_mean == "true"
    frozen = load_frozen_model(args.run, args.trial)
    for mode in args.modes:
        start = time.perf_counter()
        ret = episode(frozen, mode, args.seed, overrides)
        print(f"trial {frozen.trial} model, {mode} {overrides}: return {ret:.1f} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
