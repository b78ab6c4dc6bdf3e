"""PETS (Chua et al. 2018) with any planner: the model-based RL loop of the paper's Sec. 3.

One run (:func:`run`, ``cemgd train``)::

    collect random_steps transitions with uniform random actions
    for trial in 0 .. trials-1:
        fit the input normaliser on the buffer; train the ensemble (warm-started)
        run one episode on the real environment with MPC: every step plans on the
        learned model's rollout with the chosen planner and applies the first action
        add the episode to the buffer; commit metrics, model and buffer

The model rollout (:func:`model_problem`) is a :class:`cemgd.Problem`, so every planner
in the registry runs unchanged. CEM-style sampling scores sequences by the mean
return of ``num_particles`` sampled particles (TS-inf, TS1 or expectation); the
gradient stage of ``cem-gd``/``gd``/``gradcem`` ascends the return of the members'
deterministic mean predictions, one trajectory per member (the paper, Sec. 5), or,
with the planner's ``grad_objective="sampled"``, the same sampled particle return as CEM.

The whole planning step is one compiled function that takes the model parameters
as an argument: it compiles once per run, not once per trial.

The run folder is a :class:`cemgd.runs.RunFolder` (``config.json``, ``metrics.csv``,
``checkpoints/``, ``videos/trial-TTT.gif`` with ``video=True``), locked while the run
writes; a killed run resumes with ``resume=True`` to the metrics of an uninterrupted
one. Every random quantity (random data, env resets, training splits and shuffles,
planner keys) is derived from ``(seed, trial)``, so a resumed run repeats exactly what
an uninterrupted run computes (times and memory aside).

Modules: :mod:`~cemgd.pets.config` (settings), :mod:`~cemgd.pets.buffer` (transitions),
:mod:`~cemgd.pets.model` (the dynamics model a config names),
:mod:`~cemgd.pets.episode` (the planning problem on the model and the environment loop of
one MPC episode), :mod:`~cemgd.pets.record` (what an episode records),
:mod:`~cemgd.pets.resume` (an episode in progress on disk, and its replay),
:mod:`~cemgd.pets.render` (captioned frames and the GIF), :mod:`~cemgd.pets.events`
(progress reporting), :mod:`~cemgd.pets.loop` (the run).
"""

from cemgd.pets.buffer import Buffer, collect_random, model_data, run_seed
from cemgd.pets.config import (
    LEGACY_KEYS,
    PETSConfig,
    config_diff,
    config_from_payload,
    config_payload,
    config_to_json,
    quick,
    upgrade_payload,
)
from cemgd.pets.episode import (
    Controller,
    EpisodeSeeds,
    PlanStep,
    compile_plan_step,
    model_problem,
    run_episode,
)
from cemgd.pets.events import ConsoleEvents, RunEvents
from cemgd.pets.loop import KINDS, check_architecture, run
from cemgd.pets.model import BUILTIN_MODEL, load_checkpoint
from cemgd.pets.record import Episode
from cemgd.pets.render import Frames, write_gif
from cemgd.pets.resume import EpisodeCheckpoint
from cemgd.runs import METRIC_COLUMNS, RunError, TrialMetrics
from cemgd.runtime import peak_rss_mb

__all__ = [
    "BUILTIN_MODEL",
    "KINDS",
    "LEGACY_KEYS",
    "METRIC_COLUMNS",
    "Buffer",
    "ConsoleEvents",
    "Controller",
    "Episode",
    "EpisodeCheckpoint",
    "EpisodeSeeds",
    "Frames",
    "PETSConfig",
    "PlanStep",
    "RunError",
    "RunEvents",
    "TrialMetrics",
    "check_architecture",
    "collect_random",
    "compile_plan_step",
    "config_diff",
    "config_from_payload",
    "config_payload",
    "config_to_json",
    "load_checkpoint",
    "model_data",
    "model_problem",
    "peak_rss_mb",
    "quick",
    "run",
    "run_episode",
    "run_seed",
    "upgrade_payload",
    "write_gif",
]
