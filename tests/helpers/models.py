"""Small real models for tests: random diffusers UNets wrapped in the DiffusionModel protocol."""

from __future__ import annotations

import torch
from diffusers import UNet2DModel

from ddim_studio.core.schedule import NoiseSchedule


def tiny_unet(seed: int = 0, size: int = 8, channels: int = 3) -> UNet2DModel:
    """A seeded random UNet2DModel small enough for many sampler runs in a test."""
    torch.manual_seed(seed)
    return UNet2DModel(
        sample_size=size,
        in_channels=channels,
        out_channels=channels,
        block_out_channels=(8, 16),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"),
        norm_num_groups=4,
    ).eval()


class UNetModel:
    """A UNet2DModel behind the protocol, with a chosen schedule (tests of the sampler's math)."""

    def __init__(self, unet: UNet2DModel, schedule: NoiseSchedule) -> None:
        self.unet = unet
        self.schedule = schedule
        cfg = unet.config
        self.sample_shape = (cfg.in_channels, cfg.sample_size, cfg.sample_size)

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.unet(x_t, t).sample
