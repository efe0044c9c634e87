"""Running one job in the worker thread: the core's step iterators driven under an abort flag.

No Qt here: :func:`execute` returns the job's result or raises, and the runner's worker turns that
into signals. The abort flag is checked before every ``next()`` of a core iterator, i.e. before
every model call, so a cancel costs at most the model call already under way. Latents run in
float32 on the model's device (the adapter casts to the weights' dtype); results come back on
the CPU.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ddim_studio.core.interpolation import interpolation_path
from ddim_studio.core.models.loader import DTYPES, load_model, resolve_device
from ddim_studio.core.models.protocol import DiffusionModel, ModelInfo, ModelLoadError
from ddim_studio.core.noise import ImageNoise, check_seed, initial_noise
from ddim_studio.core.sampling import StepResult, iter_invert, iter_sample, resolve_timesteps
from ddim_studio.workers.faults import NO_MODEL_MESSAGE, JobCancelled
from ddim_studio.workers.jobs import (
    EncodeJob,
    EncodeResult,
    InterpolateJob,
    InterpolateResult,
    LoadModelJob,
    LoadModelResult,
    SampleJob,
    SampleResult,
    StepEvent,
)
from ddim_studio.workers.previews import (
    PreviewSettings,
    PreviewThrottle,
    StepMonitor,
    preview_shape,
    scrubber_steps,
)

_LATENT_DTYPE = torch.float32


@dataclass
class ModelSlot:
    """The runner's current model: written by load jobs and ``set_model``, read when a job starts."""

    model: DiffusionModel | None = None
    info: ModelInfo | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    dtype: torch.dtype = torch.float32
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def get(self) -> tuple[DiffusionModel | None, torch.device]:
        """The model and its device, read together."""
        with self.lock:
            return self.model, self.device

    def put(self, model: DiffusionModel, info: ModelInfo, device: torch.device, dtype: torch.dtype) -> None:
        """Install a model for the jobs that start from now on."""
        with self.lock:
            self.model, self.info, self.device, self.dtype = model, info, device, dtype


def infer_placement(model: object) -> tuple[torch.device, torch.dtype]:
    """The model's ``device``/``dtype`` attributes, else its (or a module attribute's) first parameter's.

    CPU float32 when none is found.
    """
    device, dtype = getattr(model, "device", None), getattr(model, "dtype", None)
    if isinstance(device, torch.device) and isinstance(dtype, torch.dtype):
        return device, dtype
    candidates = [model, *vars(model).values()] if hasattr(model, "__dict__") else [model]
    for obj in candidates:
        if isinstance(obj, torch.nn.Module):
            param = next(obj.parameters(), None)
            if param is not None:
                return param.device, param.dtype
    return torch.device("cpu"), torch.float32


def describe_model(model: DiffusionModel) -> ModelInfo:
    """A ModelInfo for a model handed over in memory (``JobRunner.set_model`` without an info)."""
    modules = [m for m in [model, *getattr(model, "__dict__", {}).values()] if isinstance(m, torch.nn.Module)]
    return ModelInfo(
        name=type(model).__name__,
        source="(in memory)",
        family="in-memory",
        sample_shape=tuple(model.sample_shape),  # type: ignore[arg-type]
        num_parameters=sum(p.numel() for m in modules[:1] for p in m.parameters()),
        prediction_type=model.schedule.prediction_type,
        num_train_timesteps=model.schedule.num_train_timesteps,
    )


@dataclass
class JobContext:
    """What a running job needs: its id and abort flag, the preview settings and sink, the model."""

    job_id: int
    token: threading.Event
    settings: PreviewSettings
    emit: Callable[[StepEvent], None]
    slot: ModelSlot
    throttle: PreviewThrottle = field(init=False)

    def __post_init__(self) -> None:
        self.throttle = PreviewThrottle(self.settings)

    def check_cancelled(self) -> None:
        """Raise JobCancelled if the job's abort flag is set."""
        if self.token.is_set():
            raise JobCancelled

    def require_model(self) -> tuple[DiffusionModel, torch.device]:
        """The current model and device, or a ModelLoadError saying none is loaded."""
        model, device = self.slot.get()
        if model is None:
            raise ModelLoadError(NO_MODEL_MESSAGE)
        return model, device

    def monitor(self, phase: str, total: int, **kwargs: object) -> StepMonitor:
        """A StepMonitor of this job for one phase (and chunk)."""
        return StepMonitor(
            job_id=self.job_id,
            phase=phase,
            total=total,
            emit=self.emit,
            throttle=self.throttle,
            settings=self.settings,
            **kwargs,  # type: ignore[arg-type]
        )

    def drive(self, steps: Iterator[StepResult], monitor: StepMonitor) -> StepResult:
        """Run a core iterator to its end under the abort flag; the last step."""
        last = None
        try:
            while True:
                self.check_cancelled()
                try:
                    result = next(steps)
                except StopIteration:
                    break
                monitor.observe(result)
                last = result
        finally:
            close = getattr(steps, "close", None)
            if close is not None:
                close()
        monitor.finish()
        if last is None:
            raise ValueError("The run had no steps.")
        return last


