"""What a job costs before it runs: model calls, seconds, and sensible defaults per model and device.

Every operation's cost is a number of model calls (each one forward pass of the network on a
batch). :func:`measure_call` times one call of a model (a probe while it loads, or the first step
of a run); a :class:`CallRate` turns that into seconds for any batch size, and
:func:`estimate_label` into the words shown next to Run ("≈ 14 min on this CPU"). No Qt here:
the window and the command line share it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from ddim_studio.durations import clock, format_duration

__all__ = [
    "CallRate", "Defaults", "clock", "format_duration", "estimate_label", "measure_call", "sample_calls",
    "encode_calls", "interpolate_calls", "suggested_defaults", "is_large", "is_slow", "batches",
]  # fmt: skip

#: Above this estimate the window warns before a run (seconds).
WARN_SECONDS = 5 * 60.0
#: A model with more parameters than this (or larger than 128 px) is "large" for defaults.
LARGE_PARAMETERS = 50_000_000
LARGE_SIDE = 128
#: How the cost of one call grows per extra picture in a batch, relative to one picture:
#: a CPU is compute-bound (cost ∝ batch); an accelerator runs a small batch almost for free.
BATCH_GROWTH = {"cpu": 1.0, "cuda": 0.15, "mps": 0.35}


def batches(count: int, batch_size: int) -> int:
    """How many batches of at most ``batch_size`` hold ``count`` pictures."""
    return math.ceil(max(0, int(count)) / max(1, int(batch_size)))


def sample_calls(count: int, batch_size: int, steps: int) -> int:
    """Model calls to sample (or decode) ``count`` pictures in batches: S per batch."""
    return batches(count, batch_size) * int(steps)


def encode_calls(steps: int) -> int:
    """Model calls to encode pictures (all in one batch) and decode them back: 2·S."""
    return 2 * int(steps)


def interpolate_calls(frames: int, batch_size: int, steps: int, *, images: int = 0) -> int:
    """Model calls of an interpolation: S to encode the picture ends (if any), S per batch of frames."""
    return (1 if images else 0) * int(steps) + sample_calls(frames, batch_size, steps)


@dataclass(frozen=True)
class CallRate:
    """A measured cost of one model call.

    Attributes:
        seconds: seconds one call took.
        batch: pictures in the measured call.
        device: ``cpu``, ``cuda`` or ``mps`` (how the cost grows with the batch).
    """

    seconds: float
    batch: int = 1
    device: str = "cpu"

    def per_call(self, batch: int) -> float:
        """Seconds of one call on ``batch`` pictures (linear in the batch, by the device's growth)."""
        growth = BATCH_GROWTH.get(self.device, 1.0)
        one = self.seconds / (1.0 + growth * (max(1, self.batch) - 1))
        return one * (1.0 + growth * (max(1, int(batch)) - 1))

    def seconds_for(self, calls: int, batch: int) -> float:
        """Seconds of ``calls`` model calls on ``batch`` pictures each."""
        return max(0, int(calls)) * self.per_call(batch)


def measure_call(model: object, device: torch.device | str = "cpu", batch: int = 1) -> CallRate:
    """Time one model call on a batch of noise (the probe run while a model loads)."""
    shape = tuple(model.sample_shape)  # type: ignore[attr-defined]
    dev = torch.device(device)
    x = torch.randn((max(1, batch), *shape), generator=torch.Generator().manual_seed(0)).to(dev)
    t = torch.full((x.shape[0],), 500, dtype=torch.long, device=dev)
    with torch.inference_mode():
        start = time.perf_counter()
        out = model(x, t)  # type: ignore[operator]
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        float(out.flatten()[0])  # the value is ready (MPS, lazy backends)
        seconds = time.perf_counter() - start
    return CallRate(seconds, int(x.shape[0]), dev.type)


def device_words(device: str) -> str:
    """``this CPU``, ``this GPU`` — where the estimate holds."""
    return "this CPU" if device == "cpu" else "this GPU"


def estimate_label(seconds: float, device: str) -> str:
    """What the window shows next to Run: ``≈ 14 min on this CPU`` (``< 1 s on this CPU``: no "≈ <")."""
    duration = format_duration(seconds)
    about = "" if duration.startswith("<") else "≈ "
    return f"{about}{duration} on {device_words(device)}"


def is_slow(seconds: float, threshold: float = WARN_SECONDS) -> bool:
    """Whether an estimate deserves a warning before the run."""
    return seconds > threshold


def is_large(num_parameters: int, sample_shape: tuple[int, ...]) -> bool:
    """Whether a model is large: many parameters or big pictures."""
    side = max((int(d) for d in tuple(sample_shape)[1:]), default=0)
    return int(num_parameters) > LARGE_PARAMETERS or side > LARGE_SIDE


@dataclass(frozen=True)
class Defaults:
    """Starting settings for a model on a device: steps S and the Generate/Interpolate batch sizes."""

    steps: int
    batch: int
    interpolate_batch: int


def suggested_defaults(num_parameters: int, sample_shape: tuple[int, ...], device: str) -> Defaults:
    """Defaults per model size and device: a large model on a CPU starts at S = 20 and batch 1."""
    large = is_large(num_parameters, sample_shape)
    if large and device == "cpu":
        return Defaults(steps=20, batch=1, interpolate_batch=1)
    if large:
        return Defaults(steps=50, batch=2, interpolate_batch=4)
    if device == "cpu":
        return Defaults(steps=50, batch=4, interpolate_batch=8)
    return Defaults(steps=50, batch=8, interpolate_batch=8)


#: The network timed by :func:`machine_rate`: the CIFAR-10 DDPM layout at half the width (≈ 3 GFLOP).
REFERENCE_UNET = {
    "sample_size": 32, "in_channels": 3, "out_channels": 3, "layers_per_block": 2,
    "block_out_channels": [64, 128, 128, 128],
    "down_block_types": ["DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"],
}  # fmt: skip


def machine_rate(device: str = "cpu", architecture: dict | None = None, calls: int = 3) -> float:
    """GFLOP per second this machine runs a diffusion UNet at (the median of ``calls`` timed calls).

    A model not yet downloaded is estimated from it: its GFLOP per call (in the catalogue) over
    this rate is its seconds per step (``core.catalogue.estimated_step_seconds``).

    Args:
        device: ``cpu``, ``cuda``… where the models would run.
        architecture: the ``UNet2DModel`` config timed (default :data:`REFERENCE_UNET`).
        calls: timed calls after one warm-up call.
    """
    from diffusers import UNet2DModel

    from ddim_studio.core.catalogue import count_unet

    config = dict(architecture or REFERENCE_UNET)
    _params, gflops = count_unet(config)
    torch.manual_seed(0)
    dev = torch.device(device)
    unet = UNet2DModel(**config).to(dev).eval()
    model = _Timed(unet, (int(config.get("in_channels", 3)), config["sample_size"], config["sample_size"]))
    measure_call(model, dev)  # warm-up: allocations, kernels
    times = sorted(measure_call(model, dev).seconds for _ in range(max(1, calls)))
    return gflops / max(times[len(times) // 2], 1e-9)


class _Timed:
    """A bare UNet behind ``model(x, t)`` for :func:`measure_call`."""

    def __init__(self, unet: object, sample_shape: tuple[int, int, int]) -> None:
        self.unet = unet
        self.sample_shape = sample_shape

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.unet(x, t).sample  # type: ignore[attr-defined]
