"""What the PETS loop reports as it goes: an events object instead of progress-bar handles."""

from __future__ import annotations

from types import TracebackType

from cemgd.runs import TrialMetrics
from cemgd.runtime import console, progress


def trial_label(trial: int, trials: int) -> str:
    """``"trial 1 (2 of 2)"``: the trial's number as everywhere else, then its count.

    Trials are numbered from 0 wherever a user reads or names one: ``metrics.csv``'s
    ``trial`` column, ``videos/trial-001.gif`` and its caption, ``checkpoints/``,
    ``cemgd evaluate --trial``.
    """
    return f"trial {trial} ({trial + 1} of {trials})"


class RunEvents:
    """Hooks :func:`cemgd.pets.run` calls; this base class ignores them all.

    Subclass it to log, draw or record a run (tests use it to interrupt one).
    """

    def started(self, trials: int, completed: int, episode_length: int) -> None:
        """The run starts with ``completed`` of ``trials`` trials done."""

    def phase(self, trial: int, what: str) -> None:
        """Trial ``trial`` enters ``what``: ``"training"``, ``"compiling"`` or ``"episode"``."""

    def step(self, trial: int, step: int, episode_return: float, plan_ms: float) -> None:
        """Step ``step`` of trial ``trial``'s episode is done."""

    def trial_done(self, row: TrialMetrics, trials: int) -> None:
        """Trial ``row.trial`` is committed to the run folder."""

    def message(self, text: str) -> None:
        """A line for the user (resuming, nothing left to do)."""

    def __enter__(self) -> RunEvents:
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> None:
        return None


class ConsoleEvents(RunEvents):
    """Messages and one line per trial on the console; progress bars when ``bars``."""

    def __init__(self, bars: bool = True) -> None:
        self._bar = progress(enabled=bars)
        self._trials_id = self._steps_id = None
        self._trials = 0

    def __enter__(self) -> ConsoleEvents:
        self._bar.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._bar.__exit__(kind, err, tb)

    def started(self, trials: int, completed: int, episode_length: int) -> None:
        self._trials = trials
        self._trials_id = self._bar.add_task("trials", total=trials, completed=completed)
        self._steps_id = self._bar.add_task("steps", total=episode_length)

    def phase(self, trial: int, what: str) -> None:
        self._bar.update(self._trials_id, description=f"{trial_label(trial, self._trials)} {what}")
        if what == "episode":
            self._bar.reset(self._steps_id)

    def step(self, trial: int, step: int, episode_return: float, plan_ms: float) -> None:
        self._bar.update(self._steps_id, advance=1,
                         description=f"return {episode_return:.1f} · {plan_ms:.1f} ms/step")

    def trial_done(self, row: TrialMetrics, trials: int) -> None:
        self._bar.update(self._trials_id, advance=1)
        self.message(
            f"{trial_label(row.trial, trials)}: return {row.episode_return:.1f}, "
            f"{row.plan_ms_mean:.1f} ms/step (max {row.plan_ms_max:.1f}), "
            f"model val MSE {row.val_mse:.4g}, train {row.train_s:.1f} s"
        )

    def message(self, text: str) -> None:
        console().print(text)
