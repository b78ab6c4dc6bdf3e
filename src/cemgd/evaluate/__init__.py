"""Every planner on one frozen learned model, on the same environment seeds (paired).

``cemgd evaluate RUN_DIR --planners P1,P2,... --episodes N --out DIR`` loads the
ensemble and normaliser a PETS run (``cemgd train``) saved after trial ``--trial``
(default: its last), or those of a model folder (``cemgd export-model RUN_DIR --out
MODEL_DIR``: weights, normaliser, configuration and hash, small enough to commit),
checks its hash and architecture against the configuration and task, and runs each
planner (a name, a preset or a spec such as
``cem-gd:n_replan=10``) for ``N`` closed-loop episodes on the real environment. Episode
``k`` of every planner uses environment seed ``seeds[k]`` (default ``k``) and planner
key ``seeds[k]``, so planners are compared on the same starts: only the planner changes.
Each planner's step is compiled once per process, not per episode.

The output folder (locked while in use):

    config.json    what identifies the evaluation (task, model hash, trial, quick, episode
                   length): another model into the same folder is refused
    evaluate.json  planners (spec, label, family, resolved settings, seeds asked), the
                   last command's seeds and hardware, the run or model folder and model
                   file as given
    episodes.csv   one row per (planner, episode), appended as each episode ends, with
                   what produced it (code, model hash, spec as run, CPU, JAX backend)
    steps/<planner>-<hash>-<episode>.csv   per step: reward, the model's predicted return
                   of the plan executed and its spread over the ensemble, the real return
                   of the next H steps (:mod:`cemgd.evaluate.predict`)
    summary.md     per planner: return, step time, rollouts, memory; paired
                   differences against the reference planner with a paired t CI
    returns.png, return_vs_rollouts.png
    tensorboard/<planner>/   with --tensorboard: return, plan ms and rollouts per step
                   per episode (one TensorBoard run per planner)

Where the planners run: in this process (default); ``--workers N``: one process per
planner, N at a time; ``--ray auto|local|HOST:PORT`` (as in ``cemgd sweep``): one Ray
task per planner, the model's files sent to it. In every case this process alone
writes ``episodes.csv``, each row as it comes back (with Ray: each planner's rows when
its task returns).

A killed evaluation resumes row by row: rerunning the command skips every
(planner, episode) already in ``episodes.csv``; more planners or episodes may be added
to the same folder. A missing or corrupt run or model, or a damaged output folder, is
refused before a byte of the output folder is written.

Modules: :mod:`~cemgd.evaluate.core` (config, model, planners, episodes),
:mod:`~cemgd.evaluate.predict` (predicted against realised return per step),
:mod:`~cemgd.evaluate.provenance` (what produced each episode),
:mod:`~cemgd.evaluate.modelfolder` and :mod:`~cemgd.evaluate.export` (model folders),
:mod:`~cemgd.evaluate.dispatch` (worker processes, Ray), :mod:`~cemgd.evaluate.outfolder`
(an existing output folder, checked before it is opened), :mod:`~cemgd.evaluate.driver`
(:func:`evaluate`: the folder and its one writer).
"""

import warnings
from typing import Any

from cemgd.evaluate.core import (
    QUICK_EPISODE_LENGTH,
    EvaluateConfig,
    FrozenModel,
    PlannerRun,
    build_planner,
    compile_planner,
    episode_row,
    frozen_model,
    load_frozen_model,
    planner_episodes,
    play,
    read_pets_config,
)
from cemgd.evaluate.dispatch import run_pool, run_ray
from cemgd.evaluate.driver import describe, evaluate, folder_identity, planner_entries
from cemgd.evaluate.export import export_model, model_folder_files
from cemgd.evaluate.predict import make_predictor, realised_returns
from cemgd.evaluate.provenance import settings_label, spec_as_run

__all__ = [
    "QUICK_EPISODE_LENGTH",
    "EvaluateConfig",
    "FrozenModel",
    "PlannerRun",
    "build_planner",
    "compile_planner",
    "describe",
    "episode_row",
    "evaluate",
    "export_model",
    "folder_identity",
    "frozen_model",
    "load_frozen_model",
    "make_predictor",
    "model_folder_files",
    "planner_entries",
    "planner_episodes",
    "play",
    "read_pets_config",
    "realised_returns",
    "run_pool",
    "run_ray",
    "settings_label",
    "spec_as_run",
]


def __getattr__(name: str) -> Any:
    if name == "planner_label":  # the sweep's planner_label is a folder name
        warnings.warn("cemgd.evaluate.planner_label is deprecated; use "
                      "cemgd.evaluate.settings_label", DeprecationWarning, stacklevel=2)
        return settings_label
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
