"""Encode mode: dropping files on the view, inverting, the error shown, and passing x_T on."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QWidget

from ddim_studio.core.imaging import read_params
from ddim_studio.core.latents import load_latent
from ddim_studio.core.noise import initial_noise
from ddim_studio.ui import dialogs
from tests.ui.conftest import settle_loads, wait_idle, wait_loaded


def drag_enter(widget: QWidget, mime: QMimeData) -> QDragEnterEvent:
    """Send a drag-enter event carrying ``mime`` to ``widget``."""
    with warnings.catch_warnings():  # PySide marks the QPoint constructor deprecated; it is the only one
        warnings.simplefilter("ignore", DeprecationWarning)
        enter = QDragEnterEvent(
            widget.rect().center(),
            Qt.DropAction.CopyAction,
            mime,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
        )
    QApplication.sendEvent(widget, enter)
    return enter


def drop_files(widget: QWidget, *paths: Path) -> bool:
    """Simulate dragging files onto ``widget`` and dropping them; True when the drop was accepted."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPointF(widget.rect().center())
    enter = drag_enter(widget, mime)
    if not enter.isAccepted():
        return False
    drop = QDropEvent(
        pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(widget, drop)
    settle_loads(widget.window())  # pictures are decoded off the GUI thread
    return drop.isAccepted()


def test_drop_shows_crop_then_encode_shows_error(qtbot, window, picture) -> None:  # type: ignore[no-untyped-def]
    window.set_mode(1)
    view = window.encode_view
    assert not view.encode_button.isEnabled()
    assert drop_files(view, picture)
    # the crop / resize is shown before anything runs
    assert view.original.canvas.image() is not None
    assert view.original.canvas.image().size().width() == 32
    assert view.source_label.text() == "photo.png · 64×48 → crop 48×48 → 32×32"
    assert view.encode_button.isEnabled() and window.encode.x_T is None

    view.steps.spin.setValue(6)
    qtbot.mouseClick(view.encode_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    enc = window.encode
    assert enc.x_T is not None and tuple(enc.x_T.shape) == (3, 32, 32)
    assert enc.mse is not None and 0 <= enc.mse < 1
    assert view.mse_label.text() == f"{enc.mse:.5f}"
    assert view.psnr_label.text() == f"{enc.psnr:.2f} dB"
    for panel in (view.latent, view.reconstruction, view.error):
        assert panel.canvas.image() is not None
    assert view.save_latent_button.isEnabled() and view.var_button.isEnabled()


def test_drop_ignores_non_file_drags(window) -> None:  # type: ignore[no-untyped-def]
    mime = QMimeData()
    mime.setText("hello")
    assert not drag_enter(window.encode_view, mime).isAccepted()


def test_files_hovering_light_the_drop_targets(window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Encode lights its drop zone, an interpolation slot lights itself, and leaving turns both off."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path / "a.png"))])
    slot = window.interpolate_view.slot_a
    for target, lit in ((window.encode_view, window.encode_view.drop_zone), (slot, slot)):
        assert drag_enter(target, mime).isAccepted()
        assert lit.property("hover") is True
        QApplication.sendEvent(target, QDragLeaveEvent())
        assert lit.property("hover") is False


def test_broken_image_is_reported_not_raised(window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a picture at all")
    assert drop_files(window.encode_view, bad)
    assert "broken.png" in window.banner.message()
    assert window.banner.level == "error"
    assert window.encode.fitted is None


def _generate_one(qtbot, window, seed: int = 42, steps: int = 3):  # type: ignore[no-untyped-def]
    view = window.generate_view
    view.steps.spin.setValue(steps)
    view.batch.setValue(1)
    view.seed.setValue(seed)
    view.lock.setChecked(True)
    window.generate.generate()
    wait_idle(qtbot, window)
    return window.services.library.items[0]


def test_dropping_a_studio_png_restores_its_latent(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    item = _generate_one(qtbot, window)
    asked = []
    dialogs_ask = dialogs.ask
    dialogs.ask = lambda *a, **k: asked.append(a) or "encode"  # must not be asked
    try:
        assert drop_files(window.encode_view, item.png)
        wait_idle(qtbot, window)
    finally:
        dialogs.ask = dialogs_ask
    assert asked == []
    saved, _params = load_latent(item.latent)
    assert torch.equal(window.encode.x_T, saved)
    assert window.encode_view.steps.value() == 3
    assert window.encode.params["restored"] is True
    assert window.encode.mse == 0.0  # decoding the saved x_T gives back the saved picture exactly


def test_studio_png_without_latent_asks_and_redraws_from_seed(qtbot, window, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    item = _generate_one(qtbot, window, seed=77)
    item.latent.unlink()
    questions = []
    monkeypatch.setattr(
        dialogs, "ask", lambda parent, title, text, choices, **kw: questions.append(text) or "restore"
    )
    assert drop_files(window.encode_view, item.png)
    wait_idle(qtbot, window)
    assert len(questions) == 1 and "seed 77" in questions[0]
    expected, _noise = initial_noise([77], (3, 32, 32))
    assert torch.equal(window.encode.x_T, expected[0])


def test_save_latent_send_to_interpolate_and_variations(
    qtbot, window, picture, tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    window.encode.load_path(picture)
    wait_loaded(qtbot, window)
    window.encode_view.steps.spin.setValue(4)
    window.encode.encode()
    wait_idle(qtbot, window)
    x_T = window.encode.x_T

    monkeypatch.setattr(dialogs, "save_file", lambda *a, **k: tmp_path / "mine.safetensors")
    qtbot.mouseClick(window.encode_view.save_latent_button, Qt.MouseButton.LeftButton)
    loaded, params = load_latent(tmp_path / "mine.safetensors")
    assert torch.equal(loaded, x_T) and params["kind"] == "encode" and params["source"] == "photo.png"

    window.encode_view.sendRequested.emit("B")
    assert window.mode() == 2
    slot = window.interpolate.slots["B"]
    assert slot is not None and slot.ready and torch.equal(slot.latent, x_T)

    window.encode_view.var_count.setValue(3)
    window.encode_view.var_eta.setValue(0.5)
    window.encode.variations()
    wait_idle(qtbot, window)
    items = window.services.library.items
    assert len(items) == 3 and all(it.params["kind"] == "variation" for it in items)
    assert all(it.params["eta"] == 0.5 for it in items)
    pixels = [np.asarray(window.encode_view.variations.image(i).bits()) for i in range(3)]
    assert not np.array_equal(pixels[0], pixels[1])  # η > 0: new details per variation


def test_add_reconstruction_to_gallery(qtbot, window, picture) -> None:  # type: ignore[no-untyped-def]
    window.set_mode(1)
    window.encode.load_path(picture)
    wait_loaded(qtbot, window)
    window.encode_view.steps.spin.setValue(3)
    window.encode.encode()
    wait_idle(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    items = window.services.library.items
    assert len(items) == 1
    params = read_params(items[0].png)
    assert params["kind"] == "encode" and params["steps"] == 3 and items[0].latent is not None


def test_a_latent_file_has_no_original_to_compare(qtbot, window, picture, tmp_path) -> None:  # type: ignore[no-untyped-def]
    window.encode.load_path(picture)
    wait_loaded(qtbot, window)
    window.encode_view.steps.spin.setValue(3)
    window.encode.encode()
    wait_idle(qtbot, window)
    saved = window.encode.save_latent(tmp_path / "x.safetensors")
    _x_T, params = load_latent(saved)
    assert params["model"] == "tiny_model"  # the latent says which model made it
    assert window.encode.load_path(saved)
    wait_loaded(qtbot, window)
    wait_idle(qtbot, window)
    view = window.encode_view
    assert window.encode.reconstruction is not None and window.encode.mse is None
    assert view.mse_label.text() == "no original" and view.psnr_label.text() == "no original"
    assert "no original" in view.progress.label.text()
    assert "mse" not in window.encode.params and "psnr" not in window.encode.params


def test_a_new_image_clears_the_previous_variations(qtbot, window, picture, tmp_path) -> None:  # type: ignore[no-untyped-def]
    window.encode.load_path(picture)
    wait_loaded(qtbot, window)
    window.encode_view.steps.spin.setValue(2)
    window.encode.encode()
    wait_idle(qtbot, window)
    window.encode_view.var_count.setValue(2)
    window.encode.variations()
    wait_idle(qtbot, window)
    assert window.encode_view.variations.count() == 2
    other = tmp_path / "other.png"
    Image.new("RGB", (40, 40), (10, 200, 30)).save(other)
    window.encode.load_path(other)
    wait_loaded(qtbot, window)
    assert window.encode_view.variations.count() == 0
