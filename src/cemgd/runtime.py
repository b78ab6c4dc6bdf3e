"""The process around the computation: console and progress, compile cache, hardware.

Nothing here reads environment variables for configuration: the CLI reads
``CEMGD_NO_PROGRESS`` and ``CEMGD_CACHE_DIR`` and passes the values down
(:func:`progress` takes ``enabled``, :func:`enable_compilation_cache` a path).
"""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jax
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["Console", "code_version", "console", "enable_compilation_cache", "hardware_info",
           "peak_rss_mb", "progress"]

_CONSOLE: Console | None = None


def console() -> Console:
    """The one console cemgd prints to (rich; 160 columns when stdout is not a terminal)."""
    global _CONSOLE
    if _CONSOLE is None:
        _CONSOLE = Console(width=None if sys.stdout.isatty() else 160)
    return _CONSOLE


def progress(enabled: bool = True) -> Progress:
    """A rich progress bar with count, elapsed and remaining time.

    Args:
        enabled: draw it; ``False`` gives a bar that accepts every call and draws nothing.
    """
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console(),
        disable=not enabled,
    )


def enable_compilation_cache(path: str | os.PathLike[str] | None) -> str | None:
    """Turn on JAX's persistent compilation cache in ``path``; ``None`` or ``""`` leaves it off.

    Compiling a planning step takes seconds; with the cache a second run of the same
    configuration starts planning at once. Returns the folder used (or ``None``).
    """
    if path is None or str(path) == "":
        return None
    folder = str(Path(path).expanduser())
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    return folder


def peak_rss_mb() -> float:
    """Peak resident memory of this process, MB (``ru_maxrss``: KB on Linux, bytes on macOS)."""
    rss = float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024.0


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    if sys.platform == "darwin":
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"],
                                 capture_output=True, text=True, timeout=5, check=True)
            if out.stdout.strip():
                return out.stdout.strip()
    return platform.processor() or platform.machine()


def _nvidia_smi_gpus() -> list[str]:
    """GPU names ``nvidia-smi`` lists (empty when it is absent or fails)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run([exe, "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10, check=True)
        return [line.strip() for line in out.stdout.splitlines() if line.strip()]
    return []


def code_version() -> str:
    """The cemgd code this process runs: ``cemgd.__version__`` and, when it is imported from
    a git checkout, the commit (``"0.1.0 (git 6baed05)"``; ``", modified"`` when the
    package's files differ from that commit), so a record says which code wrote it."""
    from cemgd import __version__

    git = shutil.which("git")
    if git is None:
        return __version__
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = _git(git, "rev-parse", "--short=7", "HEAD")
        modified = _git(git, "status", "--porcelain", "--", ".")
        return f"{__version__} (git {commit}{', modified' if modified else ''})"
    return __version__


def _git(git: str, *args: str) -> str:
    """``git -C <this package> ARGS``' output (CalledProcessError when git fails)."""
    here = str(Path(__file__).resolve().parent)
    return subprocess.run([git, "-C", here, *args], capture_output=True, text=True,
                          timeout=10, check=True).stdout.strip()


def hardware_info() -> dict[str, Any]:
    """This machine as it ran: CPU, memory, OS, Python, JAX and its devices.

    Keys: ``cpu_model``, ``cpu_count``, ``usable_cpus``, ``memory_gb`` (where readable),
    ``platform``, ``python``, ``jax``, ``jax_backend`` (e.g. ``"cpu"``, ``"gpu"``),
    ``devices`` (``"kind x count"`` strings from :func:`jax.devices`), ``gpus`` (names of
    the GPUs JAX uses, else of those ``nvidia-smi`` lists; empty when none), ``gpu``,
    a one-line summary that says whether JAX computed on them, and ``cemgd``, the code
    (:func:`code_version`).
    """
    info: dict[str, Any] = {"cpu_model": _cpu_model(), "cpu_count": os.cpu_count(),
                            "cemgd": code_version()}
    with contextlib.suppress(AttributeError, OSError):
        info["usable_cpus"] = len(os.sched_getaffinity(0))
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["memory_gb"] = round(int(line.split()[1]) / 2**20, 1)
                break
    info["platform"] = platform.platform()
    info["python"] = platform.python_version()
    info["jax"] = jax.__version__
    devices = jax.devices()
    info["jax_backend"] = jax.default_backend()
    kinds: dict[str, int] = {}
    for device in devices:
        kinds[device.device_kind] = kinds.get(device.device_kind, 0) + 1
    info["devices"] = [f"{kind} x {count}" for kind, count in kinds.items()]
    accelerators = [d.device_kind for d in devices if d.platform != "cpu"]
    if accelerators:
        info["gpus"] = accelerators
        info["gpu"] = f"{', '.join(accelerators)} (used by JAX, backend {info['jax_backend']})"
    else:
        info["gpus"] = _nvidia_smi_gpus()
        info["gpu"] = (f"{', '.join(info['gpus'])} present, not used (JAX on the CPU)"
                       if info["gpus"] else "none found (JAX on the CPU)")
    return info
