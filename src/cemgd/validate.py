"""Argument checks shared by planner and task configs: each raises ValueError naming the field."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def check_positive_int(name: str, value: Any, minimum: int = 1) -> None:
    """Raise ValueError unless ``value`` is an int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value!r}")


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
