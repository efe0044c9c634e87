"""Restore: upscale a small picture, colourise a grey one, fill a damaged one (``core.restore``).

What both front ends need around the core: the input picture checked (or resized, with a note)
against the size the task needs, seeds → noise streams, chunks, the consistency error ‖A x − y‖ of
every result, the saved parameters and the saving of a result with its input beside it
(``<stem>.png``, ``<stem>.source.png``, ``<stem>.mask.png``), so that *Reuse params* can restore it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image

from ddim_studio.core import restore as core
from ddim_studio.core.editing import fit_mask
from ddim_studio.core.imaging import fit_to_model, pil_to_tensor
from ddim_studio.core.limits import check_finite
from ddim_studio.core.masks import check_feather, feather_mask
from ddim_studio.core.models.protocol import DiffusionModel
from ddim_studio.core.noise import ImageNoise, check_seed
from ddim_studio.core.samplers import DEFAULT_SAMPLER, get_sampler
from ddim_studio.core.sampling import check_eta
from ddim_studio.core.schedule import make_timesteps
from ddim_studio.core.store import MASK_SUFFIX, SOURCE_SUFFIX, OutputStore, SavedItem
from ddim_studio.operations.params import build_params
from ddim_studio.operations.run import Body, Run, Stage, chunks, phase
from ddim_studio.operations.sample import LATENT_DTYPE

if TYPE_CHECKING:
    from ddim_studio.core.models.protocol import ModelInfo

#: Which inpainting runs unless asked: DDNM (README, "Restore": it completes more often).
DEFAULT_INPAINT_METHOD = "ddnm"


@dataclass(frozen=True)
class RestoreOutput:
    """Restored pictures and what made them; tensors float32 on the CPU.

    Attributes:
        images: (N, 3, H, W) in [−1, 1], consistent with the input (A x = y).
        observed: (1, C, h, w) y, the observation the results agree with.
        task: the tasks joined by ``+`` (``upscale``, ``colorize+upscale``, …).
        factor: N of an upscale (kept for the others too, unused there).
        mask: (1, 1, h, w) in [0, 1] (1 = fill) for inpaint, else None.
        seeds, timesteps, calls, eta, sampler, method: as run.
        consistency: per picture, the largest |A x − y| on the [0, 1] pixel scale (inpaint: over
            the pixels the feathered mask keeps, which must equal the input).
        feather: f pixels the fill's mask was feathered by (``mask`` is the mask as given).
    """

    images: torch.Tensor
    observed: torch.Tensor
    task: str
    factor: int
    mask: torch.Tensor | None
    seeds: tuple[int, ...]
    timesteps: list[int]
    calls: int
    eta: float
    sampler: str
    method: str
    consistency: list[float]
    feather: int = 0


def prepare_input(
    model: DiffusionModel, picture: Image.Image, task: str, factor: int, *, resize: bool = False
) -> tuple[Image.Image, list[str]]:
    """The input at the size the task needs, and notes; a ValueError naming that size otherwise.

    ``resize`` brings another size to it (cropped to the aspect ratio, then resized) and says so.
    """
    c, h, w = tuple(model.sample_shape)
    shape = (c, h, w)
    for name in core.parse_task(task):
        if name == "upscale":
            shape = core.Upscale(factor).observed_shape(shape)
    width, height = shape[2], shape[1]
    notes: list[str] = []
    picture = picture.convert("RGB")
    if picture.size != (width, height):
        what = f"upscale ×{factor}" if "upscale" in task else task
        if not resize:
            raise ValueError(
                f"To {what} with this {w}×{h} model the picture must be {width}×{height}; this one is "
                f"{picture.size[0]}×{picture.size[1]}."
            )
        notes.append(
            f"The picture was {picture.size[0]}×{picture.size[1]}; it was resized to {width}×{height}."
        )
        picture = fit_to_model(picture, (width, height))
    if "colorize" in task and _has_colour(picture):
        notes.append("The picture has colour; its grey (the channel mean) was kept and coloured anew.")
    return picture, notes


def _has_colour(picture: Image.Image) -> bool:
    t = pil_to_tensor(picture)
    return float((t - t.mean(dim=1, keepdim=True)).abs().max()) > 2 / 255


def fit_restore_mask(mask: Image.Image | torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, str]:
    """A grey mask (white = fill, grey = partly) at the input's (H, W), with a note when resized."""
    from ddim_studio.core.editing import mask_from_image

    tensor = mask_from_image(mask) if isinstance(mask, Image.Image) else mask
    h, w = int(tensor.shape[-2]), int(tensor.shape[-1])
    fitted, resized = fit_mask(tensor, size)
    note = f"The mask was {w}×{h}; it was resized to the picture's {size[1]}×{size[0]}." if resized else ""
    return fitted[:1], note


