"""Reconstruction error, defined once for the window and the command line.

Convention: both images are clamped to [−1, 1] (the range a saved picture can show) and compared
on the [0, 1] pixel scale, i.e. ``MSE = mean(((clamp(rec) − clamp(orig)) / 2)²)`` per image over
all channels and pixels, in float32 on the CPU; ``PSNR = 10·log10(1 / MSE)`` dB (``inf`` when
MSE = 0). Encode compares the decoded tensor unquantised (the window and ``ddim-studio encode``
report the same figures); a restored picture is compared as saved, both sides 8-bit, so decoding a
picture's own latent scores MSE 0.
"""

from __future__ import annotations

import math

import torch


def psnr_from_mse(mse: float) -> float:
    """PSNR in dB of an MSE on the [0, 1] scale (``inf`` for 0)."""
    return math.inf if mse <= 0 else 10.0 * math.log10(1.0 / mse)


def reconstruction_error(
    original: torch.Tensor, reconstruction: torch.Tensor
) -> tuple[list[float], list[float]]:
    """Per-image (MSE, PSNR) lists between two (N, 3, H, W) or (3, H, W) batches in [−1, 1].

    Raises:
        ValueError: when the shapes differ.
    """
    a = original.detach().to("cpu", torch.float32)
    b = reconstruction.detach().to("cpu", torch.float32)
    if a.shape != b.shape:
        raise ValueError(f"Cannot compare images of shapes {tuple(a.shape)} and {tuple(b.shape)}.")
    if a.ndim == 3:
        a, b = a.unsqueeze(0), b.unsqueeze(0)
    diff = (b.clamp(-1, 1) - a.clamp(-1, 1)) / 2.0
    mse = [float(v) for v in diff.pow(2).flatten(1).mean(dim=1)]
    return mse, [psnr_from_mse(m) for m in mse]
