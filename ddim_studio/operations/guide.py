"""Guide: new pictures that follow a reference's composition (ILVR, ``core.guide``).

Adds what both front ends need around the core: seeds → noise streams in chunks, the checks in
words before any model call, the coarse picture φ_N(y) the person sees beside the factor, the
saved parameters (``kind`` ``guide``, ``factor``, ``until``) and the saving of each result with its
reference beside it (``<stem>.png`` and ``<stem>.source.png``), so that *Reuse params* can
restore the reference too.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image

from ddim_studio.core import guide as core_guide
from ddim_studio.core.limits import check_finite
from ddim_studio.core.models.protocol import DiffusionModel
from ddim_studio.core.noise import ImageNoise, check_seed
from ddim_studio.core.samplers import DEFAULT_SAMPLER, get_sampler
from ddim_studio.core.sampling import resolve_timesteps
from ddim_studio.core.store import SOURCE_SUFFIX, OutputStore, SavedItem
from ddim_studio.operations.encode import image_batch
from ddim_studio.operations.params import build_params
from ddim_studio.operations.run import Body, Run, Stage, phase
from ddim_studio.operations.sample import LATENT_DTYPE, check_batch, sampler_for

valid_factors = core_guide.valid_factors  # for the window: the factors a picture size takes

if TYPE_CHECKING:
    from ddim_studio.core.models.protocol import ModelInfo

#: The factor the window and the command line start with.
DEFAULT_FACTOR = 8


@dataclass(frozen=True)
class GuideOutput:
    """Guided pictures and what made them; tensors float32 on the CPU.

    Attributes:
        images: (N, 3, H, W) in [−1, 1] (not clamped).
        reference: (1, 3, H, W) the reference y.
        coarse: (1, 3, H, W) φ_N(y), what the guidance keeps of the reference.
        seeds: the per-picture seeds.
        timesteps: the τ visited, noisiest first.
        factor: N.
        until: F.
        eta: η.
        sampler: the sampler's registered name.
        spacing: the timestep spacing used.
    """

    images: torch.Tensor
    reference: torch.Tensor
    coarse: torch.Tensor
    seeds: tuple[int, ...]
    timesteps: list[int]
    factor: int
    until: float
    eta: float
    sampler: str
    spacing: str


def coarse_picture(reference: torch.Tensor, factor: int) -> torch.Tensor:
    """φ_N(y) of a (1, 3, H, W) reference, clamped to [−1, 1] for showing."""
    return core_guide.low_pass(reference, factor).clamp(-1.0, 1.0)


def check_guide(model: DiffusionModel, *, factor: int, until: float, eta: float, sampler: str) -> str:
    """Raise a ValueError (one line, in words) for settings that cannot run; the sampler's name."""
    _, height, width = tuple(model.sample_shape)
    core_guide.check_factor(factor, (height, width))
    core_guide.check_until(until)
    return sampler_for(sampler, eta).name


def _guide_body(
    model: DiffusionModel,
    reference: torch.Tensor,
    seeds: tuple[int, ...],
    settings: dict[str, Any],
    batch_size: int,
    device: torch.device,
) -> Body[GuideOutput]:
    shape = tuple(model.sample_shape)
    y = reference.to(device=device, dtype=LATENT_DTYPE)
    seq = resolve_timesteps(model, settings["steps"], settings["spacing"], None)
    parts = check_batch(model, batch_size, len(seeds))
    images = []
    for c, (lo, hi) in enumerate(parts):
        noise = ImageNoise(list(seeds[lo:hi]), shape, device, LATENT_DTYPE)
        steps = core_guide.iter_guide(model, y, noise=noise, **settings)
        stage = Stage(
            "sample", len(seq), len(seeds), batch_offset=lo, chunk=c, chunks=len(parts),
            job_total=len(seq) * len(parts),
        )  # fmt: skip
        last = yield from phase(stage, steps)
        images.append(check_finite(last.x_t, "The guided picture").to("cpu", torch.float32))
    cpu_ref = y.to("cpu", torch.float32)
    return GuideOutput(
        torch.cat(images), cpu_ref, coarse_picture(cpu_ref, settings["factor"]), seeds, seq,
        settings["factor"], settings["until"], settings["eta"], settings["sampler"], settings["spacing"],
    )  # fmt: skip


def guide_images(
    model: DiffusionModel,
    reference: torch.Tensor,
    seeds: Sequence[int],
    *,
    factor: int = DEFAULT_FACTOR,
    until: float = 0.0,
    steps: int = 50,
    eta: float = 0.0,
    spacing: str | None = None,
    clip_sample: bool = False,
    batch_size: int = 8,
    sampler: str = DEFAULT_SAMPLER,
    device: torch.device | str = "cpu",
) -> Run[GuideOutput]:
    """One guided picture per seed following ``reference`` ((1, 3, H, W) in [−1, 1]).

    The settings are checked before the run starts, so a ValueError comes at once. Phase
    ``sample``: one stage per chunk of ``batch_size`` seeds. ``spacing`` None takes the sampler's.
    """
    checked = tuple(check_seed(s) for s in seeds)
    if not checked:
        raise ValueError("Give at least one seed to guide.")
    y = image_batch(reference, "The reference picture")
    if y.shape[0] != 1:
        raise ValueError(f"Guide follows one reference picture, got {y.shape[0]}.")
    name = check_guide(model, factor=factor, until=until, eta=eta, sampler=sampler)
    settings = {
        "factor": int(factor), "until": float(until), "steps": int(steps), "eta": float(eta),
        "sampler": name, "spacing": spacing or get_sampler(name).default_spacing,
        "clip_sample": bool(clip_sample),
    }  # fmt: skip
    resolve_timesteps(model, int(steps), str(settings["spacing"]), None)  # bad steps fail here
    check_batch(model, batch_size, len(checked))
    return Run(_guide_body(model, y, checked, settings, batch_size, torch.device(device)))


def guide_params(
    out: GuideOutput, index: int, *, info: ModelInfo | None, steps: int, clip_sample: bool, **extra: Any
) -> dict[str, Any]:
    """The saved parameters of the ``index``-th guided picture (``extra``: e.g. ``source``)."""
    return build_params(
        "guide", info=info, steps=steps, spacing=out.spacing, sampler=out.sampler, timesteps=out.timesteps,
        eta=out.eta, clip_sample=clip_sample, seed=out.seeds[index], factor=out.factor, until=out.until,
        **extra,
    )  # fmt: skip


def save_guide(
    folder: str | os.PathLike[str],
    image: Image.Image,
    params: dict[str, Any],
    *,
    stem: str,
    reference: Image.Image,
) -> SavedItem:
    """Write ``<stem>.png`` (params inside) with the reference beside it as ``<stem>.source.png``.

    Raises:
        StoreError: a bad name, a full disk, no permission; nothing is left behind.
    """
    return OutputStore(folder).save_image(image, params, stem=stem, extras=[(SOURCE_SUFFIX, reference)])
