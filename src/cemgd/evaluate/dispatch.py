"""Where an evaluation's planners run when not in this process: worker processes or Ray.

Either way each planner's rows come back to the driver, which alone writes
``episodes.csv`` (:func:`cemgd.evaluate.driver.evaluate`). The Ray side reuses the
sweep's helpers (:mod:`cemgd.sweep.ray_cluster`: connecting, the address and token
checks; :mod:`cemgd.sweep.worker`: the worker environment and folder transfer), so
``--ray`` means the same in ``cemgd evaluate`` as in ``cemgd sweep``.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import Any

from cemgd.evaluate.core import EvaluateConfig, FrozenModel, frozen_model, planner_episodes
from cemgd.evaluate.export import model_folder_files
from cemgd.planners.spec import PlannerSpec
from cemgd.runs import RunError
from cemgd.runtime import console, enable_compilation_cache
from cemgd.sweep.local import exit_reason, spawn, stop
from cemgd.sweep.ray_cluster import cancel_on_interrupt, connect, import_ray
from cemgd.sweep.worker import die_with_parent, worker_env, write_files

Write = Callable[[dict[str, Any]], None]


#: Attempts of a planner whose worker process dies (killed, out of memory) before it
#: has written all its episodes; each attempt resumes after the episodes written.
MAX_ATTEMPTS = 3


def _worker(send: Connection, parent_pid: int, config: EvaluateConfig, spec: PlannerSpec,
            episodes: Sequence[int], partial_dir: Path | None, digest: str | None) -> None:
    """A worker process (dies with its parent): one planner's episodes on the model the
    parent loaded (hash ``digest``) and no other, each row sent to the parent as it
    ends, then ``("done", "")``, or the error that ended them: ``("refused", message)``
    for a ValueError (bad input, a changed model), ``("failed", message)``."""
    die_with_parent(parent_pid)
    try:
        model = frozen_model(config)
        if digest is not None and model.digest != digest:
            raise RunError(f"{model.model_file}: changed while the evaluation ran (hash "
                           f"{model.digest}, {digest} when it started)")
        planner_episodes(config, spec, episodes, lambda row: send.send(("row", row)),
                         model, partial_dir=partial_dir)
        send.send(("done", ""))
    except ValueError as err:
        send.send(("refused", str(err)))
    except Exception as err:  # noqa: BLE001 - reported by the parent, naming the planner
        send.send(("failed", f"{type(err).__name__}: {' '.join(str(err).split())[:300]}"))
    finally:
        send.close()


@dataclasses.dataclass
class _Job:
    """A planner's episodes in a worker process."""

    spec: PlannerSpec
    episodes: list[int]
    process: SpawnProcess
    conn: Connection
    written: set[int] = dataclasses.field(default_factory=set)
    outcome: tuple[str, str] | None = None


def _receive(job: _Job, write: Write) -> bool:
    """Write the rows ``job``'s worker has sent and note its outcome; True once the
    worker has ended (its pipe is closed)."""
    try:
        while job.conn.poll():
            kind, value = job.conn.recv()
            if kind == "row":
                write(value)
                job.written.add(int(value["episode"]))
            else:
                job.outcome = (kind, value)
    except (EOFError, OSError):
        job.process.join()
        job.conn.close()
        return True
    return False


def run_pool(config: EvaluateConfig, todo: Mapping[PlannerSpec, Sequence[int]], write: Write,
             partial_dir: Path | None = None, digest: str | None = None) -> None:
    """One ``spawn`` process per planner (its own peak RSS), ``config.workers`` at a time,
    each dying with this one (the sweep's pool: :func:`cemgd.sweep.local.spawn`); only
    this process writes ``episodes.csv`` (each worker keeps its episode in progress in
    ``partial_dir``, when given). A worker that dies charges its planner alone: the
    planner is started again on the episodes it had not written, up to
    :data:`MAX_ATTEMPTS` times; the others go on.

    Raises:
        ValueError: a worker's ValueError (a bad model), after the running planners end.
        RuntimeError: naming the planner whose worker failed, or died every attempt.
    """
    queue = deque((spec, list(eps)) for spec, eps in todo.items() if eps)
    attempts = {spec: 0 for spec, _ in queue}
    running: dict[Connection, _Job] = {}
    errors: list[Exception] = []
    try:
        while running or (queue and not errors):
            while queue and not errors and len(running) < config.workers:
                spec, eps = queue.popleft()
                attempts[spec] += 1
                process, conn = spawn(_worker, (config, spec, eps, partial_dir, digest),
                                      f"cemgd-evaluate {spec}")
                running[conn] = _Job(spec, eps, process, conn)
            for conn in wait(list(running)):
                job = running[conn]  # type: ignore[index]
                if _receive(job, write):
                    del running[conn]  # type: ignore[arg-type]
                    _ended(job, attempts[job.spec], queue, errors)
    finally:  # interrupted, or a write failed: no worker outlives this call
        stop(job.process for job in running.values())
    if errors:
        raise errors[0]


