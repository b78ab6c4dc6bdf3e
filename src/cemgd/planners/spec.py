"""Planner specs: ``"name"``, a preset ``"cem-500"`` or ``"name:key=value,key=value"``.

The one place that parses, formats and labels planner specs, lists a planner's
settings (type, default, doc) and shrinks a planner config for ``--quick``:

>>> spec = PlannerSpec.parse("cem-gd:n_replan=20,line_search=parallel")
>>> spec.family, spec.settings["n_replan"], spec.format()
('cem-gd', 20, 'cem-gd:n_replan=20,line_search=parallel')

Values are typed by the planner's config (``step_size=1`` is the float ``1.0``;
booleans are ``true``/``false``; ``none`` is ``None`` where a setting allows it).
"""

from __future__ import annotations

import dataclasses
import functools
import re
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import docstring_parser

from cemgd.planners.base import Planner, check_settings
from cemgd.planners.registry import PLANNERS, PRESETS, resolve_planner

#: The ``--quick`` caps, the one table for every planner: a setting a config has is
#: lowered to ``min(value, cap)`` (see :func:`quick_config`).
QUICK_CAPS: dict[str, int] = {
    "num_samples": 20, "num_iterations": 2, "n_init": 200, "n_replan": 10, "grad_steps": 3,
    "line_search_trials": 3, "inner_steps": 1,
}
_COUNTS = ("n_init", "n_replan", "num_samples", "num_iterations")


@dataclass(frozen=True)
class Setting:
    """One setting of a planner's config.

    Attributes:
        name: the config field.
        type: its annotation (``int``, ``float``, ``bool``, ``str``, a ``Literal``...).
        default: the planner's (or preset's) default.
        doc: one line of plain text (no reST markup).
        choices: the allowed values of a ``Literal`` setting, else ``()``.
        element: the Python type of one value (``int`` for ``tuple[int, ...]``).
        many: the setting holds a sequence (a tuple or list) of ``element``.
        optional: the setting allows ``None``.
    """

    name: str
    type: Any
    default: Any
    doc: str
    choices: tuple[Any, ...] = ()
    element: Any = str
    many: bool = False
    optional: bool = False


