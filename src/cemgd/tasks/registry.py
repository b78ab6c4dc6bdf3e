"""Finding an environment-backed task by name or import path.

Three ways to make a task known, all resolved by :func:`resolve_env_task`:

* built in or registered: ``register_task("my-task", factory)`` (for libraries);
* installed: an entry point in the group ``cemgd.tasks`` of an installed package,
  ``my-task = "my_package.tasks:make_task"`` (``[project.entry-points."cemgd.tasks"]``
  in its ``pyproject.toml``); loaded the first time a name is looked up;
* by path: ``"package.module:factory"`` (or ``"package.module:TASK"``, a task object),
  imported on use, as ``cemgd train --task package.module:factory`` does; the module
  may also be a file, ``"path/to/my_tasks.py:factory"``.

A factory is any callable returning an :class:`~cemgd.tasks.env.EnvTask` (a task
class, or a function such as ``lambda **kw: from_gymnasium(...)``).

Security: an import path is code. The library imports whatever path its caller gives;
the command line runs its commands inside :func:`only_named_code`, so a path is imported
only when that command's own ``--task``/``--tasks`` (a task) or ``--model`` (a dynamics
model, :func:`load_code` with ``flag="--model"``) named it, never because a folder
(``config.json``, ``sweep.json``, ...) records it (:class:`CodeNotNamed`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import importlib.metadata
import importlib.util
import inspect
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from cemgd.tasks.env import EnvTask
from cemgd.validate import CommandLineNames

#: The entry-point group an installed package lists its tasks under.
ENTRY_POINT_GROUP = "cemgd.tasks"

#: Task name -> factory of the environment-backed tasks (built-in and registered).
ENV_TASKS: dict[str, Callable[..., EnvTask]] = {}

_entry_points_loaded = False

#: Import paths a command line named, by the flag that names them (``--task``,
#: ``--model``; :func:`only_named_code`); ``names`` is ``None`` outside one: any import
#: path its caller gives is imported (the library's callers name their own code).
_NAMED = {"--task": CommandLineNames(), "--model": CommandLineNames()}


class CodeNotNamed(ValueError):
    """A task or model given by import path (code) that the command line did not name."""


def is_code_spec(task: object) -> bool:
    """Whether ``task`` is an import path (``module:factory``, ``file.py:factory``),
    i.e. code that resolving it imports, rather than a registered name."""
    return isinstance(task, str) and ":" in task


@contextlib.contextmanager
def only_named_code(named: Iterable[str], models: Iterable[str] = ()) -> Iterator[None]:
    """Within: import task code only for the import paths in ``named`` and model code
    only for those in ``models`` (what the command line gave with ``--task``/``--tasks``
    and ``--model``); any other path is refused with :class:`CodeNotNamed`, whoever asks
    (a folder's ``config.json``, a report's baseline, a resumed sweep)."""
    with _NAMED["--task"].within(named), _NAMED["--model"].within(models):
        yield


def named_tasks() -> frozenset[str] | None:
    """The tasks the running command line named (``None``: not run from one)."""
    return named_code("--task")


def named_code(flag: str) -> frozenset[str] | None:
    """The import paths the running command line named with ``flag`` (``"--task"`` or
    ``"--model"``; ``None``: not run from a command line)."""
    return _NAMED[flag].names


def check_code_named(task: object, where: str | None = None, argument: str = "task",
                     flag: str = "--task") -> None:
    """Refuse an import path that ``where`` (a file, a folder) records but the command
    line did not name with ``flag`` (``--task``, or ``--model`` for a dynamics model); a
    registered name, or any path outside a command line, passes.

    Raises:
        CodeNotNamed: naming ``where``, the path and the ``flag`` that allows it.
    """
    kind = flag.lstrip("-")
    if is_code_spec(task) and not _NAMED[flag].allows(task):
        source = f"{where} names the {kind}" if where else f"the {kind}"
        raise CodeNotNamed(
            f"{argument}: {source} {task!r}, which is code to import; cemgd "
            f"imports a {kind}'s code only when the command line names it: pass {flag} "
            f"{task} if you trust that code"
        )


def task_title(spec: str, name: str) -> str:
    """What a user reads for the task of spec ``spec`` whose task calls itself ``name``:
    ``"reacher (reacher_task.py:reacher)"`` for code, the registered name as is."""
    return f"{name} ({spec})" if is_code_spec(spec) and name and name != spec else spec


def register_task(name: str, factory: Callable[..., EnvTask], *, replace: bool = False) -> None:
    """Make ``factory`` known as task ``name`` (to the CLI, sweeps and PETS).

    Args:
        name: a non-empty name without ``":"`` (that marks an import path).
        factory: a callable returning an :class:`EnvTask`; its first docstring line is
            the task's description in :func:`list_env_tasks`.
        replace: allow replacing an existing name.

    Raises:
        ValueError: naming ``name`` (empty, has ``":"``, taken) or ``factory`` (not
            callable).
    """
    if not isinstance(name, str) or not name or ":" in name or name != name.strip():
        raise ValueError(f"name: expected a non-empty task name without ':', got {name!r}")
    if not callable(factory):
        raise ValueError(f"factory: expected a callable returning an EnvTask, got {factory!r}")
    if name in ENV_TASKS and not replace and ENV_TASKS[name] is not factory:
        raise ValueError(f"name: task {name!r} is already registered (pass replace=True)")
    ENV_TASKS[name] = factory


def _load_entry_points() -> None:
    """Register the installed packages' ``cemgd.tasks`` entry points (once, lazily)."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if point.name not in ENV_TASKS:
            ENV_TASKS[point.name] = _LazyEntryPoint(point)


