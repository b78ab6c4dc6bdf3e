"""Config dataclasses to flags and back: ``--<field>``, ``--train.<f>``, ``--planner.<f>``.

One flag per field of a frozen config dataclass, typed by its annotation, with the
field's docstring (markup removed) and default as help. Values a user did not give stay
``None`` in the namespace, so ``--quick`` can shrink a config first and every explicit
flag still wins (:func:`config_from_args` with the shrunk config as ``base``).
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Sequence
from typing import Any

from cemgd.models import TrainConfig
from cemgd.planners.spec import PlannerSpec, Setting, field_docs, planner_settings, typed_value

#: TrainConfig fields set by the run, not by flags (``--activation``, ``--seed``).
TRAIN_DERIVED = ("activation", "seed")


def _field_type(tp: Any) -> tuple[type, bool]:
    """``(element type, is_sequence)`` of a config field's annotation."""
    origin = typing.get_origin(tp)
    if origin in (tuple, list, Sequence):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return (args[0] if args else str), True
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _field_type(args[0])
    if origin is typing.Literal:
        return type(typing.get_args(tp)[0]), False
    return tp, False


def config_docs(config_cls: type) -> dict[str, str]:
    """One line of help per field of ``config_cls`` (its docstring, without markup)."""
    return field_docs(config_cls)


def add_config_arguments(parser: argparse.ArgumentParser, config_cls: type,
                         skip: Sequence[str] = (), prefix: str = "",
                         helps: dict[str, str] | None = None) -> None:
    """Add one ``--<prefix><field>`` flag per field of the dataclass ``config_cls``.

    Fields named in ``skip`` get no flag; ``helps`` replaces a field's docstring as its
    help where that docstring speaks of the library rather than the flag.
    The value lands in ``args.<prefix>__<field>`` with ``.`` of the prefix turned into
    ``__`` (``--train.epochs`` -> ``train__epochs``).
    """
    hints = typing.get_type_hints(config_cls)
    docs = config_docs(config_cls)
    for f in dataclasses.fields(config_cls):
        if f.name in skip:
            continue
        elem, many = _field_type(hints[f.name])
        flag = "--" + prefix + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        text = (helps or {}).get(f.name, docs.get(f.name, ""))
        help_text = f"{text} (default: {default})".replace("%", "%%")
        dest = _dest(prefix, f.name)
        if elem is bool and not many:
            parser.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction,
                                default=None, help=help_text)
        else:
            parser.add_argument(flag, dest=dest, type=elem, nargs="+" if many else None,
                                default=None, metavar=f.name.upper(), help=help_text)


def _dest(prefix: str, name: str) -> str:
    return prefix.replace(".", "__") + name


def given(config_cls: type, args: argparse.Namespace, prefix: str = "",
          skip: Sequence[str] = ()) -> dict[str, Any]:
    """The fields of ``config_cls`` whose flags were given, typed (sequences as tuples)."""
    hints = typing.get_type_hints(config_cls)
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(config_cls):
        value = getattr(args, _dest(prefix, f.name), None)
        if value is not None and f.name not in skip:
            changes[f.name] = tuple(value) if _field_type(hints[f.name])[1] else value
    return changes


def config_from_args(config_cls: type, args: argparse.Namespace, base: Any = None) -> Any:
    """``config_cls`` from parsed flags; flags not given keep ``base``'s values."""
    base = config_cls() if base is None else base
    return dataclasses.replace(base, **given(config_cls, args))


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
        if owner is None:
            which = (f"planner {planners[0]!r}" if len(planners) == 1 else
                     f"any of the planners {', '.join(repr(p) for p in planners)}")
            raise ValueError(f"{name}: not a setting of {which}")
        options[key] = typed_value(name, value, owner[key])
    return options
