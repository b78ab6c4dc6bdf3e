"""Where an evaluation's planners run when not in this process: worker processes or Ray.

Either way each planner's rows come back to the driver, which alone writes
``episodes.csv`` (:func:`cemgd.evaluate.driver.evaluate`). The Ray side reuses the
sweep's helpers (:mod:`cemgd.sweep.ray_cluster`: connecting, the address and token
checks; :mod:`cemgd.sweep.worker`: the worker environment and folder transfer), so
``--ray`` means the same in ``cemgd evaluate`` as in ``cemgd sweep``.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from cemgd.evaluate.core import EvaluateConfig, FrozenModel, frozen_model, planner_episodes
from cemgd.evaluate.export import model_folder_files
from cemgd.runs import RunError
from cemgd.runtime import enable_compilation_cache
from cemgd.sweep.ray_cluster import cancel_on_interrupt, connect, import_ray
from cemgd.sweep.worker import die_with_parent, worker_env, write_files

Write = Callable[[dict[str, Any]], None]


def _worker(config: EvaluateConfig, spec: str, episodes: Sequence[int], rows: Any,
            partial_dir: Path | None, digest: str | None) -> None:
    """A worker process: one planner's episodes, each row sent to the parent as it ends,
    on the model the parent loaded (hash ``digest``) and no other."""
    model = frozen_model(config)
    if digest is not None and model.digest != digest:
        raise RunError(f"{model.model_file}: changed while the evaluation ran (hash "
                       f"{model.digest}, {digest} when it started)")
    planner_episodes(config, spec, episodes, rows.put, model, partial_dir=partial_dir)


def run_pool(config: EvaluateConfig, todo: Mapping[str, Sequence[int]], write: Write,
             partial_dir: Path | None = None, digest: str | None = None) -> None:
    """One ``spawn`` process per planner (its own peak RSS), ``config.workers`` at a time,
    each dying with this one; only this process writes ``episodes.csv`` (each worker
    keeps its episode in progress in ``partial_dir``, when given)."""
    context = multiprocessing.get_context("spawn")  # JAX is not fork-safe
    with context.Manager() as manager:
        rows = manager.Queue()
        with ProcessPoolExecutor(config.workers, mp_context=context, max_tasks_per_child=1,
                                 initializer=die_with_parent, initargs=(os.getpid(),)) as pool:
            futures = [pool.submit(_worker, config, spec, episodes, rows, partial_dir,
                                   digest)
                       for spec, episodes in todo.items() if episodes]
            pending = set(futures)
            while pending and not any(f.done() and f.exception() for f in futures):
                _, pending = wait(pending, timeout=0.2, return_when=FIRST_EXCEPTION)
                while not rows.empty():
                    write(rows.get())
            while not rows.empty():  # rows of episodes that ended before a failure
                write(rows.get())
            for future in futures:
                future.result()  # a worker's error is this call's


def model_files(model: FrozenModel) -> dict[str, bytes]:
    """What a task needs to load ``model`` on any node: its model folder
    (:func:`cemgd.evaluate.export.model_folder_files`; relative path -> bytes)."""
    return model_folder_files(model)


def ray_task(config: EvaluateConfig, spec: str, episodes: Sequence[int],
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


def _task_error(spec: str, err: BaseException) -> Exception:
    """A failed task's error: a ``ValueError`` it raised as it was (exit 2 with its one
    line), anything else as a RuntimeError naming the planner."""
    cause = getattr(err, "cause", None)
    if isinstance(cause, ValueError):
        return cause
    text = " ".join(str(cause or err).split())[:300]
    return RuntimeError(f"planner {spec}: its Ray task failed ({type(cause or err).__name__}: "
                        f"{text})")


def run_ray(config: EvaluateConfig, model: FrozenModel, todo: Mapping[str, Sequence[int]],
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
