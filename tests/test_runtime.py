"""cemgd.runtime: console/progress, compile cache, hardware facts (no env-var configuration)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import jax
import pytest

from cemgd import runtime


def test_hardware_info_reports_this_machines_devices() -> None:
    info = runtime.hardware_info()
    assert info["cpu_count"] >= 1 and info["cpu_model"]
    assert info["jax"] == jax.__version__
    assert info["jax_backend"] == jax.default_backend()
    kinds = {d.device_kind for d in jax.devices()}
    assert all(any(entry.startswith(k) for entry in info["devices"]) for k in kinds)
    gpus = [d.device_kind for d in jax.devices() if d.platform != "cpu"]
    if gpus:  # a GPU that JAX uses is named, never "none"
        assert info["gpus"] == gpus and "none" not in info["gpu"]
    else:
        assert "JAX on the CPU" in info["gpu"]


def test_hardware_info_names_a_gpu_found_by_nvidia_smi(monkeypatch: pytest.MonkeyPatch) -> None:
    if any(d.platform != "cpu" for d in jax.devices()):
        pytest.skip("JAX uses a GPU here; covered by the test above")
    monkeypatch.setattr(runtime, "_nvidia_smi_gpus", lambda: ["NVIDIA H200"])
    info = runtime.hardware_info()
    assert info["gpus"] == ["NVIDIA H200"]
    assert "NVIDIA H200" in info["gpu"] and "not used" in info["gpu"]


def test_progress_is_a_parameter_not_an_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CEMGD_NO_PROGRESS", "1")
    assert runtime.progress(enabled=True).disable is False
    assert runtime.progress(enabled=False).disable is True
    with runtime.progress(enabled=False) as bar:
        task = bar.add_task("x", total=2)
        bar.update(task, advance=1)
    assert runtime.console() is runtime.console()


def test_compilation_cache_follows_its_argument(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CEMGD_CACHE_DIR", str(tmp_path / "ignored"))
    before = jax.config.jax_compilation_cache_dir
    try:
        assert runtime.enable_compilation_cache(None) is None
        assert runtime.enable_compilation_cache("") is None
        assert jax.config.jax_compilation_cache_dir == before
        assert runtime.enable_compilation_cache(tmp_path / "c") == str(tmp_path / "c")
        assert jax.config.jax_compilation_cache_dir == str(tmp_path / "c")
    finally:
        jax.config.update("jax_compilation_cache_dir", before)


def test_peak_rss_is_positive_megabytes() -> None:
    assert 1.0 < runtime.peak_rss_mb() < 1e6


def test_code_version_names_the_commit_of_a_git_checkout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from cemgd import __version__ as version

    package = Path(runtime.__file__).resolve().parent
    found = subprocess.run(["git", "-C", str(package), "rev-parse", "--short=7", "HEAD"],
                           capture_output=True, text=True)
    if found.returncode == 0:  # a checkout: the commit, and whether the files differ
        assert runtime.code_version().startswith(f"{version} (git {found.stdout.strip()}")
    else:
        assert runtime.code_version() == version
    # a fake git that fails, and none at all: the version alone, never an error
    fake = tmp_path / "git"
    fake.write_text("#!/bin/sh\nexit 128\n")
    fake.chmod(0o755)
    monkeypatch.setattr(runtime.shutil, "which", lambda name: str(fake))
    assert runtime.code_version() == version
    monkeypatch.setattr(runtime.shutil, "which", lambda name: None)
    assert runtime.code_version() == version
    assert runtime.hardware_info()["cemgd"] == version