def execute(ctx: JobContext, job: object) -> object:
    """Run ``job`` and return its result (raises JobCancelled, or the job's error)."""
    ctx.check_cancelled()
    if isinstance(job, SampleJob):
        return run_sample(ctx, job)
    if isinstance(job, EncodeJob):
        return run_encode(ctx, job)
    if isinstance(job, InterpolateJob):
        return run_interpolate(ctx, job)
    if isinstance(job, LoadModelJob):
        return run_load(ctx, job)
    raise TypeError(f"Not a job: {type(job).__name__}")


def _chunks(count: int, batch_size: int) -> list[tuple[int, int]]:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    return [(lo, min(count, lo + batch_size)) for lo in range(0, count, batch_size)]


def _explicit_latents(x_T: torch.Tensor | None, seeds: Sequence[int]) -> torch.Tensor | None:
    if x_T is None:
        return None
    if not isinstance(x_T, torch.Tensor):
        raise ValueError(f"x_T must be a tensor shaped (N, C, H, W), got {type(x_T).__name__}.")
    x = x_T.detach().unsqueeze(0) if x_T.ndim == 3 else x_T.detach()
    if seeds and len(seeds) != x.shape[0]:
        raise ValueError(f"Give one seed per latent: {x.shape[0]} latents but {len(seeds)} seeds.")
    return x


def _start_latents(
    model: DiffusionModel, device: torch.device, seeds: Sequence[int], x_T: torch.Tensor | None, eta: float
) -> tuple[torch.Tensor, ImageNoise | None]:
    """x_T and the η-noise streams of one chunk (explicit latents continue each seed's stream)."""
    shape = tuple(model.sample_shape)
    if x_T is None:
        return initial_noise(seeds, shape, device, _LATENT_DTYPE)
    x = x_T.to(device=device, dtype=_LATENT_DTYPE)
    if not seeds or eta <= 0:
        return x, None
    noise = ImageNoise(seeds, shape, device, _LATENT_DTYPE)
    noise.draw()  # skip the x_T draw: the η-noise is the seeded run's
    return x, noise


def run_sample(ctx: JobContext, job: SampleJob) -> SampleResult:
    """Sample (or decode ``job.x_T``) chunk by chunk, recording pred_x0 frames for the scrubber."""
    model, device = ctx.require_model()
    seeds = tuple(check_seed(s) for s in job.seeds)
    latents_in = _explicit_latents(job.x_T, seeds)
    count = len(seeds) if latents_in is None else int(latents_in.shape[0])
    if count == 0:
        raise ValueError("Give at least one seed (or latent) to sample.")
    seq = resolve_timesteps(model, job.steps, job.spacing, None)
    _, height, width = model.sample_shape
    size = ctx.settings.preview_size
    record = scrubber_steps(len(seq), count, height, width, size) if ctx.settings.record_frames else []
    chunks = _chunks(count, job.batch_size)
    images, starts, frames = [], [], []
    for c, (lo, hi) in enumerate(chunks):
        chunk_latents = None if latents_in is None else latents_in[lo:hi]
        x_T, noise = _start_latents(model, device, seeds[lo:hi], chunk_latents, float(job.eta))
        steps = iter_sample(
            model, x_T, steps=job.steps, eta=job.eta, spacing=job.spacing, noise=noise,
            clip_sample=job.clip_sample,
        )  # fmt: skip
        monitor = ctx.monitor(
            "sample", len(seq), batch_offset=lo, chunk=c, chunks=len(chunks), record_steps=record
        )
        images.append(ctx.drive(steps, monitor).x_t.to("cpu", torch.float32))
        starts.append(x_T.to("cpu", torch.float32))
        frames.append(monitor.frames())
    if record:
        all_frames = np.concatenate(frames, axis=1)
    else:
        all_frames = np.zeros((0, count, *preview_shape(height, width, size), 3), np.uint8)
    return SampleResult(
        images=torch.cat(images), x_T=torch.cat(starts), seeds=seeds, timesteps=seq,
        frames=all_frames, frame_steps=list(record),
    )  # fmt: skip