class _LazyEntryPoint:
    """A factory that imports its entry point on first call."""

    def __init__(self, point: importlib.metadata.EntryPoint) -> None:
        self.point = point
        self.__doc__ = f"from the installed entry point {point.value}"

    def load(self, argument: str = "name") -> Callable[..., EnvTask]:
        """The entry point's factory; ``ValueError`` starting with ``argument`` if broken."""
        try:
            factory = self.point.load()
        except Exception as err:  # a broken installed package: say which one
            raise ValueError(
                f"{argument}: cannot load task {self.point.name!r} from entry point "
                f"{self.point.value!r} ({type(err).__name__}: {err})"
            ) from None
        if not callable(factory):
            raise ValueError(f"{argument}: entry point {self.point.value!r} is not callable")
        return factory

    def __call__(self, **kwargs: Any) -> Any:
        return self.load()(**kwargs)


def resolve_env_task(name_or_path: str, *, argument: str = "name_or_path",
                     **kwargs: Any) -> EnvTask:
    """The task named ``name_or_path``, or built by the factory at that import path.

    Args:
        name_or_path: a built-in, registered or entry-point name, or
            ``"package.module:factory"``.
        argument: the argument name that error messages start with (callers such as
            ``PETSConfig`` pass ``"task"``).
        **kwargs: arguments of the factory. ``episode_length``, when the factory does
            not take it, is applied with :meth:`EnvTask.with_episode_length`.

    Raises:
        ValueError: starting with ``argument``: an unknown name (listing the known
            ones), a module that fails to import, a missing or non-callable factory, a
            factory that raises (named, its error as one line) or does not return an EnvTask,
            or an argument the factory does not take.
    """
    check_env_task(name_or_path, argument=argument)
    if ":" in name_or_path:
        factory = load_factory(name_or_path, argument=argument)
        where = name_or_path
    else:
        factory = ENV_TASKS[name_or_path]
        if isinstance(factory, _LazyEntryPoint):
            factory = factory.load(argument)
        where = f"task {name_or_path!r}"
    return _call(factory, where, argument, kwargs)


def check_env_task(name_or_path: str, *, argument: str = "task") -> None:
    """Check, without building the task, that ``name_or_path`` resolves to a factory.

    A name must be known; a ``package.module:factory`` path must import and name a
    callable (whether it returns an EnvTask shows only when it is called). Cheap
    enough for config validation.

    Raises:
        ValueError: starting with ``argument``, as :func:`resolve_env_task`.
    """
    if not isinstance(name_or_path, str) or not name_or_path.strip():
        raise ValueError(f"{argument}: expected a task name or package.module:factory, "
                         f"got {name_or_path!r}")
    if ":" in name_or_path:
        load_factory(name_or_path, argument=argument)
        return
    _load_entry_points()
    if name_or_path not in ENV_TASKS:
        raise ValueError(
            f"{argument}: unknown task {name_or_path!r}; known tasks: "
            f"{', '.join(sorted(ENV_TASKS))} (or give package.module:factory)"
        )


def load_factory(path: str, *, argument: str = "name_or_path") -> Callable[..., EnvTask]:
    """Import ``"package.module:attribute"``: a factory, or an EnvTask object.

    Inside :func:`only_named_code`, only a path the command line named is imported.

    Raises:
        ValueError: starting with ``argument`` when the module fails to import (with the
            error) or has no such callable attribute; :class:`CodeNotNamed` for a path
            the command line did not name.
    """
    target = load_code(path, argument=argument)
    if isinstance(target, EnvTask):
        task = target
        return lambda **kwargs: task
    if not callable(target):
        raise ValueError(
            f"{argument}: {path!r} is a {type(target).__name__}, expected a factory "
            "returning an EnvTask"
        )
    return target


