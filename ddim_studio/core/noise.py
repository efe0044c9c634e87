"""Per-image seeded noise: an image is the same whatever the batch, its position and the device.

Image ``i`` of a run with seed ``s`` has seed ``s + i`` and its own CPU ``torch.Generator``. The
generator first draws the image's x_T, then, with η > 0, one standard normal z per step, in order.
Drawing on the CPU and then moving makes the stream identical on CUDA, MPS and CPU.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

MAX_SEED = 2**63 - 1


def check_seed(seed: int) -> int:
    """Return ``seed`` if it is a valid generator seed, else raise a ValueError saying the range."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"A seed must be an integer between 0 and {MAX_SEED}, got {seed!r}.")
    return seed


def seeds_for(seed: int, count: int) -> list[int]:
    """The per-image seeds of a run: ``seed, seed + 1, …``."""
    check_seed(seed)
    if count < 0:
        raise ValueError(f"count must be non-negative, got {count}.")
    return [check_seed(seed + i) for i in range(count)]


class ImageNoise:
    """One independent noise stream per image, drawn on the CPU and moved to the latents' device."""

    def __init__(
        self,
        seeds: Sequence[int],
        shape: tuple[int, ...],
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.seeds = [check_seed(int(s)) for s in seeds]
        self.shape = tuple(shape)
        self.device = torch.device(device)
        self.dtype = dtype
        self._generators = [torch.Generator(device="cpu").manual_seed(s) for s in self.seeds]

    def draw(self) -> torch.Tensor:
        """The next standard normal draw of every image, stacked as (N, *shape)."""
        cpu = torch.stack(
            [torch.randn(self.shape, generator=g, dtype=torch.float32) for g in self._generators]
        )
        if self.device.type == "cuda":
            return cpu.pin_memory().to(self.device, self.dtype, non_blocking=True)
        return cpu.to(self.device, self.dtype)


def initial_noise(
    seeds: Sequence[int],
    shape: tuple[int, ...],
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, ImageNoise]:
    """x_T for each seed and the stream that continues with the per-step η-noise."""
    stream = ImageNoise(seeds, shape, device, dtype)
    return stream.draw(), stream
