"""Cold start, measured from process start: window drawn, model loaded, first and second run, exit.

    python benchmarks/bench_startup.py [--runs 3] [--batch 4] [--steps 50]

Each run is a fresh process (offscreen Qt, throw-away settings and outputs) that opens the window
the way ``ddim-studio`` does (``run_app``), then generates ``--batch`` images with ``--steps``
steps with the default model twice (the same parameters; issue 14 item 2 compares the first run
after a launch with the second), then closes the window. The parent times, from the close, when
the window has closed and when the process has exited (issue 14 item 12). The reference, measured
in the same run: a bare ``python -c pass`` and ``python -c "import torch"``. Prints the medians
and their ratios to the references as a markdown table, and the machine's load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, os, sys, tempfile, time
from pathlib import Path
T0 = float(os.environ["BENCH_T0"])
BATCH, STEPS = int(os.environ["BENCH_BATCH"]), int(os.environ["BENCH_STEPS"])
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication
tmp = tempfile.mkdtemp(prefix="ddim-bench-")
QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tmp)
os.environ["DDIM_STUDIO_OUTPUT_DIR"] = str(Path(tmp) / "out")
from ddim_studio.ui.app import run_app
from ddim_studio.ui.main_window import MainWindow
times = {}

def report(**values):
    print(json.dumps(values), flush=True)

def window():
    found = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
    return found[0] if found else None

def later(fn, ms=10):
    QTimer.singleShot(ms, fn)

def drive():
    w = window()
    if w is None:
        return later(drive, 5)
    times.setdefault("drawn", time.time() - T0)
    if not (w.attached and w.services.model.is_loaded):
        return later(drive)
    times.setdefault("model_loaded", time.time() - T0)
    gen = w.generate
    if gen._task is not None and not gen._task.done():
        return later(drive)
    runs = times.setdefault("runs", [])
    if "run_started" in times:
        runs.append(time.time() - times.pop("run_started"))
    if len(runs) < 2:
        from ddim_studio.ui.generate.generate_view import GenerateParams
        w.generate_view.set_params(GenerateParams(seed=len(runs), batch=BATCH, steps=STEPS, eta=0.0,
                                                  spacing="uniform", clip_sample=False))
        times["run_started"] = time.time()
        gen.generate()
        return later(drive)
    report(**times)
    closing = time.time()
    w.close()
    report(close_called=closing, closed=time.time())

QTimer.singleShot(0, drive)
sys.exit(run_app([sys.argv[0]]))
"""


def timed(cmd: list[str]) -> float:
    start = time.time()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.time() - start


def app_run(batch: int, steps: int) -> dict[str, float]:
    """One studio process: its times (seconds) and, from the close, window closed / process exited."""
    env = {**os.environ, "BENCH_T0": repr(time.time()), "BENCH_BATCH": str(batch), "BENCH_STEPS": str(steps)}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    out, err = proc.communicate(timeout=600)
    exited = time.time()
    if proc.returncode != 0:
        raise RuntimeError(f"the studio process failed ({proc.returncode}): {err[-2000:]}")
    values: dict = {}
    for line in out.strip().splitlines():
        if line.startswith("{"):
            values.update(json.loads(line))
    first, second = values.pop("runs")
    return {
        **values,
        "first_run": first,
        "second_run": second,
        "window_closed": values["closed"] - values["close_called"],
        "process_exited": exited - values["close_called"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    python, torch_import, apps = [], [], []
    load_before = os.getloadavg()[0]
    for _ in range(args.runs):
        python.append(timed([sys.executable, "-c", "pass"]))
        torch_import.append(timed([sys.executable, "-c", "import torch"]))
        apps.append(app_run(args.batch, args.steps))
    py, tor = statistics.median(python), statistics.median(torch_import)
    print(f"{os.cpu_count()} cores; load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    print(f"| measure (median of {args.runs} cold processes) | seconds | × python start | × import torch |")
    print("|---|---|---|---|")
    print(f"| python -c pass | {py:.2f} | 1.0 | {py / tor:.2f} |")
    print(f"| python -c 'import torch' | {tor:.2f} | {tor / py:.1f} | 1.0 |")
    for key, label in (
        ("drawn", "window drawn"),
        ("model_loaded", "model loaded"),
        ("first_run", f"first run after launch (batch {args.batch}, S = {args.steps})"),
        ("second_run", "second run, same parameters"),
        ("window_closed", "close: window closed"),
        ("process_exited", "close: process exited"),
    ):
        value = statistics.median(a[key] for a in apps)
        print(f"| {label} | {value:.2f} | {value / py:.1f} | {value / tor:.2f} |")
    ratios = [a["first_run"] / a["second_run"] for a in apps]
    print(f"\nfirst run / second run, per process: {', '.join(f'{r:.2f}' for r in ratios)}")


if __name__ == "__main__":
    main()
