"""Edit: re-imagine painted pictures (SDEdit) and regenerate masked regions (DDIM inpainting).

The math is ``core.editing``; this module adds what both front ends need around it: seeds → noise
streams, chunks, the "nothing would change" check, masks fitted to the picture with a note, the
saved parameters and the saving of an edit's picture with its painted source and its mask beside
it (``<stem>.png``, ``<stem>.source.png``, ``<stem>.mask.png``), so that *Reuse params* can
restore the edit.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image

from ddim_studio.core import editing
from ddim_studio.core.editing import edit_cost  # noqa: F401 - the window's cost line reads it here
from ddim_studio.core.inversion import check_refine
from ddim_studio.core.limits import MAX_HARMONIZE, check_finite
from ddim_studio.core.masks import check_feather, composite, feathered
from ddim_studio.core.models.latent import autoencoder_of, latent_mask, paste_back
from ddim_studio.core.models.protocol import DiffusionModel
from ddim_studio.core.noise import ImageNoise, check_seed
from ddim_studio.core.samplers import DEFAULT_SAMPLER
from ddim_studio.core.sampling import check_eta
from ddim_studio.core.store import MASK_SUFFIX, SOURCE_SUFFIX, OutputStore, SavedItem, beside
from ddim_studio.operations.encode import image_batch
from ddim_studio.operations.params import build_params
from ddim_studio.operations.run import Body, Run, Stage, chunks, phase
from ddim_studio.operations.sample import LATENT_DTYPE

if TYPE_CHECKING:
    from ddim_studio.core.models.protocol import ModelInfo

#: The sampler an edit runs unless asked (any registered sampler can run one).
EDIT_SAMPLER = DEFAULT_SAMPLER
NOTHING_WOULD_CHANGE = "Nothing would change: "
_ALL_KEPT = "the mask keeps every pixel. Paint the region to regenerate (white) first."
_INVERT_ONLY = (
    "the invert start with η = 0 and no mask gives the picture back. Paint a mask, raise η, or use "
    "the noise start."
)


@dataclass(frozen=True)
class EditOutput:
    """Edited pictures and what made them; tensors float32 on the CPU.

    Attributes:
        images: (N, 3, H, W) the edited pictures in [−1, 1] (not clamped); kept pixels are the source.
        sources: (N, 3, H, W) the painted source each picture was edited from.
        mask: (1, 1, H, W) in [0, 1] (1 = regenerate), or None for a whole-picture edit.
        seeds: the per-picture seeds.
        timesteps: the τ the decode visited, noisiest (t₀) first.
        t_start: t₀.
        calls: model calls per picture (inversion and harmonize included).
        strength: r.
        start: ``noise`` or ``invert``.
        harmonize: R.
        eta: η.
        sampler: ``ddim`` or ``dpmpp-2m``.
        refine: K fixed-point updates per inversion step (invert start; 0 = the paper's inversion).
        feather: pixels the mask was feathered outward by for the run (``core.masks``); ``mask`` is
            the mask as given, before feathering.
    """

    images: torch.Tensor
    sources: torch.Tensor
    mask: torch.Tensor | None
    seeds: tuple[int, ...]
    timesteps: list[int]
    t_start: int
    calls: int
    strength: float
    start: str
    harmonize: int
    eta: float
    sampler: str = EDIT_SAMPLER
    refine: int = 0
    feather: int = 0


def fit_mask(mask: Image.Image | torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, str]:
    """A mask picture or tensor brought to the picture's (H, W), with a note when it was resized.

    Returns:
        The mask as (1, 1, H, W) float in [0, 1] (white = regenerate) and a note ("" when it
        already had the picture's size).

    Raises:
        ValueError: a mask of another aspect ratio (or not one grey channel).
    """
    tensor = editing.mask_from_image(mask) if isinstance(mask, Image.Image) else mask
    h, w = int(tensor.shape[-2]), int(tensor.shape[-1])
    fitted, resized = editing.fit_mask(tensor, size)
    note = f"The mask was {w}×{h}; it was resized to the picture's {size[1]}×{size[0]}." if resized else ""
    return fitted[:1], note


def check_harmonize(harmonize: Any) -> int:
    """``harmonize`` R if a whole number from 0 to :data:`~ddim_studio.core.limits.MAX_HARMONIZE`.

    Raises:
        ValueError: one line with the bound (the same at the command line and in the window).
    """
    if isinstance(harmonize, bool) or not isinstance(harmonize, int) or not 0 <= harmonize <= MAX_HARMONIZE:
        raise ValueError(
            f"Harmonize repeats each step 0 to {MAX_HARMONIZE} times; {harmonize!r} is outside that range."
        )
    return harmonize


def check_edit(
    mask: torch.Tensor | None, *, strength: float, start: str, eta: float, harmonize: int, sampler: str
) -> None:
    """Raise a ValueError (one line, in words) for an edit that cannot run or would change nothing."""
    editing.check_strength(strength)
    check_eta(eta)
    editing.check_edit_sampler(sampler, eta, harmonize)
    if start not in editing.STARTS:
        raise ValueError(f"The start must be 'noise' or 'invert', got {start!r}.")
    check_harmonize(harmonize)
    if harmonize and mask is None:
        raise ValueError("Harmonize blends a regenerated region into the kept rest, so it needs a mask.")
    if not editing.would_change(mask, start, eta):
        reason = _INVERT_ONLY if mask is None else _ALL_KEPT
        raise ValueError(NOTHING_WOULD_CHANGE + reason)


def _edit_body(
    model: DiffusionModel,
    source: torch.Tensor,
    seeds: tuple[int, ...],
    mask: torch.Tensor | None,
    settings: dict[str, Any],
    batch_size: int,
    device: torch.device,
    quantize: bool = True,
) -> Body[EditOutput]:
    shape = tuple(model.sample_shape)
    pictures = source.to(device=device, dtype=LATENT_DTYPE)
    given = None if mask is None else mask.to("cpu", torch.float32)
    feather, blend = settings.pop("feather"), None
    if mask is not None and feather:  # sample with the ring regenerated, composite with the ramp
        mask, blend = feathered(mask, feather)
    m = None if mask is None else mask.to(device=device, dtype=LATENT_DTYPE)
    x_0, m_model = _in_model_space(model, pictures, m)
    cost = editing.edit_cost(
        model, settings["steps"], settings["strength"], start=settings["start"],
        harmonize=settings["harmonize"], spacing=settings["spacing"], refine=settings["refine"],
    )  # fmt: skip
    seq = editing.edit_timesteps(model, settings["steps"], settings["strength"], settings["spacing"])
    parts = chunks(len(seeds), batch_size)
    images, sources = [], []
    for c, (lo, hi) in enumerate(parts):
        chunk_source = x_0[lo:hi] if x_0.shape[0] > 1 else x_0.expand(hi - lo, -1, -1, -1)
        chunk_pictures = pictures[lo:hi] if pictures.shape[0] > 1 else pictures.expand(hi - lo, -1, -1, -1)
        noise = ImageNoise(list(seeds[lo:hi]), shape, device, LATENT_DTYPE)
        steps = editing.iter_edit(model, chunk_source, mask=m_model, noise=noise, **settings)
        stage = Stage(
            "edit", cost.model_calls, len(seeds), batch_offset=lo, chunk=c, chunks=len(parts),
            job_total=cost.model_calls * len(parts),
        )  # fmt: skip
        last = yield from phase(stage, steps)
        edited = _to_pictures(model, last.x_t, chunk_pictures, m, quantize)  # an LDM's: decoded, pasted
        image = edited if blend is None else composite(edited, chunk_pictures, blend)
        images.append(check_finite(image, "The edited picture").to("cpu", torch.float32))
        sources.append(chunk_pictures.to("cpu", torch.float32))
    return EditOutput(
        torch.cat(images), torch.cat(sources), given, seeds, seq, seq[0], cost.model_calls,
        settings["strength"], settings["start"], settings["harmonize"], settings["eta"],
        sampler=settings["sampler"], refine=settings["refine"], feather=feather,
    )  # fmt: skip


def _in_model_space(
    model: DiffusionModel, pictures: torch.Tensor, mask: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The source and mask the sampler edits: the pictures themselves, or a latent diffusion
    model's encoded pictures and the mask on the latent grid (a cell regenerates when any of its
    pixels is masked)."""
    ae = autoencoder_of(model)
    if ae is None:
        return pictures, mask
    latents = check_finite(ae.encode(pictures), "The encoded picture")
    cells = None if mask is None else latent_mask(mask, (int(ae.latent_shape[1]), int(ae.latent_shape[2])))
    return latents, cells


def _to_pictures(
    model: DiffusionModel, x: torch.Tensor, source: torch.Tensor, mask: torch.Tensor | None, quantize: bool
) -> torch.Tensor:
    """A pixel model's result as is; a latent model's decoded, the kept pixels pasted back from the
    source with a seam feathered over one latent cell (``latent.paste_back``)."""
    ae = autoencoder_of(model)
    if ae is None:
        return x
    decoded = ae.decode(x, quantize=quantize)
    if mask is None:
        return decoded
    return paste_back(source, decoded, mask.expand(x.shape[0], -1, -1, -1), feather=max(2, ae.factor))


def edit_images(
    model: DiffusionModel,
    source: torch.Tensor,
    seeds: Sequence[int],
    *,
    strength: float = 0.5,
    mask: torch.Tensor | None = None,
    start: str = "noise",
    steps: int = 50,
    eta: float = 0.0,
    spacing: str = "uniform",
    harmonize: int = 0,
    clip_sample: bool = False,
    batch_size: int = 8,
    sampler: str = EDIT_SAMPLER,
    device: torch.device | str = "cpu",
    refine: int = 0,
    feather: int = 0,
    quantize: bool = True,
) -> Run[EditOutput]:
    """Edit ``source`` once per seed (one picture (1, 3, H, W) repeated, or one picture per seed).

    ``mask`` is (1, 1, H, W) already fitted (see :func:`fit_mask`), 1 = regenerate. The inputs are
    checked before the run starts (:func:`check_edit`), so a ValueError comes at once. Phase
    ``edit``: one stage per chunk, ``Stage.total`` = model calls per picture. ``refine`` K refines
    the inversion of ``invert`` start (``core/inversion.py``); it does nothing for ``noise`` start.
    ``feather`` f feathers the mask outward by f pixels (``core.masks.feathered``): the ring is
    regenerated and the final picture composited from the source with the linear ramp; pixels
    farther than f from the mask stay the source.
    A latent diffusion model edits the encoded picture with the (feathered) mask taken to its latent
    grid, then decodes (``quantize``: through the VQ codebook) and pastes the kept pixels back from
    the source with a seam over one latent cell, so that pixels beyond the seam are the source's
    exactly.
    """
    checked = tuple(check_seed(s) for s in seeds)
    if not checked:
        raise ValueError("Give at least one seed to edit.")
    x_0 = image_batch(source, "The picture to edit")
    if x_0.shape[0] not in (1, len(checked)):
        raise ValueError(f"{x_0.shape[0]} pictures need as many seeds, got {len(checked)}.")
    strength = editing.check_strength(strength)
    check_edit(mask, strength=strength, start=start, eta=eta, harmonize=harmonize, sampler=sampler)
    refine = check_refine(refine) if start == "invert" else 0
    editing.edit_cost(
        model, steps, strength, start=start, harmonize=harmonize, spacing=spacing, refine=refine
    )
    settings = {
        "strength": strength, "start": start, "steps": int(steps), "eta": float(eta), "spacing": spacing,
        "harmonize": int(harmonize), "clip_sample": bool(clip_sample), "refine": refine, "sampler": sampler,
        "feather": check_feather(feather) if mask is not None else 0,
    }  # fmt: skip
    chunks(len(checked), batch_size)  # a bad batch size fails here, not inside the run
    return Run(_edit_body(model, x_0, checked, mask, settings, batch_size, torch.device(device), quantize))


def edit_params(
    out: EditOutput, index: int, *, info: ModelInfo | None, steps: int, spacing: str, clip_sample: bool,
    **extra: Any,
) -> dict[str, Any]:  # fmt: skip
    """The saved parameters of the ``index``-th picture of an edit (``extra``: e.g. ``source``)."""
    return build_params(
        "edit", info=info, steps=steps, spacing=spacing, sampler=out.sampler, timesteps=out.timesteps,
        eta=out.eta, clip_sample=clip_sample, seed=out.seeds[index], strength=out.strength,
        start=out.start, harmonize=out.harmonize, t_start=out.t_start, model_calls=out.calls,
        mask=out.mask is not None, **({"refine": out.refine} if out.refine else {}),
        **({"feather": out.feather} if out.feather else {}), **extra,
    )  # fmt: skip


def save_edit(
    folder: str | os.PathLike[str],
    image: Image.Image,
    params: dict[str, Any],
    *,
    stem: str,
    source: Image.Image,
    mask: Image.Image | None = None,
) -> SavedItem:
    """Write ``<stem>.png`` (params inside) with ``<stem>.source.png`` and ``<stem>.mask.png`` beside it.

    One atomic group: all files get the same free stem, or none is written.

    Raises:
        StoreError: a bad name, a full disk, no permission; nothing is left behind.
    """
    extras = [(SOURCE_SUFFIX, source)] + ([(MASK_SUFFIX, mask)] if mask is not None else [])
    return OutputStore(folder).save_image(image, params, stem=stem, extras=extras)


def mask_picture(mask: torch.Tensor) -> Image.Image:
    """A (…, H, W) mask in [0, 1] as a grey picture (white = regenerate)."""
    grey = (mask.detach().reshape(mask.shape[-2:]).clamp(0, 1) * 255).round().to(torch.uint8)
    return Image.fromarray(grey.cpu().numpy())


def edit_files(png: str | os.PathLike[str]) -> tuple[Path | None, Path | None]:
    """The painted source and the mask saved beside an edit's picture (None where absent, and where
    a symlink or a file outside the picture's folder: see ``core.store.beside``)."""
    return beside(png, SOURCE_SUFFIX), beside(png, MASK_SUFFIX)
