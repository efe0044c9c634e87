"""Interpolate: decode the slerp (or lerp) path between two endpoints.

An endpoint is a latent or a picture (encoded first). :func:`resolve_endpoint` turns what a person
names into one: ``seed:N``, a latent file (``.safetensors``), a gallery picture (a studio PNG with
its latent beside it, or one generated from a seed), or any other picture.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ddim_studio.core.imaging import fit_to_model, load_image, pil_to_tensor, read_params
from ddim_studio.core.interpolation import interpolation_path
from ddim_studio.core.latents import LatentLoadError, load_latent
from ddim_studio.core.limits import MAX_BATCH_BYTES, check_finite
from ddim_studio.core.models.protocol import DiffusionModel
from ddim_studio.core.noise import check_seed, initial_noise
from ddim_studio.core.samplers import DEFAULT_SAMPLER
from ddim_studio.core.sampling import resolve_timesteps
from ddim_studio.core.store import LATENT_SUFFIX, beside
from ddim_studio.operations.encode import invert_phase
from ddim_studio.operations.params import is_studio
from ddim_studio.operations.run import Body, Run, Stage, phase
from ddim_studio.operations.sample import LATENT_DTYPE, check_batch, sampler_for, span

#: Most frames one interpolation may have: its result, strip and animation hold every frame.
MAX_INTERPOLATION_FRAMES = 1000


@dataclass(frozen=True)
class Endpoint:
    """One end of an interpolation.

    Attributes:
        value: a latent (C, H, W), or a picture (3, H, W) in [−1, 1] fitted to the model.
        is_image: True for a picture (encoded before interpolating).
        label: how the end was named (for file names and parameters).
        how: what was done to get it, in words ("seed", "latent file", "saved latent",
            "encoded from the picture").
    """

    value: torch.Tensor
    is_image: bool = False
    label: str = ""
    how: str = ""


SAVED_LATENT = "saved latent"
ENCODED = "encoded from the picture"


def latent_reproduces(
    params: dict[str, Any],
    timesteps: Sequence[int],
    *,
    clip_sample: bool = False,
    sampler: str = DEFAULT_SAMPLER,
    model: str | None = None,
) -> bool:
    """Whether decoding a picture's saved x_T with a run's settings gives the picture back.

    Only a deterministic (η = 0) picture made with the same timestep list, clipping and sampler (and
    by the model named ``model``, when given) is reproduced by its x_T; any other picture must be encoded.
    """
    try:
        eta = float(params.get("eta", 0.0))
        saved = [int(t) for t in params.get("timesteps") or []]
    except (TypeError, ValueError):
        return False
    return (
        eta == 0.0
        and saved == [int(t) for t in timesteps]
        and bool(params.get("clip_sample", False)) == bool(clip_sample)
        and str(params.get("sampler", DEFAULT_SAMPLER)) == sampler
        and (model is None or str(params.get("model", model)) == model)
    )


@dataclass(frozen=True)
class InterpolateOutput:
    """The decoded frames (F, 3, H, W), their latents (F, C, H, W) and how they were made."""

    images: torch.Tensor
    latents: torch.Tensor
    method: str
    timesteps: list[int]
    sampler: str


def single(x: torch.Tensor, name: str) -> torch.Tensor:
    """``x`` as one (C, H, W) tensor; ValueError otherwise."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a tensor shaped (C, H, W), got {type(x).__name__}.")
    x = x.detach()
    if x.ndim == 4 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 3:
        raise ValueError(f"{name} must be a single latent or image shaped (C, H, W), got {tuple(x.shape)}.")
    return x


def one_latent(x_T: torch.Tensor, name: str, index: int | None = None, hint: str = "") -> torch.Tensor:
    """The one (C, H, W) latent of a file's x_T, or its ``index``-th (0-based) of several.

    Raises:
        ValueError: the file holds several latents and no ``index`` was given (one line, ending
            with ``hint``: how to pick one), or ``index`` is not one of them.
    """
    count = 1 if x_T.ndim == 3 else int(x_T.shape[0])
    if index is not None and not 0 <= index < count:
        which = "one latent (#0)" if count == 1 else f"{count} latents (#0 to #{count - 1})"
        raise ValueError(f"{name} holds {which}; there is no latent #{index}.")
    if x_T.ndim == 3:
        return x_T
    if index is None and count != 1:
        raise ValueError(f"{name} holds {count} latents; an end needs one — {hint}")
    return x_T[index or 0]


