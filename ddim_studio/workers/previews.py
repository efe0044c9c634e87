"""Previews of running jobs: downscale, quantise to uint8, throttle, and record for the scrubber.

Every step the worker does two cheap things on the model's device: a finiteness check of x_t
and, for sample jobs, a downscaled uint8 copy of pred_x0 for the step scrubber
(``SampleResult.frames``). A step is *sent* as a :class:`~ddim_studio.workers.jobs.StepEvent`
only when the throttle allows it (at most ``preview_fps`` per second, plus the last step of every
phase and chunk, which is always sent); only sent steps are converted for display and copied to
the host. ``preview_fps <= 0`` sends no step events at all.

On CUDA and MPS the finiteness flags stay on the device (one uint8 per step) and are read when a
preview is sent and at the end of the phase, so checking adds no host sync per step; the first
bad step is the one reported. On the CPU each step is checked at once.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ddim_studio.core.imaging import tensor_to_uint8
from ddim_studio.core.latent_preview import LatentPreviewer
from ddim_studio.core.sampling import StepResult
from ddim_studio.workers.faults import NumericalError
from ddim_studio.workers.jobs import StepEvent

MAX_RECORDED_FRAMES = 250
RECORD_BUDGET_BYTES = 256 * 2**20  # the scrubber's frames of one job stay below this
DEFAULT_PREVIEW_SIZE = 128
_VERBS = {"sample": "sampling", "encode": "encoding", "decode": "decoding", "edit": "editing"}


@dataclass
class PreviewSettings:
    """Preview options shared between the runner (writes) and its worker (reads at every step)."""

    preview_fps: float = 20.0
    preview_size: int = DEFAULT_PREVIEW_SIZE
    record_frames: bool = True
    num_threads: int = 0  # torch threads of the worker (0: ``default_threads``)
    default_threads: int = 0  # torch's thread count when the runner was made (all cores by default)


def preview_shape(height: int, width: int, max_side: int) -> tuple[int, int]:
    """(h, w) scaled so that the longer side is at most ``max_side``, aspect kept."""
    longest = max(height, width)
    if longest <= max_side:
        return height, width
    scale = max_side / longest
    return max(1, round(height * scale)), max(1, round(width * scale))


def displayable(x: torch.Tensor, max_side: int) -> torch.Tensor:
    """An (N, 3 or 1, h, w) float tensor of ``x`` downscaled (area filter) to ≤ ``max_side`` a side."""
    if x.shape[1] not in (1, 3):
        x = x[:, :3] if x.shape[1] > 3 else x[:, :1]
    size = preview_shape(int(x.shape[-2]), int(x.shape[-1]), max_side)
    x = x.detach()
    if size == tuple(x.shape[-2:]):
        return x
    return F.interpolate(x.to(torch.float32), size=size, mode="area")


def quantize(x: torch.Tensor) -> torch.Tensor:
    """(N, h, w, 3) uint8 on ``x``'s device; the same values as ``imaging.tensor_to_uint8``."""
    x = torch.nan_to_num(x.to(torch.float32), nan=0.0).clamp_(-1.0, 1.0)
    pixels = ((x + 1.0) * 127.5).round_().to(torch.uint8)
    if pixels.shape[1] == 1:
        pixels = pixels.expand(-1, 3, -1, -1)
    return pixels.permute(0, 2, 3, 1)


def recorded_steps(total: int, limit: int = MAX_RECORDED_FRAMES) -> list[int]:
    """The step indices the scrubber keeps: every step, or ``limit`` evenly spaced ones (ends kept)."""
    limit = max(2, int(limit))
    if total <= limit:
        return list(range(total))
    return sorted({int(round(v)) for v in np.linspace(0, total - 1, limit)})


