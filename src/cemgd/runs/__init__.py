"""The run folder: its layout, the trial metrics record, the lock and the commit protocol.

Layout of a PETS run folder (see :class:`RunFolder`)::

    config.json                 the resolved configuration
    metrics.csv                 one row per trial (:data:`METRIC_COLUMNS`)
    checkpoints/state.json      last completed trial, its metrics rows, file names
    checkpoints/<kind>-TTT.npz  the files a trial commits (model, buffer)
    .lock                       pid of the process holding (or last holding) the lock

Studies write their tables through :class:`StudyFolder`; sweeps lock their folder with
:func:`lock_folder`. Every file a later run reads is written by :func:`write_atomic`.
"""

from cemgd.runs.errors import RunError
from cemgd.runs.files import remove, write_atomic
from cemgd.runs.folder import (
    CONFIG_FILE,
    RunFolder,
    RunState,
    check_out_path,
    config_diff,
    read_json_object,
)
from cemgd.runs.lock import LOCK_FILE, FolderLock, lock_folder
from cemgd.runs.metrics import (
    METRIC_COLUMNS,
    METRICS_FILE,
    TrialMetrics,
    metrics_csv_text,
    read_metrics,
)
from cemgd.runs.study import StudyFolder

__all__ = [
    "CONFIG_FILE",
    "LOCK_FILE",
    "METRICS_FILE",
    "METRIC_COLUMNS",
    "FolderLock",
    "RunError",
    "RunFolder",
    "RunState",
    "StudyFolder",
    "TrialMetrics",
    "check_out_path",
    "config_diff",
    "lock_folder",
    "metrics_csv_text",
    "read_json_object",
    "read_metrics",
    "remove",
    "write_atomic",
]
