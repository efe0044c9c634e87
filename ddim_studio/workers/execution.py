"""Running one job in the worker thread: the core's step iterators driven under an abort flag.

No Qt here: :func:`execute` returns the job's result or raises, and the runner's worker turns that
into signals. The abort flag is checked before every ``next()`` of a core iterator, i.e. before
every model call, so a cancel costs at most the model call already under way. Latents run in
float32 on the model's device (the adapter casts to the weights' dtype); results come back on
the CPU.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import torch

from ddim_studio.core.latent_preview import LatentPreviewer
from ddim_studio.core.models.backends import apply_backend
from ddim_studio.core.models.interrupt import interruptible
from ddim_studio.core.models.latent import autoencoder_of, picture_shape
from ddim_studio.core.models.ldm_folder import describe_latent
from ddim_studio.core.models.loader import DTYPES, load_model, resolve_device
from ddim_studio.core.models.protocol import DiffusionModel, ModelInfo, ModelLoadError
from ddim_studio.core.sampling import resolve_timesteps
from ddim_studio.operations import Endpoint, Run, decode_latents, encode_images, interpolate, sample_seeds
from ddim_studio.operations.cost import measure_calls
from ddim_studio.operations.edit import EditOutput, edit_images
from ddim_studio.operations.encode import image_batch
from ddim_studio.operations.extend import ExtendOutput, extend_picture
from ddim_studio.operations.guide import GuideOutput, guide_images
from ddim_studio.operations.interpolation import single
from ddim_studio.operations.restore import RestoreOutput, restore_images
from ddim_studio.workers.faults import NO_MODEL_MESSAGE, JobCancelled
from ddim_studio.workers.jobs import (
    EditJob,
    EncodeJob,
    EncodeResult,
    ExtendJob,
    GuideJob,
    InterpolateJob,
    InterpolateResult,
    LoadModelJob,
    LoadModelResult,
    RestoreJob,
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

R = TypeVar("R")


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
    info = ModelInfo(
        name=type(model).__name__,
        source="(in memory)",
        family="in-memory",
        sample_shape=tuple(model.sample_shape),  # type: ignore[arg-type]
        num_parameters=sum(p.numel() for m in modules[:1] for p in m.parameters()),
        prediction_type=model.schedule.prediction_type,
        num_train_timesteps=model.schedule.num_train_timesteps,
        steps_offset=model.schedule.steps_offset,
        set_alpha_to_one=model.schedule.set_alpha_to_one,
    )
    ae = autoencoder_of(model)
    return info if ae is None else describe_latent(info, ae)


@dataclass
class JobContext:
    """What a running job needs: its id and abort flag, the preview settings and sink, the model."""

    job_id: int
    token: threading.Event
    settings: PreviewSettings
    emit: Callable[[StepEvent], None]
    slot: ModelSlot
    throttle: PreviewThrottle = field(init=False)
    started: float = field(init=False)  # perf_counter() when the job began: elapsed and ETA

    recorded_xt: list[np.ndarray | None] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.throttle = PreviewThrottle(self.settings)
        self.started = time.perf_counter()

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

    def drive(self, run: Run[R], record_steps: Sequence[int] = ()) -> tuple[R, list[np.ndarray]]:
        """Run an operation to its end under the abort flag, one StepMonitor per stage.

        Returns:
            The operation's result and the recorded frames of each ``sample`` stage (``record_steps``);
            the x_t frames at the same steps are left in :attr:`recorded_xt`.
        """
        monitor: StepMonitor | None = None
        stage: object = None
        frames: list[np.ndarray] = []
        self.recorded_xt = []
        ae = autoencoder_of(self.slot.get()[0])
        latent = LatentPreviewer(ae) if ae is not None else None  # one preview budget per job

        def close_monitor() -> None:
            if monitor is not None:
                monitor.finish()
                recorded = monitor.frames() if monitor.phase == "sample" and record_steps else None
                if recorded is not None:
                    frames.append(recorded)
                    self.recorded_xt.append(monitor.frames_xt())

        try:
            while True:
                self.check_cancelled()
                try:
                    step = next(run)
                except StopIteration:
                    break
                if run.stage is not stage and run.stage is not None:
                    close_monitor()
                    stage, st = run.stage, run.stage
                    record = record_steps if st.phase == "sample" else ()
                    monitor = self.monitor(
                        st.phase, st.total, batch_offset=st.batch_offset, chunk=st.chunk, chunks=st.chunks,
                        record_steps=record, job_offset=run.calls - 1, job_total=run.total_calls,
                        job_start=self.started, latent=latent,
                        calls_offset=monitor.calls if monitor is not None else 0,
                    )  # fmt: skip
                assert monitor is not None
                monitor.observe(step)
        finally:
            if not run.done:
                run.close()
        close_monitor()
        return run.result, frames


def execute(ctx: JobContext, job: object) -> object:
    """Run ``job`` and return its result (raises JobCancelled, or the job's error)."""
    ctx.check_cancelled()
    if isinstance(job, SampleJob):
        return run_sample(ctx, job)
    if isinstance(job, EncodeJob):
        return run_encode(ctx, job)
    if isinstance(job, InterpolateJob):
        return run_interpolate(ctx, job)
    if isinstance(job, EditJob):
        return run_edit(ctx, job)
    if isinstance(job, GuideJob):
        return run_guide(ctx, job)
    if isinstance(job, ExtendJob):
        return run_extend(ctx, job)
    if isinstance(job, RestoreJob):
        return run_restore(ctx, job)
    if isinstance(job, LoadModelJob):
        return run_load(ctx, job)
    raise TypeError(f"Not a job: {type(job).__name__}")


def run_sample(ctx: JobContext, job: SampleJob) -> SampleResult:
    """Sample (or decode ``job.x_T``) chunk by chunk, recording pred_x0 frames for the scrubber."""
    model, device = ctx.require_model()
    settings = {
        "steps": job.steps, "eta": job.eta, "spacing": job.spacing, "clip_sample": job.clip_sample,
        "batch_size": job.batch_size, "sampler": job.sampler, "device": device, "quantize": job.quantize,
    }  # fmt: skip
    if job.x_T is None:
        run = sample_seeds(model, job.seeds, **settings)  # type: ignore[arg-type]
        count = len(job.seeds)
    else:
        run = decode_latents(model, job.x_T, seeds=job.seeds, **settings)  # type: ignore[arg-type]
        count = int(job.x_T.shape[0]) if isinstance(job.x_T, torch.Tensor) and job.x_T.ndim == 4 else 1
    total = len(resolve_timesteps(model, job.steps, job.spacing, None))
    _, height, width = picture_shape(model)
    size = ctx.settings.preview_size
    record = scrubber_steps(total, count, height, width, size) if ctx.settings.record_frames and count else []
    out, frames = ctx.drive(run, record)
    if record and frames:
        all_frames = np.concatenate(frames, axis=1)
        frames_xt = np.concatenate(ctx.recorded_xt, axis=1)
    else:
        record = []
        all_frames = np.zeros((0, len(out.images), *preview_shape(height, width, size), 3), np.uint8)
        frames_xt = all_frames
    return SampleResult(
        images=out.images, x_T=out.x_T, seeds=out.seeds, timesteps=out.timesteps,
        frames=all_frames, frame_steps=list(record), frames_xt=frames_xt,
    )  # fmt: skip


def run_encode(ctx: JobContext, job: EncodeJob) -> EncodeResult:
    """Invert the images to x_T, decode back with η = 0, and measure the reconstruction error."""
    model, device = ctx.require_model()
    images = image_batch(job.images, "images")
    run = encode_images(
        model, images, steps=job.steps, spacing=job.spacing, clip_sample=job.clip_sample, sampler=job.sampler,
        device=device, decode=job.decode, refine=job.refine,
    )  # fmt: skip
    out, _ = ctx.drive(run)
    return EncodeResult(
        x_T=out.x_T, reconstruction=out.reconstruction, mse=out.mse, psnr=out.psnr, timesteps=out.timesteps,
        calls=out.calls, floor_mse=out.floor_mse, floor_psnr=out.floor_psnr,
    )  # fmt: skip


def run_interpolate(ctx: JobContext, job: InterpolateJob) -> InterpolateResult:
    """Encode the image ends (one batch), then decode the path's latents chunk by chunk."""
    model, device = ctx.require_model()
    a = Endpoint(single(job.a, "a"), job.a_is_image, "a")
    b = Endpoint(single(job.b, "b"), job.b_is_image, "b")
    run = interpolate(
        model, a, b, frames=job.frames, method=job.method, steps=job.steps, spacing=job.spacing,
        batch_size=job.batch_size, sampler=job.sampler, device=device,
    )  # fmt: skip
    out, _ = ctx.drive(run)
    return InterpolateResult(images=out.images, latents=out.latents, method=job.method)


def _drive(ctx: JobContext, build: Callable[[DiffusionModel, torch.device], Run[R]]) -> R:
    """The installed model, the operation ``build`` makes with it, driven with previews; its result."""
    model, device = ctx.require_model()
    out, _ = ctx.drive(build(model, device))
    return out


def run_edit(ctx: JobContext, job: EditJob) -> EditOutput:
    """Edit the picture once per seed (``operations.edit_images``), with pred_x0 previews."""
    return _drive(ctx, lambda model, device: edit_images(
        model, job.source, job.seeds, strength=job.strength, mask=job.mask, start=job.start, steps=job.steps,
        eta=job.eta, spacing=job.spacing, harmonize=job.harmonize, clip_sample=job.clip_sample,
        batch_size=job.batch_size, sampler=job.sampler, device=device, refine=job.refine,
        feather=job.feather,
    ))  # fmt: skip


def run_restore(ctx: JobContext, job: RestoreJob) -> RestoreOutput:
    """Restore the picture once per seed (``operations.restore``), with pred_x0 previews."""
    return _drive(ctx, lambda model, device: restore_images(
        model, job.picture, job.seeds, task=job.task, factor=job.factor, mask=job.mask, steps=job.steps,
        eta=job.eta, sampler=job.sampler, method=job.method, clip_sample=job.clip_sample,
        batch_size=job.batch_size, device=device, feather=job.feather,
    ))  # fmt: skip


def run_guide(ctx: JobContext, job: GuideJob) -> GuideOutput:
    """Guided pictures (``operations.guide_images``), with pred_x0 previews."""
    return _drive(ctx, lambda model, device: guide_images(
        model, job.reference, job.seeds, factor=job.factor, until=job.until, steps=job.steps, eta=job.eta,
        spacing=job.spacing, clip_sample=job.clip_sample, batch_size=job.batch_size, sampler=job.sampler,
        device=device,
    ))  # fmt: skip


def run_extend(ctx: JobContext, job: ExtendJob) -> ExtendOutput:
    """A walk of pans (``operations.extend_picture``), with previews of each pan."""
    return _drive(ctx, lambda model, device: extend_picture(
        model, job.picture, direction=job.direction, by=job.by, times=job.times, seed=job.seed,
        steps=job.steps, feather=job.feather, sampler=job.sampler, harmonize=job.harmonize, device=device,
    ))  # fmt: skip


def run_load(ctx: JobContext, job: LoadModelJob) -> LoadModelResult:
    """Open the model and install it for the following jobs (not if cancelled while loading)."""
    dtype = DTYPES.get(str(job.dtype).lower().removeprefix("torch."))
    if dtype is None:
        raise ValueError(f"Unknown dtype {job.dtype!r}; choose {', '.join(DTYPES)}.")
    device = resolve_device(job.device)
    model, info = load_model(job.source, config=job.config, device=device, dtype=dtype)
    ctx.check_cancelled()
    model, _report = apply_backend(  # OpenVINO on the CPU where installed; notes land in info.notes
        model, info, backend=job.backend, precision=job.precision, device=device, batch=1
    )
    ctx.check_cancelled()
    table: dict[int, float] = {}
    if job.probe:  # timed calls per batch size: the cost shown before Run (a cancel stops it mid-call)
        with interruptible(model, ctx.token.is_set, error=JobCancelled):
            table = measure_calls(model, device)
    ctx.slot.put(model, info, device, dtype)
    seconds = table.get(1, 0.0)
    return LoadModelResult(
        info=info, device=device, dtype=dtype, seconds_per_call=seconds, call_seconds=table
    )
