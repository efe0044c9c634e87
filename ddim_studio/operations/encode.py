"""Encode: invert pictures to their latents x_T, decode them back, and measure the error."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from ddim_studio.core.limits import check_finite
from ddim_studio.core.models.latent import autoencoder_of, to_pictures
from ddim_studio.core.models.protocol import DiffusionModel
from ddim_studio.core.samplers import DEFAULT_SAMPLER
from ddim_studio.core.sampling import StepResult, iter_invert, resolve_timesteps
from ddim_studio.operations.metrics import reconstruction_error
from ddim_studio.operations.run import Body, Run, Stage, phase
from ddim_studio.operations.sample import LATENT_DTYPE, check_batch, sampler_for


@dataclass(frozen=True)
class EncodeOutput:
    """Latents of encoded pictures, their reconstruction and its error (CPU, float32).

    Attributes:
        x_T: (N, C, H, W) the latents.
        reconstruction: (N, 3, H, W) the decoded latents (η = 0), not clamped.
        mse: per picture, see :mod:`ddim_studio.operations.metrics` (clamped, [0, 1] scale).
        psnr: per picture, dB.
        timesteps: the τ used, noisiest first.
        sampler: the sampler that decoded.
        refine: K, the fixed-point updates per inversion step (0 = the paper's plain inversion).
        calls: the batched model calls the inversion made (the sum of its steps' ``calls``; S when
            ``refine`` is 0, at most ``inversion_calls(S, K)``); the decode adds S more.
        floor_mse, floor_psnr: a latent diffusion model's autoencoder round trip (encode → decode,
            no diffusion), per picture: the floor no inversion can beat; empty for pixel models.
        floor: (N, 3, H, W) that round trip's pictures (None for pixel models).
    """

    x_T: torch.Tensor
    reconstruction: torch.Tensor
    mse: list[float]
    psnr: list[float]
    timesteps: list[int]
    sampler: str
    refine: int = 0
    calls: int = 0
    floor_mse: list[float] = field(default_factory=list)
    floor_psnr: list[float] = field(default_factory=list)
    floor: torch.Tensor | None = None


def image_batch(images: torch.Tensor, what: str = "images") -> torch.Tensor:
    """``images`` as an (N, 3, H, W) batch; ValueError for anything but a tensor."""
    if not isinstance(images, torch.Tensor):
        kind = type(images).__name__
        raise ValueError(f"{what} must be a tensor shaped (N, 3, H, W) in [-1, 1], got {kind}.")
    return images.detach().unsqueeze(0) if images.ndim == 3 else images.detach()


def counted_invert_phase(
    model: DiffusionModel,
    x_0: torch.Tensor,
    *,
    steps: int,
    spacing: str,
    clip_sample: bool,
    count: int,
    refine: int = 0,
    job_total: int = 0,
) -> Body[tuple[torch.Tensor, int]]:
    """The ``encode`` phase: DDIM inversion of ``x_0`` (on its device), refined ``refine`` times a step.

    ``job_total``: steps of the whole operation this phase belongs to (see ``Stage``).

    Returns:
        x_T and the batched model calls the inversion made (the sum of its steps' ``calls``).
    """
    total = len(resolve_timesteps(model, steps, spacing, None))
    steps_run = iter_invert(model, x_0, steps=steps, spacing=spacing, clip_sample=clip_sample, refine=refine)
    calls = [0]

    def counted() -> Iterator[StepResult]:
        for step in steps_run:
            calls[0] += step.calls
            yield step

    last = yield from phase(Stage("encode", total, count, job_total=job_total), counted())
    return check_finite(last.x_t, "The encoded latent"), calls[0]


def invert_phase(
    model: DiffusionModel,
    x_0: torch.Tensor,
    *,
    steps: int,
    spacing: str,
    clip_sample: bool,
    count: int,
    job_total: int = 0,
    refine: int = 0,
) -> Body[torch.Tensor]:
    """The ``encode`` phase: DDIM inversion of ``x_0`` (on its device); returns x_T.

    ``job_total``: model calls of the whole operation this phase belongs to (see ``Stage``).
    """
    x_T, _calls = yield from counted_invert_phase(
        model, x_0, steps=steps, spacing=spacing, clip_sample=clip_sample, count=count, refine=refine,
        job_total=job_total,
    )  # fmt: skip
    return x_T


def _encode_body(
    model: DiffusionModel,
    images: torch.Tensor,
    *,
    steps: int,
    spacing: str,
    clip_sample: bool,
    sampler: str,
    device: torch.device,
    decode: bool = True,
    refine: int = 0,
    quantize: bool = True,
) -> Body[EncodeOutput]:
    spec = sampler_for(sampler, 0.0)
    pictures = check_finite(image_batch(images), "The batch of pictures to encode").to(device, LATENT_DTYPE)
    count = int(pictures.shape[0])
    check_batch(model, max(count, 1), count)
    seq = resolve_timesteps(model, steps, spacing, None)
    job_total = (2 if decode else 1) * len(seq)  # steps (a refined step is one, whatever its calls)
    x_0, floor = model_space(model, pictures, quantize=quantize, round_trip=decode)
    x_T, calls = yield from counted_invert_phase(
        model, x_0, steps=steps, spacing=spacing, clip_sample=clip_sample, count=count, refine=refine,
        job_total=job_total,
    )  # fmt: skip
    if not decode:  # only the latents are wanted (e.g. interpolation ends): no reconstruction
        x_T = x_T.to("cpu", torch.float32)
        empty = torch.empty(0, *pictures.shape[1:])
        return EncodeOutput(x_T, empty, [], [], seq, spec.name, int(refine), calls)
    run = spec.fn(model, x_T, steps=steps, eta=0.0, spacing=spacing, clip_sample=clip_sample)
    last = yield from phase(Stage("decode", len(seq), count, job_total=2 * len(seq)), run)
    decoded = to_pictures(model, last.x_t, quantize=quantize)
    reconstruction = check_finite(decoded.to("cpu", torch.float32), "The reconstruction")
    mse, psnr = reconstruction_error(pictures, reconstruction)
    floor_mse, floor_psnr = reconstruction_error(pictures, floor) if floor is not None else ([], [])
    return EncodeOutput(
        x_T.to("cpu", torch.float32), reconstruction, mse, psnr, seq, spec.name, int(refine), calls,
        floor_mse, floor_psnr, floor,
    )  # fmt: skip


def model_space(
    model: DiffusionModel, pictures: torch.Tensor, *, quantize: bool = True, round_trip: bool = True
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Pictures as the model's x₀, and a latent model's autoencoder round trip (None otherwise).

    A pixel model's x₀ is the picture. A latent diffusion model's is the encoder's output (the
    unquantized VQ latent or the KL mean, times the scale); its round trip decode(encode(picture))
    is the floor of any reconstruction (computed only when ``round_trip``).
    """
    ae = autoencoder_of(model)
    if ae is None:
        return pictures, None
    latents = check_finite(ae.encode(pictures), "The encoded picture")
    if not round_trip:
        return latents, None
    floor = check_finite(ae.decode(latents, quantize=quantize).to("cpu", torch.float32), "The round trip")
    return latents, floor


def encode_images(
    model: DiffusionModel,
    images: torch.Tensor,
    *,
    steps: int = 50,
    spacing: str = "uniform",
    clip_sample: bool = False,
    sampler: str = DEFAULT_SAMPLER,
    device: torch.device | str = "cpu",
    decode: bool = True,
    refine: int = 0,
    quantize: bool = True,
) -> Run[EncodeOutput]:
    """Invert pictures (N, 3, H, W) in [−1, 1], already fitted to the model, then decode at η = 0.

    Phases: ``encode`` (the DDIM inversion, S steps; with ``refine`` = K > 0 each step is refined
    by up to K fixed-point updates, ``core.inversion``), then ``decode`` (``sampler``, S steps).
    With ``decode=False`` only the latents are computed (half the calls): ``reconstruction`` is
    empty (0 pictures) and ``mse``/``psnr`` are empty lists. A latent diffusion model encodes the
    pictures first, inverts the latents, decodes them (``quantize``: through the VQ codebook) and
    also reports its autoencoder's own round trip (``floor_mse``/``floor_psnr``).
    """
    return Run(
        _encode_body(
            model, images, steps=steps, spacing=spacing, clip_sample=clip_sample, sampler=sampler,
            device=torch.device(device), decode=decode, refine=refine, quantize=quantize,
        )
    )  # fmt: skip
