"""Every planner on one frozen learned model, on the same environment seeds (paired).

``cemgd evaluate RUN_DIR --planners P1,P2,... --episodes N --out DIR`` loads the
ensemble and normaliser a PETS run (``cemgd train``) saved after trial ``--trial``
(default: its last), and runs each planner (a name, a preset or a spec such as
``cem-gd:n_replan=10``) for ``N`` closed-loop episodes on the real environment. Episode
``k`` of every planner uses environment seed ``seeds[k]`` (default ``k``) and planner
key ``seeds[k]``, so planners are compared on the same starts: only the planner changes.
Each planner's step is compiled once per process, not per episode.

The output folder (locked while in use):

    config.json    what identifies the evaluation (run, trial, quick, episode length)
    evaluate.json  planners (spec, label, family, resolved settings, code), seeds, hardware
    episodes.csv   one row per (planner, episode), appended as each episode ends
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
:mod:`~cemgd.evaluate.dispatch` (worker processes, Ray), :mod:`~cemgd.evaluate.driver`
(:func:`evaluate`: the folder and its one writer).
"""

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
    planner_label,
    play,
    read_pets_config,
)
from cemgd.evaluate.dispatch import run_pool, run_ray
from cemgd.evaluate.driver import describe, evaluate, folder_identity, planner_entries

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
    "folder_identity",
    "frozen_model",
    "load_frozen_model",
    "planner_entries",
    "planner_episodes",
    "planner_label",
    "play",
    "read_pets_config",
    "run_pool",
    "run_ray",
]
