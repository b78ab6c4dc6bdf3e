"""Deprecated home of the jitted whole-episode runner: it lives in :mod:`cemgd.mpc`.

``cemgd.experiments.episodes.episode_fn``, ``trials_fn`` and ``run_trials`` are
:func:`cemgd.mpc.episode_fn`, :func:`cemgd.mpc.trials_fn` and :func:`cemgd.mpc.run_trials`;
its ``Episode`` is :class:`cemgd.mpc.Trajectory` (``Episode`` names the recorded
episode, :class:`cemgd.pets.Episode`). Each old name still works for one release and
warns (``DeprecationWarning``) naming its replacement.
"""

from __future__ import annotations

import warnings
from typing import Any

from cemgd import mpc

#: Old name -> (its replacement's name in :mod:`cemgd.mpc`).
_MOVED = {"Episode": "Trajectory", "episode_fn": "episode_fn", "trials_fn": "trials_fn",
          "run_trials": "run_trials"}


def __getattr__(name: str) -> Any:
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    new = _MOVED[name]
    warnings.warn(f"cemgd.experiments.episodes.{name} is deprecated; use cemgd.mpc.{new}",
                  DeprecationWarning, stacklevel=2)
    return getattr(mpc, new)


def __dir__() -> list[str]:
    return sorted(_MOVED)
