"""Opening a picture for a mode: decode it safely, fit it to the model, and make a small copy to show.

Decoding a big photo (36 megapixels) takes seconds, so the window runs :func:`decode_picture` in a
decoder process of its own (``workers.loader``: the GUI thread never waits on the decoder, not
even for the interpreter lock); the command line calls ``core.imaging`` directly. No Qt and no
torch here: the decoder process imports only Pillow and numpy. The whole decoded picture stays in
that process; what comes back is the fitted picture, a display copy and where they came from.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ddim_studio.core.imaging import ImageLoadError, crop_box, fit_to_model, load_image, read_params

__all__ = [
    "DISPLAY_SIDE",
    "ImageLoadError",
    "OpenedPicture",
    "decode_picture",
    "decoder_started",
    "fit_picture",
    "open_picture",
    "refit",
]

#: The longest side of the copy shown on screen (the decoded picture is kept whole for re-fitting).
DISPLAY_SIDE = 1024


@dataclass(frozen=True)
class OpenedPicture:
    """A picture decoded and fitted to the model.

    Attributes:
        name: the file's name (or a few words for a picture that has none).
        source: what to fit again for another model: the file, or the (small) picture itself.
        size: the whole picture's ``(width, height)``.
        fitted: the centre crop resized to the model, RGB, ``size`` pixels.
        box: the crop in ``image`` pixels, ``(left, top, right, bottom)``.
        display: the picture shrunk to at most :data:`DISPLAY_SIDE`, (h, w, 3) uint8.
        display_box: ``box`` in ``display`` pixels.
        warnings: what the loader noticed (an ICC profile converted, an animation's first frame…).
        params: the studio parameters stored in a PNG (None for other pictures; unchecked fields dropped).
        bad_fields: names of stored parameters that failed their checks.
    """

    name: str
    source: Path | Image.Image
    size: tuple[int, int]
    fitted: Image.Image
    box: tuple[int, int, int, int]
    display: np.ndarray
    display_box: tuple[int, int, int, int]
    warnings: list[str] = field(default_factory=list)
    params: dict[str, Any] | None = None
    bad_fields: list[str] = field(default_factory=list)

    @property
    def fitted_pixels(self) -> np.ndarray:
        """``fitted`` as (H, W, 3) uint8."""
        return np.asarray(self.fitted, np.uint8)


def fit_picture(
    image: Image.Image, size: tuple[int, int], name: str, *, display_side: int = DISPLAY_SIDE
) -> OpenedPicture:
    """Fit an already decoded ``image`` to ``size`` = (width, height) and make its display copy."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    box = crop_box(rgb.size, size)
    fitted = fit_to_model(rgb, size)
    scale = min(1.0, display_side / max(rgb.size)) if display_side > 0 else 1.0
    shown = rgb
    if scale < 1.0:
        shown = rgb.resize(
            (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))), Image.Resampling.BILINEAR
        )
    display_box = tuple(round(v * scale) for v in box)
    return OpenedPicture(
        name,
        rgb,
        rgb.size,
        fitted,
        box,
        np.asarray(shown, np.uint8),
        display_box,  # type: ignore[arg-type]
    )


def open_picture(
    path: Path, size: tuple[int, int], *, with_params: bool = False, display_side: int = DISPLAY_SIDE
) -> OpenedPicture:
    """Decode the picture at ``path`` (an allowlisted format, size checked first) and fit it.

    Args:
        path: the picture file.
        size: the model's ``(width, height)``.
        with_params: also read the studio parameters a PNG carries.
        display_side: the longest side of the display copy.

    Raises:
        ImageLoadError: the file is missing, not a picture, damaged or too large (its ``message``
            says so in one line).
    """
    loaded = load_image(path)
    bad: list[str] = []
    params = read_params(path, bad) if with_params and path.suffix.lower() == ".png" else None
    opened = fit_picture(loaded.image, size, path.name, display_side=display_side)
    opened.warnings.extend(loaded.warnings)
    opened.bad_fields.extend(bad)
    return replace(opened, source=path, params=params)


def decoder_started(parent: int) -> None:
    """In the window's decoder process, at its start: yield the CPU to the window (nice +10), and
    end when the window's process is gone (one killed outright stops no one)."""
    if hasattr(os, "nice"):
        os.nice(10)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def decode_picture(
    path: Path, size: tuple[int, int], with_params: bool = False, display_side: int = DISPLAY_SIDE
) -> OpenedPicture:
    """:func:`open_picture` for a decoder process: Python warnings raised while decoding (Pillow's)
    come back in ``warnings`` instead of going to that process's stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        opened = open_picture(path, size, with_params=with_params, display_side=display_side)
    opened.warnings.extend(str(w.message).strip().splitlines()[0] for w in caught if str(w.message).strip())
    return opened


def refit(opened: OpenedPicture, size: tuple[int, int], display_side: int = DISPLAY_SIDE) -> OpenedPicture:
    """``opened`` fitted to another model size (the file is decoded again; a picture is refitted)."""
    if isinstance(opened.source, Path):
        return decode_picture(opened.source, size, opened.params is not None, display_side)
    return fit_picture(opened.source, size, opened.name, display_side=display_side)
