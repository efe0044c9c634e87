"""Run by test_window: ``run_app`` starts, a long generation begins, the window is closed mid-run.

Exits with run_app's code; prints "closed during step N" so the test knows the close hit a running job.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

home = Path(os.environ.get("HOME", "."))
QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(home / "settings"))
os.environ["DDIM_STUDIO_OUTPUT_DIR"] = str(home / "outputs")

from ddim_studio.ui.app import run_app  # noqa: E402
from ddim_studio.ui.main_window import MainWindow  # noqa: E402

shown: list[float] = []


def drive() -> None:
    windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
    if not windows or not windows[0].isVisible():
        QTimer.singleShot(5, drive)
        return
    window = windows[0]
    if not shown:
        shown.append(time.perf_counter() - STARTED)
        print(f"shown after {shown[0]:.2f} s, torch imported: {'torch' in sys.modules}", flush=True)
    if not window.attached or not window.services.model.is_loaded:
        QTimer.singleShot(20, drive)
        return
    import torch

    torch.set_num_threads(1)
    window.generate_view.steps.spin.setValue(900)
    window.generate_view.batch.setValue(2)

    def on_step(event: object) -> None:
        window.services.runner.step.disconnect(on_step)
        print(f"closed during step {getattr(event, 'index', '?')}", flush=True)
        window.close()

    window.services.runner.step.connect(on_step)
    window.generate.generate()


QTimer.singleShot(0, drive)
sys.exit(run_app([sys.argv[0]]))
