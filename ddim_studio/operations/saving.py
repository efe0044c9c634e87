"""Saving a picture with its latent: one function over ``core.store`` for both front ends."""

from __future__ import annotations

import os
from typing import Any

import torch
from PIL import Image

from ddim_studio.core.store import OutputStore, SavedItem


def save_picture(
    folder: str | os.PathLike[str],
    image: Image.Image,
    params: dict[str, Any],
    *,
    stem: str,
    latent: torch.Tensor | None = None,
) -> SavedItem:
    """Write ``<stem>.png`` with ``params`` inside (and ``<stem>.safetensors`` holding ``latent``).

    Atomic and never overwriting: both files get the first free shared stem (``stem-1``…).

    Raises:
        StoreError: a bad name, a full disk, no permission; nothing is left behind.
    """
    return OutputStore(folder).save_image(image, params, stem=stem, latent=latent)
