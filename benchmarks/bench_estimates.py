"""The cost estimate shown before Run against the real run, for every mode and a few batch sizes.

    python benchmarks/bench_estimates.py [--steps 50] [--repeats 2] [--threads 0] [--backend auto]

Opens the window offscreen with the shipped model (throw-away settings and outputs), and for each
mode and batch size reads the estimate next to Run (``ModelAdvisor.estimate``: what the label says),
presses Run and times the run until the window is idle again (the job and the controller's work
after it: saving, thumbnails). Each configuration runs ``--repeats`` times in a row: the first
estimate comes from the probe timed while the model loaded, the later ones are refined by the runs
before. Prints a markdown table with the ratio estimate / real (1.00 is exact; the goal is
0.70 … 1.30 on a quiet machine), each run's time over the previous identical run's (how far the
machine itself repeats: no estimate can be closer than that) and the machine's load average, since
a busy machine slows the runs and not the probe. ``--threads`` is Settings ▸ Compute ▸ Threads
(0: all cores); torch's threads sleep while they wait, as in the window (``OMP_WAIT_POLICY=PASSIVE``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the window sets it (ui.app.quiet_thread_pools)
os.environ.pop("DDIM_STUDIO_MODEL", None)  # the shipped model

import numpy as np  # noqa: E402
import qasync  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

#: (mode, what varies, values): Generate's and Edit's batch, Interpolate's frames per batch.
CASES = [
    ("generate", "batch", (1, 4, 8)),
    ("encode", "batch", (1,)),
    ("encode", "refine", (4,)),  # a refined step makes up to 2 + K calls: the clock must count calls
    ("interpolate", "batch", (4, 8)),
    ("edit", "batch", (1, 4)),
]


def wait(app: QApplication, done, timeout: float = 600.0) -> None:  # type: ignore[no-untyped-def]
    """Process events until ``done()`` is true."""
    end = time.monotonic() + timeout
    while not done():
        app.processEvents()
        time.sleep(0.002)
        if time.monotonic() > end:
            raise TimeoutError("the window did not get idle")


def idle(window) -> bool:  # type: ignore[no-untyped-def]
    from ddim_studio.ui.tasks import running_tasks

    return not window.services.runner.is_busy and running_tasks() == 0 and not window.services.loader.busy()


def prepare(window, mode: str, batch: int, steps: int, picture: Path, what: str = "batch") -> None:  # type: ignore[no-untyped-def]
    """Set ``mode``'s controls for a run of ``batch`` pictures (frames per batch for Interpolate;
    Encode's Refine K when ``what`` is ``refine``)."""
    window.set_mode(mode)
    if mode == "generate":
        v = window.generate_view
        v.steps.set_value(steps)
        v.batch.setValue(batch)
    elif mode == "encode":
        window.encode_view.steps.set_value(steps)
        window.encode_view.refine.setValue(batch if what == "refine" else 0)
        window.encode.load_path(picture)
    elif mode == "interpolate":
        window.services.settings.set("defaults/interpolate_batch", batch)
        v = window.interpolate_view
        v.steps.set_value(steps)
        v.frames.setValue(9)
        window.interpolate.fill_from_seed("A", 1)
        window.interpolate.fill_from_seed("B", 2)
    elif mode == "edit":
        v = window.edit_view
        window.edit.load_path(picture)
        v.steps.set_value(steps)
        v.count.setValue(batch)
        v.strength.setValue(60)


def run_case(
    app, window, mode: str, batch: int, steps: int, picture: Path, repeats: int, what: str = "batch"
):  # type: ignore[no-untyped-def]
    rows = []
    for attempt in range(repeats):
        prepare(window, mode, batch, steps, picture, what)
        wait(app, lambda: idle(window))
        window.advisor.refresh()  # the label refreshes on a timer; show what it says now
        estimate = window.advisor.estimate(mode)
        label = window.advisor.labels[mode].text()
        start = time.perf_counter()
        window.mode_controllers[mode].run()
        wait(app, lambda: window.services.runner.is_busy)
        wait(app, lambda: idle(window))
        real = time.perf_counter() - start
        rows.append(
            (mode, batch if what == "batch" else f"{what} {batch}", attempt + 1, estimate, label, real)
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    parser.add_argument("--backend", default="auto", help="Settings ▸ Compute backend: auto, torch, openvino")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ddim-bench-estimates-"))
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp / "settings"))
    os.environ["DDIM_STUDIO_OUTPUT_DIR"] = str(tmp / "out")
    picture = tmp / "photo.png"
    y, x = np.mgrid[0:48, 0:64]
    Image.fromarray(np.stack([x * 4, y * 5, 255 - x * 2], -1).clip(0, 255).astype(np.uint8)).save(picture)

    app = QApplication.instance() or QApplication([])
    loop = qasync.QEventLoop(app, already_running=False)
    asyncio.set_event_loop(loop)
    asyncio.events._set_running_loop(loop)  # controllers' coroutines advance with Qt events
    from ddim_studio.ui.main_window import MainWindow
    from ddim_studio.ui.settings import AppSettings

    settings = AppSettings()
    settings.set("output_dir", str(tmp / "out"))
    settings.set("compute/threads", args.threads)
    settings.set("compute/backend", args.backend)
    window = MainWindow(settings=settings)
    window.resize(1400, 900)
    window.show()
    wait(app, lambda: window.services.model.is_loaded and window.advisor.estimate("generate") is not None)
    print(f"model: {window.services.model.status_text()} · S = {args.steps} · threads {args.threads or 'all'}"
          f" · load average {os.getloadavg()} on {os.cpu_count()} CPUs")  # fmt: skip
    print("\n| mode | batch | run | estimate shown | estimate s | real s | estimate / real "
          "| real / previous real |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    ratios, repeats = [], []
    for mode, what, values in CASES:
        for batch in values:
            previous = None
            for m, b, attempt, estimate, label, real in run_case(
                app, window, mode, batch, args.steps, picture, args.repeats, what
            ):
                ratio = estimate / real if estimate else float("nan")
                ratios.append(ratio)
                again = f"{real / previous:.2f}" if previous else "—"
                if previous:
                    repeats.append(max(real / previous, previous / real))
                previous = real
                print(f"| {m} | {b} | {attempt} | {label} | {estimate or 0:.2f} | {real:.2f} | {ratio:.2f} "
                      f"| {again} |", flush=True)  # fmt: skip
    inside = sum(1 for r in ratios if 0.7 <= r <= 1.3)
    print(f"\n{inside} of {len(ratios)} estimates within ±30 % · load average after: {os.getloadavg()}")
    if repeats:  # what no estimate can beat: the same run, twice in a row
        print(f"the same configuration run twice in a row differed by up to {max(repeats):.2f}× "
              f"(median {sorted(repeats)[len(repeats) // 2]:.2f}×)")  # fmt: skip
    window.close()
    asyncio.events._set_running_loop(None)


if __name__ == "__main__":
    main()
