"""The background runner, measured side by side: preview overhead and how long the GUI thread stalls.

For each model, a 50-step sample job runs in a ``JobRunner`` (its worker ``QThread``) under three
preview settings, interleaved over several repetitions after a warm-up; the medians are compared:

- ``off``: ``preview_fps = 0`` and ``record_frames = False`` (no previews at all),
- ``20 fps``: the app's default (throttled previews + the scrubber's per-step recording),
- ``every step``: a preview sent for every step (the worst case).

The same comparison is noisy on a busy machine, so the worker's own preview work is also timed
directly: the worker thread's CPU time in ``StepMonitor.observe`` (finiteness check, scrubber
recording, throttled conversion and emission) as a share of its CPU time for the job, at 20 fps.

Then, with the default settings, a 5 ms ``QTimer`` on the GUI thread measures its own lateness
while a job runs (and, for comparison, while the runner is idle): the longest lateness is the
longest stall a user could notice.

Cancel latency (issue 16): the architecture of google/ddpm-celebahq-256 (113.7 M parameters,
random init) runs batch-1 sample jobs in the runner; each job is cancelled at a random point of a
model call, and the time from ``runner.cancel`` to the ``cancelled`` signal is recorded (p50/p95),
next to the architecture's seconds per batch-1 call measured in the same run. Micro-batching
cannot beat one batch-1 call, so its bound (a cancel waits for the rest of the call under way) is
printed from that measurement. The abort checks' overhead per call is timed on the small models.

Previews at the display size (issue 16.7): the window now asks for previews up to the model's
own size, so the small models are measured with ``preview_size`` = their size, and
``--big-steps N`` runs the 256-px architecture for N steps (batch 1) with 256-px previews and the
scrubber's recording, reporting the same worker CPU share and its seconds per call.

    python benchmarks/bench_worker.py [--steps 50] [--batch 4] [--reps 5] [--models default,tiny]
                                      [--cancel-trials 12] [--threads 1] [--big-steps 0]

Prints markdown tables; "ratio" is the setting's median job time / the ``off`` median.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from diffusers import UNet2DModel  # noqa: E402
from PySide6.QtCore import QCoreApplication, QEventLoop, Qt, QTimer  # noqa: E402

from ddim_studio.core.models import DEFAULT_MODEL_DIR  # noqa: E402
from ddim_studio.core.models.diffusers_adapter import DiffusersUNet  # noqa: E402
from ddim_studio.core.models.interrupt import interruptible  # noqa: E402
from ddim_studio.core.schedule import NoiseSchedule  # noqa: E402
from ddim_studio.workers import JobRunner, SampleJob, previews  # noqa: E402
from ddim_studio.workers import runner as runner_module  # noqa: E402

SETTINGS = {"off": (0.0, False), "20 fps": (20.0, True), "every step": (1e9, True)}


def default_unet() -> tuple[UNet2DModel, str]:
    """The shipped default model if present, else a random init of its architecture."""
    folder = DEFAULT_MODEL_DIR
    if (folder / "config.json").exists():
        return UNet2DModel.from_pretrained(folder).eval(), "default (shapes32)"
    from ddim_studio.training.trainer import TrainConfig, build_unet

    torch.manual_seed(0)
    return build_unet(TrainConfig()).eval(), "default arch 32 px (random init)"


def tiny_unet() -> tuple[UNet2DModel, str]:
    """The tests' tiny 8×8 UNet (previews cost the most relative to the model)."""
    torch.manual_seed(0)
    unet = UNet2DModel(
        sample_size=8,
        block_out_channels=(8, 16),
        layers_per_block=1,
        norm_num_groups=4,
        down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"),
    )
    return unet.eval(), "tiny 8 px"


