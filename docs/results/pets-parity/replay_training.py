"""Replay a run's model training offline, with or without Adam's state carried over.

Takes the buffer a ``pets-cartpole`` run collected (its last checkpoint) and trains a
fresh ensemble on it the way the PETS loop does: before trial ``k`` on every row
collected before it, ``--epochs`` epochs from the previous trial's weights. ``fresh``
starts Adam afresh at every training (cemgd's default); ``carried`` hands each training
the state the last one ended with (``--train.keep-optimizer``, mbrl-lib's one
optimizer). The final model (the one trial ``--trials - 1`` would plan with) is written
into a copy of the run folder, so ``frozen_model.py`` can plan real episodes on it::

    python docs/results/pets-parity/replay_training.py RUN OUT --adam carried [--epochs 25]
        [--set partial_batch=true learning_rate=3e-3]
    python docs/results/pets-parity/frozen_model.py OUT --modes expectation run
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
from pathlib import Path

import jax
import numpy as np

from cemgd.evaluate.core import load_frozen_model
from cemgd.models import fit_normalizer, init_ensemble, train_ensemble, write_model
from cemgd.models.data import ModelData
from cemgd.runs import read_metrics


def overrides(items: list[str]) -> dict:
    """``FIELD=VALUE`` pairs as TrainConfig changes (bools, ints and floats parsed)."""
    out: dict = {}
    for item in items:
        name, _, value = item.partition("=")
        low = value.lower()
        out[name] = (low == "true" if low in ("true", "false")
                     else int(value) if value.lstrip("-").isdigit() else float(value))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("out")
    parser.add_argument("--adam", choices=["fresh", "carried"], required=True)
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                        help="TrainConfig fields to override, e.g. partial_batch=true")
    args = parser.parse_args()
    frozen = load_frozen_model(args.run)
    config, task, last = frozen.config, frozen.task, frozen.trial
    buffer = np.load(Path(args.run) / "checkpoints" / f"buffer-{last:03d}.npz")
    obs, actions = buffer["obs"].astype(np.float64), buffer["actions"]
    next_obs, trial = buffer["next_obs"].astype(np.float64), buffer["trial"]
    params = init_ensemble(jax.random.key(config.seed), task.obs_dim, task.action_dim,
                           config.num_members, config.hidden, config.num_layers,
                           config.activation, input_dim=task.model_obs_dim)
    train = dataclasses.replace(config.train, epochs=args.epochs, **overrides(args.set))
    opt_state = None
    for k in range(last + 1):  # the model of trial k: rows collected before it
        rows = trial < k
        inputs = np.asarray(task.model_input(obs[rows]))
        data = ModelData(inputs, actions[rows], np.asarray(
            task.model_target(obs[rows], next_obs[rows])))
        normalizer = fit_normalizer(inputs, actions[rows])
        params, report = train_ensemble(
            params, normalizer, data, config=dataclasses.replace(train, seed=1000 + k),
            opt_state=opt_state if args.adam == "carried" else None)
        opt_state = report.opt_state
        print(f"model of trial {k}: {int(rows.sum())} rows, final loss "
              f"{report.train_loss[-1]:.2f}", flush=True)
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(args.run, out, ignore=shutil.ignore_patterns(".lock", "partial"))
    with (out / "checkpoints" / f"model-{last:03d}.npz").open("wb") as fh:
        write_model(fh, params, normalizer)
    assert len(read_metrics(out)) == last + 1


if __name__ == "__main__":
    main()
