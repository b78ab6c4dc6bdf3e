"""A caption on rendered frames: trial, step and return so far, for the GIFs of ``--video``.

Every task renders ``[H, W, 3]`` uint8 frames (MuJoCo's renderer or PIL drawings), so
one function captions them all: :func:`overlay` draws a dark band across the top of a
copy of the frame and the text on it in white (PIL's built-in font, no font file
needed). :func:`caption` is the text a PETS episode puts there.
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image, ImageDraw, ImageFont

#: Height of the band as a share of the frame height (at least 12 pixels).
BAND = 0.09


def caption(trial: int, step: int, steps: int, episode_return: float) -> str:
    """``"trial 3  step 12/100  return -35.2"`` (``trial`` as in ``metrics.csv``)."""
    return f"trial {trial}  step {step}/{steps}  return {episode_return:.1f}"


def band_height(height: int) -> int:
    """Rows of the band :func:`overlay` draws on a frame ``height`` rows high."""
    return min(height, max(12, int(round(BAND * height))))


@functools.lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size)


def overlay(frame: np.ndarray, text: str) -> np.ndarray:
    """A copy of ``frame`` (``[H, W, 3]`` uint8) with ``text`` on a dark band at the top.

    Rows below :func:`band_height` are left as they were.

    Raises:
        ValueError: ``frame`` is not ``[H, W, 3]``.
    """
    array = np.asarray(frame)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"frame: expected shape [H, W, 3], got {array.shape}")
    image = Image.fromarray(array.astype(np.uint8, copy=False))
    band = band_height(image.height)
    top = np.asarray(image.crop((0, 0, image.width, band)), np.float32)
    shaded = Image.fromarray((0.35 * top).astype(np.uint8))  # dark, the scene still shows
    image.paste(shaded, (0, 0))
    draw = ImageDraw.Draw(image)
    size = max(6, band - 4)
    while size > 6 and draw.textlength(text, font=_font(size)) > image.width - 8:
        size -= 1  # shrink until the caption fits the width
    draw.text((4, band // 2), text, fill=(255, 255, 255), font=_font(size), anchor="lm")
    return np.asarray(image)
