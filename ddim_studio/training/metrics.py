"""Sliced Wasserstein distance over Laplacian-pyramid patches (Karras et al., 2018, ProGAN §5).

An offline stand-in for FID: no pretrained network is needed. Each image set becomes, per pyramid
level, a cloud of 7×7 RGB patch descriptors (normalised per channel); the distance between two
clouds is the mean over random unit directions of the 1-D Wasserstein distance of their
projections. Reported ×10³ per level and averaged, as in the paper; lower is better.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

PATCH = 7
PATCHES_PER_IMAGE = 64
DIRECTIONS = 512
REPEATS = 4
MAX_DESCRIPTORS = (
    8_192  # per set and level, drawn at random (Karras et al. use 2**14 images x 128; fewer keeps it fast)
)

_KERNEL_1D = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def _blur(x: torch.Tensor) -> torch.Tensor:
    kernel = (_KERNEL_1D[:, None] * _KERNEL_1D[None, :]).to(x)
    kernel = kernel.expand(x.shape[1], 1, 5, 5)
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), kernel, groups=x.shape[1])


def laplacian_pyramid(x: torch.Tensor, min_size: int = 16) -> list[torch.Tensor]:
    """Band-pass levels from finest to the low-pass residual at ``min_size`` pixels."""
    levels = []
    current = x
    while current.shape[-1] > min_size:
        down = _blur(current)[..., ::2, ::2]
        up = F.interpolate(down, scale_factor=2, mode="nearest")
        levels.append(current - _blur(up))
        current = down
    levels.append(current)
    return levels


def _patches(level: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``PATCHES_PER_IMAGE`` random 7×7 patches per image, as (N·P, C, 49)."""
    n, c, h, w = level.shape
    ys = torch.randint(0, h - PATCH + 1, (n, PATCHES_PER_IMAGE), generator=generator)
    xs = torch.randint(0, w - PATCH + 1, (n, PATCHES_PER_IMAGE), generator=generator)
    offsets = torch.arange(PATCH)
    rows = ys[:, :, None, None] + offsets[None, None, :, None]
    cols = xs[:, :, None, None] + offsets[None, None, None, :]
    batch = torch.arange(n)[:, None, None, None]
    picked = level.permute(0, 2, 3, 1)[batch, rows, cols]  # (N, P, 7, 7, C)
    return picked.reshape(-1, PATCH * PATCH, c).transpose(1, 2)


def _subsample(desc: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    if desc.shape[0] <= MAX_DESCRIPTORS:
        return desc
    return desc[torch.randperm(desc.shape[0], generator=generator)[:MAX_DESCRIPTORS]]


def _normalise(desc: torch.Tensor) -> torch.Tensor:
    mean = desc.mean(dim=(0, 2), keepdim=True)
    std = desc.std(dim=(0, 2), keepdim=True).clamp_min(1e-8)
    return ((desc - mean) / std).flatten(1)


def _sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, generator: torch.Generator) -> float:
    count = min(a.shape[0], b.shape[0])
    total = 0.0
    for _ in range(REPEATS):
        dirs = torch.randn(a.shape[1], DIRECTIONS, generator=generator, dtype=a.dtype)
        dirs = dirs / dirs.norm(dim=0, keepdim=True)
        # numpy's sort is about twice as fast as torch's on the CPU for this shape
        pa = np.sort((a[:count] @ dirs).T.numpy(), axis=1)
        pb = np.sort((b[:count] @ dirs).T.numpy(), axis=1)
        total += float(np.abs(pa - pb).mean())
    return total / REPEATS


def swd(images_a: torch.Tensor, images_b: torch.Tensor, seed: int = 0) -> dict[str, float]:
    """SWD ×10³ per pyramid level and their mean between two image sets in [−1, 1], shape (N, 3, H, W)."""
    gen = torch.Generator().manual_seed(seed)
    a = images_a.float().clamp(-1, 1)
    b = images_b.float().clamp(-1, 1)
    result: dict[str, float] = {}
    for level_a, level_b in zip(laplacian_pyramid(a), laplacian_pyramid(b), strict=True):
        da, db = _subsample(_patches(level_a, gen), gen), _subsample(_patches(level_b, gen), gen)
        joint = _normalise(torch.cat([da, db]))
        result[f"{level_a.shape[-1]}px"] = 1e3 * _sliced_wasserstein(joint[: len(da)], joint[len(da) :], gen)
    result["mean"] = sum(result.values()) / len(result)
    return result