def _image_batch(images: torch.Tensor, what: str) -> torch.Tensor:
    if not isinstance(images, torch.Tensor):
        kind = type(images).__name__
        raise ValueError(f"{what} must be a tensor shaped (N, 3, H, W) in [-1, 1], got {kind}.")
    return images.detach().unsqueeze(0) if images.ndim == 3 else images.detach()


def _invert(
    ctx: JobContext, model: DiffusionModel, x_0: torch.Tensor, steps: int, spacing: str, clip_sample: bool
) -> torch.Tensor:
    total = len(resolve_timesteps(model, steps, spacing, None))
    run = iter_invert(model, x_0, steps=steps, spacing=spacing, clip_sample=clip_sample)
    return ctx.drive(run, ctx.monitor("encode", total)).x_t


def run_encode(ctx: JobContext, job: EncodeJob) -> EncodeResult:
    """Invert the images to x_T, decode back with η = 0, and measure the reconstruction error."""
    model, device = ctx.require_model()
    x_0 = _image_batch(job.images, "images").to(device=device, dtype=_LATENT_DTYPE)
    seq = resolve_timesteps(model, job.steps, job.spacing, None)
    x_T = _invert(ctx, model, x_0, job.steps, job.spacing, job.clip_sample)
    run = iter_sample(model, x_T, steps=job.steps, eta=0.0, spacing=job.spacing, clip_sample=job.clip_sample)
    reconstruction = ctx.drive(run, ctx.monitor("decode", len(seq))).x_t.to("cpu", torch.float32)
    original = x_0.to("cpu", torch.float32)
    diff = (reconstruction.clamp(-1, 1) - original.clamp(-1, 1)) / 2.0  # on the [0, 1] pixel scale
    mse = [float(v) for v in diff.pow(2).flatten(1).mean(dim=1)]
    psnr = [10.0 * math.log10(1.0 / m) if m > 0 else math.inf for m in mse]
    return EncodeResult(
        x_T=x_T.to("cpu", torch.float32), reconstruction=reconstruction, mse=mse, psnr=psnr, timesteps=seq
    )


def _single(x: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a tensor shaped (C, H, W), got {type(x).__name__}.")
    x = x.detach()
    if x.ndim == 4 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 3:
        raise ValueError(f"{name} must be a single latent or image shaped (C, H, W), got {tuple(x.shape)}.")
    return x


def run_interpolate(ctx: JobContext, job: InterpolateJob) -> InterpolateResult:
    """Encode the image ends (one batch), then decode the path's latents chunk by chunk."""
    model, device = ctx.require_model()
    ends = [_single(job.a, "a").to(device, _LATENT_DTYPE), _single(job.b, "b").to(device, _LATENT_DTYPE)]
    flags = (job.a_is_image, job.b_is_image)
    to_encode = [i for i, is_image in enumerate(flags) if is_image]
    if to_encode:
        x_0 = torch.stack([ends[i] for i in to_encode])
        encoded = _invert(ctx, model, x_0, job.steps, job.spacing, False)
        for row, i in enumerate(to_encode):
            ends[i] = encoded[row]
    path = interpolation_path(ends[0], ends[1], job.frames, job.method)
    total = len(resolve_timesteps(model, job.steps, job.spacing, None))
    chunks = _chunks(int(path.shape[0]), job.batch_size)
    images = []
    for c, (lo, hi) in enumerate(chunks):
        run = iter_sample(model, path[lo:hi], steps=job.steps, eta=0.0, spacing=job.spacing)
        monitor = ctx.monitor("decode", total, batch_offset=lo, chunk=c, chunks=len(chunks))
        images.append(ctx.drive(run, monitor).x_t.to("cpu", torch.float32))
    latents = path.to("cpu", torch.float32)
    return InterpolateResult(images=torch.cat(images), latents=latents, method=job.method)


def run_load(ctx: JobContext, job: LoadModelJob) -> LoadModelResult:
    """Open the model and install it for the following jobs (not if cancelled while loading)."""
    dtype = DTYPES.get(str(job.dtype).lower().removeprefix("torch."))
    if dtype is None:
        raise ValueError(f"Unknown dtype {job.dtype!r}; choose {', '.join(DTYPES)}.")
    device = resolve_device(job.device)
    model, info = load_model(job.source, config=job.config, device=device, dtype=dtype)
    ctx.check_cancelled()
    ctx.slot.put(model, info, device, dtype)
    return LoadModelResult(info=info, device=device, dtype=dtype)