def restore_images(
    model: DiffusionModel,
    picture: torch.Tensor,
    seeds: Sequence[int],
    *,
    task: str,
    factor: int = 4,
    mask: torch.Tensor | None = None,
    steps: int = 50,
    eta: float = 0.0,
    sampler: str = DEFAULT_SAMPLER,
    method: str = DEFAULT_INPAINT_METHOD,
    clip_sample: bool = False,
    batch_size: int = 8,
    device: torch.device | str = "cpu",
    feather: int = 0,
) -> Run[RestoreOutput]:
    """Restore ``picture`` (1, 3, h, w) in [−1, 1] at the task's input size once per seed.

    Checked before the run starts (a ValueError in words at once). Phase ``restore``: one stage
    per chunk, ``Stage.total`` = S model calls per picture. ``feather`` f feathers a fill's mask
    (``core.masks.feathered``).
    """
    checked = tuple(check_seed(s) for s in seeds)
    if not checked:
        raise ValueError("Give at least one seed to restore.")
    task = "+".join(core.parse_task(task))
    check_eta(eta)
    spec = get_sampler(sampler)
    if eta > 0 and not spec.supports_eta:
        raise ValueError(f"{spec.label} is deterministic; set eta to 0 or choose the ddim sampler.")
    if int(steps) < 1:
        raise ValueError(f"Restoring needs at least one step, got {steps}.")
    c, _, _ = tuple(model.sample_shape)
    degradation = core.make_degradation(task, factor=factor, mask=mask, channels=c)
    y = degradation.observe(picture.to(torch.float32))
    core.check_observation(model, degradation, y)
    chunks(len(checked), batch_size)
    settings = {
        "task": task, "factor": int(factor), "steps": int(steps), "eta": float(eta), "sampler": sampler,
        "method": method, "clip_sample": bool(clip_sample),
        "feather": check_feather(feather) if task == "inpaint" else 0,
    }  # fmt: skip
    return Run(_body(model, y, degradation, mask, checked, settings, batch_size, torch.device(device)))


def _body(
    model: DiffusionModel, y: torch.Tensor, degradation: core.Degradation, mask: torch.Tensor | None,
    seeds: tuple[int, ...], settings: dict[str, Any], batch_size: int, device: torch.device,
) -> Body[RestoreOutput]:  # fmt: skip
    shape = tuple(model.sample_shape)
    spec = get_sampler(settings["sampler"])
    schedule = model.schedule
    seq = make_timesteps(
        settings["steps"], schedule.num_train_timesteps, spec.default_spacing, schedule.steps_offset
    )
    m = None if mask is None else mask.to(device=device, dtype=LATENT_DTYPE)
    parts = chunks(len(seeds), batch_size)
    images = []
    for c, (lo, hi) in enumerate(parts):
        noise = ImageNoise(list(seeds[lo:hi]), shape, device, LATENT_DTYPE)
        steps = core.iter_restore(model, y.to(device, LATENT_DTYPE), mask=m, noise=noise, **settings)
        stage = Stage(
            "restore", settings["steps"], len(seeds), batch_offset=lo, chunk=c, chunks=len(parts),
            job_total=settings["steps"] * len(parts),
        )  # fmt: skip
        last = yield from phase(stage, steps)
        images.append(check_finite(last.x_t, "The restored picture").to("cpu", torch.float32))
    out = torch.cat(images)
    if isinstance(degradation, core.Inpaint):  # the pixels the (feathered) mask keeps
        degradation = core.Inpaint((feather_mask(degradation.mask, settings["feather"]) > 0).float())
    error = core.consistency_error(degradation, out, y.expand(out.shape[0], -1, -1, -1))
    return RestoreOutput(
        out, y.to("cpu", torch.float32), settings["task"], settings["factor"],
        None if mask is None else mask.to("cpu", torch.float32), seeds, seq, settings["steps"],
        settings["eta"], settings["sampler"], settings["method"], [float(e) for e in error],
        settings["feather"],
    )  # fmt: skip


def restore_params(
    out: RestoreOutput, index: int, *, info: ModelInfo | None, clip_sample: bool, **extra: Any
) -> dict[str, Any]:
    """The saved parameters of the ``index``-th picture of a restore (``extra``: e.g. ``source``)."""
    return build_params(
        "restore", info=info, steps=out.calls, spacing=get_sampler(out.sampler).default_spacing,
        sampler=out.sampler, timesteps=out.timesteps, eta=out.eta, clip_sample=clip_sample,
        seed=out.seeds[index], task=out.task, factor=out.factor if "upscale" in out.task else None,
        method=out.method if out.task == "inpaint" else None, mask=out.mask is not None,
        feather=out.feather or None,
        model_calls=out.calls, consistency_error=round(out.consistency[index], 6), **extra,
    )  # fmt: skip


def save_restore(
    folder: str | os.PathLike[str], image: Image.Image, params: dict[str, Any], *, stem: str,
    source: Image.Image, mask: Image.Image | None = None,
) -> SavedItem:  # fmt: skip
    """Write ``<stem>.png`` (params inside) with its input (and mask) beside it, all or nothing."""
    extras = [(SOURCE_SUFFIX, source)] + ([(MASK_SUFFIX, mask)] if mask is not None else [])
    return OutputStore(folder).save_image(image, params, stem=stem, extras=extras)
