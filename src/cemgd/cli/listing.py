"""``cemgd tasks`` and ``cemgd planners``: what exists, with its settings."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from cemgd.cli.base import Context, Subparsers, add_command, plain
from cemgd.planners import PLANNERS, PRESETS, resolve_planner
from cemgd.planners.spec import planner_settings
from cemgd.tasks import list_env_tasks


def task_docs() -> dict[str, str]:
    """Environment task name -> first line of its docstring (markup removed), installed
    packages' ``cemgd.tasks`` entry points included."""
    return {name: plain(doc) for name, doc in list_env_tasks().items()}


def _first_line(doc: str | None) -> str:
    return plain((doc or "").strip().split("\n")[0])


def tasks_help() -> str:
    """Help of ``--task``: the known tasks, and how to name one of your own."""
    return (f"environment task: one of {', '.join(task_docs())}, or package.module:factory "
            "(default: cartpole-swingup)")


def planners_epilog() -> str:
    """The planner settings of every planner, for ``cemgd train --help``."""
    lines = [f"  {name}: " + ", ".join(f.name.replace("_", "-")
                                       for f in dataclasses.fields(cls.Config))
             for name, cls in PLANNERS.items()]
    presets = ", ".join(f"{k} = {base} {settings}" for k, (base, settings) in PRESETS.items())
    return ("planner settings (--planner.<setting> VALUE), by planner:\n" + "\n".join(lines)
            + f"\npresets: {presets}\n(cemgd planners lists every setting with its meaning)")


def register(sub: Subparsers) -> None:
    """Add ``cemgd tasks`` and ``cemgd planners``."""
    add_command(sub, "tasks", _tasks, help="list the environment tasks cemgd train can use")
    p = add_command(sub, "planners", _planners,
                    help="list the planners and presets, with every setting")
    p.add_argument("names", nargs="*", metavar="PLANNER", help="only these planners")


def _tasks(args: argparse.Namespace, ctx: Context) -> int:
    docs = task_docs()
    width = max(map(len, docs))
    for name, doc in docs.items():
        print(f"{name:<{width}}  {doc}")
    print("\nyour own: --task package.module:factory (a function returning an EnvTask)")
    return 0


def _planners(args: argparse.Namespace, ctx: Context) -> int:
    for name in args.names:  # an installed planner named here is imported (entry point)
        if name not in PRESETS:
            try:
                resolve_planner(name)
            except ValueError as err:
                raise ValueError(str(err).replace("name:", "PLANNER:", 1)) from None
    unknown = [n for n in args.names if n not in PLANNERS]
    if unknown:
        raise ValueError(f"PLANNER: unknown planner {unknown[0]!r}; expected one of "
                         f"{', '.join(PLANNERS)}")
    for name in args.names or list(PLANNERS):
        cls = PLANNERS[name]
        print(f"{name}: {_first_line(sys.modules[cls.__module__].__doc__ or cls.__doc__)}")
        for setting in planner_settings(name):
            flag = f"--planner.{setting.name.replace('_', '-')}"
            kind = (" | ".join(map(str, setting.choices)) if setting.choices
                    else getattr(setting.type, "__name__", str(setting.type)))
            print(f"  {flag} ({kind}, default {setting.default}): {setting.doc}")
        print()
    print("presets: " + ", ".join(f"{k} = {base} {settings}"
                                  for k, (base, settings) in PRESETS.items()))
    return 0
