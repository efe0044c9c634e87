"""Cold start, measured from process start: window drawn, model loaded, first finished image.

    python benchmarks/bench_startup.py [--runs 3]

Each run is a fresh process (offscreen Qt, throw-away settings and outputs) that opens the window
the way ``ddim-studio`` does, then generates one 50-step image with the default model. The
reference, measured in the same run: a bare ``python -c pass`` and ``python -c "import torch"``.
Prints the medians and their ratios to the references as a markdown table.
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
import asyncio, json, os, sys, tempfile, time
from pathlib import Path
T0 = float(os.environ["BENCH_T0"])
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PySide6.QtCore import QSettings
from ddim_studio.ui import app as appmod
from ddim_studio.ui.main_window import MainWindow
from ddim_studio.ui.settings import AppSettings
tmp = tempfile.mkdtemp(prefix="ddim-bench-")
QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tmp)
qt_app = appmod.make_app([])
settings = AppSettings()
settings.set("output_dir", str(Path(tmp) / "out"))
appmod.theme.apply_theme(qt_app, "dark")
loop = appmod.install_loop(qt_app)
window = MainWindow(settings=settings, model_source=None, defer_attach=True)
window.show()
qt_app.processEvents()
times = {"drawn": time.time() - T0}
appmod.import_in_background(appmod.HEAVY_MODULES, window.attach, window)

async def flow():
    from ddim_studio.ui.generate.generate_view import GenerateParams
    await appmod._wait(lambda: window.attached and window.services.model.is_loaded, 120, "model")
    times["model_loaded"] = time.time() - T0
    window.generate_view.set_params(GenerateParams(seed=0, batch=1, steps=50, eta=0.0, spacing="uniform",
                                                   clip_sample=False))
    gen = window.generate
    gen.generate()
    await appmod._wait(lambda: gen._task is not None and gen._task.done(), 120, "generation")
    times["first_image"] = time.time() - T0

with loop:
    loop.run_until_complete(flow())
print(json.dumps(times), flush=True)
window.close()
"""


def timed(cmd: list[str]) -> float:
    start = time.time()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.time() - start


def app_run() -> dict[str, float]:
    env = {**os.environ, "BENCH_T0": repr(time.time())}
    out = subprocess.run(
        [sys.executable, "-c", CHILD],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    python, torch_import, apps = [], [], []
    for _ in range(args.runs):
        python.append(timed([sys.executable, "-c", "pass"]))
        torch_import.append(timed([sys.executable, "-c", "import torch"]))
        apps.append(app_run())
    py, tor = statistics.median(python), statistics.median(torch_import)
    print(f"| measure (median of {args.runs} cold processes) | seconds | × python start | × import torch |")
    print("|---|---|---|---|")
    print(f"| python -c pass | {py:.2f} | 1.0 | {py / tor:.2f} |")
    print(f"| python -c 'import torch' | {tor:.2f} | {tor / py:.1f} | 1.0 |")
    for key, label in (
        ("drawn", "window drawn"),
        ("model_loaded", "model loaded"),
        ("first_image", "first 50-step image finished"),
    ):
        value = statistics.median(a[key] for a in apps)
        print(f"| {label} | {value:.2f} | {value / py:.1f} | {value / tor:.2f} |")


if __name__ == "__main__":
    main()
