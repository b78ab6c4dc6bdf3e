"""An episode's rendered frames, captioned, and the GIF of ``--video``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from cemgd.runs import write_atomic
from cemgd.tasks.overlay import caption, overlay


class Frames:
    """The frames an episode renders (``[H, W, 3]`` uint8 each; ``None`` where the
    environment rendered nothing), each captioned with the trial, the step and the return
    so far (:func:`cemgd.tasks.overlay.caption`).

    Give one to :func:`cemgd.pets.run_episode` to render its episode: the environment is
    made with ``render_mode="rgb_array"`` and :meth:`add` is called after the reset and
    after every step.
    """

    def __init__(self, trial: int) -> None:
        self.trial = trial
        self.frames: list[np.ndarray | None] = []

    def add(self, env: Any, step: int, steps: int, total: float) -> None:
        """Render ``env`` after ``step`` of ``steps`` steps with return ``total`` so far."""
        frame = env.render()
        text = caption(self.trial, step, steps, total)
        self.frames.append(None if frame is None else overlay(frame, text))


def write_gif(path: Path, frames: list[np.ndarray | None]) -> None:
    """Write ``frames`` (``[H, W, 3]`` uint8 each; ``None`` skipped) as an animated GIF,
    atomically (nothing when there is no frame)."""
    images = [Image.fromarray(np.asarray(f, np.uint8)) for f in frames if f is not None]
    if not images:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda fh: images[0].save(
        fh, format="GIF", save_all=True, append_images=images[1:], duration=50, loop=0))
