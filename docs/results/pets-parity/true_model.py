"""Planner or model? cemgd's CEM planning on the *true* ``pets-cartpole`` dynamics.

Each candidate sequence is rolled out in MuJoCo itself (``mujoco.rollout``, called from
the jitted planner through ``jax.pure_callback``), so the planner sees a perfect,
deterministic model. If CEM at the issue's settings (100 samples x 5 iterations, elite
ratio 0.1, alpha 0.9, horizon 30) reaches the return mbrl-lib's PETS reaches (~170),
the planner is not what holds cemgd's PETS back on this task. ::

    python docs/results/pets-parity/true_model.py [--seeds 0 1 2] [--return-mean]
        [--warm-fill last|initial] [--num-samples 100] [--num-iterations 5]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import jax
import jax.numpy as jnp
import mujoco
import mujoco.rollout
import numpy as np

from cemgd.planners.cem import CEM
from cemgd.problem import Problem, Rollout
from cemgd.tasks.pets_cartpole import FRAME_SKIP, PetsCartPole, tip_reward

SPEC = mujoco.mjtState.mjSTATE_FULLPHYSICS


def true_rollout(env: Any) -> Rollout:
    """``rollout(obs [4], actions [B, T, 1], key) -> returns [B]`` in MuJoCo itself."""
    model = env.model  # type: ignore[attr-defined]
    data = mujoco.MjData(model)

    def host(obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, np.float64)
        mujoco.mj_resetData(model, data)
        data.qpos[:], data.qvel[:] = obs[:2], obs[2:]
        mujoco.mj_forward(model, data)
        state0 = np.empty(mujoco.mj_stateSize(model, SPEC))
        mujoco.mj_getState(model, data, state0, SPEC)
        ctrl = np.repeat(np.asarray(actions, np.float64), FRAME_SKIP, axis=1)  # [B, 2T, 1]
        states, _ = mujoco.rollout.rollout(model, data, state0[None], ctrl)
        # FULLPHYSICS: [time, qpos (2), qvel (2), ...]; every FRAME_SKIP-th substep
        nxt = states[:, FRAME_SKIP - 1::FRAME_SKIP, 1:5]  # [B, T, 4]
        rewards = tip_reward(nxt, np.asarray(actions, np.float64), np)
        return rewards.sum(axis=1).astype(np.float32)

    def rollout(obs: jax.Array, actions: jax.Array, key: jax.Array) -> jax.Array:
        del key
        out = jax.ShapeDtypeStruct((actions.shape[0],), jnp.float32)
        return jax.pure_callback(host, out, obs, actions)

    return rollout


def episode(seed: int, planner: CEM, horizon: int) -> float:
    """One 200-step episode of MPC on the true model; its return."""
    task = PetsCartPole()
    env = task.make_env(seed=seed)
    base = env.unwrapped
    problem = Problem(true_rollout(base), horizon, task.action_low, task.action_high,
                      obs_shape=(4,))
    state = planner.init(problem, jax.random.key(seed))
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
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--num-samples", type=int, default=100)
    parser.add_argument("--num-iterations", type=int, default=5)
    parser.add_argument("--horizon", type=int, default=30)
    parser.add_argument("--return-mean", action="store_true")
    parser.add_argument("--warm-fill", choices=["last", "initial"], default="last")
    args = parser.parse_args()
    planner = CEM(num_samples=args.num_samples, num_iterations=args.num_iterations,
                  elite_ratio=0.1, alpha=0.9, return_mean=args.return_mean,
                  warm_fill=args.warm_fill)
    for seed in args.seeds:
        start = time.perf_counter()
        ret = episode(seed, planner, args.horizon)
        print(f"seed {seed}: return {ret:.1f} ({time.perf_counter() - start:.0f} s)",
              flush=True)


if __name__ == "__main__":
    main()
