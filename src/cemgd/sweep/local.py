"""The local pool: one ``spawn`` process per run, at most ``workers`` at a time.

A process per run (not a reused pool) keeps each run's peak RSS and caches its own,
and tells exactly which run a dead process was running: only that run is charged
an attempt (a ``ProcessPoolExecutor`` breaks every pending future when one worker
dies). Workers die with the driver (:func:`cemgd.sweep.worker.die_with_parent`),
and an interrupted driver terminates them before it returns. :func:`spawn` and
:func:`stop` are the one way cemgd starts and ends such processes (``cemgd evaluate
--workers`` uses them too).
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnProcess
from typing import Any

from cemgd.sweep.config import RunSpec, SweepConfig
from cemgd.sweep.worker import worker_env, worker_main

#: ``finish(spec, how, result, attempts)``: a run is over (done, or out of attempts).
Finish = Callable[[RunSpec, str, dict[str, Any], int], None]
#: ``retry(spec, result, attempts)``: an attempt failed and the run will be retried.
Retry = Callable[[RunSpec, dict[str, Any], int], None]


@dataclass
class Job:
    """A run in a worker process."""

    spec: RunSpec
    how: str
    process: SpawnProcess
    conn: Connection


def spawn(target: Callable[..., None], args: tuple[Any, ...],
          name: str) -> tuple[SpawnProcess, Connection]:
    """Start ``target(send, parent_pid, *args)`` in a ``spawn`` process (JAX is not
    fork-safe); returns it and the receiving end of its pipe. ``target`` calls
    :func:`cemgd.sweep.worker.die_with_parent` with ``parent_pid`` first, so the process
    dies with this one; it sends on ``send`` and its exit closes the pipe (EOF here)."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=target, name=name, daemon=False,
                              args=(send, os.getpid(), *args))
    process.start()
    send.close()  # the child holds the sending end now
    return process, receive


def exit_reason(process: SpawnProcess) -> str:
    """How a joined process ended: ``killed by signal 9`` or ``exit 1``."""
    code = process.exitcode
    return f"killed by signal {-code}" if code is not None and code < 0 else f"exit {code}"


def stop(processes: Iterable[SpawnProcess]) -> None:
    """Terminate ``processes``, then kill those still alive after 10 s."""
    processes = list(processes)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(timeout=10)
        if process.is_alive():
            process.kill()
            process.join()


def start_worker(spec: RunSpec, how: str, env: dict[str, str], cache_dir: str | None,
                 tensorboard: bool = False) -> Job:
    """Start a worker process for ``spec`` (:func:`spawn`)."""
    process, receive = spawn(worker_main, (env, spec.config, str(spec.folder), cache_dir,
                                           tensorboard), f"cemgd-sweep {spec.name}")
    return Job(spec, how, process, receive)


def collect(job: Job) -> dict[str, Any]:
    """The result of a finished worker; a worker that died without one is a failure
    of its own run only (``retry`` allowed)."""
    result: dict[str, Any] | None = None
    try:
        if job.conn.poll():
            result = job.conn.recv()
    except (EOFError, OSError):
        result = None
    job.process.join()
    job.conn.close()
    if result is None:
        result = {"ok": False, "retry": True, "seconds": 0.0,
                  "error": f"worker process died ({exit_reason(job.process)})"}
    return result


def run_local(config: SweepConfig, todo: list[tuple[RunSpec, str]], finish: Finish,
              retry: Retry, cache_dir: str | None = None) -> None:
    """Run ``todo`` on at most ``config.workers`` worker processes, retrying failures.

    With several workers each runs XLA on one thread (unless the driver's environment
    sets ``XLA_FLAGS``), so the runs share the cores without oversubscribing them.
    """
    env = worker_env(single_thread=config.workers > 1)
    queue: deque[tuple[RunSpec, str]] = deque(todo)
    attempts = {spec.name: 0 for spec, _ in todo}
    running: dict[int, Job] = {}
    try:
        while queue or running:
            while queue and len(running) < config.workers:
                spec, how = queue.popleft()
                attempts[spec.name] += 1
                job = start_worker(spec, how, env, cache_dir, config.tensorboard)
                running[job.process.sentinel] = job
            for sentinel in wait(list(running)):
                job = running.pop(sentinel)  # type: ignore[call-overload]
                result = collect(job)
                n = attempts[job.spec.name]
                if not result["ok"] and result["retry"] and n <= config.max_retries:
                    retry(job.spec, result, n)
                    queue.append((job.spec, job.how))
                else:
                    finish(job.spec, job.how, result, n)
    finally:  # interrupted (or a callback raised): no worker outlives this call
        stop(job.process for job in running.values())
