"""The one interface every model family is wrapped into: ``output = model(x_t, t)``.

Samplers never ask which family they run (k-diffusion's ``external.py`` idea): a diffusers
``UNet2DModel``, a converted original DDIM checkpoint and the exact-denoiser test oracles all
look the same. ``output`` is the network's raw prediction in ``schedule.prediction_type``
(ε, v or x₀); the DDIM step turns it into ``pred_eps`` and ``pred_x0``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import torch

from ddim_studio.core.schedule import NoiseSchedule


@runtime_checkable
class DiffusionModel(Protocol):
    """A noise predictor with its training schedule and sample shape.

    A latent diffusion model (``core/models/latent.py``) also has ``autoencoder``; its
    ``sample_shape`` is the latent's. Anything that wraps a model must keep ``autoencoder``
    (or the wrapped model as ``inner``), or a latent model's samples would be taken for pictures.
    """

    schedule: NoiseSchedule
    sample_shape: tuple[int, int, int]  # (C, H, W)

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The network's prediction for a batch ``x_t`` at integer timesteps ``t`` (shape (N,))."""
        ...


class ModelLoadError(Exception):
    """A model that cannot be loaded; the message says what is wrong and what to do instead."""


@dataclass
class ModelInfo:
    """What the UI and CLI show about a loaded model."""

    name: str
    source: str
    family: str  # "diffusers", "ddim-original", "oracle"
    sample_shape: tuple[int, int, int]
    num_parameters: int
    prediction_type: str
    clip_sample_requested: bool = False
    notes: list[str] = field(default_factory=list)  # e.g. "no scheduler config: default schedule used"
    num_train_timesteps: int = 1000  # T of the training schedule: the largest S a run can use
    steps_offset: int = 0  # diffusers' offset added to ``leading`` timesteps
    set_alpha_to_one: bool = True  # False: the clean level is ᾱ_0, not 1 (diffusers' option)
    backend: str = "torch"  # what runs the calls: "torch" or "openvino" (core.models.backends)
    precision: str = "exact"  # "exact" (float32) or "fast" (bf16 / float16)
    # Latent diffusion (core/models/latent.py): sample_shape is then the latent's (C, h, w).
    space: str = "pixel"  # "pixel" or "latent"
    autoencoder: str | None = None  # "vq" or "kl" for a latent model
    picture_shape: tuple[int, int, int] | None = None  # (C, H, W) of the pictures; set from sample_shape
    latent_scale: float | None = None  # latent = scale · encoder(picture)
    latent_scale_reason: str = ""  # why that scale (the config, the checkpoint, by hand…)

    def __post_init__(self) -> None:
        if self.picture_shape is None:
            self.picture_shape = tuple(self.sample_shape)  # type: ignore[assignment]