def _latent_file(path: Path, shape: tuple[int, ...], index: int | None = None) -> torch.Tensor:
    x_T, _ = load_latent(path)
    count = 1 if x_T.ndim == 3 else int(x_T.shape[0])
    hint = f"pick one with {path.name}#N, N from 0 to {count - 1} (the order decode numbers them in)."
    x_T = one_latent(x_T, path.name, index, hint)
    if tuple(x_T.shape) != tuple(shape):
        raise ValueError(f"{path.name} holds a latent of shape {tuple(x_T.shape)}; this model needs {shape}.")
    return x_T


def saved_latent(path: Path, shape: tuple[int, ...]) -> tuple[torch.Tensor, dict[str, Any]] | None:
    """A studio picture's own x_T (its latent file beside it, or its seed's noise) and its saved
    parameters; None for other pictures."""
    try:
        params = read_params(path) or {}
    except Exception:  # an unreadable picture is reported when it is loaded as an image
        return None
    if not is_studio(params):
        return None
    latent_path = beside(path, LATENT_SUFFIX)  # a symlink or a file outside the folder is ignored
    if latent_path is not None:
        try:
            return _latent_file(latent_path, shape), params
        except (LatentLoadError, ValueError):
            pass
    seed = params.get("seed")
    if params.get("kind") == "sample" and isinstance(seed, int) and not isinstance(seed, bool):
        return initial_noise([check_seed(seed)], shape)[0][0], params
    return None


def _latent_pick(text: str) -> tuple[Path, int | None]:
    """``NAME.safetensors#N`` as (the file, N); any other text (or a file so named) as (its path, None)."""
    base, sep, number = text.rpartition("#")
    path = Path(text)
    if sep and number.isdigit() and base.lower().endswith(LATENT_SUFFIX) and not path.exists():
        return Path(base), int(number)
    return path, None


def resolve_endpoint(
    spec: str | os.PathLike[str],
    shape: tuple[int, ...],
    *,
    timesteps: Sequence[int] | None = None,
    clip_sample: bool = False,
    sampler: str = DEFAULT_SAMPLER,
    model: str | None = None,
) -> Endpoint:
    """An endpoint from ``seed:N``, a latent file, a gallery picture or a picture, for ``shape`` (C, H, W).

    A latent file must hold one latent; ``NAME.safetensors#N`` picks the N-th (0-based, the order
    ``decode`` numbers them in) of a file holding several.

    A gallery picture's saved x_T is used only when it reproduces the picture with the run's
    ``timesteps``, ``clip_sample``, ``sampler`` and ``model`` (see :func:`latent_reproduces`); otherwise the
    picture is encoded. Without ``timesteps`` the saved x_T is taken as is.

    Raises:
        ValueError, LatentLoadError, ImageLoadError: with a message for people.
    """
    text = os.fspath(spec)
    if text.startswith("seed:"):
        try:
            seed = check_seed(int(text[5:]))
        except ValueError:
            raise ValueError(f"{text!r} is not a seed; write seed:N with N a non-negative integer.") from None
        return Endpoint(initial_noise([seed], shape)[0][0], False, text, "seed")
    path, index = _latent_pick(text)
    if path.suffix.lower() == LATENT_SUFFIX:
        return Endpoint(_latent_file(path, shape, index), False, path.stem, "latent file")
    own = saved_latent(path, shape) if path.suffix.lower() == ".png" else None
    if own is not None and (
        timesteps is None
        or latent_reproduces(own[1], timesteps, clip_sample=clip_sample, sampler=sampler, model=model)
    ):
        return Endpoint(own[0], False, path.stem, SAVED_LATENT)
    image = fit_to_model(load_image(path).image, (shape[2], shape[1]))
    return Endpoint(pil_to_tensor(image)[0], True, path.stem, ENCODED)


