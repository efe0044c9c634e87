"""What the runner can be asked to do (jobs), what it answers (results) and its progress events.

All are frozen dataclasses, safe to pass between threads (tensors inside are never modified).

Jobs
====
- :class:`SampleJob` ``(seeds, steps=50, eta=0.0, spacing="uniform", batch_size=8, clip_sample=False,
  x_T=None)``: one image per seed (image of seed ``s`` is the core's ``generate`` image of ``s``),
  run in chunks of ``batch_size``. With ``x_T`` (N, C, H, W) those latents are decoded instead; with
  η > 0 the seeds (one per latent) then give the η-noise, continuing each seed's stream after its
  x_T draw, so passing a seed's own x_T reproduces the seeded image exactly.
- :class:`EncodeJob` ``(images, steps=50, spacing="uniform", clip_sample=False, refine=0)``: images
  (N, 3, H, W) in [−1, 1], already fitted to the model size; inverted to x_T (phase ``"encode"``,
  each step refined ``refine`` times), then decoded back with η = 0 (phase ``"decode"``) to measure
  the reconstruction; with ``decode=False`` only inverted (``reconstruction`` empty,
  ``mse``/``psnr`` empty lists).
- :class:`InterpolateJob` ``(a, b, frames=9, method="slerp", steps=50, spacing="uniform",
  batch_size=8, a_is_image=False, b_is_image=False)``: ``a``/``b`` are latents (C, H, W), or images
  (3, H, W) in [−1, 1] that are encoded first (phase ``"encode"``, both in one batch); the path is
  decoded in chunks of ``batch_size`` (phase ``"decode"``).
- :class:`EditJob` ``(source, seeds, strength=0.5, mask=None, start="noise", steps=50, eta=0.0,
  spacing="uniform", harmonize=0, batch_size=8, clip_sample=False)``: ``operations.edit_images``
  (phase ``"edit"``, previews of pred_x0 with the kept pixels already the source).
- :class:`GuideJob` ``(reference, seeds, factor=8, until=0.0, …)``: ``operations.guide_images``
  (phase ``"sample"``); :class:`ExtendJob` ``(picture, direction, by, times=1, …)``:
  ``operations.extend_picture`` (phase ``"edit"``, one stage per pan). Results: ``GuideOutput``,
  ``ExtendOutput``.
- Every sampling job takes ``sampler`` (a name in ``core.samplers``; default ``DEFAULT_SAMPLER``, DDIM).
- :class:`LoadModelJob` ``(source=None, device="auto", dtype="float32", config=None, probe=True)``: opens a
  model with ``core.models.loader.load_model`` in the worker; it replaces the runner's model when
  it succeeds. With ``probe`` model calls on batches of 1, 2, 4 and 8 are timed after loading, as a
  short budget allows (``LoadModelResult.call_seconds``: the cost estimate shown before Run).

Results
=======
:class:`SampleResult`, :class:`EncodeResult`, :class:`InterpolateResult`, ``operations.EditOutput``,
:class:`LoadModelResult`;
all tensors are on the CPU, float32.

Progress
========
:class:`StepEvent`: one per sent preview (throttled; see ``runner``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Union

import numpy as np
import torch

from ddim_studio.core.models.protocol import ModelInfo
from ddim_studio.core.names import DEFAULT_SAMPLER

if TYPE_CHECKING:
    from ddim_studio.operations.edit import EditOutput

PHASES = ("sample", "encode", "decode", "edit")
ERROR_KINDS = ("oom", "numerical", "model", "input", "error")


@dataclass(frozen=True)
class SampleJob:
    """Sample one image per seed (or decode the given latents ``x_T``)."""

    seeds: tuple[int, ...]
    steps: int = 50
    eta: float = 0.0
    spacing: str = "uniform"
    batch_size: int = 8
    clip_sample: bool = False
    x_T: torch.Tensor | None = None
    sampler: str = DEFAULT_SAMPLER
    quantize: bool = True  # a VQ latent diffusion model: decode through its codebook (False: the raw latent)


@dataclass(frozen=True)
class EncodeJob:
    """Invert images to their latents x_T, then decode them back (η = 0) to measure the error."""

    images: torch.Tensor
    steps: int = 50
    spacing: str = "uniform"
    clip_sample: bool = False
    sampler: str = DEFAULT_SAMPLER
    decode: bool = True  # False: only invert (x_T); no reconstruction, half the model calls
    refine: int = 0


@dataclass(frozen=True)
class InterpolateJob:
    """Decode ``frames`` latents on the slerp (or lerp) path from ``a`` to ``b``."""

    a: torch.Tensor
    b: torch.Tensor
    frames: int = 9
    method: str = "slerp"
    steps: int = 50
    spacing: str = "uniform"
    batch_size: int = 8
    a_is_image: bool = False
    b_is_image: bool = False
    sampler: str = DEFAULT_SAMPLER


@dataclass(frozen=True)
class EditJob:
    """Edit a (painted) picture once per seed; ``mask`` (1, 1, H, W), 1 = regenerate, None = all."""

    source: torch.Tensor
    seeds: tuple[int, ...]
    strength: float = 0.5
    mask: torch.Tensor | None = None
    start: str = "noise"
    steps: int = 50
    eta: float = 0.0
    spacing: str = "uniform"
    harmonize: int = 0
    batch_size: int = 8
    clip_sample: bool = False
    sampler: str = DEFAULT_SAMPLER
    refine: int = 0
    feather: int = 0  # pixels the mask is feathered outward by (``core.masks``)


@dataclass(frozen=True)
class RestoreJob:
    """Restore a picture once per seed (``operations.restore``); ``picture`` at the task's input size."""

    picture: torch.Tensor
    seeds: tuple[int, ...]
    task: str = "upscale"
    factor: int = 4
    mask: torch.Tensor | None = None
    steps: int = 50
    eta: float = 0.0
    sampler: str = DEFAULT_SAMPLER
    method: str = "ddnm"
    batch_size: int = 8
    clip_sample: bool = False
    feather: int = 0


