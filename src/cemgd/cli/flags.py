"""Config dataclasses to flags and back: ``--<field>``, ``--train.<f>``, ``--planner.<f>``.

One flag per field of a frozen config dataclass, typed by its annotation, with the
field's docstring (markup removed) and default as help. Values a user did not give stay
``None`` in the namespace, so ``--quick`` can shrink a config first and every explicit
flag still wins (:func:`config_from_args` with the shrunk config as ``base``).
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from typing import Any

from cemgd.models import TrainConfig
from cemgd.planners import PLANNERS
from cemgd.planners.base import check_settings
from cemgd.planners.spec import (
    PlannerSpec,
    Setting,
    config_settings,
    planner_settings,
    typed_value,
)

#: TrainConfig fields set by the run, not by flags (from ``--seed``).
TRAIN_DERIVED = ("seed",)


def add_config_arguments(parser: argparse.ArgumentParser, config_cls: type,
                         skip: Sequence[str] = (), prefix: str = "",
                         helps: dict[str, str] | None = None) -> None:
    """Add one ``--<prefix><field>`` flag per field of the dataclass ``config_cls``.

    Each flag is typed and documented by the field's :class:`Setting` (its annotation,
    default and docstring without markup). Fields named in ``skip`` get no flag;
    ``helps`` replaces a field's docstring as its help where that docstring speaks of
    the library rather than the flag. The value lands in ``args.<prefix>__<field>`` with
    ``.`` of the prefix turned into ``__`` (``--train.epochs`` -> ``train__epochs``).
    """
    for setting in config_settings(config_cls):
        if setting.name in skip:
            continue
        flag = "--" + prefix + setting.name.replace("_", "-")
        text = (helps or {}).get(setting.name, setting.doc)
        help_text = f"{text} (default: {setting.default})".replace("%", "%%")
        dest = _dest(prefix, setting.name)
        if setting.element is bool and not setting.many:
            parser.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction,
                                default=None, help=help_text)
        else:
            parser.add_argument(flag, dest=dest, type=setting.element,
                                nargs="+" if setting.many else None, default=None,
                                metavar=setting.name.upper(), help=help_text)


def _dest(prefix: str, name: str) -> str:
    return prefix.replace(".", "__") + name


def given(config_cls: type, args: argparse.Namespace, prefix: str = "",
          skip: Sequence[str] = ()) -> dict[str, Any]:
    """The fields of ``config_cls`` whose flags were given, typed (sequences as tuples)."""
    changes: dict[str, Any] = {}
    for setting in config_settings(config_cls):
        value = getattr(args, _dest(prefix, setting.name), None)
        if value is not None and setting.name not in skip:
            changes[setting.name] = tuple(value) if setting.many else value
    return changes


def config_from_args(config_cls: type, args: argparse.Namespace, base: Any = None,
                     skip: Sequence[str] = ()) -> Any:
    """``config_cls`` from parsed flags; flags not given (or named in ``skip``) keep
    ``base``'s values."""
    base = config_cls() if base is None else base
    return dataclasses.replace(base, **given(config_cls, args, skip=skip))


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """``--train.<setting>`` flags, one per TrainConfig field a user may set."""
    add_config_arguments(parser, TrainConfig, skip=TRAIN_DERIVED, prefix="train.")


def train_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The ``--train.<setting>`` values given on the command line."""
    return given(TrainConfig, args, prefix="train.", skip=TRAIN_DERIVED)


def planner_setting_map(spec: str) -> dict[str, Setting]:
    """Settings of the planner named by ``spec`` (``name[:key=value,...]``), by name."""
    return {x.name: x for x in planner_settings(PlannerSpec.parse(spec, "planners").family)}


def planner_flags(extra: Sequence[str], planners: Sequence[str]) -> dict[str, Any]:
    """``--planner.<setting> VALUE`` (or ``=VALUE``) pairs, typed by the first planner of
    ``planners`` that has the setting.

    Raises:
        ValueError: an unknown argument, a missing value, or a setting no planner has.
    """
    options: dict[str, Any] = {}
    items = list(extra)
    while items:
        flag = items.pop(0)
        name, eq, value = flag.partition("=")
        if not name.startswith("--planner."):
            raise ValueError(f"{flag}: unknown argument")
        key = name[len("--planner."):].replace("-", "_")
        if not eq:
            if not items or items[0].startswith("--"):
                raise ValueError(f"{name}: expected a value")
            value = items.pop(0)
        owner = next((d for d in map(planner_setting_map, planners) if key in d), None)
        if owner is None and len(planners) == 1:
            family = PlannerSpec.parse(planners[0], "planners").family
            check_settings(family, PLANNERS[family].Config, [key], where=name)
        if owner is None:
            listed = ", ".join(repr(p) for p in planners)
            raise ValueError(f"{name}: not a setting of any of the planners {listed}")
        options[key] = typed_value(name, value, owner[key])
    return options


def flag_error(err: ValueError, flags: dict[str, str]) -> ValueError:
    """``err`` with its leading setting (``key: ...``) named as the flag or spec that gave
    it: ``flags`` maps each setting to that name (``n_replan`` -> ``--planner.n-replan``);
    a setting not in ``flags`` leaves the message as it is."""
    key, colon, rest = str(err).partition(": ")
    return ValueError(f"{flags[key]}: {rest}") if colon and key in flags else err
