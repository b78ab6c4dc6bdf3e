"""The run folder: its layout, the trial metrics record, the lock and the commit protocol.

Layout of a PETS run folder (see :class:`RunFolder`)::

    config.json                 the resolved configuration
    metrics.csv                 one row per trial (:data:`METRIC_COLUMNS`)
    checkpoints/state.json      last completed trial, its metrics rows, file names
    checkpoints/<name>-TTT.npz  the files a trial commits (model, buffer)
"""

from cemgd.runs.errors import RunError
from cemgd.runs.metrics import (
    METRIC_COLUMNS,
    METRICS_FILE,
    TrialMetrics,
    metrics_csv_text,
    read_metrics,
)

__all__ = [
    "METRICS_FILE",
    "METRIC_COLUMNS",
    "RunError",
    "TrialMetrics",
    "metrics_csv_text",
    "read_metrics",
]