@dataclass(frozen=True)
class GuideJob:
    """Guide one picture per seed by ``reference`` (1, 3, H, W) (ILVR, ``operations.guide``)."""

    reference: torch.Tensor
    seeds: tuple[int, ...]
    factor: int = 8
    until: float = 0.0
    steps: int = 50
    eta: float = 0.0
    spacing: str | None = None
    batch_size: int = 8
    clip_sample: bool = False
    sampler: str = DEFAULT_SAMPLER


@dataclass(frozen=True)
class ExtendJob:
    """Pan ``picture`` (1, 3, H, W) ``times`` steps of ``by`` pixels (``operations.extend``)."""

    picture: torch.Tensor
    direction: str
    by: int
    times: int = 1
    seed: int = 0
    steps: int = 50
    feather: int = 2
    sampler: str = DEFAULT_SAMPLER
    harmonize: int = 0


@dataclass(frozen=True)
class LoadModelJob:
    """Open a model: a folder, a checkpoint file, a hub id, or None for the shipped default."""

    source: str | None = None
    device: str = "auto"
    dtype: str = "float32"
    config: str | None = None
    probe: bool = True  # time one model call after loading (the cost estimate before Run)
    backend: str = "auto"  # what runs the calls: auto, torch, openvino (core.models.backends)
    precision: str = "auto"  # auto, exact (float32) or fast (bf16 / float16)


Job = SampleJob | EncodeJob | InterpolateJob | EditJob | RestoreJob | GuideJob | ExtendJob | LoadModelJob

_KINDS: dict[type, str] = {
    SampleJob: "sample",
    EncodeJob: "encode",
    InterpolateJob: "interpolate",
    EditJob: "edit",
    RestoreJob: "restore",
    GuideJob: "guide",
    ExtendJob: "extend",
    LoadModelJob: "load",
}


def job_kind(job: object) -> str:
    """The kind string of a job (``sample``, ``encode``, ``interpolate``, ``load``) sent with ``started``.

    Raises:
        TypeError: ``job`` is not one of the job classes.
    """
    try:
        return _KINDS[type(job)]
    except KeyError:
        raise TypeError(
            f"Not a job: {type(job).__name__}; submit a SampleJob, EncodeJob, InterpolateJob, EditJob or "
            "LoadModelJob."
        ) from None


