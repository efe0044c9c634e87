"""What a job costs before it runs: model calls, seconds, and sensible defaults per model and device.

Every operation's cost is a number of model calls (each one forward pass of the network on a
batch). :func:`measure_calls` times the model at a few batch sizes while it loads (the probe);
a :class:`CostModel` turns that into seconds for a run of any batch size, refined only by runs of
the same kind and batch (a paper view at S = 1000 says nothing about Interpolate's batch of 8),
and :func:`estimate_label` into the words shown next to Run ("≈ 14 min on this CPU").
:class:`RunClock` reads a running job's steps into those refinements. No Qt here: the window and
the command line share it.

Why per batch size: a call's cost is not linear in the batch. A small model on a CPU spends most
of a call in fixed work, so 8 pictures cost far less than 8 × one; a big one is compute-bound.
Measuring 1, 2, 4 and 8 (as far as a short budget allows) and interpolating between them is
right for both, where scaling one measured batch by a fixed growth was off by up to 10×.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

from ddim_studio.core.editing import steps_run
from ddim_studio.core.inversion import inversion_calls
from ddim_studio.durations import clock, format_duration

__all__ = [
    "CallRate", "CostModel", "RunClock", "measure_calls", "Defaults", "clock",
    "format_duration", "estimate_label", "measure_call", "sample_calls",
    "encode_calls", "interpolate_calls", "edit_calls", "suggested_defaults", "is_large", "is_slow",
    "batches", "machine_rate", "backend_rate",
]  # fmt: skip

#: Above this estimate the window warns before a run (seconds).
WARN_SECONDS = 5 * 60.0
#: A model with more parameters than this (or larger than 128 px) is "large" for defaults.
LARGE_PARAMETERS = 50_000_000
LARGE_SIDE = 128
#: How the cost of one call grows per extra picture in a batch, relative to one picture:
#: a CPU is compute-bound (cost ∝ batch); an accelerator runs a small batch almost for free.
BATCH_GROWTH = {"cpu": 1.0, "cuda": 0.15, "mps": 0.35}
#: The probe's batch sizes, its time budget (seconds) and its calls per batch size (the fastest counts).
PROBE_BATCHES = (1, 2, 4, 8)
PROBE_BUDGET_S = 1.5
PROBE_REPEATS = 3
#: The bounds of :attr:`CostModel.pace`: a run of unusual work (a paper view, a guided edit) may
#: move other kinds' first estimates by at most this much, never by 10×.
PACE_LIMITS = (0.5, 2.0)
#: A model slower than this per call (seconds) is timed once, while loading, and not again.
SLOW_CALL_S = 2.0


def batches(count: int, batch_size: int) -> int:
    """How many batches of at most ``batch_size`` hold ``count`` pictures."""
    return math.ceil(max(0, int(count)) / max(1, int(batch_size)))


def sample_calls(count: int, batch_size: int, steps: int) -> int:
    """Model calls to sample (or decode) ``count`` pictures in batches: S per batch."""
    return batches(count, batch_size) * int(steps)


def encode_calls(steps: int) -> int:
    """Model calls to encode pictures (all in one batch) and decode them back: 2·S."""
    return 2 * int(steps)


def interpolate_calls(frames: int, batch_size: int, steps: int, *, images: int = 0) -> int:
    """Model calls of an interpolation: S to encode the picture ends (if any), S per batch of frames."""
    return (1 if images else 0) * int(steps) + sample_calls(frames, batch_size, steps)


def edit_calls(
    steps: int, strength: float, *, harmonize: int = 0, refine: int = 0, invert: bool = False
) -> int:
    """Model calls to edit one picture: n = ⌈strength·S⌉ decode steps, (1 + R) calls each, plus
    the inversion to t₀ (n calls, up to (2 + K)·n refined) when the edit starts by inverting."""
    decode = steps_run(int(steps), float(strength))
    return decode * (1 + max(0, int(harmonize))) + (inversion_calls(decode, int(refine)) if invert else 0)


@dataclass(frozen=True)
class CallRate:
    """A measured cost of one model call.

    Attributes:
        seconds: seconds one call took.
        batch: pictures in the measured call.
        device: ``cpu``, ``cuda`` or ``mps`` (how the cost grows with the batch).
    """

    seconds: float
    batch: int = 1
    device: str = "cpu"

    def per_call(self, batch: int) -> float:
        """Seconds of one call on ``batch`` pictures (linear in the batch, by the device's growth)."""
        growth = BATCH_GROWTH.get(self.device, 1.0)
        one = self.seconds / (1.0 + growth * (max(1, self.batch) - 1))
        return one * (1.0 + growth * (max(1, int(batch)) - 1))

    def seconds_for(self, calls: int, batch: int) -> float:
        """Seconds of ``calls`` model calls on ``batch`` pictures each."""
        return max(0, int(calls)) * self.per_call(batch)


def measure_call(model: object, device: torch.device | str = "cpu", batch: int = 1) -> CallRate:
    """Time one model call on a batch of noise (the probe run while a model loads)."""
    shape = tuple(model.sample_shape)  # type: ignore[attr-defined]
    dev = torch.device(device)
    x = torch.randn((max(1, batch), *shape), generator=torch.Generator().manual_seed(0)).to(dev)
    t = torch.full((x.shape[0],), 500, dtype=torch.long, device=dev)
    with torch.inference_mode():
        start = time.perf_counter()
        out = model(x, t)  # type: ignore[operator]
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        float(out.flatten()[0])  # the value is ready (MPS, lazy backends)
        seconds = time.perf_counter() - start
    return CallRate(seconds, int(x.shape[0]), dev.type)


def measure_calls(
    model: object,
    device: torch.device | str = "cpu",
    batches: tuple[int, ...] = PROBE_BATCHES,
    budget_s: float = PROBE_BUDGET_S,
) -> dict[int, float]:
    """Seconds of one model call per batch size (the probe run while a model loads).

    A first call warms the model up and is not counted, unless the model is too slow to call again
    (over :data:`SLOW_CALL_S`: then it is the only figure, for batch 1). Batch 1 is always timed
    once more; then each batch size up to :data:`PROBE_REPEATS` times within ``budget_s``, and the
    fastest call counts (a busy machine only ever adds time). A batch size whose call would not fit
    in what is left of the budget is left out (:class:`CostModel` extrapolates to it).

    A model compiled per batch size (OpenVINO: static shapes) is prepared for each batch before
    its calls are timed: a first call that compiled counted as a call made the estimate 30× too
    long. The preparation counts against the budget, never as a call.
    """
    prepare = getattr(model, "prepare", None)
    if callable(prepare):
        prepare(1)
    first = measure_call(model, device, 1).seconds
    if first > SLOW_CALL_S:
        return {1: first}
    kind = str(torch.device(device).type)
    table: dict[int, float] = {}
    spent = 0.0
    for batch in sorted(batches):
        guess = CostModel(kind, table or {1: first}).per_call(batch)
        if table and spent + guess > budget_s:
            break
        if callable(prepare):
            started = time.perf_counter()
            prepare(batch)
            spent += time.perf_counter() - started
        times: list[float] = []
        while len(times) < PROBE_REPEATS and (not times or spent + times[-1] <= budget_s):
            times.append(measure_call(model, device, batch).seconds)
            spent += times[-1]
        table[batch] = min(times)
    return table


@dataclass
class CostModel:
    """Seconds per model call by batch size: the probe's, refined by runs of the same kind and batch.

    Attributes:
        device: ``cpu``, ``cuda`` or ``mps`` (how to extrapolate beyond the probe's largest batch).
        probe: batch size → seconds per call, measured while the model loaded.
        runs: (job kind, batch size) → seconds per call measured in the last run of that kind and batch.
        overhead: job kind → seconds of the last run of that kind beyond its model calls (start, saving).
        pace: batch size → seconds per call in the latest run on that batch (of any kind) over the
            probe's, within :data:`PACE_LIMITS`: how the machine runs now against the moment of the
            probe, and what a run in the window adds per call. A kind's first run on a batch is
            the probe times the pace of that batch.
    """

    device: str = "cpu"
    probe: dict[int, float] = field(default_factory=dict)
    runs: dict[tuple[str, int], float] = field(default_factory=dict)
    overhead: dict[str, float] = field(default_factory=dict)
    pace: dict[int, float] = field(default_factory=dict)

    def probe_per_call(self, batch: int) -> float:
        """Seconds of one call on ``batch`` pictures from the probe alone (interpolated, extrapolated)."""
        if not self.probe:
            return 0.0
        batch = max(1, int(batch))
        sizes = sorted(self.probe)
        if batch in self.probe:
            return self.probe[batch]
        if batch < sizes[0]:
            return self.probe[sizes[0]] * batch / sizes[0]
        below = [b for b in sizes if b < batch]
        above = [b for b in sizes if b > batch]
        if above:  # between two measured sizes: a straight line
            lo, hi = below[-1], above[0]
            return self.probe[lo] + (self.probe[hi] - self.probe[lo]) * (batch - lo) / (hi - lo)
        top = sizes[-1]
        if len(sizes) >= 2:  # beyond: the last measured slope (at least the device's growth from one)
            prev = sizes[-2]
            slope = (self.probe[top] - self.probe[prev]) / (top - prev)
            return self.probe[top] + max(slope, 0.0) * (batch - top)
        return CallRate(self.probe[top], top, self.device).per_call(batch)

    def per_call(self, batch: int, kind: str | None = None) -> float:
        """Seconds of one call on ``batch`` pictures in a job of ``kind`` (its own runs when measured)."""
        measured = self.runs.get((kind, max(1, int(batch)))) if kind is not None else None
        return measured if measured is not None else self.probe_per_call(batch) * self.pace_of(batch)

    def pace_of(self, batch: int) -> float:
        """The latest run's pace over the probe at ``batch``; 1 where no run used that batch size.

        Not borrowed from another batch size: a batch-1 run 1.4× slower than its probe said nothing
        about batch 4 (bench_estimates on torch: 1.55× over when it was borrowed).
        """
        return self.pace.get(max(1, int(batch)), 1.0)

    def seconds(self, calls: int, batch: int, kind: str | None = None) -> float:
        """Seconds of a run of ``kind``: ``calls`` model calls on ``batch`` pictures, and its overhead."""
        return max(0, int(calls)) * self.per_call(batch, kind) + self.overhead_of(kind)

    def plan_seconds(self, parts: list[tuple[int, int]], kind: str | None = None) -> float:
        """Seconds of a ``kind`` run made of ``parts`` (model calls, pictures per call); 0 without calls."""
        calls = sum(max(0, int(c)) for c, _b in parts)
        if not calls:
            return 0.0
        return sum(max(0, int(c)) * self.per_call(b, kind) for c, b in parts) + self.overhead_of(kind)

    def overhead_of(self, kind: str | None) -> float:
        """Seconds a run of ``kind`` spends beyond its calls: its last run's, else the least of any kind.

        Every run starts, saves and shows its pictures, so before a first run of a kind the
        smallest overhead seen is a better guess than none (short runs were estimated at half
        their time without it).
        """
        if kind is None:
            return 0.0
        if kind in self.overhead:
            return self.overhead[kind]
        return min(self.overhead.values(), default=0.0)

    def learn(self, kind: str, clock: RunClock, wall_s: float | None = None) -> None:
        """Take a run's measured pace per batch size (and, once it ended, its overhead)."""
        rates = clock.rates()
        for batch, rate in rates.items():
            self.runs[(kind, batch)] = rate
            probe = self.probe_per_call(batch)
            if probe > 0:
                low, high = PACE_LIMITS
                self.pace[batch] = min(high, max(low, rate / probe))
        if wall_s is not None and clock.calls:
            model_s = sum(n * self.per_call(b, kind) for b, n in clock.calls.items())
            self.overhead[kind] = max(0.0, float(wall_s) - model_s)


@dataclass
class RunClock:
    """A running job's pace, read from its step reports (which may skip steps: previews are throttled).

    Only the time between two reports of the same phase and chunk counts towards the pace of its
    batch size; the first report of a chunk also holds the chunk's start, so it counts towards the
    job's overhead instead. ``calls`` counts every call, by batch size.
    """

    calls: dict[int, int] = field(default_factory=dict)
    _paced: dict[int, list[float]] = field(default_factory=dict)  # batch → [seconds, calls]
    _last: tuple[object, int, float] = (None, 0, 0.0)  # (phase and chunk, job calls done, elapsed)

    def step(self, where: object, batch: int, done: int, elapsed_s: float) -> None:
        """A report: ``where`` (phase and chunk) ran ``done`` calls of the job in ``elapsed_s`` seconds."""
        last_where, last_done, last_elapsed = self._last
        new_calls = int(done) - last_done
        if new_calls <= 0:
            return
        batch = max(1, int(batch))
        self.calls[batch] = self.calls.get(batch, 0) + new_calls
        if where == last_where:
            paced = self._paced.setdefault(batch, [0.0, 0])
            paced[0] += float(elapsed_s) - last_elapsed
            paced[1] += new_calls
        self._last = (where, int(done), float(elapsed_s))

    def rates(self) -> Mapping[int, float]:
        """Seconds per call by batch size, where at least two calls were paced."""
        return {b: s / n for b, (s, n) in self._paced.items() if n >= 2 and s > 0}


def device_words(device: str) -> str:
    """``this CPU``, ``this GPU`` — where the estimate holds."""
    return "this CPU" if device == "cpu" else "this GPU"


def estimate_label(seconds: float, device: str) -> str:
    """What the window shows next to Run: ``≈ 14 min on this CPU`` (``< 1 s on this CPU``: no "≈ <")."""
    duration = format_duration(seconds)
    about = "" if duration.startswith("<") else "≈ "
    return f"{about}{duration} on {device_words(device)}"


def is_slow(seconds: float, threshold: float = WARN_SECONDS) -> bool:
    """Whether an estimate deserves a warning before the run."""
    return seconds > threshold


def is_large(num_parameters: int, sample_shape: tuple[int, ...]) -> bool:
    """Whether a model is large: many parameters or big pictures."""
    side = max((int(d) for d in tuple(sample_shape)[1:]), default=0)
    return int(num_parameters) > LARGE_PARAMETERS or side > LARGE_SIDE


@dataclass(frozen=True)
class Defaults:
    """Starting settings for a model on a device: steps S and the Generate/Interpolate batch sizes."""

    steps: int
    batch: int
    interpolate_batch: int


def suggested_defaults(num_parameters: int, sample_shape: tuple[int, ...], device: str) -> Defaults:
    """Defaults per model size and device: a large model on a CPU starts at S = 20 and batch 1."""
    large = is_large(num_parameters, sample_shape)
    if large and device == "cpu":
        return Defaults(steps=20, batch=1, interpolate_batch=1)
    if large:
        return Defaults(steps=50, batch=2, interpolate_batch=4)
    if device == "cpu":
        return Defaults(steps=50, batch=4, interpolate_batch=8)
    return Defaults(steps=50, batch=8, interpolate_batch=8)


#: The network timed by :func:`machine_rate`: the CIFAR-10 DDPM layout at half the width (≈ 3 GFLOP).
REFERENCE_UNET = {
    "sample_size": 32, "in_channels": 3, "out_channels": 3, "layers_per_block": 2,
    "block_out_channels": [64, 128, 128, 128],
    "down_block_types": ["DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"],
}  # fmt: skip


def machine_rate(device: str = "cpu", architecture: dict | None = None, calls: int = 3) -> float:
    """GFLOP per second this machine runs a diffusion UNet at on torch float32 (median of ``calls``).

    A model not yet downloaded is estimated from it: its GFLOP per call (in the catalogue) over
    this rate is its seconds per step (``core.catalogue.estimated_step_seconds``).

    Args:
        device: ``cpu``, ``cuda``… where the models would run.
        architecture: the ``UNet2DModel`` config timed (default :data:`REFERENCE_UNET`).
        calls: timed calls after one warm-up call.
    """
    return backend_rate(device, "torch", "exact", architecture, calls)[0]


def backend_rate(
    device: str = "cpu",
    backend: str = "auto",
    precision: str = "auto",
    architecture: dict | None = None,
    calls: int = 3,
) -> tuple[float, str]:
    """GFLOP per second of a UNet called the way a model would run here, and how it ran.

    The reference network goes through the same backend choice as a loaded model
    (``core.models.backends.apply_backend``: OpenVINO fast where ``auto`` picks it, with its
    conversion cache), so the library's seconds per step are for the backend in use.

    Returns:
        The rate and the backend in words, e.g. ``(41.2, "OpenVINO, bfloat16 (fast)")``.
    """
    from diffusers import UNet2DModel

    from ddim_studio.core.catalogue import count_unet
    from ddim_studio.core.models.backends import apply_backend, describe
    from ddim_studio.core.models.diffusers_adapter import DiffusersUNet
    from ddim_studio.core.schedule import NoiseSchedule

    config = dict(architecture or REFERENCE_UNET)
    _params, gflops = count_unet(config)
    torch.manual_seed(0)
    dev = torch.device(device)
    unet = UNet2DModel(**config).to(dev).eval()  # type: ignore[attr-defined]
    shape = (int(config.get("in_channels", 3)), config["sample_size"], config["sample_size"])
    model, report = apply_backend(
        DiffusersUNet(unet, NoiseSchedule.linear(), shape), backend=backend, precision=precision, device=dev
    )
    measure_call(model, dev)  # warm-up: allocations, kernels
    times = sorted(measure_call(model, dev).seconds for _ in range(max(1, calls)))
    return gflops / max(times[len(times) // 2], 1e-9), describe(report.backend, report.precision, dev)