def celebahq_256_unet() -> tuple[UNet2DModel, str]:
    """google/ddpm-celebahq-256's UNet2DModel config (113.7 M parameters), random init."""
    torch.manual_seed(0)
    unet = UNet2DModel(
        sample_size=256,
        in_channels=3,
        out_channels=3,
        block_out_channels=(128, 128, 256, 256, 512, 512),
        layers_per_block=2,
        down_block_types=("DownBlock2D",) * 4 + ("AttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "AttnUpBlock2D") + ("UpBlock2D",) * 4,
        attention_head_dim=None,
        downsample_padding=0,
        flip_sin_to_cos=False,
        freq_shift=1,
        mid_block_scale_factor=1,
        norm_eps=1e-6,
        norm_num_groups=32,
    )
    return unet.eval(), "ddpm-celebahq-256 arch (random init)"


def wrap(unet: UNet2DModel) -> DiffusersUNet:
    size = unet.config.sample_size
    return DiffusersUNet(unet, NoiseSchedule.linear(), (unet.config.in_channels, size, size))


def seconds_per_call(model: DiffusersUNet, calls: int, hooks: bool = False) -> float:
    """Median seconds of a batch-1 model call in this thread (with the abort checks when ``hooks``)."""
    x, t = torch.randn(1, *model.sample_shape), torch.tensor([500])
    times = []
    with interruptible(model if hooks else None, lambda: False), torch.inference_mode():
        for _ in range(calls):
            start = time.perf_counter()
            model(x, t)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def one_cancel(runner: JobRunner, delay_s: float, seed: int) -> float:
    """Start a batch-1 job, cancel it ``delay_s`` after ``started``; seconds until ``cancelled``."""
    loop, asked, latency = QEventLoop(), [0.0], [0.0]

    def cancel(job_id: int) -> None:
        asked[0] = time.perf_counter()
        runner.cancel(job_id)

    def on_started(job_id: int, _kind: str) -> None:
        QTimer.singleShot(int(delay_s * 1000), lambda: cancel(job_id))

    def on_cancelled(_job_id: int) -> None:
        latency[0] = time.perf_counter() - asked[0]
        loop.quit()

    runner.started.connect(on_started)
    runner.cancelled.connect(on_cancelled)
    runner.submit(SampleJob(seeds=(seed,), steps=1000, batch_size=1))
    loop.exec()
    runner.started.disconnect(on_started)
    runner.cancelled.disconnect(on_cancelled)
    return latency[0]


def cancel_latencies(runner: JobRunner, call_s: float, trials: int, seed: int = 0) -> list[float]:
    """Seconds from ``cancel`` to ``cancelled`` for jobs cancelled at random points of a model call."""
    rng = random.Random(seed)
    runner.preview_fps, runner.record_frames = 20.0, True
    return [one_cancel(runner, rng.uniform(0.05, 0.95) * call_s, trial) for trial in range(trials)]


def bench_cancel(runner: JobRunner, trials: int) -> list[str]:
    """Markdown rows: the 256-px call time, measured cancel latency, the micro-batching bound."""
    unet, label = celebahq_256_unet()
    model = wrap(unet)
    params = sum(p.numel() for p in unet.parameters()) / 1e6
    seconds_per_call(model, 1)  # first call: allocations
    call_s = seconds_per_call(model, 2)
    runner.set_model(model)
    lat = sorted(cancel_latencies(runner, call_s, trials))
    p50, p95 = statistics.median(lat), statistics.quantiles(lat, n=20, method="inclusive")[18]
    return [
        f"| {label}, {params:.1f} M params | {call_s:.2f} | abort checks in the layers (measured, "
        f"{len(lat)} cancels) | {p50:.3f} | {p95:.3f} | {max(lat):.3f} |",
        f"| same | {call_s:.2f} | micro-batches of 1 (bound: rest of the call under way) "
        f"| {0.5 * call_s:.2f} | {0.95 * call_s:.2f} | {call_s:.2f} |",
    ]


class JobClock:
    """Runs one job at a time to its end on a local event loop; seconds from ``started`` to its end."""

    def __init__(self, runner: JobRunner) -> None:
        self.runner = runner
        self.loop: QEventLoop | None = None
        self.start = self.end = 0.0
        runner.started.connect(self._on_started)
        runner.finished.connect(self._on_end)
        runner.failed.connect(self._on_end)

    def _on_started(self, job_id: int, kind: str) -> None:
        self.start = time.perf_counter()

    def _on_end(self, *args: object) -> None:
        self.end = time.perf_counter()
        if self.loop is not None:
            self.loop.quit()

    def run(self, job: SampleJob) -> float:
        self.loop = QEventLoop()
        self.runner.submit(job)
        self.loop.exec()
        self.loop = None
        return self.end - self.start


def overhead(clock: JobClock, job: SampleJob, reps: int) -> dict[str, float]:
    """Median job seconds under each preview setting, interleaved ``reps`` times after a warm-up."""
    times: dict[str, list[float]] = {name: [] for name in SETTINGS}
    for rep in range(reps + 1):
        for name, (fps, record) in SETTINGS.items():
            clock.runner.preview_fps, clock.runner.record_frames = fps, record
            seconds = clock.run(job)
            if rep:
                times[name].append(seconds)
    return {name: statistics.median(ts) for name, ts in times.items()}


def preview_share(clock: JobClock, job: SampleJob, reps: int) -> float:
    """Median share of the worker's CPU time per job spent in ``StepMonitor.observe``, at 20 fps.

    CPU time of the worker thread (``time.thread_time``), so that other processes on a busy
    machine do not inflate it; with one torch thread the model runs in that thread too.
    """
    original_observe, original_execute = previews.StepMonitor.observe, runner_module.execute
    spent = {"observe": 0.0, "job": 0.0}

    def observe(self: previews.StepMonitor, result: object) -> None:
        start = time.thread_time()
        try:
            original_observe(self, result)  # type: ignore[arg-type]
        finally:
            spent["observe"] += time.thread_time() - start

    def execute(ctx: object, job: object) -> object:
        start = time.thread_time()
        try:
            return original_execute(ctx, job)  # type: ignore[arg-type]
        finally:
            spent["job"] += time.thread_time() - start

    previews.StepMonitor.observe = observe  # type: ignore[method-assign]
    runner_module.execute = execute  # type: ignore[assignment]
    clock.runner.preview_fps, clock.runner.record_frames = 20.0, True
    shares = []
    try:
        for _ in range(reps):
            spent.update(observe=0.0, job=0.0)
            clock.run(job)
            shares.append(spent["observe"] / spent["job"])
    finally:
        previews.StepMonitor.observe = original_observe  # type: ignore[method-assign]
        runner_module.execute = original_execute
    return statistics.median(shares)


def lateness(clock: JobClock, job: SampleJob | None, idle_s: float) -> list[float]:
    """Lateness (s) of each tick of a 5 ms GUI-thread timer during 3 runs of ``job`` (or ``idle_s`` idle)."""
    late: list[float] = []
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(5)
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        late.append(max(0.0, now - last[0] - 0.005))
        last[0] = now

    timer.timeout.connect(tick)
    clock.runner.preview_fps, clock.runner.record_frames = 20.0, True
    last[0] = time.perf_counter()
    timer.start()
    if job is None:
        loop = QEventLoop()
        QTimer.singleShot(int(idle_s * 1000), loop.quit)
        loop.exec()
    else:
        for _ in range(3):
            clock.run(job)
    timer.stop()
    return late


def bench_big_previews(clock: JobClock, steps: int) -> str:
    """A markdown row: the 256-px architecture's preview share at 256-px previews, and its s/call."""
    unet, label = celebahq_256_unet()
    model = wrap(unet)
    call_s = seconds_per_call(model, 1)
    clock.runner.set_model(model)
    clock.runner.preview_size = unet.config.sample_size
    share = preview_share(clock, SampleJob(seeds=(0,), steps=steps, batch_size=1), 1)
    return f"| {label} | 1 | {steps} | {clock.runner.preview_size} px | {call_s:.2f} | {share:.3%} |"


def bench(clock: JobClock, unet: UNet2DModel, label: str, args: argparse.Namespace) -> tuple[str, str]:
    size = unet.config.sample_size
    clock.runner.set_model(DiffusersUNet(unet, NoiseSchedule.linear(), (unet.config.in_channels, size, size)))
    clock.runner.preview_size = size  # the window previews at the display size, up to the model's
    job = SampleJob(seeds=tuple(range(args.batch)), steps=args.steps, batch_size=args.batch)
    t = overhead(clock, job, args.reps)
    ratio = {name: t[name] / t["off"] for name in SETTINGS}
    share = preview_share(clock, job, args.reps)
    row = (
        f"| {label} | {args.batch} | {args.steps} | {t['off']:.3f} "
        f"| {t['20 fps']:.3f} | {ratio['20 fps']:.3f} | {t['every step']:.3f} | {ratio['every step']:.3f} "
        f"| {share:.2%} |"
    )
    idle = lateness(clock, None, max(0.5, t["off"]))
    busy = lateness(clock, job, 0)
    stall = (
        f"| {label} | {max(idle) * 1e3:.1f} | {max(busy) * 1e3:.1f} "
        f"| {statistics.quantiles(busy, n=100, method='inclusive')[98] * 1e3:.1f} | {len(busy)} |"
    )
    return row, stall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--models", default="default,tiny")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cancel-trials", type=int, default=12, help="0 skips the cancel latency")
    parser.add_argument("--big-steps", type=int, default=0, help="steps of the 256-px preview run; 0 skips")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    app = QCoreApplication(sys.argv)
    runner = JobRunner()
    clock = JobClock(runner)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), device cpu, {os.cpu_count()} cores"
    )
    rows, stalls, overheads = [], [], []
    for name in [m for m in args.models.split(",") if m]:
        unet, label = default_unet() if name == "default" else tiny_unet()
        row, stall = bench(clock, unet, label, args)
        rows.append(row)
        stalls.append(stall)
        plain, hooked = seconds_per_call(wrap(unet), 30), seconds_per_call(wrap(unet), 30, hooks=True)
        overheads.append(f"| {label} | {plain * 1e3:.2f} | {hooked * 1e3:.2f} | {hooked / plain:.3f} |")
    print("\nPreview overhead (median job seconds; ratio = setting / off)\n")
    print(
        "| model | batch | steps | off (s) | 20 fps + scrubber (s) | ratio | every step (s) | ratio "
        "| preview work at 20 fps (worker CPU share) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("\nGUI thread: lateness of a 5 ms timer (ms)\n")
    print("| model | idle max | during job max | during job p99 | ticks |")
    print("|---|---|---|---|---|")
    print("\n".join(stalls))
    print("\nAbort checks (pre-hooks on the network and its conv/linear layers): median batch-1 call (ms)\n")
    print("| model | plain | with checks | ratio |")
    print("|---|---|---|---|")
    print("\n".join(overheads))
    if args.big_steps > 0:
        print("\nPreviews at the model's size on the 256-px architecture (20 fps + scrubber)\n")
        print(
            "| model | batch | steps | preview size | s per batch-1 call | preview work (worker CPU share) |"
        )
        print("|---|---|---|---|---|---|")
        print(bench_big_previews(clock, args.big_steps))
    if args.cancel_trials > 0:
        print("\nCancel latency: cancel at a random point of a batch-1 model call (seconds)\n")
        print("| model | s per batch-1 call | how | p50 | p95 | max |")
        print("|---|---|---|---|---|---|")
        print("\n".join(bench_cancel(runner, args.cancel_trials)))
    runner.shutdown()
    del app


if __name__ == "__main__":
    main()
