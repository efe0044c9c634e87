"""The window on a 256-px model: seconds per step with the default settings against torch float32.

    python benchmarks/bench_window_256.py [--steps 0] [--pairs 1] [--cancels 2]

Saves google/ddpm-celebahq-256's UNet2DModel architecture (113.7 M parameters, random init) as
a model folder, then opens the real window (offscreen, a throw-away settings and output folder)
on it once per configuration, each in a fresh process, alternating:

- ``torch exact``: Settings ▸ Compute backend ``torch``, precision ``exact`` (the window before
  backends existed: torch float32),
- ``default``: the settings a new user has (``auto``/``auto``: OpenVINO fast on a bf16 CPU).

In each window Generate runs with the defaults the window picks for a model this size (batch 1,
its large-model S; ``--steps`` overrides) and the step signals are timed: seconds per step is the
median gap between steps after the first. The previews that reached the grid and the progress
row's text are counted (the time left must show), then a second run is cancelled after two steps
(``--cancels`` times) and the seconds from the click on Cancel to an idle window are recorded.
The OpenVINO conversion happens in the first ``default`` window (its own cache folder) and is
printed, not counted in the steps.

Prints markdown with the ratio torch exact / default (issue 28 asks for at least 4×) and
``os.getloadavg()``: the machine may be shared. Before and after each pair it also times one
2048² matrix product per CPU, single-threaded and pinned, in bfloat16 (the matrix unit, AMX,
that OpenVINO fast runs on) and float32 (the vector units torch float32 runs on): on a virtual
machine whose matrix units the host shares, one CPU's bf16 product can take twice as long as
the other's while float32 stays put, and a two-thread call waits for its slower half.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def save_model(folder: Path) -> None:
    """Write the 256-px architecture (random init) as a model folder the studio opens."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_backends import celebahq_256_unet
    from diffusers import DDPMScheduler

    celebahq_256_unet().save_pretrained(folder)
    DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear").save_config(folder)


def wait(app, done, timeout: float = 3600.0) -> None:  # type: ignore[no-untyped-def]
    """Process events until ``done()`` is true (a hang guard, not a speed limit)."""
    end = time.monotonic() + timeout
    while not done():
        app.processEvents()
        time.sleep(0.002)
        if time.monotonic() > end:
            raise TimeoutError("the window did not get there")


