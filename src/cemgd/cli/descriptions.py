"""What ``cemgd COMMAND --help`` says about each command: written for users.

The library's module docstrings describe the code (modules, config fields, keyword
arguments); these texts describe the command line only, in terms of its flags and the
files it writes.
"""

from __future__ import annotations

EVALUATE = """\
Every planner on one frozen learned model, on the same environment seeds (paired).

cemgd evaluate RUN_DIR --planners P1,P2,... --episodes N --out DIR loads the model a
PETS run (cemgd train) saved after trial --trial (default: its last), or that of a
model folder (cemgd export-model RUN_DIR --out MODEL_DIR: small enough to commit),
checks it against the run's configuration and task, and runs each planner (a name, a
preset or a spec such as cem-gd:n_replan=10) for N closed-loop episodes on the real
environment. Episode k of every planner uses environment seed k (or the k-th of
--seeds), so planners are compared on the same starts: only the planner changes.

The output folder (one command at a time may use it):

    config.json    what identifies the evaluation (task, model hash, trial, episode
                   length): another model into the same folder is refused
    evaluate.json  the planners and their settings, seeds, hardware, the model used
    episodes.csv   one row per (planner, episode), appended as each episode ends
    steps/<planner>-<hash>-<episode>.csv   per step: reward, the model's predicted
                   return of the executed plan and its spread, the real return
    summary.md     per planner: return, step time, rollouts, memory; differences
                   against the --reference planner with a paired 95% interval
    returns.png, return_vs_rollouts.png
    tensorboard/<planner>/   with --tensorboard

Planners run in this process (default), in --workers N processes, or as Ray tasks
(--ray). Rerunning the command resumes an interrupted evaluation episode by episode;
more planners or episodes may be added to the same folder. A missing or damaged run,
model or output folder is refused before anything is written."""

REPORT = """\
The paper's Figures 3 and 4, Tables 1 and 2 and claims, from a sweep or evaluate folder.

cemgd report SWEEP_DIR [--out DIR] reads every run folder under SWEEP_DIR (as cemgd
sweep writes them: <task>/<planner>/seed-<k>; a single cemgd train run folder works
too) and writes into --out (default SWEEP_DIR):

    REPORT.md                      everything below, with the hardware and the protocol
    figure3_returns.png            per task: mean ± std of the episode return vs env steps
    model_quality.png              per task: the model's held-out MSE and training time
    figure4_sample_efficiency.png  per task: best return vs rollouts per step
    table1_time.csv                planning time per step per task and planner
    table2_memory.csv              planning memory per task and planner
    figure3.csv, figure4.csv       the plotted numbers
    claims.csv                     each claim: numbers, the deciding test, the verdict
    runs.csv                       one row per run folder read

SWEEP_DIR may also be (or hold) folders written by cemgd evaluate: the report then
adds the frozen-model comparison and decides the claims on episodes paired by seed.
Each claim gets the measured numbers, a paired difference with a 95% interval and a
verdict: holds, does not hold, or cannot tell at this sample size. With --plan the
plan's primary claims are decided as pre-registered (Holm-corrected); every other
verdict is exploratory. A report on --quick runs says so at the top.

A run folder that is missing files or is damaged is listed in the report and skipped;
so are runs that have not finished all their trials (unless --include-incomplete).
A SWEEP_DIR with no usable run and no evaluation folder is refused, and nothing is
written. Standard deviations are over runs (sample standard deviation; 0 for a single run)."""

SWEEP = """\
Every (task, planner, seed) as one PETS run folder, on a local process pool or Ray.

cemgd sweep --tasks cartpole-swingup,halfcheetah --planners cem-50,cem-gd --seeds 0-4
--out sweeps/mine runs the PETS run of cemgd train once per combination, into:

    OUT/<task>/<planner>/seed-<k>/    a run folder (config.json, metrics.csv, ...)
    OUT/<task>/<planner>/seed-<k>.log the run's output, every attempt appended
    OUT/sweep.json                    the sweep's settings, hardware and every run's status
    OUT/failures.csv                  runs that failed after all retries

Running the same command again continues the sweep: finished runs are skipped,
interrupted runs continue after their last completed trial (with the same results as
an uninterrupted run), and a folder holding a run of another configuration is
reported and left untouched. A run that fails is retried (--max-retries times), then
listed in failures.csv, and the command exits with status 1. One command at a time may
use a sweep folder.

Where the runs go: local worker processes (--workers, default one per core), or Ray
(--ray auto|local|ADDRESS; needs the 'ray' extra and cemgd on every node). With Ray
the run files come back to this machine as each run finishes, unless
--ray-shared-fs says that --out is the same path on every node."""