def _ended(job: _Job, attempt: int, queue: deque[tuple[PlannerSpec, list[int]]],
           errors: list[Exception]) -> None:
    """Account for a worker that has ended: done, an error, or dead (queued again with
    the episodes it had not written, while attempts are left)."""
    kind, text = job.outcome or ("died", exit_reason(job.process))
    left = [k for k in job.episodes if k not in job.written]
    if kind == "refused":
        errors.append(ValueError(text))
    elif kind == "failed":
        errors.append(RuntimeError(f"planner {job.spec}: {text}"))
    elif kind == "died" and left and attempt < MAX_ATTEMPTS:
        console().print(f"[yellow]retrying[/yellow] planner {job.spec} (episodes {left}): "
                        f"its worker process died ({text}), attempt {attempt}")
        queue.append((job.spec, left))
    elif kind == "died" and left:
        errors.append(RuntimeError(
            f"planner {job.spec}: its worker process died ({text}) on each of "
            f"{attempt} attempts; run the same command again to resume"))


def model_files(model: FrozenModel) -> dict[str, bytes]:
    """What a task needs to load ``model`` on any node: its model folder
    (:func:`cemgd.evaluate.export.model_folder_files`; relative path -> bytes)."""
    return model_folder_files(model)


def ray_task(config: EvaluateConfig, spec: PlannerSpec, episodes: Sequence[int],
             files: Mapping[str, bytes], cache_dir: str | None = None) -> list[dict[str, Any]]:
    """Body of a Ray task: one planner's episodes on the model in ``files`` (written to a
    temporary folder on the task's node); returns their rows."""
    enable_compilation_cache(cache_dir)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="cemgd-eval-") as tmp:
        folder = Path(tmp) / "model"
        write_files(folder, files)
        planner_episodes(dataclasses.replace(config, run_dir=str(folder), trial=None), spec,
                         episodes, rows.append)
    return rows


def _task_error(spec: PlannerSpec, err: BaseException) -> Exception:
    """A failed task's error: a ``ValueError`` it raised as it was (exit 2 with its one
    line), anything else as a RuntimeError naming the planner."""
    cause = getattr(err, "cause", None)
    if isinstance(cause, ValueError):
        return cause
    text = " ".join(str(cause or err).split())[:300]
    return RuntimeError(f"planner {spec}: its Ray task failed ({type(cause or err).__name__}: "
                        f"{text})")


def run_ray(config: EvaluateConfig, model: FrozenModel, todo: Mapping[PlannerSpec, Sequence[int]],
            write: Write, cache_dir: str | None = None, ray: Any = None) -> None:
    """One Ray task per planner (one CPU each); each task's rows are written here as it
    returns, so a killed evaluation resumes after the planners that had finished.

    Args:
        ray: the ``ray`` module (default: imported; tests pass a stand-in).

    Raises:
        ValueError: Ray is missing or unreachable, or a task raised one (a bad model).
        RuntimeError: a task failed otherwise; the other planners' rows are written first.
    """
    jobs = {spec: list(eps) for spec, eps in todo.items() if eps}
    if not jobs:
        return
    ray = import_ray() if ray is None else ray
    # a local Ray gets one CPU per planner by default
    started_here = connect(ray, config.ray, config.workers or len(jobs))
    remote = ray.remote(num_cpus=1, max_retries=0)(ray_task).options(
        runtime_env={"env_vars": worker_env(single_thread=True)})
    files = model_files(model)
    task_config = dataclasses.replace(config, trial=None, ray=None, workers=0,
                                      tensorboard=False)
    running = {remote.remote(task_config, spec, eps, files, cache_dir): spec
               for spec, eps in jobs.items()}
    error: Exception | None = None
    with cancel_on_interrupt(ray, running, started_here):
        while running:
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                spec = running.pop(ref)
                try:
                    rows = ray.get(ref)
                except Exception as err:  # noqa: BLE001 - the task's error, raised below
                    error = error or _task_error(spec, err)
                    continue
                for row in rows:
                    write(row)
    if error is not None:
        raise error
