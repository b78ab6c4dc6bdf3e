"""The sweep driver: lock the folder, inspect every run, run what is left, report."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cemgd.pets import PETSConfig
from cemgd.runs import lock_folder
from cemgd.runtime import console, progress
from cemgd.sweep.book import Book, RunResult, SweepSummary, inspect_run, returns
from cemgd.sweep.config import RunSpec, SweepConfig, estimated_cost, expand
from cemgd.sweep.local import run_local
from cemgd.sweep.ray_cluster import check_cluster, import_ray, run_ray
from cemgd.sweep.worker import log_path
from cemgd.tasks import resolve_env_task


def run_sweep(
    config: SweepConfig, out: str | os.PathLike[str], show_progress: bool = True,
    on_result: Callable[[RunResult], None] | None = None, cache_dir: str | None = None,
) -> SweepSummary:
    """Run every run of ``config`` into ``out`` (idempotent; see :mod:`cemgd.sweep`).

    Worker processes are started with ``spawn``: from a script, call this under
    ``if __name__ == "__main__":``.

    Args:
        config: the sweep.
        out: sweep folder (created, and locked while the sweep runs).
        show_progress: draw the overall progress bar.
        on_result: called in the driver with each run's result as it finishes.
        cache_dir: JAX compilation cache folder of the runs (``None``: off).

    Returns:
        The summary; ``summary.ok`` is False if any run failed.

    Raises:
        ValueError: a task or model that cannot be built (:func:`build_code`); ``ray``
            is set but Ray is not installed or the cluster cannot be reached;
            ``RunError`` (a ValueError) ``out: run folder in use by pid N``.
        KeyboardInterrupt: after recording the interruption in sweep.json (the runs keep
            their last completed trial; run the sweep again to resume).
    """
    root = Path(out)
    specs = expand(config, root)
    build_code(specs)  # a task or model that cannot be built: refused before any run
    if config.ray:
        import_ray()  # a clear error before anything is written
        check_cluster(config.ray)  # an unreachable address or no token, too
    with lock_folder(root, "out"):
        book = Book(config, root, specs)
        todo = _plan(book, specs)
        _announce(book, config, len(todo))
        with progress(show_progress) as bar:
            _execute(book, config, todo, bar, on_result, cache_dir)
        book.write(finished=True)
    return _report(book)


def build_code(specs: list[RunSpec]) -> None:
    """Build each task and each dynamics model of the sweep's runs once, as ``cemgd train``
    does before its first trial, so a name that is neither registered nor an import path,
    code that does not import, or a factory that raises or returns no task or model is
    refused here (naming ``tasks`` or ``model``), not by every run after its retries.

    Raises:
        ValueError: starting with ``tasks`` or ``model``.
    """
    tasks = {(spec.task, spec.config.episode_length) for spec in specs}
    models: dict[str, PETSConfig] = {}
    for spec in specs:
        models.setdefault(spec.config.model, spec.config)
    for task, length in sorted(tasks):
        kwargs = {"episode_length": length} if length else {}
        resolve_env_task(task, argument="tasks", **kwargs)
    for run in models.values():
        run.make_model()


def _plan(book: Book, specs: list[RunSpec]) -> list[tuple[RunSpec, str]]:
    """Record finished and conflicting runs; the rest, longest first, with their status
    if they finish (``resumed`` or ``done``)."""
    todo: list[tuple[RunSpec, str]] = []
    for spec in specs:
        state, rows, detail = inspect_run(spec)
        if state == "complete":
            book.update(spec, status="skipped", **returns(spec.folder))
        elif state == "conflict":
            book.update(spec, status="conflict", error=(
                f"{spec.folder} holds a run with another configuration ({detail}); "
                "remove it or choose another --out"))
        else:
            todo.append((spec, "resumed" if rows > 0 else "done"))
    # longest runs first, so the last ones to finish are short (fewer idle workers at the end)
    todo.sort(key=lambda item: -estimated_cost(item[0].config))
    book.write()
    return todo


def counted(n: int, noun: str) -> str:
    """``"1 task"``, ``"2 tasks"``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _announce(book: Book, config: SweepConfig, left: int) -> None:
    total = len(book.results)
    skipped = sum(r.status == "skipped" for r in book.results.values())
    console().print(
        f"sweep {book.out}: {counted(total, 'run')} ({counted(len(config.tasks), 'task')} x "
        f"{counted(len(config.planners), 'planner')} x {counted(len(config.seeds), 'seed')}); "
        f"{skipped} already finished, {left} to run "
        + (f"on Ray ({config.ray})" if config.ray
           else f"on {counted(config.workers, 'local worker')}")
    )
    for r in book.results.values():
        if r.status == "conflict":
            console().print(f"[red]conflict[/red] {r.folder}: {r.error}")


def _execute(book: Book, config: SweepConfig, todo: list[tuple[RunSpec, str]], bar: Any,
             on_result: Callable[[RunResult], None] | None, cache_dir: str | None) -> None:
    """Run ``todo``, recording each result as it comes; an interruption is recorded too."""
    total = len(book.results)
    bar_id = bar.add_task("runs", total=total, completed=total - len(todo))
    finished = [total - len(todo)]

    def finish(spec: RunSpec, how: str, result: dict[str, Any], attempts: int) -> None:
        status = how if result["ok"] else "failed"
        done = book.update(
            spec, status=status, attempts=attempts,
            seconds=book.results[spec.name].seconds + result["seconds"],
            error="" if result["ok"] else result["error"], **returns(spec.folder),
        )
        finished[0] += 1
        bar.update(bar_id, advance=1)
        _print_result(spec, done, result, f"[{finished[0]}/{total}]")
        book.write()
        if on_result is not None:
            on_result(done)

    def retry(spec: RunSpec, result: dict[str, Any], attempts: int) -> None:
        book.update(spec, seconds=book.results[spec.name].seconds + result["seconds"],
                    attempts=attempts)
        console().print(f"[yellow]retrying[/yellow] {spec.name} after attempt {attempts}: "
                        f"{result['error']}")

    runner = run_ray if config.ray else run_local
    try:
        if todo:
            runner(config, todo, finish, retry, cache_dir)
    except KeyboardInterrupt:
        book.interrupted = True
        for spec, _ in todo:
            if book.results[spec.name].status == "pending":
                book.update(spec, status="interrupted", **returns(spec.folder))
        book.write(finished=False)
        console().print("[red]interrupted[/red]: run the same command again to resume")
        raise


def _print_result(spec: RunSpec, done: RunResult, result: dict[str, Any], count: str) -> None:
    ret = ("-" if done.final_return is None else
           f"return {done.final_return:.1f} (best {done.best_return:.1f})")
    colour = "green" if result["ok"] else "red"
    console().print(
        f"{count} {spec.task} {spec.planner.text} seed {spec.seed}: "
        f"[{colour}]{done.status}[/{colour}] · {ret} · {done.seconds:.1f} s"
        + (f" · attempt {done.attempts}" if done.attempts > 1 else "")
        + ("" if result["ok"] else f" · {result['error']} (log: {log_path(spec.folder)})")
    )


def _report(book: Book) -> SweepSummary:
    summary = book.summary()
    counts = ", ".join(f"{n} {s}" for s, n in summary.counts().items())
    console().print(f"sweep {book.out}: {counts} in {summary.seconds:.1f} s")
    for r in summary.failed:
        console().print(f"[red]{r.status}[/red] {r.task} {r.planner} seed {r.seed} "
                        f"after {r.attempts} attempt(s): {r.error}")
    if summary.failed:
        console().print(f"failed runs are listed in {book.out / 'failures.csv'}")
    return summary
