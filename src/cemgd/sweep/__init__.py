"""Sweeps: every (task, planner, seed) one PETS run folder, on a local process pool or Ray.

``cemgd sweep --tasks cartpole-swingup,halfcheetah --planners cem-50,cem-gd --seeds 0-4
--out sweeps/mine`` runs :func:`cemgd.pets.run` once per combination, into::

    OUT/<task>/<planner>/seed-<k>/   a `cemgd train` run folder (config.json, metrics.csv,
                                     checkpoints/)
    OUT/<task>/<planner>/seed-<k>.log  the run's output, every attempt appended
    OUT/sweep.json                   the sweep's settings, hardware and every run's status
    OUT/failures.csv                 runs that failed after all retries (header only if none)

One driver per sweep folder: the folder is locked while the sweep runs, and a second
driver is refused (``out: run folder in use by pid N``). The sweep is idempotent.
Before the folder is made, each task and the model are built once in the driver, as
``cemgd train`` builds them (one that cannot be is refused, exit 2, no run started).
Before anything is started, each run folder is inspected in
the driver: a finished run (``metrics.csv`` holds ``trials`` rows and ``config.json``
equals the run's configuration) is skipped without starting a process; a folder
holding another configuration is reported as a conflict and left untouched; every
other run is started with ``resume=True``, so an interrupted run continues after its
last completed trial (PETS derives every random number from ``(seed, trial)``, so the
resumed run computes what an uninterrupted one would). A run that raises is retried
up to ``max_retries`` times, then reported in the summary, ``sweep.json`` and
``failures.csv``, and the command exits with status 1. Running the same command
again retries only what is not finished.

Execution:

* Local (default): at most ``workers`` processes started with ``spawn`` (JAX is not
  fork-safe), a fresh process per run (so peak RSS and caches are the run's own, and a
  dead process charges an attempt to its own run only). Workers die with the driver
  (a parent-death signal on Linux). With
  more than one worker each process runs XLA on one thread
  (``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1``,
  unless ``XLA_FLAGS`` is already set), so ``workers`` runs share the cores without
  oversubscribing them. Returns are the same with or without the flags.
* Ray (``ray="auto"``: connect to a running cluster, else start a local one;
  ``"local"``: always start a local one with ``workers`` CPUs; or a cluster address):
  one task per run with ``num_cpus=1`` and the same single-thread XLA flags. By
  default no shared filesystem is assumed: the driver sends the run folder's files
  (if any: an interrupted run) to the task, the task runs in a temporary folder on
  its node and returns every file of the run folder as bytes, and the driver writes
  them into ``OUT`` (so the layout is the same as with the local pool). Progress made
  on a node is therefore only saved when its task returns: if the driver dies, a
  run resumes from the last copy the driver received. With ``ray_shared_fs=True``
  the task writes straight into ``OUT`` (which must then be the same path on every
  node) and keeps per-trial checkpoints there. Every node needs ``cemgd`` (and the
  task's extras) installed. Ray is optional: it is imported only when used. A local
  Ray advertises 127.0.0.1 and clusters are reached with token authentication (see
  :mod:`cemgd.sweep.ray_cluster`).

Modules: :mod:`~cemgd.sweep.config` (SweepConfig, presets, run configs),
:mod:`~cemgd.sweep.parse` (seeds and lists, each entry once),
:mod:`~cemgd.sweep.book` (run states, results, sweep.json), :mod:`~cemgd.sweep.local`
(the process pool), :mod:`~cemgd.sweep.ray_cluster`, :mod:`~cemgd.sweep.worker` (one
run), :mod:`~cemgd.sweep.driver` (:func:`run_sweep`).
"""

from cemgd.problem import moved
from cemgd.sweep.book import OK_STATUSES, RunResult, SweepSummary, inspect_run, returns
from cemgd.sweep.config import (
    LAPTOP,
    PAPER,
    RUN_FIELDS,
    SWEEP_PRESETS,
    RunSpec,
    SweepConfig,
    describe_preset,
    estimated_cost,
    expand,
    format_seeds,
    parse_list,
    parse_seeds,
    planner_fields,
    planner_folder,
    run_config,
    task_folder,
)
from cemgd.sweep.driver import run_sweep
from cemgd.sweep.ray_cluster import CONNECT_TIMEOUT_S
from cemgd.sweep.worker import SINGLE_THREAD_XLA, run_one

__all__ = [
    "CONNECT_TIMEOUT_S",
    "LAPTOP",
    "OK_STATUSES",
    "PAPER",
    "RUN_FIELDS",
    "SINGLE_THREAD_XLA",
    "SWEEP_PRESETS",
    "RunResult",
    "RunSpec",
    "SweepConfig",
    "SweepSummary",
    "describe_preset",
    "estimated_cost",
    "expand",
    "format_seeds",
    "inspect_run",
    "parse_list",
    "parse_seeds",
    "planner_fields",
    "planner_folder",
    "returns",
    "run_config",
    "run_one",
    "run_sweep",
    "task_folder",
]

#: kept one release: a "label" is a display label (:func:`cemgd.evaluate.settings_label`)
__getattr__ = moved("cemgd.sweep", {"planner_label": "cemgd.sweep.planner_folder"})
