"""A library error as the command line shows it: the flag's name, and a suggestion.

The library names the argument or field that is wrong (``trials: expected an int >= 1``);
on the command line the user typed a flag, so :func:`user_message` names that flag
(``--trials: ...``) and adds ``did you mean 'cem-gd'?`` to an unknown planner or task
that is close to a known one.
"""

from __future__ import annotations

import argparse
import difflib
import re
from collections.abc import Iterable

_FIELD = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*): ")
_UNKNOWN = re.compile(r"unknown (planner|task) '([^']+)'")


def flag_names(parser: argparse.ArgumentParser) -> dict[str, str]:
    """``dest -> its long flag`` of every optional argument of ``parser``."""
    names: dict[str, str] = {}
    for action in parser._actions:  # argparse keeps no public list of its arguments
        long = [s for s in action.option_strings if s.startswith("--")]
        if long and action.dest not in names:
            names[action.dest] = long[0]
    return names


def known_names(kind: str) -> list[str]:
    """Every planner (names and presets) or every task name, for suggestions."""
    if kind == "planner":
        from cemgd.planners.registry import PLANNERS, PRESETS

        return [*PLANNERS, *PRESETS]
    from cemgd.tasks import ENV_TASKS

    return list(ENV_TASKS)


def suggestion(word: str, candidates: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for the closest of ``candidates`` (``""`` if none is close)."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def user_message(message: str, flags: dict[str, str]) -> str:
    """``message`` with its leading field named as the flag (``trials:`` -> ``--trials:``)
    and a suggestion after an unknown planner or task name."""
    field = _FIELD.match(message)
    if field and field.group(1) in flags:
        message = f"{flags[field.group(1)]}: {message[field.end():]}"
    unknown = _UNKNOWN.search(message)
    if unknown and "did you mean" not in message:
        hint = suggestion(unknown.group(2).split(":")[0], known_names(unknown.group(1)))
        if hint:
            message = f"{message[:unknown.end()]}{hint}{message[unknown.end():]}"
    return message
