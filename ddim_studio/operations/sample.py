"""Sample by seeds and decode given latents: chunked runs of a registered sampler."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ddim_studio.core.limits import check_batch_memory, check_finite
from ddim_studio.core.models.latent import to_pictures
from ddim_studio.core.models.protocol import DiffusionModel
from ddim_studio.core.noise import ImageNoise, check_seed, initial_noise
from ddim_studio.core.samplers import DEFAULT_SAMPLER, SamplerSpec, get_sampler
from ddim_studio.core.sampling import check_eta, resolve_timesteps
from ddim_studio.operations.run import Body, Run, Stage, chunks, phase

#: Latents run in float32 whatever the weights' dtype (the model adapter casts).
LATENT_DTYPE = torch.float32


@dataclass(frozen=True)
class SampleOutput:
    """Pictures made from seeds or decoded from latents; all tensors float32 on the CPU.

    Attributes:
        images: (N, 3, H, W) in [−1, 1] as the sampler returns them (not clamped); a latent
            diffusion model's samples decoded by its autoencoder.
        x_T: (N, C, H, W) the starting latents (in the latent space of a latent diffusion model).
        seeds: the per-image seeds (empty for latents decoded at η = 0 without seeds).
        timesteps: the τ visited, noisiest first.
        sampler: the sampler's registered name.
    """

    images: torch.Tensor
    x_T: torch.Tensor
    seeds: tuple[int, ...]
    timesteps: list[int]
    sampler: str


def sampler_for(name: str, eta: float) -> SamplerSpec:
    """The registered sampler ``name``; ValueError if unknown or if it cannot take η > 0."""
    spec = get_sampler(name)
    if check_eta(eta) > 0 and not spec.supports_eta:
        raise ValueError(f"The {spec.label} sampler is deterministic; set η to 0 to use it.")
    return spec


def check_batch(model: DiffusionModel, batch_size: int, count: int) -> list[tuple[int, int]]:
    """The chunks of ``count`` items, after refusing a batch whose memory estimate is too large.

    Raises:
        ValueError: a bad ``batch_size``, or a batch that would need more memory than allowed (the
            message gives the figure and a batch size that fits; see ``core.limits``).
    """
    parts = chunks(count, batch_size)
    check_batch_memory(model, min(batch_size, count), getattr(model, "dtype", LATENT_DTYPE))
    return parts


def span(what: str, lo: int, hi: int, labels: Sequence[int] = ()) -> str:
    """How a chunk is named in messages: "The batch of seeds 3–4", "The batch of latents 1–8"."""
    first, last = (labels[lo], labels[hi - 1]) if labels else (lo + 1, hi)
    return f"The batch of {what} {first}" if first == last else f"The batch of {what} {first}–{last}"


def _explicit(x_T: torch.Tensor, seeds: Sequence[int]) -> torch.Tensor:
    if not isinstance(x_T, torch.Tensor):
        raise ValueError(f"x_T must be a tensor shaped (N, C, H, W), got {type(x_T).__name__}.")
    x = x_T.detach().unsqueeze(0) if x_T.ndim == 3 else x_T.detach()
    if seeds and len(seeds) != x.shape[0]:
        raise ValueError(f"Give one seed per latent: {x.shape[0]} latents but {len(seeds)} seeds.")
    return check_finite(x, "The batch of latents to decode")


def _start(
    shape: tuple[int, ...], device: torch.device, seeds: Sequence[int], x_T: torch.Tensor | None, eta: float
) -> tuple[torch.Tensor, ImageNoise | None]:
    """x_T and the η-noise streams of one chunk (explicit latents continue each seed's stream)."""
    if x_T is None:
        return initial_noise(seeds, shape, device, LATENT_DTYPE)
    x = x_T.to(device=device, dtype=LATENT_DTYPE)
    if not seeds or eta <= 0:
        return x, None
    noise = ImageNoise(seeds, shape, device, LATENT_DTYPE)
    noise.draw()  # skip the x_T draw: the η-noise is the seeded run's
    return x, noise


def _sample_body(
    model: DiffusionModel,
    seeds: tuple[int, ...],
    latents: torch.Tensor | None,
    *,
    steps: int,
    eta: float,
    spacing: str,
    clip_sample: bool,
    batch_size: int,
    sampler: str,
    device: torch.device,
    quantize: bool = True,
) -> Body[SampleOutput]:
    spec = sampler_for(sampler, eta)
    count = len(seeds) if latents is None else int(latents.shape[0])
    if count == 0:
        raise ValueError("Give at least one seed (or latent) to sample.")
    seq = resolve_timesteps(model, steps, spacing, None)
    shape = tuple(model.sample_shape)
    parts = check_batch(model, batch_size, count)
    images, starts = [], []
    for c, (lo, hi) in enumerate(parts):
        chunk_latents = None if latents is None else latents[lo:hi]
        x_T, noise = _start(shape, device, seeds[lo:hi], chunk_latents, float(eta))
        run = spec.fn(model, x_T, steps=steps, eta=eta, spacing=spacing, noise=noise, clip_sample=clip_sample)
        stage = Stage(
            "sample", len(seq), count, batch_offset=lo, chunk=c, chunks=len(parts),
            job_total=len(seq) * len(parts),
        )  # fmt: skip
        last = yield from phase(stage, run)
        named = span("seeds", lo, hi, seeds) if latents is None else span("latents", lo, hi)
        pictures = to_pictures(model, last.x_t, quantize=quantize)  # an LDM's latents decoded
        images.append(check_finite(pictures.to("cpu", torch.float32), named))
        starts.append(x_T.to("cpu", torch.float32))
    return SampleOutput(torch.cat(images), torch.cat(starts), seeds, seq, spec.name)


def sample_seeds(
    model: DiffusionModel,
    seeds: Sequence[int],
    *,
    steps: int = 50,
    eta: float = 0.0,
    spacing: str = "uniform",
    clip_sample: bool = False,
    batch_size: int = 8,
    sampler: str = DEFAULT_SAMPLER,
    device: torch.device | str = "cpu",
    quantize: bool = True,
) -> Run[SampleOutput]:
    """One picture per seed (x_T and the η-noise from the seed's own generator), in chunks.

    The picture of seed ``s`` does not depend on the other seeds or on ``batch_size``. A latent
    diffusion model samples in its latent space and decodes at the end, snapping to the VQ codebook
    first unless ``quantize`` is False.
    """
    checked = tuple(check_seed(s) for s in seeds)
    return Run(
        _sample_body(
            model, checked, None, steps=steps, eta=eta, spacing=spacing, clip_sample=clip_sample,
            batch_size=batch_size, sampler=sampler, device=torch.device(device), quantize=quantize,
        )
    )  # fmt: skip


def decode_latents(
    model: DiffusionModel,
    x_T: torch.Tensor,
    *,
    seeds: Sequence[int] = (),
    steps: int = 50,
    eta: float = 0.0,
    spacing: str = "uniform",
    clip_sample: bool = False,
    batch_size: int = 8,
    sampler: str = DEFAULT_SAMPLER,
    device: torch.device | str = "cpu",
    quantize: bool = True,
) -> Run[SampleOutput]:
    """Decode latents x_T ((C, H, W) or (N, C, H, W)) into pictures, in chunks.

    With η > 0, ``seeds`` (one per latent) give the η-noise, continuing each seed's stream after its
    x_T draw, so a seed's own x_T decodes to exactly that seed's sampled picture.
    """
    checked = tuple(check_seed(s) for s in seeds)
    latents = _explicit(x_T, checked)
    return Run(
        _sample_body(
            model, checked, latents, steps=steps, eta=eta, spacing=spacing, clip_sample=clip_sample,
            batch_size=batch_size, sampler=sampler, device=torch.device(device), quantize=quantize,
        )
    )  # fmt: skip
