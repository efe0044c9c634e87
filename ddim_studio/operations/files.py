"""The files a person opens or keeps: latents, pictures, the output folder, written atomically.

The window reaches the core's file formats through here (``ui/`` may import from ``core/`` only
the types, constants and pure helpers listed in ``ddim_studio.layers``); the command
line uses the same functions. Every reader raises the core's typed error (``LatentLoadError``,
``ImageLoadError``, ``StoreError``) whose ``message`` says what is wrong in one line.
"""

from __future__ import annotations

from ddim_studio.core.atomic import atomic_write
from ddim_studio.core.imaging import ImageLoadError, load_image, load_mask_image, png_info
from ddim_studio.core.latents import LatentLoadError, load_latent, save_latent
from ddim_studio.core.store import OutputStore, StoreError, beside, default_output_dir

__all__ = [
    "ImageLoadError",
    "LatentLoadError",
    "OutputStore",
    "StoreError",
    "atomic_write",
    "beside",
    "default_output_dir",
    "load_image",
    "load_latent",
    "load_mask_image",
    "save_latent",
    "png_info",
]
