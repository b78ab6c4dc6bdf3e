"""Ensemble training on a PETS-like growing buffer: seconds per trial and compiles.

A PETS run trains on 500 random transitions plus 100 per trial; the training epoch
pads rows to power-of-two buckets, so it compiles once per bucket, not once per trial.
Run: ``python benchmarks/train_buckets.py`` (5 members x 3 x 200, 5 epochs per trial).
"""

from __future__ import annotations

import dataclasses
import time

import jax
import numpy as np

from cemgd.models import TrainConfig, fit_normalizer, init_ensemble, train_ensemble
from cemgd.models.train import _cache_key, _compiled, default_model


def main(trials: int = 12, state_dim: int = 5, action_dim: int = 1) -> None:
    rng = np.random.default_rng(0)
    config = TrainConfig(epochs=5, batch_size=32)
    params = init_ensemble(jax.random.key(0), state_dim, action_dim, num_members=5,
                           hidden=200, num_layers=3)
    seconds = []
    for trial in range(trials):
        n = 500 + 100 * trial
        obs = rng.normal(size=(n, state_dim))
        act = rng.uniform(-1, 1, (n, action_dim))
        nxt = obs + 0.1 * rng.normal(size=(n, state_dim))
        start = time.perf_counter()
        train_ensemble(params, fit_normalizer(obs, act), (obs, act, nxt),
                       config=dataclasses.replace(config, seed=trial))
        seconds.append(time.perf_counter() - start)
    _, epoch_fn, val_fn = _compiled(_cache_key(config), state_dim, config.batch_size,
                                    default_model(config))
    print(f"train s per trial: {' / '.join(f'{s:.1f}' for s in seconds)} "
          f"(total {sum(seconds):.1f} s)")
    print(f"epoch function compiled {epoch_fn._cache_size()} times, validation "
          f"{val_fn._cache_size()} times, over {trials} trials")


if __name__ == "__main__":
    main()
