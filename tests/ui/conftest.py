"""UI test setup: a tiny random model folder, throw-away settings and outputs, a qasync loop, the window.

The window is driven through its widgets; the qasync loop is marked running so the controllers'
coroutines advance whenever pytest-qt processes Qt events (``qtbot.wait``/``waitUntil``).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest
import qasync
import torch
from PIL import Image
from PySide6.QtCore import QSettings

from ddim_studio.ui import theme
from ddim_studio.ui.settings import AppSettings

SCHEDULER = {
    "_class_name": "DDIMScheduler",
    "num_train_timesteps": 1000,
    "beta_start": 0.0001,
    "beta_end": 0.02,
    "beta_schedule": "linear",
    "prediction_type": "epsilon",
    "clip_sample": False,
}
WAIT_MS = 60_000


def make_tiny_model(folder: Path) -> Path:
    """A seeded random 32×32 RGB diffusers UNet folder with a scheduler config."""
    from diffusers import UNet2DModel

    torch.manual_seed(0)
    unet = UNet2DModel(
        sample_size=32,
        block_out_channels=(8, 16),
        layers_per_block=1,
        down_block_types=("DownBlock2D",) * 2,
        up_block_types=("UpBlock2D",) * 2,
        norm_num_groups=4,
    )
    unet.save_pretrained(str(folder))
    (folder / "scheduler_config.json").write_text(json.dumps(SCHEDULER))
    return folder


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models") / "tiny_model"
    folder.mkdir()
    return make_tiny_model(folder)


@pytest.fixture(autouse=True)
def temp_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_model: Path) -> Path:
    """QSettings in a temp folder; outputs in a temp folder; the tiny model via DDIM_STUDIO_MODEL."""
    folder = tmp_path / "settings"
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    monkeypatch.setenv("DDIM_STUDIO_MODEL", str(tiny_model))
    monkeypatch.setenv("DDIM_STUDIO_OUTPUT_DIR", str(tmp_path / "default-outputs"))
    return folder


@pytest.fixture(scope="session")
def _session_loop(qapp):  # type: ignore[no-untyped-def]
    theme.apply_theme(qapp, "dark")
    loop = qasync.QEventLoop(qapp, already_running=False)
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.set_event_loop(None)
    loop.close()  # not left to the garbage collector, which runs after Qt's objects are gone


@pytest.fixture
def aloop(_session_loop):  # type: ignore[no-untyped-def]
    """The qasync loop, marked running for the test so coroutines advance with Qt events."""
    asyncio.events._set_running_loop(_session_loop)
    yield _session_loop
    asyncio.events._set_running_loop(None)


@pytest.fixture
def outputs(tmp_path: Path) -> Path:
    return tmp_path / "outputs"


@pytest.fixture
def settings(outputs: Path) -> AppSettings:
    s = AppSettings()
    s.set("output_dir", str(outputs))
    return s


def open_window(qtbot, settings: AppSettings, *, wait_model: bool = True):  # type: ignore[no-untyped-def]
    """A shown MainWindow (closed at teardown by qtbot), optionally with its model loaded."""
    from ddim_studio.ui.main_window import MainWindow

    window = MainWindow(settings=settings)
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    if wait_model:
        qtbot.waitUntil(lambda: window.services.model.is_loaded, timeout=WAIT_MS)
    return window


@pytest.fixture
def window(qtbot, aloop, settings):  # type: ignore[no-untyped-def]
    w = open_window(qtbot, settings)
    yield w
    w.close()


def wait_idle(qtbot, window, timeout: int = WAIT_MS) -> None:  # type: ignore[no-untyped-def]
    """Wait until no job runs, no picture is being opened and every UI coroutine has ended."""
    from ddim_studio.ui.tasks import running_tasks

    qtbot.waitUntil(
        lambda: (
            not window.services.runner.is_busy and not window.services.loader.busy() and running_tasks() == 0
        ),
        timeout=timeout,
    )


def wait_loaded(qtbot, window, timeout: int = WAIT_MS) -> None:  # type: ignore[no-untyped-def]
    """Wait until the pictures being opened (off the GUI thread) have arrived."""
    qtbot.waitUntil(lambda: not window.services.loader.busy(), timeout=timeout)


def settle_loads(window, limit_ms: int = WAIT_MS) -> None:  # type: ignore[no-untyped-def]
    """Process events until the pictures being opened off the GUI thread have arrived (a hang guard
    for helpers without a qtbot; what arrived is checked by the test)."""
    from PySide6.QtTest import QTest

    loader = getattr(getattr(window, "services", None), "loader", None)
    waited = 0
    while loader is not None and loader.busy() and waited < limit_ms:
        QTest.qWait(5)
        waited += 5


@pytest.fixture
def picture(tmp_path: Path) -> Path:
    """A 64×48 test photo: a red disc on a blue-green gradient."""
    y, x = np.mgrid[0:48, 0:64]
    img = np.zeros((48, 64, 3), np.uint8)
    img[..., 1] = (x * 4).clip(0, 255)
    img[..., 2] = (255 - y * 5).clip(0, 255)
    img[((x - 32) ** 2 + (y - 24) ** 2) < 120] = (220, 40, 40)
    path = tmp_path / "photo.png"
    Image.fromarray(img).save(path)
    return path
