"""The whole window: fast start, menus, settings, themes, closing during a job, the self-test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from ddim_studio.ui import theme
from ddim_studio.ui.main_window import MainWindow
from ddim_studio.ui.qt_image import fit_rect, qimage_to_array, to_pixmap, to_qimage
from ddim_studio.ui.settings import AppSettings
from ddim_studio.ui.settings_dialog import SettingsDialog
from tests.ui.conftest import WAIT_MS, wait_idle

REPO = Path(__file__).resolve().parents[2]


def test_window_draws_at_once_then_loads_the_model(qtbot, aloop, settings) -> None:  # type: ignore[no-untyped-def]
    """The window is shown before the model has loaded (the load runs in the background); how soon
    it is drawn is measured by ``benchmarks/bench_startup.py``, not limited here."""
    window = MainWindow(settings=settings)
    qtbot.addWidget(window)
    window.show()
    QApplication.processEvents()
    assert window.isVisible()
    assert window.model_label.text() == "loading model…"
    qtbot.waitUntil(lambda: window.services.model.is_loaded, timeout=WAIT_MS)
    assert window.model_label.text() == "tiny_model · 32×32 · cpu · float32"
    window.close()


def test_menus_and_shortcuts(window) -> None:  # type: ignore[no-untyped-def]
    bar = window.menuBar()
    titles = [a.text().replace("&", "") for a in bar.actions()]
    assert titles == ["File", "Model", "View", "Help"]
    file_menu = bar.actions()[0].menu()
    texts = [a.text() for a in file_menu.actions() if a.text()]
    for expected in (
        "Open Model Folder…",
        "Open Checkpoint…",
        "Open from Hugging Face Hub…",
        "Recent Models",
        "Open Image…",
        "Save to Gallery",
        "Export Interpolation",
        "Open Output Folder",
        "Quit",
    ):
        assert expected in texts
    assert window.menus.save.shortcut().toString() == "Ctrl+S"
    devices = [a.data() for a in window.menus.device_group.actions()]
    assert devices == ["auto", "cpu", "cuda", "mps"]
    assert [a.shortcut().toString() for a in window.menus.modes] == ["Ctrl+1", "Ctrl+2", "Ctrl+3", "Ctrl+4"]
    window.menus.modes[1].trigger()
    assert window.mode() == 1 and window.rail.buttons[1].isChecked()


def test_settings_dialog_applies_and_persists(qtbot, window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    dialog = SettingsDialog(window.services.settings, window)
    dialog.preview_fps.setValue(7)
    dialog.output_dir.setText(str(tmp_path / "elsewhere"))
    dialog.theme.setCurrentText("light")
    dialog.steps.setValue(25)
    dialog.apply()
    try:
        assert window.services.runner.preview_fps == 7
        assert window.services.library.root == tmp_path / "elsewhere"
        assert theme.current_theme() == "light"
        fresh = AppSettings()
        assert (
            fresh.get("preview_fps") == 7
            and fresh.get("defaults/steps") == 25
            and fresh.get("theme") == "light"
        )
    finally:
        window.set_theme("dark")
    assert theme.current_theme() == "dark"


def test_closing_while_a_job_runs_stops_the_worker(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    view = window.generate_view
    view.steps.spin.setValue(800)
    view.batch.setValue(1)
    window.generate.generate()
    qtbot.waitUntil(lambda: view.progress.bar.value() > 0, timeout=WAIT_MS)
    window.close()  # returns once the worker has stopped (a hang fails on the per-test timeout)
    assert window.services.runner._thread.isFinished()
    wait_idle(qtbot, window)


def test_qt_image_conversion_is_exact_and_crisp(qapp) -> None:  # type: ignore[no-untyped-def]
    pixels = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    image = to_qimage(pixels)
    assert (image.width(), image.height()) == (7, 5)
    assert np.array_equal(qimage_to_array(image), pixels)
    big = to_pixmap(pixels, 70).toImage()
    assert (big.width(), big.height()) == (70, 50)
    assert np.array_equal(qimage_to_array(big)[::10, ::10], pixels)  # nearest neighbour: no blur
    assert fit_rect(QSize(32, 32), window_rect(100, 80), whole_pixels=True).size() == QSize(64, 64)


def window_rect(width: int, height: int):  # type: ignore[no-untyped-def]
    from PySide6.QtCore import QRect

    return QRect(0, 0, width, height)


def test_spacing_choices_match_the_core() -> None:
    from ddim_studio.core.schedule import SPACINGS
    from ddim_studio.ui.widgets.controls import SPACING_CHOICES

    assert SPACING_CHOICES == SPACINGS


def test_every_icon_renders_in_both_themes(qapp) -> None:  # type: ignore[no-untyped-def]
    names = sorted(p.stem for p in theme.ICON_DIR.glob("*.svg") if p.stem != "app")
    assert len(names) >= 30
    for name in names:
        for colour in (theme.COLORS["dark"].icon, theme.COLORS["light"].icon):
            image: QImage = theme.svg_pixmap(name, 24, colour).toImage()
            alpha = qimage_to_array(image.convertToFormat(QImage.Format.Format_RGB888))
            assert image.hasAlphaChannel() and alpha.any(), name
    assert not theme.app_icon().isNull()


def _run(script: list[str], tiny_model: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "DDIM_STUDIO_MODEL": str(tiny_model),
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path),
    }
    return subprocess.run(
        [sys.executable, *script], cwd=REPO, env=env, capture_output=True, text=True, timeout=240
    )


def test_self_test_in_a_subprocess(tiny_model, tmp_path) -> None:  # type: ignore[no-untyped-def]
    proc = _run(
        ["-c", "import sys; from ddim_studio.ui.app import self_test; sys.exit(self_test())"],
        tiny_model,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "DDIM Studio self-test OK · tiny_model · 32×32 · cpu · float32" in proc.stdout
    assert "PSNR" in proc.stdout
    assert "QThread: Destroyed" not in proc.stderr


def test_run_app_quits_cleanly_while_a_job_runs(tiny_model, tmp_path) -> None:  # type: ignore[no-untyped-def]
    proc = _run([str(Path(__file__).with_name("close_during_run.py"))], tiny_model, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "closed during step" in proc.stdout
    assert "shown after" in proc.stdout, proc.stdout
    assert "torch imported: False" in proc.stdout  # the window is drawn before torch is imported
    assert "QThread: Destroyed" not in proc.stderr
    assert "Traceback" not in proc.stderr


_GUI_SCRIPT = """
import sys
from PySide6.QtCore import QTimer
from ddim_studio.ui import app as ui_app
from ddim_studio.ui.main_window import MainWindow

real_make_app = ui_app.make_app


def make_app(argv=None):
    qt_app = real_make_app(argv)

    def check():
        windows = [w for w in qt_app.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        if windows and windows[0].attached and windows[0].services.model.is_loaded:
            print("model:", windows[0].model_label.text(), flush=True)
            windows[0].close()
        else:
            QTimer.singleShot(50, check)

    QTimer.singleShot(0, check)
    return qt_app


ui_app.make_app = make_app
sys.argv = ["ddim-studio-gui", "--model", sys.argv[1]]
from ddim_studio.__main__ import gui_main

sys.exit(gui_main())
"""


def test_gui_script_opens_the_window_with_the_model_it_is_given(tiny_model, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``ddim-studio-gui`` (the Windows windowed entry point) opens the window; its ``--model``
    wins over the environment's model (``_run`` sets DDIM_STUDIO_MODEL to the tiny one)."""
    from ddim_studio.core.models import DEFAULT_MODEL_DIR

    proc = _run(["-c", _GUI_SCRIPT, str(DEFAULT_MODEL_DIR)], tiny_model, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "model: shapes32 · 32×32 · cpu · float32" in proc.stdout, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
