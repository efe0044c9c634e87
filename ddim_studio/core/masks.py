"""Soft masks: feathering a mask outward, the feathered final composite, and the seam measure.

A mask m is (…, H, W) in [0, 1] (1 = regenerate, 0 = keep). Samplers honour every value through
``editing.KeepUnmasked`` and DDNM's ``Inpaint`` (a pixel is regenerated in proportion to m).

**Feather f pixels** (outward): ``m_f = max_k (1 − k/(f + 1)) · dilate_k(m)`` for k = 0 … f,
dilating with a 3×3 window (chessboard distance): the masked region keeps its values; outside it
m_f falls linearly to 0 over f pixels; farther pixels stay exactly 0. A feathered run
(:func:`feathered`) *samples* with the ring fully regenerated (``m_run``: 1 where m_f > m, else m;
so the ring's content is the model's, coherent with the rest) and *composites* the final picture as
``m_f·x + (1 − m_f)·source`` (:func:`composite`): the generated content fades into the source over
f pixels instead of meeting it at a cut, and pixels where m_f = 0 are the source bit for bit.
(Sampling with m_f itself, proportionally, was measured first and gave *more* seam energy: the ring
then blends two half-generated contents.)

**Seam energy** (README "Restore"): the mean squared colour step, on the [0, 1] pixel scale summed
over the channels, between 4-neighbours of which at least one lies in the transition zone: outside
the hard mask (``m > 0.5``) within ``width`` pixels of it, or on its inner edge. A hard composite
puts the whole difference between generated and kept content on one step; a feathered one splits
it into f smaller ones, whose squares add up to less.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ddim_studio.core.names import MAX_FEATHER


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


def feathered(mask: torch.Tensor, pixels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(m_run, m_f): the mask to sample with and the mask to composite with (see the module docstring)."""
    m_f = feather_mask(mask, pixels)
    return torch.where(m_f > mask, torch.ones_like(m_f), mask), m_f


def composite(pictures: torch.Tensor, source: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """m·pictures + (1 − m)·source (pixels where m = 0 are the source exactly)."""
    m = mask.to(pictures)
    return m * pictures + (1 - m) * source.to(pictures)


SEAM_WIDTH = 6


def seam_energy(pictures: torch.Tensor, mask: torch.Tensor, width: int = SEAM_WIDTH) -> torch.Tensor:
    """Per picture, the mean squared step in the transition zone (see the module docstring).

    Args:
        pictures: (N, C, H, W) in [−1, 1].
        mask: (1 or N, 1, H, W); its hard region is ``mask > 0.5``.
        width: how far outside the hard region the zone reaches (at least the widest feather compared).
    """
    inside = (mask > 0.5).to(torch.float32)
    grown = F.max_pool2d(inside, 2 * width + 1, stride=1, padding=width)
    eroded = -F.max_pool2d(-inside, 3, stride=1, padding=1)
    zone = grown * (1 - eroded)
    x = pictures.to(torch.float32).clamp(-1, 1) / 2
    sums, counts = torch.zeros(x.shape[0]), torch.zeros(1)
    for dim in (-1, -2):
        n = zone.shape[dim] - 1
        pair = torch.maximum(zone.narrow(dim, 0, n), zone.narrow(dim, 1, n)).expand(x.shape[0], -1, -1, -1)
        step = (x.diff(dim=dim) ** 2).sum(dim=1, keepdim=True)
        sums = sums + (step * pair).flatten(1).sum(dim=1)
        counts = counts + pair[:1].sum()
    return sums / counts.clamp(min=1)
