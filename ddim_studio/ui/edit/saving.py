"""Edit mode's results into the gallery, each with its input picture (and mask) beside it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from ddim_studio.core.imaging import tensor_to_uint8
from ddim_studio.core.store import MASK_SUFFIX, SOURCE_SUFFIX

if TYPE_CHECKING:
    from ddim_studio.ui.edit.edit_controller import EditController


def save_with_source(
    ctl: EditController,
    images: torch.Tensor,
    source: Image.Image,
    mask: torch.Tensor | None,
    describe: Callable[[int], tuple[dict[str, Any], str]],
    noun: str,
) -> int:
    """Save each of ``images`` with ``source`` (and ``mask``) beside it; how many were saved.

    ``describe(i)`` gives result i's parameters and file stem; ``noun`` names the results in the
    note ("edit" → "Saved 2 edits to the gallery.").
    """
    extras = [(SOURCE_SUFFIX, source)]
    if mask is not None:
        extras.append((MASK_SUFFIX, Image.fromarray((mask[0, 0].numpy() * 255).round().astype(np.uint8))))
    ctl.saved_items = []
    for i, image in enumerate(tensor_to_uint8(images)):
        params, stem = describe(i)
        item = ctl.services.library.save(Image.fromarray(image), params, stem=stem, extras=extras)
        if item is not None:
            ctl.saved_items.append(item)
    if ctl.saved_items:
        n = len(ctl.saved_items)
        ctl.services.notifier.info(f"Saved {n} {noun}{'s' if n > 1 else ''} to the gallery.")
    return len(ctl.saved_items)