def load_code(path: str, *, argument: str, flag: str = "--task") -> Any:
    """The attribute ``"package.module:attribute"`` (or ``"path/to/file.py:attribute"``)
    names, its module imported: the one importer of user code (tasks and models).

    Inside :func:`only_named_code`, only a path the command line named with ``flag`` is
    imported.

    Raises:
        ValueError: starting with ``argument`` when the path is malformed, the module
            fails to import (with the error) or has no such attribute;
            :class:`CodeNotNamed` for a path the command line did not name.
    """
    check_code_named(path, argument=argument, flag=flag)
    module_name, _, attribute = path.rpartition(":")
    if not module_name or not attribute:
        raise ValueError(f"{argument}: expected package.module:factory, got {path!r}")
    try:
        module = _import(module_name)
    except Exception as err:  # the user's module: any error it raises is reported
        hint = ""
        if isinstance(err, ModuleNotFoundError) and err.name == module_name.split(".")[0]:
            hint = "; is its folder on PYTHONPATH (or give path/to/file.py:factory)?"
        raise ValueError(
            f"{argument}: cannot import {module_name!r} for {path!r} "
            f"({type(err).__name__}: {err}){hint}"
        ) from None
    target: Any = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ValueError(f"{argument}: module {module_name!r} has no {attribute!r}")
        target = getattr(target, part)
    return target


def _import(module_name: str) -> ModuleType:
    """``importlib.import_module``, or load a ``.py`` file given by its path."""
    if not module_name.endswith(".py"):
        return importlib.import_module(module_name)
    file = Path(module_name).resolve()
    if not file.is_file():
        raise FileNotFoundError(f"no such file {module_name!r}")
    name = f"cemgd_user_tasks.{file.stem}_{abs(hash(str(file)))}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {module_name!r} as a module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _call(factory: Callable[..., EnvTask], where: str, argument: str,
          kwargs: dict[str, Any]) -> EnvTask:
    """``factory(**kwargs)``, checking the arguments and the result's type."""
    accepted = _accepted(factory)
    episode_length = None
    if "episode_length" in kwargs and accepted is not None and "episode_length" not in accepted:
        kwargs = dict(kwargs)
        episode_length = kwargs.pop("episode_length")
    if accepted is not None:
        for key in kwargs:
            if key not in accepted:
                raise ValueError(
                    f"{key}: not an argument of {where}; expected one of "
                    f"{', '.join(sorted(accepted)) or '(none)'}"
                )
    missing = _required(factory) - set(kwargs)
    if missing:
        raise ValueError(
            f"{argument}: {where} needs the arguments {', '.join(sorted(missing))}; a task "
            "factory must be callable with keyword arguments only (e.g. episode_length)"
        )
    try:
        task = factory(**kwargs)
    except ValueError:  # a refused argument, already named (e.g. "episode_length: ...")
        raise
    except Exception as err:  # any other error of the user's factory: one line
        text = " ".join(str(err).split())[:300]
        raise ValueError(f"{argument}: the task factory {where} raised "
                         f"{type(err).__name__}: {text}") from None
    if not isinstance(task, EnvTask):
        raise ValueError(
            f"{argument}: {where} returned a {type(task).__name__}, expected an EnvTask "
            "(see cemgd.tasks.from_gymnasium)"
        )
    if episode_length is not None:
        task = task.with_episode_length(episode_length)
    return task


def _accepted(factory: Callable[..., Any]) -> set[str] | None:
    """The keyword arguments ``factory`` takes; ``None`` when it takes any (``**kwargs``)."""
    if isinstance(factory, _LazyEntryPoint):
        return None
    if dataclasses.is_dataclass(factory):
        return {f.name for f in dataclasses.fields(factory) if f.init}
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return {p.name for p in parameters
            if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)}


def _required(factory: Callable[..., Any]) -> set[str]:
    """The parameters ``factory`` cannot be called without."""
    if isinstance(factory, _LazyEntryPoint):
        return set()
    if dataclasses.is_dataclass(factory):
        return {f.name for f in dataclasses.fields(factory) if f.init
                and f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING}
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature
        return set()
    return {p.name for p in parameters if p.default is inspect.Parameter.empty
            and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)}


def list_env_tasks() -> dict[str, str]:
    """Every known task name -> the first line of its factory's docstring (sorted)."""
    _load_entry_points()
    return {name: _first_line(ENV_TASKS[name]) for name in sorted(ENV_TASKS)}


def _first_line(factory: Callable[..., Any]) -> str:
    """The first docstring line of ``factory``, without reST markup."""
    doc = (inspect.getdoc(factory) or "").strip()
    line = doc.splitlines()[0].rstrip(".") if doc else ""
    return re.sub(r":\w+:`~?([^`]+)`", r"\1", line).replace("``", "")
