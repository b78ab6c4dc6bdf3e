"""Argument checks shared by planner and task configs: each raises ValueError naming the field;
and :class:`CommandLineNames`, the code a command line named (the one allow-list the task
and planner registries share)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np


def check_range(
    name: str, value: Any, low: float, high: float, *, low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Raise ValueError unless ``value`` is a real number in the given interval."""
    ok = isinstance(value, int | float | np.floating | np.integer) and not isinstance(value, bool)
    if ok:
        v = float(value)
        ok = math.isfinite(v) and (v > low if low_open else v >= low)
        ok = ok and (v < high if high_open else v <= high)
    if not ok:
        lb = "(" if low_open else "["
        hb = ")" if high_open else "]"
        raise ValueError(f"{name}: expected a number in {lb}{low}, {high}{hb}, got {value!r}")


def check_positive(field: str, value: Any) -> None:
    """Raise ``ValueError`` naming ``field`` unless ``value`` is a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise ValueError(f"{field}: expected a finite number > 0, got {value!r}")
    if not math.isfinite(float(value)) or value <= 0:
        raise ValueError(f"{field}: expected a finite number > 0, got {value!r}")


def check_nonnegative(field: str, value: Any) -> None:
    """Raise ``ValueError`` naming ``field`` unless ``value`` is a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise ValueError(f"{field}: expected a finite number >= 0, got {value!r}")
    if not math.isfinite(float(value)) or value < 0:
        raise ValueError(f"{field}: expected a finite number >= 0, got {value!r}")


def check_finite(field: str, value: Any) -> None:
    """Raise ``ValueError`` naming ``field`` unless ``value`` is a finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise ValueError(f"{field}: expected a finite number, got {value!r}")
    if not math.isfinite(float(value)):
        raise ValueError(f"{field}: expected a finite number, got {value!r}")


def check_int(field: str, value: Any, low: int = 1, high: int | None = None) -> None:
    """Raise ``ValueError`` naming ``field`` unless ``value`` is an int in ``[low, high]``."""
    expected = f"an int >= {low}" if high is None else f"an int in [{low}, {high}]"
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{field}: expected {expected}, got {value!r}")
    if value < low or (high is not None and value > high):
        raise ValueError(f"{field}: expected {expected}, got {value!r}")


SEED_MAX = 2**32 - 1
"""The largest seed a command takes: every seed feeds NumPy's and JAX's generators."""

MAX_SEEDS = 10_000
"""The most seeds (episodes, or runs per task and planner) one command takes."""


def check_seed(field: str, value: Any, count: int = 1) -> None:
    """Raise ``ValueError`` naming ``field`` unless ``value`` is an int in ``[0, SEED_MAX]``
    and so are the ``count`` seeds ``value, value + 1, ...`` that trials derive from it."""
    check_int(field, value, 0, SEED_MAX - max(count, 1) + 1)


def check_distinct(field: str, values: Iterable[Any],
                   key: Callable[[Any], Any] = lambda value: value, what: str = "value",
                   show: Callable[[Any], str] = repr) -> None:
    """Raise ValueError naming ``field`` and the repeated value (as ``show`` gives it) if two
    of ``values`` have the same ``key`` (a planner spec's canonical text, say): the work
    would be done twice."""
    seen: dict[Any, Any] = {}
    for value in values:
        k = key(value)
        if k in seen:
            first = seen[k]
            twice = (f"{show(value)} is given twice" if show(first) == show(value)
                     else f"{show(first)} and {show(value)} are the same {what}")
            raise ValueError(f"{field}: {twice}; give each once")
        seen[k] = value


def check_point(field: str, value: Any, dim: int) -> None:
    """Raise ``ValueError`` naming ``field`` unless ``value`` is ``dim`` finite numbers."""
    array = np.asarray(value, dtype=np.float64)
    if array.shape != (dim,) or not np.all(np.isfinite(array)):
        raise ValueError(f"{field}: expected {dim} finite numbers, got {value!r}")


class CommandLineNames:
    """The names of code (task import paths, installed planners) the running command line
    gave, so that nothing else is imported on a folder's say-so: ``names`` is ``None``
    outside a command line (a library caller names its own code)."""

    def __init__(self) -> None:
        self.names: frozenset[str] | None = None

    @contextlib.contextmanager
    def within(self, named: Iterable[str]) -> Iterator[None]:
        """Within: ``names`` is ``frozenset(named)``; the previous value is restored after,
        also on error (so contexts nest)."""
        previous, self.names = self.names, frozenset(named)
        try:
            yield
        finally:
            self.names = previous

    def allows(self, name: str) -> bool:
        """Whether code under ``name`` may be imported: outside a command line, or named."""
        return self.names is None or name in self.names