def child(model: Path, backend: str, precision: str, steps: int, cancels: int, tmp: Path) -> dict:
    """One window, one configuration: the measurements as a dict."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["DDIM_STUDIO_OUTPUT_DIR"] = str(tmp / "out")
    os.environ["DDIM_STUDIO_MODEL"] = str(model)
    os.environ.pop("DDIM_STUDIO_BACKEND", None)
    os.environ.pop("DDIM_STUDIO_PRECISION", None)
    import qasync
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp / "settings"))
    app = QApplication.instance() or QApplication([])
    loop = qasync.QEventLoop(app, already_running=False)
    asyncio.set_event_loop(loop)
    asyncio.events._set_running_loop(loop)
    from ddim_studio.ui.app import quiet_thread_pools
    from ddim_studio.ui.main_window import MainWindow
    from ddim_studio.ui.settings import AppSettings
    from ddim_studio.ui.tasks import running_tasks

    quiet_thread_pools()
    settings = AppSettings()
    settings.set("output_dir", str(tmp / "out"))
    settings.set("compute/backend", backend)
    settings.set("compute/precision", precision)
    start = time.perf_counter()
    window = MainWindow(settings=settings)
    window.resize(1400, 900)
    window.show()
    services = window.services
    wait(app, lambda: services.model.is_loaded and not services.model.is_loading)
    loaded = time.perf_counter() - start
    view, ctrl = window.generate_view, window.mode_controllers["generate"]
    if steps:
        view.steps.set_value(steps)
    stamps: list[float] = []
    previews: list[tuple[int, ...]] = []
    texts: list[str] = []

    def on_step(event) -> None:  # type: ignore[no-untyped-def]
        stamps.append(time.perf_counter())
        previews.append(tuple(event.preview.shape))

    services.runner.step.connect(on_step)
    idle = lambda: not services.runner.is_busy and running_tasks() == 0  # noqa: E731
    window.set_mode("generate")
    ctrl.run()
    end = time.monotonic() + 3600  # a hang guard
    while (services.runner.is_busy or not stamps) and time.monotonic() < end:
        app.processEvents()
        time.sleep(0.005)
        if not texts or texts[-1] != view.progress.label.text():
            texts.append(view.progress.label.text())
    wait(app, idle)
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    cancel_s = []
    for _ in range(cancels):
        stamps.clear()
        ctrl.run()
        wait(app, lambda: len(stamps) >= 2)
        clicked = time.perf_counter()
        view.progress.cancel_button.click()
        wait(app, idle)
        cancel_s.append(time.perf_counter() - clicked)
    return {
        "config": f"{backend} {precision}",
        "model": services.model.status_text(),
        "batch": view.batch.value(),
        "steps": view.steps.value(),
        "load_s": loaded,
        "s_per_step": statistics.median(gaps) if gaps else float("nan"),
        "previews": len(previews),
        "preview_shape": previews[-1] if previews else None,
        "time_left_shown": any("left" in t for t in texts),
        "last_text": next((t for t in reversed(texts) if "left" in t), texts[-1] if texts else ""),
        "cancel_s": cancel_s,
        "loadavg": os.getloadavg(),
    }


PROBE = """
import os, sys, time, torch
os.sched_setaffinity(0, {int(sys.argv[1])}); torch.set_num_threads(1)
a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
def ms(x, y, n):
    x @ y; times = []
    for _ in range(n):
        start = time.perf_counter(); x @ y; times.append(time.perf_counter() - start)
    return 1000 * sorted(times)[n // 2]
print(ms(a.bfloat16(), b.bfloat16(), 15), ms(a, b, 5))
"""


def matrix_units() -> str:
    """Milliseconds of one 2048² product per CPU, bf16 and float32, single-threaded and pinned."""
    parts = []
    for cpu in sorted(os.sched_getaffinity(0)):
        cmd = [sys.executable, "-c", PROBE, str(cpu)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        bf16, fp32 = (float(v) for v in out.stdout.split())
        parts.append(f"CPU{cpu} {bf16:.0f}/{fp32:.0f}")
    return " · ".join(parts)


def run_child(model: Path, backend: str, precision: str, args: argparse.Namespace, cache: Path) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="ddim-bench-window-"))
    env = dict(os.environ, DDIM_STUDIO_CACHE_DIR=str(cache), OMP_WAIT_POLICY="PASSIVE")
    cmd = [sys.executable, __file__, "--child", str(model), backend, precision, str(args.steps),
           str(args.cancels), str(tmp)]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit(f"{backend} {precision} failed:\n{proc.stderr[-3000:]}")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row["process_s"] = time.perf_counter() - start
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=0, help="S (0: the window's default for the model)")
    parser.add_argument("--pairs", type=int, default=1)
    parser.add_argument("--cancels", type=int, default=2)
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        model, backend, precision, steps, cancels, tmp = args.child
        print(json.dumps(child(Path(model), backend, precision, int(steps), int(cancels), Path(tmp))))
        return
    work = Path(tempfile.mkdtemp(prefix="ddim-bench-256-"))
    model, cache = work / "celebahq-256-arch", work / "cache"
    save_model(model)
    print(f"load average {os.getloadavg()} on {os.cpu_count()} CPUs · OMP_WAIT_POLICY=PASSIVE")
    print("\n| pair | configuration | model as shown | batch · S | model load (s) | s per step | previews |"
          " time left shown | cancel → idle (s) | load | 2048² product (ms bf16/fp32) per CPU |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    ratios = []
    for pair in range(args.pairs):
        order = [("torch", "exact"), ("auto", "auto")]
        rows = {}
        for backend, precision in order if pair % 2 == 0 else order[::-1]:
            units = matrix_units()
            row = rows[backend] = run_child(model, backend, precision, args, cache)
            cancels = ", ".join(f"{s:.2f}" for s in row["cancel_s"])
            load = " / ".join(f"{x:.1f}" for x in row["loadavg"])
            print(f"| {pair + 1} | {row['config']} | {row['model']} | {row['batch']} · {row['steps']} |"
                  f" {row['load_s']:.1f} | {row['s_per_step']:.3f} | {row['previews']} of"
                  f" {tuple(row['preview_shape'] or ())} | {row['time_left_shown']} | {cancels} | {load} |"
                  f" {units} |",
                  flush=True)  # fmt: skip
        ratios.append(rows["torch"]["s_per_step"] / rows["auto"]["s_per_step"])
        print(f"\npair {pair + 1}: torch float32 / default = **{ratios[-1]:.2f}×** s per step", flush=True)
    print(f"\nafter the last window: {matrix_units()} (ms, bf16/fp32)")
    print(f"ratios {', '.join(f'{r:.2f}' for r in ratios)}; median **{statistics.median(ratios):.2f}×**")
    print(f"\nlast progress text (default): {rows['auto']['last_text']!r}")


if __name__ == "__main__":
    main()