@dataclass(frozen=True, eq=True)
class PlannerSpec:
    """A planner or preset name and the settings that change its defaults: what a run,
    a sweep and an evaluation hold to name a planner.

    Constructing one validates it (the planner exists, every setting is one of its
    config's, and the config accepts the values); :meth:`config` is the typed config.

    Attributes:
        name: a registry name (``"cem-gd"``) or a preset (``"cem-500"``).
        settings: typed settings, in the order given (they override the preset's).
        given: the text :meth:`parse` read, as given (None: made from its parts); not
            compared. :attr:`text` is it, or the canonical :meth:`format`.
    """

    name: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    given: str | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        family, preset = resolve_planner(self.name)  # ValueError naming an unknown planner
        if not isinstance(self.settings, Mapping):
            raise ValueError(f"settings: expected a mapping of settings, got {self.settings!r}")
        config_cls = PLANNERS[family].Config
        check_settings(family, config_cls, self.settings, where="settings")
        object.__setattr__(self, "settings", dict(self.settings))
        object.__setattr__(self, "_config", config_cls(**{**preset, **self.settings}))

    def __hash__(self) -> int:
        return hash((self.name, tuple(sorted((k, repr(v)) for k, v in self.settings.items()))))

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.name, dict(self.settings), self.given))

    @classmethod
    def parse(cls, text: str | PlannerSpec, where: str = "planner") -> PlannerSpec:
        """Read ``"name"``, ``"preset"`` or ``"name:key=value,..."`` (dashes in keys allowed).

        Args:
            text: the spec (a PlannerSpec is returned as is).
            where: the argument named in error messages (e.g. ``"planners"``).

        Raises:
            ValueError: starting with ``where``: an unknown planner, a setting the planner
                does not have or given twice, an item without ``=``, ``name:`` with
                nothing after the colon, or a value its setting refuses.
        """
        if isinstance(text, PlannerSpec):
            return text
        name, settings = cls.parse_settings(text, where)
        try:
            return cls(name, settings, given=text)
        except ValueError as err:
            raise ValueError(f"{where} ({text}): {err}") from None

    @staticmethod
    def parse_settings(text: str, where: str = "planner") -> tuple[str, dict[str, Any]]:
        """The name and typed settings of spec ``text``, each setting checked on its own
        (the planner has it, its value has the setting's type) but not yet the config they
        make together: for callers that add settings first (``--quick``, flags).

        Raises:
            ValueError: starting with ``where``, as :meth:`parse`.
        """
        if not isinstance(text, str):
            raise ValueError(f"{where}: expected a planner spec string, got {text!r}")
        name, colon, rest = text.partition(":")
        name = name.strip()
        if colon and not rest.strip():
            raise ValueError(f"{where}: expected key=value after ':' in {text!r}")
        try:
            family, _ = resolve_planner(name)
        except ValueError as err:
            raise ValueError(str(err).replace("name:", f"{where}:", 1)) from None
        known = {s.name: s for s in planner_settings(family)}
        settings: dict[str, Any] = {}
        for item in filter(None, (s.strip() for s in rest.split(","))):
            key, eq, value = item.partition("=")
            key = key.strip().replace("-", "_")
            if not eq:
                raise ValueError(f"{where}: expected key=value in {text!r}, got {item!r}")
            check_settings(family, PLANNERS[family].Config, [key], where=f"{where} ({text})")
            if key in settings:
                raise ValueError(f"{where} ({text}): {key} given twice")
            settings[key] = typed_value(f"{where} ({text}): {key}", value.strip(), known[key])
        return name, settings

    def format(self) -> str:
        """Canonical text: ``name`` or ``name:key=value,...``; ``parse`` reads it back."""
        if not self.settings:
            return self.name
        return self.name + ":" + ",".join(
            f"{k}={format_value(v)}" for k, v in self.settings.items()
        )

    def __str__(self) -> str:
        return self.format()

    @property
    def text(self) -> str:
        """The spec as the user gave it (:attr:`given`), else :meth:`format`."""
        return self.format() if self.given is None else self.given

    @property
    def family(self) -> str:
        """The registry name (``"cem"`` for ``"cem-500"``)."""
        return resolve_planner(self.name)[0]

    @property
    def preset(self) -> dict[str, Any]:
        """The preset's settings (empty for a registry name)."""
        return resolve_planner(self.name)[1]

    def config(self) -> Any:
        """The resolved, typed planner config: defaults, then the preset, then ``settings``
        (built and checked when the spec was made)."""
        return self._config  # type: ignore[attr-defined]

    def with_settings(self, **settings: Any) -> PlannerSpec:
        """A copy with ``settings`` added (they win over existing ones)."""
        return PlannerSpec(self.name, {**self.settings, **settings})

    def with_defaults(self, **defaults: Any) -> PlannerSpec:
        """A copy where ``defaults`` fill the settings that neither the spec nor its preset
        sets (settings the planner does not have are ignored)."""
        known = {s.name for s in planner_settings(self.family)}
        fill = {k: v for k, v in defaults.items()
                if k in known and k not in self.preset and k not in self.settings}
        return PlannerSpec(self.name, {**fill, **self.settings})

    @property
    def label(self) -> str:
        """Human label for tables and plots, e.g. ``CEM 500 (100x5)`` or ``CEM-GD 50 parallel``.

        Sample counts come from the resolved config; settings beyond the counts are
        listed after it (``line_search`` by its value alone).
        """
        config = self.config()
        extra_preset = any(k not in _COUNTS for k in self.preset)
        head = (self.name if extra_preset else self.family).upper()
        if hasattr(config, "n_replan"):
            text = f"{head} {config.n_replan}"
        elif hasattr(config, "num_samples") and hasattr(config, "num_iterations"):
            n, m = config.num_samples, config.num_iterations
            text = f"{head} {n * m} ({n}x{m})"
        elif hasattr(config, "num_samples"):
            text = f"{head} {config.num_samples}"
        else:
            text = head
        extra = [format_value(v) if k == "line_search" else f"{k}={format_value(v)}"
                 for k, v in self.settings.items() if k not in _COUNTS]
        return " ".join([text, *extra])


def format_value(value: Any) -> str:
    """A setting's value as spec text (``true``/``false``, ``none``, ``repr`` of floats)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def typed_value(where: str, value: Any, setting: Setting | Any) -> Any:
    """``value`` (spec text, or already typed) as ``setting``'s type.

    ``setting`` may be a :class:`Setting` or, for callers typing by example, a default
    value (its Python type is used).

    Raises:
        ValueError: starting with ``where``, if ``value`` does not convert.
    """
    if not isinstance(value, str):
        return value
    if isinstance(setting, Setting):
        tp, choices, optional = setting.element, setting.choices, setting.optional
    else:
        tp, choices, optional = type(setting), (), setting is None
    if optional and value.lower() == "none":
        return None
    try:
        if tp is bool:
            if value.lower() not in ("true", "false"):
                raise ValueError(value)
            result: Any = value.lower() == "true"
        elif tp in (int, float):
            result = tp(value)
        else:
            result = value
    except ValueError:
        raise ValueError(
            f"{where}: expected a value of type {tp.__name__}, got {value!r}"
        ) from None
    if choices and result not in choices:
        raise ValueError(f"{where}: expected one of {list(choices)}, got {value!r}")
    return result


def _describe(annotation: Any) -> tuple[Any, tuple[Any, ...], bool, bool]:
    """``(element type, Literal choices, allows None, is a sequence)`` of a config
    field's annotation: the one reading of config annotations (settings and flags)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        choices = typing.get_args(annotation)
        return type(choices[0]), choices, False, False
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        tp, choices, _, many = _describe(args[0])
        return tp, choices, len(args) < len(typing.get_args(annotation)), many
    if origin in (tuple, list, Sequence):
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        tp, choices, _, _ = _describe(args[0]) if args else (str, (), False, False)
        return tp, choices, False, True
    return annotation, (), False, False