def check_frames(shape: tuple[int, ...], frames: int) -> int:
    """Refuse a frame count above :data:`MAX_INTERPOLATION_FRAMES` or whose frames need too much memory.

    The frames are held together (their latents, the pictures, the strip and the animation made
    of them), about ``frames × (C + 3) × H × W × 4 × 2`` bytes, within ``core.limits.MAX_BATCH_BYTES``.

    Raises:
        ValueError: with the limit and a frame count that fits.
    """
    if isinstance(frames, bool) or not isinstance(frames, int):
        raise ValueError(f"The number of frames must be a whole number, got {frames!r}.")
    per_frame = (int(shape[0]) + 3) * int(shape[1]) * int(shape[2]) * 4 * 2
    fits = min(MAX_INTERPOLATION_FRAMES, MAX_BATCH_BYTES // per_frame)
    if frames > fits:
        why = (
            "(they are held together to make the strip and the animation)"
            if fits == MAX_INTERPOLATION_FRAMES
            else f"of this model's size (about {per_frame * frames / 1024**3:.1f} GiB for {frames:,})"
        )
        asked = f"{frames:,} were asked for"
        raise ValueError(f"An interpolation may have at most {fits:,} frames {why}; {asked}.")
    return frames


def _interpolate_body(
    model: DiffusionModel,
    a: Endpoint,
    b: Endpoint,
    *,
    frames: int,
    method: str,
    steps: int,
    spacing: str,
    batch_size: int,
    clip_sample: bool,
    sampler: str,
    device: torch.device,
    refine: int = 0,
) -> Body[InterpolateOutput]:
    spec = sampler_for(sampler, 0.0)
    ends = [
        check_finite(single(end.value, name), f"Endpoint {name.upper()}").to(device, LATENT_DTYPE)
        for end, name in ((a, "a"), (b, "b"))
    ]
    to_encode = [i for i, end in enumerate((a, b)) if end.is_image]
    seq = resolve_timesteps(model, steps, spacing, None)
    # the batches' memory is checked before any call; a bad frame count is refused by interpolation_path
    parts = (
        check_batch(model, batch_size, int(frames)) if isinstance(frames, int) and frames > 0 else [(0, 1)]
    )
    job_total = len(seq) * (len(parts) + (1 if to_encode else 0))
    if to_encode:  # both pictures in one batch; only encoded: the path's ends are decoded with it
        x_0 = torch.stack([ends[i] for i in to_encode])
        encoded = yield from invert_phase(
            model, x_0, steps=steps, spacing=spacing, clip_sample=clip_sample, count=len(to_encode),
            job_total=job_total, refine=refine,
        )  # fmt: skip
        for row, i in enumerate(to_encode):
            ends[i] = encoded[row]
    path = interpolation_path(ends[0], ends[1], frames, method)
    images = []
    for c, (lo, hi) in enumerate(parts):
        run = spec.fn(model, path[lo:hi], steps=steps, eta=0.0, spacing=spacing, clip_sample=clip_sample)
        stage = Stage(
            "decode", len(seq), int(path.shape[0]), batch_offset=lo, chunk=c, chunks=len(parts),
            job_total=job_total,
        )  # fmt: skip
        last = yield from phase(stage, run)
        images.append(check_finite(last.x_t.to("cpu", torch.float32), span("frames", lo, hi)))
    return InterpolateOutput(torch.cat(images), path.to("cpu", torch.float32), method, seq, spec.name)


def interpolate(
    model: DiffusionModel,
    a: Endpoint,
    b: Endpoint,
    *,
    frames: int = 9,
    method: str = "slerp",
    steps: int = 50,
    spacing: str = "uniform",
    batch_size: int = 8,
    clip_sample: bool = False,
    sampler: str = DEFAULT_SAMPLER,
    device: torch.device | str = "cpu",
    refine: int = 0,
) -> Run[InterpolateOutput]:
    """Encode the picture ends (phase ``encode``, one batch), then decode the path (phase ``decode``).

    ``refine`` = K > 0 refines each inversion step of the picture ends (``core.inversion``).

    Raises:
        ValueError: at once, for more frames than :func:`check_frames` allows.
    """
    check_frames(tuple(model.sample_shape), frames)
    return Run(
        _interpolate_body(
            model, a, b, frames=frames, method=method, steps=steps, spacing=spacing, batch_size=batch_size,
            clip_sample=clip_sample, sampler=sampler, device=torch.device(device), refine=refine,
        )
    )  # fmt: skip
