"""Display transforms for Encode: how a latent and a reconstruction error are *shown*.

These are presentation choices (a contrast for x_T, a colour map for the error), not model math;
the reconstruction error itself is ``operations.metrics.reconstruction_error``, the same figure
the command line prints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

LATENT_RANGE = 2.5  # x_T ~ N(0, I): ±2.5σ fills the display range
ERROR_GAIN = 8.0
# A perceptual dark-to-bright map (inferno-like): black → purple → orange → pale yellow.
_STOPS = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
_COLOURS = np.array(
    [[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], dtype=np.float64
)


def latent_image(x_T: torch.Tensor) -> np.ndarray:
    """A latent (C, H, W) or (1, C, H, W) as an (H, W, 3) uint8 picture (±2.5σ → black…white)."""
    import torch

    from ddim_studio.core.imaging import tensor_to_uint8

    x = x_T if x_T.ndim == 4 else x_T.unsqueeze(0)
    return tensor_to_uint8((x[:1].to(torch.float32) / LATENT_RANGE).clamp(-1, 1))[0]


def colour_map(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (any shape) as uint8 RGB through the inferno-like map."""
    v = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)
    channels = [np.interp(v, _STOPS, _COLOURS[:, c]) for c in range(3)]
    return np.stack(channels, axis=-1).round().astype(np.uint8)


def error_map(original: np.ndarray, reconstruction: np.ndarray, gain: float = ERROR_GAIN) -> np.ndarray:
    """|original − reconstruction| (uint8 (H, W, 3) each), averaged over channels, × ``gain``, coloured."""
    a = np.asarray(original, dtype=np.float64) / 255.0
    b = np.asarray(reconstruction, dtype=np.float64) / 255.0
    if a.shape != b.shape:
        raise ValueError(f"Cannot compare images of shapes {a.shape} and {b.shape}.")
    return colour_map(np.abs(a - b).mean(axis=-1) * gain)


def colour_bar(width: int = 128, height: int = 8) -> np.ndarray:
    """A horizontal legend of the error colour map, (height, width, 3) uint8."""
    ramp = np.linspace(0.0, 1.0, width)[None, :].repeat(height, axis=0)
    return colour_map(ramp)