def scrubber_steps(total: int, images: int, height: int, width: int, max_side: int) -> list[int]:
    """The steps a sample job records: ≤ 250, fewer if the frames of all images would pass the budget."""
    h, w = preview_shape(height, width, max_side)
    per_frame = max(1, 2 * images * h * w * 3)  # pred_x0 and x_t
    return recorded_steps(total, min(MAX_RECORDED_FRAMES, RECORD_BUDGET_BYTES // per_frame))


class PreviewThrottle:
    """At most one preview per 1 / fps seconds for a whole job; forced sends always pass."""

    def __init__(self, settings: PreviewSettings) -> None:
        self._settings = settings
        self._last = -math.inf

    def due(self, now: float, *, force: bool) -> bool:
        """Whether a preview may be sent at time ``now`` (``force``: the last step of a phase)."""
        fps = float(self._settings.preview_fps)
        if fps <= 0:
            return False
        if force or now - self._last >= 1.0 / fps:
            self._last = now
            return True
        return False


class StepMonitor:
    """Watches one chunk of one phase: checks finiteness, records frames, emits throttled previews."""

    def __init__(
        self,
        *,
        job_id: int,
        phase: str,
        total: int,
        emit: Callable[[StepEvent], None],
        throttle: PreviewThrottle,
        settings: PreviewSettings,
        batch_offset: int = 0,
        chunk: int = 0,
        chunks: int = 1,
        record_steps: Sequence[int] = (),
        defer_checks: bool | None = None,
        job_offset: int = 0,
        job_total: int = 0,
        job_start: float | None = None,
        latent: LatentPreviewer | None = None,
        calls_offset: int = 0,
    ) -> None:
        self._latent = latent  # a latent diffusion model's previews: linear map, now and then a decode
        self.job_id, self.phase, self.total = job_id, phase, total
        self.batch_offset, self.chunk, self.chunks = batch_offset, chunk, chunks
        self._emit, self._throttle, self._settings = emit, throttle, settings
        self._max_side = int(settings.preview_size)
        self._record = set(record_steps)
        self._frames: list[torch.Tensor] = []
        self._frames_xt: list[torch.Tensor] = []  # x_t at the same steps (the replay's "Show x_t")
        self._timesteps: list[int] = []
        self._flags: torch.Tensor | None = None
        self._defer = defer_checks  # None: defer (device flags) everywhere but on the CPU
        self._size = 0
        self._start = time.perf_counter()
        self._job_offset, self._job_total = job_offset, job_total  # calls of the job before this stage
        self._job_start = self._start if job_start is None else job_start
        self._steps = 0
        self._calls = calls_offset  # network calls of the job so far (a refined step makes several)

    def observe(self, result: StepResult) -> None:
        """Handle one step: raise NumericalError on NaN/Inf, record it, maybe send a preview."""
        self._timesteps.append(result.timestep)
        self._size = int(result.x_t.shape[0])
        self._steps += 1
        self._calls += max(1, int(result.calls))
        self._check_finite(result)
        frame = None
        if result.index in self._record:
            frame = quantize(displayable(self._approx(result.pred_x0), self._max_side))
            self._frames.append(frame)
            self._frames_xt.append(quantize(displayable(self._approx(result.x_t), self._max_side)))
        now = time.perf_counter()
        if not self._throttle.due(now, force=result.index == self.total - 1):
            return
        self._verify(result.index)
        if self._latent is not None:  # maybe a real decode (within the job's preview budget)
            frame = quantize(displayable(self._latent(result.pred_x0), self._max_side))
        preview = frame.cpu().numpy() if frame is not None else self._to_host(result.pred_x0)
        self._emit(
            StepEvent(
                job_id=self.job_id,
                phase=self.phase,
                index=result.index,
                total=self.total,
                timestep=result.timestep,
                preview=preview,
                preview_xt=self._to_host(self._approx(result.x_t)),
                batch_offset=self.batch_offset,
                steps_per_second=(result.index + 1) / max(now - self._start, 1e-9),
                chunk=self.chunk,
                chunks=self.chunks,
                job_done=self._job_offset + self._steps,
                job_total=max(self._job_total, self._job_offset + self._steps),
                elapsed_s=now - self._job_start,
                job_calls=self._calls,
            )
        )

    @property
    def calls(self) -> int:
        """Network calls of the job up to the last step observed."""
        return self._calls

    def finish(self) -> None:
        """Check the flags of the steps not yet checked (raises NumericalError on the first bad one)."""
        if self._timesteps:
            self._verify(len(self._timesteps) - 1)

    def frames(self) -> np.ndarray | None:
        """The recorded frames (F, n, h, w, 3) uint8 on the host, or None if none were recorded."""
        if not self._frames:
            return None
        return torch.stack(self._frames).cpu().numpy()

    def frames_xt(self) -> np.ndarray | None:
        """The recorded x_t frames, shaped like :meth:`frames`, or None if none were recorded."""
        if not self._frames_xt:
            return None
        return torch.stack(self._frames_xt).cpu().numpy()

    def _approx(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` as pictures: itself for a pixel model, the linear map's colours for a latent one."""
        return x if self._latent is None else self._latent.approximate(x)

    def _to_host(self, x: torch.Tensor) -> np.ndarray:
        return tensor_to_uint8(displayable(x, self._max_side))

    def _check_finite(self, result: StepResult) -> None:
        x = result.x_t
        if not (self._defer if self._defer is not None else x.device.type != "cpu"):
            if not bool(torch.isfinite(x).all()):
                raise NumericalError(self._message(result.index, "NaN" if bool(x.isnan().any()) else "Inf"))
            return
        if self._flags is None:
            self._flags = torch.zeros(self.total, dtype=torch.uint8, device=x.device)
        code = x.isnan().any().to(torch.uint8) + x.isinf().any().to(torch.uint8) * 2
        self._flags[result.index] = code

    def _verify(self, upto: int) -> None:
        """Read the device flags of steps ≤ ``upto`` (one sync) and report the first bad step."""
        if self._flags is None:
            return
        codes = self._flags[: upto + 1].cpu()
        bad = torch.nonzero(codes).flatten()
        if bad.numel():
            index = int(bad[0])
            raise NumericalError(self._message(index, "NaN" if int(codes[index]) & 1 else "Inf"))

    def _message(self, index: int, what: str) -> str:
        first = self.batch_offset + 1
        images = f" images {first}–{first + self._size - 1}" if self.chunks > 1 else ""
        return (
            f"The model produced {what} at step {index + 1} of {self.total} (t={self._timesteps[index]}) "
            f"while {_VERBS.get(self.phase, self.phase)}{images}. If the model runs in float16, try "
            "float32; otherwise try another model or number of steps."
        )
