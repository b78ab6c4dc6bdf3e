"""The paper's Figures 3 and 4, Tables 1 and 2 and claims, from a sweep or evaluate folder.

``cemgd report SWEEP_DIR [--out DIR]`` reads every run folder under ``SWEEP_DIR``
(``<task>/<planner>/seed-<k>``, as ``cemgd sweep`` writes them; any folder holding a
``config.json`` or ``metrics.csv`` counts) and writes into ``--out`` (default
``SWEEP_DIR``):

    REPORT.md                      everything below, with the hardware and the protocol
    figure3_returns.png            per task: mean ± std of the episode return vs env steps
    model_quality.png              per task: the model's held-out MSE and training time
    figure4_sample_efficiency.png  per task: best return vs rollouts per step, CEM vs CEM-GD
    table1_time.csv                planning time per step per task and planner (+ paper)
    table2_memory.csv              planning memory per task and planner (+ paper)
    figure3.csv, figure4.csv       the plotted numbers (figure3: return, val_mse, train_s)
    claims.csv                     each claim: numbers, the deciding test, the verdict
    runs.csv                       one row per run folder read

``SWEEP_DIR`` may also be (or hold) folders written by ``cemgd evaluate``, one per task
and model:
the report then adds the frozen-model comparison (per-planner summaries, Tables 1 and 2
over episodes, ``<task>_returns.png``, ``<task>_return_vs_rollouts.png``,
``evaluate_*.csv``) and decides the claims on episodes paired by seed. Each claim gets
the measured numbers, the deciding test (a paired difference with a 95% t interval,
:mod:`.stats`) and a verdict: holds, does not hold, or cannot tell at this sample size
(with the sample size at 80% power). With ``--plan`` (:mod:`.plan`) the plan's primary
claims are decided as pre-registered, with Holm's correction; every other verdict is
exploratory. A report on ``--quick`` runs says so at the top.

A folder whose ``config.json`` or ``metrics.csv`` is missing or corrupt is listed
in the report and skipped, never fatal; so are runs that have not finished all their
trials (unless ``include_incomplete``); one that records a field the report reads with
the wrong type (``"horizon": "x"``) counts as corrupt. A folder with no usable run or
evaluation at all is refused before anything is written (an earlier report there stays
as it was). Standard deviations are over runs (sample
standard deviation, ddof = 1; 0 for a single run). Modules: :mod:`.load` (run
folders), :mod:`.episodes` and :mod:`.evaluations` (evaluate folders), :mod:`.tables`,
:mod:`.stats` and :mod:`.claims` (the verdicts), :mod:`.figures`, :mod:`.markdown`,
:mod:`.write`.
"""

from __future__ import annotations

from cemgd.report.claims import CLAIMS, Claim, Samples, check_claims, check_samples
from cemgd.report.load import RunData, Skipped, find_run_folders, load_runs, mean_std, read_run
from cemgd.report.paper import (
    PAPER_HARDWARE,
    PAPER_SETTINGS,
    PAPER_TABLE1_S,
    PAPER_TABLE2_MB,
    PLANNER_ORDER,
    TASK_ORDER,
)
from cemgd.report.tables import (
    figure3_data,
    figure4_data,
    group_runs,
    group_warnings,
    returns_table,
    table1,
    table2,
)
from cemgd.report.write import Report, write_report

__all__ = [
    "CLAIMS", "PAPER_HARDWARE", "PAPER_SETTINGS", "PAPER_TABLE1_S", "PAPER_TABLE2_MB",
    "PLANNER_ORDER", "TASK_ORDER", "Claim", "Report", "RunData", "Samples", "Skipped",
    "check_claims", "check_samples", "figure3_data", "figure4_data", "find_run_folders",
    "group_runs", "group_warnings", "load_runs", "mean_std", "read_run", "returns_table",
    "table1", "table2", "write_report",
]
