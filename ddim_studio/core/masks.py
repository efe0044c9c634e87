"""Soft masks: feathering a mask outward, and the seam measure that shows why.

A mask m is (…, H, W) in [0, 1] (1 = regenerate, 0 = keep). Samplers honour every value through
``editing.KeepUnmasked`` (a pixel is regenerated in proportion to m) and the last step composites
``m·x₀ + (1 − m)·source``, so a feathered mask *is* a feathered final composite: no hard cut at the
boundary, and pixels where the feathered mask is still 0 are the source bit for bit.

**Feather f pixels** (outward): ``max_k (1 − k/(f + 1)) · dilate_k(m)`` for k = 0 … f, dilating with a
3×3 window (chessboard distance). The masked region keeps its values; outside it m falls linearly
to 0 over f pixels; farther pixels stay exactly 0 (kept).

**Seam energy** (the measure in README "Restore"): the mean squared colour step, on the [0, 1]
pixel scale, between 4-neighbours that lie on either side of the *hard* mask's boundary
(``m > 0.5`` against ``m ≤ 0.5``), summed over the three channels. A hard composite puts the whole
difference between generated and kept content on these pairs; a feathered one spreads it out.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

MAX_FEATHER = 32


def check_feather(pixels: int) -> int:
    """The feather width if it is a whole number in [0, 32], else a ValueError saying so."""
    if isinstance(pixels, bool) or not isinstance(pixels, int) or not 0 <= pixels <= MAX_FEATHER:
        raise ValueError(
            f"The feather must be a whole number of pixels from 0 to {MAX_FEATHER}, got {pixels!r}."
        )
    return pixels


def feather_mask(mask: torch.Tensor, pixels: int) -> torch.Tensor:
    """The mask feathered outward by ``pixels`` (0 gives it back unchanged); (N, 1, H, W) float."""
    if check_feather(pixels) == 0:
        return mask
    out = grown = mask.to(torch.float32)
    for k in range(1, pixels + 1):
        grown = F.max_pool2d(grown, 3, stride=1, padding=1)
        out = torch.maximum(out, grown * (1.0 - k / (pixels + 1)))
    return out.to(mask.dtype)


def seam_energy(pictures: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per picture, the mean squared step across the hard mask's boundary (see the module docstring).

    Args:
        pictures: (N, C, H, W) in [−1, 1].
        mask: (1 or N, 1, H, W); its boundary is where ``mask > 0.5`` changes between neighbours.
    """
    inside = (mask > 0.5).to(pictures.dtype)
    x = pictures.clamp(-1, 1) / 2
    sums, counts = torch.zeros(x.shape[0]), torch.zeros(1)
    for dim in (-1, -2):
        step = (x.diff(dim=dim) ** 2).sum(dim=1, keepdim=True)
        cross = inside.diff(dim=dim).abs().expand(x.shape[0], -1, -1, -1)
        sums = sums + (step * cross).flatten(1).sum(dim=1)
        counts = counts + cross[:1].sum()
    return sums / counts.clamp(min=1)
