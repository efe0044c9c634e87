"""A model's thumbnail: a few pictures sampled from it, kept in the user cache for the library.

The library (Model ▸ Library… and ``models list --json``) shows one per model on disk. It is made
from the model itself, never downloaded: DPM-Solver++(2M) at S = 10 from seeds 0…n−1 (four
pictures for a small model, one for a large one, so a 256-px model on a CPU costs ten calls of
batch 1), tiled into one PNG. The file is keyed by the model folder's weights (path, size and
modification time of each weights file), so a model downloaded again or changed gets a new one.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from ddim_studio.core.imaging import tensor_to_uint8
from ddim_studio.core.resources import cache_dir

__all__ = ["THUMBNAIL_STEPS", "thumbnail_key", "thumbnail_path", "cached_thumbnail", "save_thumbnail",
           "make_thumbnail", "thumbnail_pictures"]  # fmt: skip

#: Sampling steps of a thumbnail (DPM-Solver++(2M): DDIM-50 quality at a fifth of the calls).
THUMBNAIL_STEPS = 10
#: The largest side of one tile in the stored PNG (pixels).
TILE = 128
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt", ".pth")


def thumbnail_key(folder: Path) -> str:
    """A hash of the model folder's path and its weights files' sizes and modification times."""
    folder = Path(folder).resolve()
    digest = hashlib.blake2b(str(folder).encode(), digest_size=12)
    weights = sorted(p for p in folder.rglob("*") if p.suffix in WEIGHT_SUFFIXES and p.is_file())
    for path in weights:
        stat = path.stat()
        digest.update(f"{path.relative_to(folder)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def thumbnail_path(folder: Path, root: Path | None = None) -> Path:
    """Where ``folder``'s thumbnail is kept (whether or not it exists yet)."""
    return (root or cache_dir("thumbnails")) / f"{thumbnail_key(folder)}.png"


def cached_thumbnail(folder: Path | None, root: Path | None = None) -> Path | None:
    """``folder``'s thumbnail if one was made, else None (also for a folder that is gone)."""
    if folder is None or not Path(folder).is_dir():
        return None
    path = thumbnail_path(folder, root)
    return path if path.is_file() else None


def save_thumbnail(folder: Path, pictures: np.ndarray, root: Path | None = None) -> Path:
    """Tile (n, H, W, 3) uint8 pictures (two per row) and keep them as ``folder``'s thumbnail.

    Written to a temporary file and renamed, so a reader never sees half a PNG.
    """
    tiles = [_tile(p) for p in pictures[:4]]
    if not tiles:
        raise ValueError("A thumbnail needs at least one picture.")
    columns = 1 if len(tiles) == 1 else 2
    rows = -(-len(tiles) // columns)
    h, w = tiles[0].shape[:2]
    sheet = np.zeros((rows * h, columns * w, 3), np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        sheet[r * h : (r + 1) * h, c * w : (c + 1) * w] = tile
    path = thumbnail_path(folder, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        Image.fromarray(sheet).save(temp, format="PNG")
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return path


def _tile(picture: np.ndarray) -> np.ndarray:
    h, w = picture.shape[:2]
    scale = TILE / max(h, w)
    if scale >= 1:
        return np.ascontiguousarray(picture[..., :3])
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(picture[..., :3]).resize(size, Image.Resampling.LANCZOS))


def thumbnail_pictures(num_parameters: int, sample_shape: tuple[int, ...]) -> int:
    """Four pictures from a small model, one from a large one (what a CPU makes in seconds)."""
    from ddim_studio.operations.cost import is_large

    return 1 if is_large(num_parameters, tuple(sample_shape)) else 4  # type: ignore[arg-type]


def make_thumbnail(
    folder: Path,
    *,
    device: str = "cpu",
    backend: str = "auto",
    precision: str = "auto",
    should_stop: Callable[[], bool] = lambda: False,
    root: Path | None = None,
) -> Path | None:
    """Sample ``folder``'s model and keep the pictures as its thumbnail; None if stopped.

    Raises:
        ModelLoadError: the model does not open (the message says why).
    """
    from ddim_studio.core.models import load_model
    from ddim_studio.core.models.backends import apply_backend
    from ddim_studio.operations.sample import sample_seeds

    model, info = load_model(folder, device=device)
    model, _report = apply_backend(model, info, backend=backend, precision=precision, device=device)
    count = thumbnail_pictures(info.num_parameters, info.picture_shape or info.sample_shape)
    run = sample_seeds(model, range(count), steps=THUMBNAIL_STEPS, sampler="dpmpp-2m", batch_size=count,
                       device=device)  # fmt: skip
    for _step in run:
        if should_stop():
            return None
    return save_thumbnail(folder, tensor_to_uint8(run.result.images), root)
