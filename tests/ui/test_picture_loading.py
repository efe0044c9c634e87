"""Pictures are decoded off the GUI thread in Encode, Edit and Interpolate; stale loads are dropped,
Esc drops a load, and a warning raised in the background reaches the window."""

from __future__ import annotations

import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ddim_studio.operations import pictures
from tests.ui.conftest import wait_idle, wait_loaded


def _photo(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (80, 60)) -> Path:
    Image.new("RGB", size, color).save(path)
    return path


@pytest.fixture
def decoded_here(monkeypatch):  # type: ignore[no-untyped-def]
    """The threads of this (the window's) process in which a picture was decoded: none, when the
    decoder process does it (the real decoder runs either way; only the thread is noted)."""
    seen: list[threading.Thread] = []
    real = pictures.load_image

    def noted(path, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(threading.current_thread())
        return real(path, **kwargs)

    monkeypatch.setattr(pictures, "load_image", noted)
    return seen


@pytest.mark.parametrize("mode", ["encode", "edit", "interpolate"])
def test_each_mode_decodes_off_the_gui_thread_and_keeps_only_the_newest_load(
    qtbot, window, tmp_path, decoded_here, mode
) -> None:  # type: ignore[no-untyped-def]
    red = _photo(tmp_path / "red.png", (250, 0, 0))
    blue = _photo(tmp_path / "blue.png", (0, 0, 250))
    controller = window.mode_controllers[mode]
    if mode == "interpolate":
        assert controller.fill_from_path("A", red) and controller.fill_from_path("A", blue)
        assert window.interpolate_view.slot_a.label.text() == "opening blue.png…"  # nothing decoded yet
    else:
        assert controller.load_path(red) and controller.load_path(blue)
        assert controller.view.progress.label.text().startswith("Opening blue.png")
    wait_loaded(qtbot, window)
    wait_idle(qtbot, window)
    assert decoded_here == []  # not in the GUI thread, nor in another thread of the window's process
    if mode == "interpolate":
        shown = controller.slots["A"].thumb
        assert controller.slots["A"].label == "blue.png"
    elif mode == "encode":
        shown = np.asarray(controller.fitted)
        assert controller.source_name == "blue.png"
    else:
        shown = controller.view.canvas.painted
        assert controller.source_name == "blue.png"
    assert shown.shape == (32, 32, 3) and shown[..., 2].min() > 200 and shown[..., 0].max() < 50


def test_esc_drops_a_picture_being_opened(qtbot, window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    window.set_mode("encode")
    assert window.encode.load_path(_photo(tmp_path / "green.png", (0, 250, 0)))
    window.cancel_current()  # Esc
    assert window.encode_view.progress.label.text() == "Cancelled opening the picture"
    wait_idle(qtbot, window)
    qtbot.wait(20)  # a dropped result would have arrived by now
    assert window.encode.fitted is None and window.encode.source_name == ""
    window.set_mode("interpolate")
    assert window.interpolate.fill_from_path("B", tmp_path / "green.png")
    window.cancel_current()
    wait_idle(qtbot, window)
    assert window.interpolate.slots["B"] is None and window.interpolate_view.slot_b.label.text() == "empty"


def test_run_waits_for_the_picture_being_opened(qtbot, window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert window.edit.load_path(_photo(tmp_path / "grey.png", (128, 128, 128)))
    window.edit.edit()
    assert "still opening" in window.services.notifier.last()
    wait_idle(qtbot, window)
    assert window.edit.source_name == "grey.png"


def test_a_warning_in_the_background_reaches_the_window_as_a_notice(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    def warn() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("window test: the scheduler config has an unknown key", UserWarning, stacklevel=1)

    window.services.loader.submit(warn, lambda _v: None, lambda _m: None, key="test")
    qtbot.waitUntil(lambda: "unknown key" in window.services.notifier.last(), timeout=60_000)
    assert window.services.notifier.last() == (
        "Note from the background work: window test: the scheduler config has an unknown key"
    )