@functools.cache
def config_settings(config_cls: type) -> tuple[Setting, ...]:
    """Every field of the dataclass ``config_cls`` as a :class:`Setting` (type, default,
    plain doc), in field order: what planner settings and the CLI's flags are made of."""
    hints = typing.get_type_hints(config_cls)
    docs = field_docs(config_cls)
    out = []
    for f in dataclasses.fields(config_cls):
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        element, choices, optional, many = _describe(hints[f.name])
        out.append(Setting(f.name, hints[f.name], default, docs.get(f.name, ""), choices,
                           element, many, optional))
    return tuple(out)


def planner_settings(name: str) -> list[Setting]:
    """The settings of planner or preset ``name``, in config order (preset defaults applied).

    Raises:
        ValueError: naming ``name`` if it is not a planner or preset.
    """
    family, preset = resolve_planner(name)
    return [dataclasses.replace(s, default=preset.get(s.name, s.default))
            for s in config_settings(PLANNERS[family].Config)]


_REST = [
    (re.compile(r":[a-z]+:`~?([^`]+)`"), r"\1"),  # :func:`x` -> x
    (re.compile(r"``([^`]+)``"), r"\1"),          # ``x`` -> x
    (re.compile(r"`([^`]+)`"), r"\1"),            # `x` -> x
]


def plain_text(doc: str) -> str:
    """``doc`` on one line, without reST roles and literals."""
    doc = " ".join(doc.split())
    for pattern, repl in _REST:
        doc = pattern.sub(repl, doc)
    return doc


@functools.cache
def field_docs(config_cls: type) -> dict[str, str]:
    """The docstring under each field of a dataclass and its bases, as plain text.

    The one accessor of field docs (settings, ``--help``, the generated guide). The docs
    are attribute docstrings (a string under each field), the convention Sphinx and tyro
    read; docstring_parser (the library tyro reads them with) reads each class of the
    MRO, so a field a subclass re-declares takes the subclass's doc.
    """
    docs: dict[str, str] = {}
    for cls in reversed(config_cls.__mro__):
        if not dataclasses.is_dataclass(cls):
            continue
        try:
            parsed = docstring_parser.parse_from_object(cls)
        except (OSError, TypeError, docstring_parser.ParseError):  # no source to read
            continue
        own = {f.name for f in dataclasses.fields(cls)}
        docs.update({p.arg_name: plain_text(p.description or "") for p in parsed.params
                     if p.args[:1] == ["attribute"] and p.arg_name in own and p.description})
    return docs


def quick_config(config: Any, keep: Iterable[str] = ()) -> Any:
    """``config`` with its sizes capped by :data:`QUICK_CAPS` (for ``--quick``).

    Settings named in ``keep`` are left as they are. CEM-GD's ``n_init`` and
    ``n_replan`` are rounded down to a multiple of ``num_iterations`` (at least one
    per iteration) and ``top_k`` to at most their minimum, so the result is valid.
    """
    keep = set(keep)
    fields = {f.name for f in dataclasses.fields(config)}
    changes = {k: min(getattr(config, k), cap) for k, cap in QUICK_CAPS.items()
               if k in fields and k not in keep}
    merged = {k: changes.get(k, getattr(config, k)) for k in fields}
    if "n_init" in fields and "num_iterations" in fields:
        m = merged["num_iterations"]
        for k in ("n_init", "n_replan"):
            if k not in keep:
                changes[k] = max(m, merged[k] // m * m)
                merged[k] = changes[k]
        if "top_k" in fields and "top_k" not in keep:
            changes["top_k"] = min(merged["top_k"], merged["n_init"], merged["n_replan"])
    return dataclasses.replace(config, **changes)


def quick_spec(name: str, settings: Mapping[str, Any]) -> PlannerSpec:
    """Planner or preset ``name`` with its sizes capped for ``--quick`` (:func:`quick_config`),
    then ``settings`` applied as given (they are not capped).

    Raises:
        ValueError: the settings and the capped sizes make an invalid config.
    """
    preset = PlannerSpec(name).config()
    before = dataclasses.asdict(preset)
    after = dataclasses.asdict(quick_config(preset, keep=settings))
    options = {k: v for k, v in after.items() if v != before[k] and k not in settings}
    return PlannerSpec(name, {**options, **settings})


def make_planner(spec_or_name: str | PlannerSpec, **overrides: Any) -> Planner:
    """Build a planner from a spec, a preset or ``"name:key=value,..."``; ``overrides`` win.

    Raises:
        ValueError: an unknown planner (naming ``name``), or a setting the planner does not
            have or refuses (naming the setting).
    """
    spec = PlannerSpec.parse(spec_or_name, where="name")
    return PLANNERS[spec.family](spec.config(), **overrides)


__all__ = [
    "PRESETS", "QUICK_CAPS", "PlannerSpec", "Setting", "config_settings", "field_docs",
    "format_value", "make_planner", "planner_settings", "plain_text", "quick_config",
    "quick_spec", "typed_value",
]