@dataclass(frozen=True)
class SampleResult:
    """The images of a sample job and everything needed to reproduce or scrub them.

    Attributes:
        images: (N, 3, H, W) float32 on the CPU, in [−1, 1] as the sampler returns them (not clamped).
        x_T: (N, C, H, W) the starting latents.
        seeds: the per-image seeds (empty when explicit latents were decoded with η = 0 and no seeds).
        timesteps: the τ visited, noisiest first.
        frames: (F, N, h, w, 3) uint8, pred_x0 of the recorded steps, downscaled to ≤ 128 px a side
            (``JobRunner.preview_size``); F = 0 when ``JobRunner.record_frames`` is off.
        frame_steps: the 0-based step index of each frame: every step, or, when S > 250, 250 evenly
            spaced ones (first and last kept); fewer if the frames would pass 256 MiB.
        frames_xt: (F, N, h, w, 3) uint8, x_t at the same steps (None when not recorded).
    """

    images: torch.Tensor
    x_T: torch.Tensor
    seeds: tuple[int, ...]
    timesteps: list[int]
    frames: np.ndarray
    frame_steps: list[int]
    frames_xt: np.ndarray | None = None


@dataclass(frozen=True)
class EncodeResult:
    """Latents of encoded images, their reconstruction and its error.

    Attributes:
        x_T: (N, C, H, W) the latents.
        reconstruction: (N, 3, H, W) the decoded latents (η = 0), not clamped.
        mse: per image, mean squared error on a [0, 1] pixel scale (reconstruction clamped to [−1, 1]).
        psnr: per image, 10·log10(1 / mse) in dB (``inf`` for a perfect reconstruction).
        timesteps: the τ used, noisiest first.
        calls: the batched model calls the inversion made (S when not refined).
        floor_mse, floor_psnr: a latent diffusion model's autoencoder round trip per image (the
            floor of any reconstruction); empty for pixel models.
    """

    x_T: torch.Tensor
    reconstruction: torch.Tensor
    mse: list[float]
    psnr: list[float]
    timesteps: list[int]
    calls: int = 0
    floor_mse: list[float] = field(default_factory=list)
    floor_psnr: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class InterpolateResult:
    """The decoded frames of an interpolation and their latents (F, C, H, W)."""

    images: torch.Tensor
    latents: torch.Tensor
    method: str


@dataclass(frozen=True)
class LoadModelResult:
    """The loaded model's description, where it runs, and its measured seconds per call.

    ``seconds_per_call`` is batch 1's; ``call_seconds`` has every batch size the probe timed.
    """

    info: ModelInfo
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    dtype: torch.dtype = torch.float32
    seconds_per_call: float = 0.0
    call_seconds: dict[int, float] = field(default_factory=dict)


@dataclass(frozen=True)
class StepEvent:
    """Progress of a running job, with previews as display-ready uint8 arrays.

    Attributes:
        job_id: the job this step belongs to.
        phase: ``"sample"``, ``"encode"`` or ``"decode"``.
        index: 0-based step index within the phase.
        total: steps in the phase (S).
        timestep: the timestep the model was called at.
        preview: (n, h, w, 3) uint8, pred_x0 of this chunk, downscaled to ≤ ``preview_size`` a side.
        preview_xt: (n, h, w, 3) uint8, x_t of this chunk (clamped to [−1, 1]), same size.
        batch_offset: index in the job of the first image of this chunk.
        steps_per_second: model steps per second in this phase so far.
        chunk: 0-based index of this chunk in the phase.
        chunks: number of chunks in the phase.
        job_done: model calls of the whole job done with this step (all chunks and phases).
        job_total: model calls of the whole job (0 when unknown).
        elapsed_s: seconds since the job started.
        job_calls: network calls of the whole job made with this step: ``job_done`` counts a refined
            inversion step once, whatever its calls; this counts each (the estimates' clock).
    """

    job_id: int
    phase: str
    index: int
    total: int
    timestep: int
    preview: np.ndarray
    preview_xt: np.ndarray
    batch_offset: int
    steps_per_second: float
    chunk: int = 0
    chunks: int = 1
    job_done: int = 0
    job_total: int = 0
    elapsed_s: float = 0.0
    job_calls: int = 0


#: What ``JobRunner.finished(int, object)`` carries, by job: Sample → :class:`SampleResult`, Encode →
#: :class:`EncodeResult`, Interpolate → :class:`InterpolateResult`, Edit → ``operations.EditOutput``,
#: LoadModel → :class:`LoadModelResult` (Qt signals cannot name a union, so the signal says ``object``).
JobResult = Union[SampleResult, EncodeResult, InterpolateResult, "EditOutput", LoadModelResult]  # noqa: UP007
