"""Writing an interpolation's frames out: animated GIF, one PNG strip, or numbered PNG files.

Used by the window's Interpolate mode and by ``ddim-studio interpolate``. Frames are enlarged by a
whole factor with nearest-neighbour scaling (32 px frames stay crisp at 256 px) and written
atomically without overwriting (``core.atomic.atomic_write``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image

from ddim_studio.core.imaging import png_info
from ddim_studio.core.store import atomic_write, atomic_write_group, sanitize_stem
from ddim_studio.operations.outputs import make_output_folder

MIN_EXPORT_SIDE = 256
GAP = 4


def upscale(frame: np.ndarray, min_side: int = MIN_EXPORT_SIDE) -> Image.Image:
    """An (H, W, 3) uint8 frame as an RGB image enlarged ×k (nearest) so its shorter side ≥ ``min_side``."""
    image = Image.fromarray(np.asarray(frame, dtype=np.uint8), "RGB")
    factor = max(1, -(-min_side // max(1, min(image.size))))
    if factor == 1:
        return image
    return image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)


def _gif_writer(
    frames: Sequence[np.ndarray], *, fps: float, bounce: bool, min_side: int
) -> Callable[[BinaryIO], None]:
    """A writer of the animated GIF of ``frames`` (quantized once, here)."""
    if len(frames) < 2:
        raise ValueError("An animation needs at least 2 frames.")
    images = [upscale(f, min_side) for f in frames]
    if bounce:
        images = images + images[-2:0:-1]
    duration = max(20, round(1000 / max(fps, 0.1)))
    palette_frames = [
        im.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE) for im in images
    ]

    def write(fh: BinaryIO) -> None:
        palette_frames[0].save(
            fh,
            format="GIF",
            save_all=True,
            append_images=palette_frames[1:],
            duration=duration,
            loop=0,
            disposal=1,
            optimize=False,
        )

    return write


def export_gif(
    path: Path,
    frames: Sequence[np.ndarray],
    *,
    fps: float = 8.0,
    bounce: bool = False,
    min_side: int = MIN_EXPORT_SIDE,
) -> Path:
    """Write an endlessly looping animated GIF; ``bounce`` plays forwards then backwards.

    Returns:
        The path written (``name-1.gif``… when the name is taken).
    """
    return atomic_write(
        path.with_suffix(".gif"), _gif_writer(frames, fps=fps, bounce=bounce, min_side=min_side)
    )


def export_strip_and_gif(
    folder: Path,
    stem: str,
    frames: Sequence[np.ndarray],
    params: dict[str, Any],
    *,
    fps: float = 8.0,
    bounce: bool = True,
) -> list[Path]:
    """Write the strip (``<stem>.png``, model resolution, ``params`` inside) and its GIF as one group.

    Both files get the same free stem, or neither is written (a full disk leaves no strip without
    its animation). The folder is created if needed.

    Returns:
        ``[strip, gif]``.

    Raises:
        StoreError: a bad name, a full disk, no permission; nothing is left behind.
    """
    clean = sanitize_stem(stem)
    strip = strip_image(frames, min_side=0, gap=0)
    info = png_info(params)

    def write_png(fh: BinaryIO) -> None:
        strip.save(fh, format="PNG", pnginfo=info)

    gif = _gif_writer(frames, fps=fps, bounce=bounce, min_side=MIN_EXPORT_SIDE)
    make_output_folder(folder)
    return atomic_write_group(folder, clean, [(".png", write_png), (".gif", gif)])


def strip_image(frames: Sequence[np.ndarray], *, min_side: int = 128, gap: int = GAP) -> Image.Image:
    """All frames side by side on a dark background, ``gap`` px apart."""
    tiles = [upscale(f, min_side) for f in frames]
    width = sum(t.width for t in tiles) + gap * (len(tiles) + 1)
    height = max(t.height for t in tiles) + 2 * gap
    strip = Image.new("RGB", (width, height), (16, 17, 20))
    x = gap
    for tile in tiles:
        strip.paste(tile, (x, gap))
        x += tile.width + gap
    return strip


def export_strip(path: Path, frames: Sequence[np.ndarray], params: dict[str, Any]) -> Path:
    """Write the frames as one PNG strip with ``params`` embedded."""
    if not frames:
        raise ValueError("There are no frames to export.")
    strip = strip_image(frames)
    info = png_info(params)

    def write(fh: BinaryIO) -> None:
        strip.save(fh, format="PNG", pnginfo=info)

    return atomic_write(path.with_suffix(".png"), write)


def export_frames(
    folder: Path, frames: Sequence[np.ndarray], params: dict[str, Any], stem: str = "frame"
) -> list[Path]:
    """Write each frame as ``<stem>_001.png``… in ``folder`` (created if needed), at model resolution."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    digits = max(3, len(str(len(frames))))
    for index, frame in enumerate(frames):
        image = Image.fromarray(np.asarray(frame, dtype=np.uint8), "RGB")
        info = png_info({**params, "frame": index, "frames": len(frames)})

        def write(fh: BinaryIO, image: Image.Image = image, info: Any = info) -> None:
            image.save(fh, format="PNG", pnginfo=info)

        written.append(atomic_write(folder / f"{stem}_{index + 1:0{digits}d}.png", write))
    return written
