"""Edit mode flows on the shipped model: paint, mask, undo/redo, run, cancel, reuse params, drops, gallery."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor

from ddim_studio.core.imaging import read_params
from ddim_studio.operations.edit import edit_files
from tests.ui.conftest import WAIT_MS, open_window, settle_loads, wait_idle
from tests.ui.test_encode import drop_files


@pytest.fixture
def window(qtbot, aloop, settings, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.delenv("DDIM_STUDIO_MODEL", raising=False)  # the shipped 32×32 shapes model
    w = open_window(qtbot, settings)
    w.set_mode("edit")
    yield w
    w.close()


def _load(window, picture: Path) -> None:  # type: ignore[no-untyped-def]
    assert window.edit.load_path(picture)
    settle_loads(window)  # decoded off the GUI thread


def test_paint_eraser_mask_and_undo_redo(window, picture) -> None:  # type: ignore[no-untyped-def]
    view = window.edit_view
    canvas = view.canvas
    _load(window, picture)
    assert canvas.picture_size() == (32, 32) and not canvas.can_undo()
    source = canvas.source.copy()
    view.set_color(QColor(0, 255, 0))
    view.set_tool("brush")
    canvas.stroke([(4.5, 4.5), (12.5, 4.5)])
    assert tuple(canvas.painted[4, 8]) == (0, 255, 0) and tuple(canvas.painted[20, 20]) == tuple(
        source[20, 20]
    )
    view.opacity.setValue(50)  # half opacity, once per stroke even where it crosses itself
    canvas.stroke([(20.5, 20.5), (24.5, 20.5), (20.5, 20.5)])
    expected = np.rint(0.5 * source[20, 22].astype(float) + 0.5 * np.array([0, 255, 0]))
    assert np.abs(canvas.painted[20, 22].astype(float) - expected).max() <= 1
    view.set_tool("eraser")
    canvas.stroke([(8.5, 4.5)])
    assert tuple(canvas.painted[4, 8]) == tuple(source[4, 8])
    assert canvas.undo() and tuple(canvas.painted[4, 8]) == (0, 255, 0)
    assert canvas.redo() and tuple(canvas.painted[4, 8]) == tuple(source[4, 8])
    # the mask brush, its overlay switch, invert and clear; harmonize needs a mask
    assert not view.harmonize.isEnabled()
    view.set_tool("mask")
    canvas.stroke([(16.5, 16.5)])
    assert canvas.has_mask and canvas.mask_pixels()[16, 16] == 255 and canvas.mask_pixels()[0, 0] == 0
    assert view.harmonize.isEnabled()
    canvas.invert_mask()
    assert canvas.mask_pixels()[16, 16] == 0 and canvas.mask_pixels()[0, 0] == 255
    canvas.clear_mask()
    assert canvas.mask_pixels() is None and not view.harmonize.isEnabled()
    canvas.undo()
    assert canvas.mask_pixels()[0, 0] == 255
    # Ctrl+Z / Ctrl+Shift+Z
    canvas.setFocus()
    painted_before = canvas.painted.copy()
    view.set_tool("brush")
    canvas.stroke([(2.5, 28.5)])
    window.activateWindow()
    from PySide6.QtTest import QTest

    QTest.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(canvas.painted, painted_before)
    QTest.keyClick(
        view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )
    assert not np.array_equal(canvas.painted, painted_before)
    # the eyedropper picks the colour under the cursor
    view.set_tool("eyedropper")
    canvas.begin_stroke((20.5, 20.5))
    assert canvas.color.getRgb()[:3] == tuple(int(v) for v in canvas.painted[20, 20])
    assert canvas.tool == "brush"


def test_mouse_strokes_paint_at_model_resolution(qtbot, window, picture) -> None:  # type: ignore[no-untyped-def]
    canvas = window.edit_view.canvas
    _load(window, picture)
    window.edit_view.set_tool("mask")
    rect = canvas.target_rect()
    assert rect.width() >= 4 * 32 and rect.width() % 32 == 0  # drawn large, whole screen pixels per pixel
    start = QPoint(rect.left() + rect.width() // 4, rect.top() + rect.height() // 2)
    end = QPoint(rect.left() + 3 * rect.width() // 4, start.y())
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(canvas, end)
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=end)
    mask = canvas.mask_pixels()
    assert mask is not None and mask[16, 8] == 255 and mask[16, 24] == 255 and mask[2, 16] == 0


def test_run_streams_saves_and_reuse_params_restores(qtbot, window, picture) -> None:  # type: ignore[no-untyped-def]
    view, edit = window.edit_view, window.edit
    _load(window, picture)
    view.set_tool("mask")
    view.canvas.stroke([(8.5, 16.5), (24.5, 16.5)])
    view.brush_size.setValue(6)
    view.set_strength(0.6)
    view.steps.set_value(10)
    assert view.strength_label.text().startswith("strength 0.6 · 6 of 10 steps")
    view.count.setValue(2)
    view.seed.set_value(11, lock=True)
    events = []
    edit.tracker.step.connect(events.append)
    qtbot.mouseClick(view.edit_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert events and events[0].phase == "edit" and events[-1].total == 6
    out = edit.result
    assert out is not None and out.seeds == (11, 12) and out.mask is not None
    assert view.results.count() == 2 and view.compare.after is not None and view.compare.before is not None
    assert len(edit.saved_items) == 2
    item = edit.saved_items[0]
    params = read_params(item.png)
    assert params["kind"] == "edit" and params["strength"] == 0.6 and params["seed"] == 11 and params["mask"]
    source_path, mask_path = edit_files(item.png)
    assert source_path is not None and mask_path is not None
    kept = np.asarray(Image.open(mask_path)) == 0
    result = np.asarray(Image.open(item.png).convert("RGB")).astype(int)
    painted = np.asarray(Image.open(source_path).convert("RGB")).astype(int)
    assert np.abs(result[kept] - painted[kept]).max() <= 1
    # change everything, then Reuse params from the gallery restores source, mask and controls
    view.canvas.clear_mask()
    view.set_strength(0.2)
    view.steps.set_value(30)
    view.seed.set_value(99)
    window.gallery_view.select_row(window.gallery.model.row_of(item.png))
    assert window.gallery_view.reuse_params_button.isEnabled()
    qtbot.mouseClick(window.gallery_view.reuse_params_button, Qt.MouseButton.LeftButton)
    assert window.stack.currentWidget() is view
    assert view.strength_value() == 0.6 and view.steps.value() == 10 and view.seed.value() == 11
    assert view.canvas.mask_pixels() is not None and np.array_equal(view.canvas.mask_pixels() == 0, kept)
    assert np.array_equal(view.canvas.painted, painted.astype(np.uint8))


def test_cancel_stops_within_a_step(qtbot, window, picture) -> None:  # type: ignore[no-untyped-def]
    view, edit = window.edit_view, window.edit
    _load(window, picture)
    view.steps.set_value(1000)
    view.set_strength(1.0)
    view.count.setValue(1)
    seen = []
    edit.tracker.step.connect(seen.append)
    edit.edit()
    qtbot.waitUntil(lambda: len(seen) > 0, timeout=WAIT_MS)
    assert edit.cancel()
    wait_idle(qtbot, window)
    assert view.progress.label.text() == "Cancelled" and edit.result is None and not edit.saved_items


def test_nothing_would_change_and_bad_masks_say_so(qtbot, window, picture, tmp_path) -> None:  # type: ignore[no-untyped-def]
    view, edit = window.edit_view, window.edit
    _load(window, picture)
    view.start.setCurrentText("invert")
    view.eta.set_value(0.0)
    view.canvas.set_mask(np.zeros((32, 32), np.uint8))  # an all-black mask
    edit.edit()
    assert "Nothing would change" in window.services.notifier.last()
    assert not window.services.runner.is_busy and edit.result is None
    Image.fromarray(np.full((64, 64), 255, np.uint8)).save(tmp_path / "big.png")
    assert edit.load_mask(tmp_path / "big.png")
    assert "resized" in window.services.notifier.last() and view.canvas.mask_pixels().min() == 255
    Image.fromarray(np.full((32, 64), 255, np.uint8)).save(tmp_path / "wide.png")
    assert not edit.load_mask(tmp_path / "wide.png")
    assert "shape" in window.services.notifier.last("error")


def test_drop_on_canvas_and_the_gallery_edit_button(qtbot, window, picture, tmp_path) -> None:  # type: ignore[no-untyped-def]
    view = window.edit_view
    assert drop_files(view, picture)
    assert view.canvas.picture_size() == (32, 32) and "photo.png" in view.source_label.text()
    # a gallery picture: its Edit button opens it in Edit as the new source
    other = np.zeros((32, 32, 3), np.uint8)
    other[:, :16] = (250, 250, 0)
    item = window.services.library.save(Image.fromarray(other), {"kind": "sample", "seed": 3}, stem="yellow")
    assert item is not None
    window.set_mode("generate")
    window.gallery_view.select_row(window.gallery.model.row_of(item.png))
    qtbot.mouseClick(window.gallery_view.edit_button, Qt.MouseButton.LeftButton)
    assert window.stack.currentWidget() is view
    wait_idle(qtbot, window)
    assert np.array_equal(view.canvas.painted, other) and "yellow.png" in view.source_label.text()


def test_a_cli_edit_restores_in_the_window_and_reruns_to_the_same_pixels(  # type: ignore[no-untyped-def]
    qtbot, window, outputs, picture, tmp_path
) -> None:
    from ddim_studio.cli import main

    mask = np.zeros((32, 32), np.uint8)
    mask[8:24, 4:20] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    argv = ["edit", str(picture), "--mask", str(tmp_path / "mask.png"), "--strength", "0.5", "--steps", "6"]
    assert main([*argv, "--seed", "4", "--out", str(outputs)]) == 0
    png = outputs / "photo-edit-000004.png"
    window.services.library.refresh()
    window.gallery_view.select_row(window.gallery.model.row_of(png))
    qtbot.mouseClick(window.gallery_view.reuse_params_button, Qt.MouseButton.LeftButton)
    view = window.edit_view
    assert view.strength_value() == 0.5 and view.steps.value() == 6 and view.seed.value() == 4
    assert np.array_equal(view.canvas.mask_pixels(), mask)
    window.edit.edit()
    wait_idle(qtbot, window)
    assert len(window.edit.saved_items) == 1
    again = np.asarray(Image.open(window.edit.saved_items[0].png).convert("RGB"))
    assert np.array_equal(again, np.asarray(Image.open(png).convert("RGB")))


def test_generate_edit_action_and_crisp_zoom(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    window.set_mode("generate")
    gen = window.generate_view
    gen.steps.set_value(3)
    gen.batch.setValue(2)
    window.generate.generate()
    wait_idle(qtbot, window)
    gen.grid.set_selected(1)
    from ddim_studio.core.imaging import tensor_to_uint8

    expected = tensor_to_uint8(window.generate.result.images[1:2])[0]
    qtbot.mouseClick(gen.edit_button, Qt.MouseButton.LeftButton)
    view = window.edit_view
    assert window.stack.currentWidget() is view
    assert np.array_equal(view.canvas.painted, expected)
    view.zoom.setCurrentIndex(5)  # 16×: each picture pixel is 16 screen pixels, the area scrolls
    qtbot.waitUntil(lambda: view.canvas.target_rect().width() == 16 * 32)
    qtbot.waitUntil(lambda: view.canvas_scroll.horizontalScrollBar().maximum() > 0)
    view.zoom.setCurrentIndex(0)
    assert view.canvas.zoom == 0


def test_refine_is_for_the_invert_start_and_is_carried_and_restored(qtbot, window, picture) -> None:  # type: ignore[no-untyped-def]
    view, edit = window.edit_view, window.edit
    _load(window, picture)
    view.canvas.set_mask(np.full((32, 32), 255, np.uint8))
    view.start.setCurrentText("noise")
    assert not view.refine.isEnabled()
    view.refine.setValue(3)
    assert edit.make_job().refine == 0  # the noise start inverts nothing
    view.start.setCurrentText("invert")
    assert view.refine.isEnabled() and edit.make_job().refine == 3
    assert "inversion" in view.strength_label.text()  # the label counts the refined inversion's calls
    edit.apply_params({"start": "invert", "refine": 5, "strength": 0.3})
    assert view.refine.value() == 5 and edit.make_job().refine == 5
    edit.apply_params({"start": "invert", "strength": 0.3})  # an edit saved without refinement
    assert view.refine.value() == 0


def test_dpmpp_2m_edits_in_the_window_and_its_sampler_is_restored(qtbot, window, picture) -> None:  # type: ignore[no-untyped-def]
    view, edit = window.edit_view, window.edit
    _load(window, picture)
    view.canvas.set_mask(np.full((32, 32), 255, np.uint8))
    assert [view.sampler.itemData(i) for i in range(view.sampler.count())] == ["ddim", "dpmpp-2m"]
    view.harmonize.setValue(2)
    view.sampler.set_name("dpmpp-2m")
    assert not view.eta.isEnabled() and not view.harmonize.isEnabled() and view.sampler_note.isVisible()
    job = edit.make_job()
    assert job.sampler == "dpmpp-2m" and job.harmonize == 0 and job.eta == 0.0 and job.spacing == "trailing"
    view.steps.set_value(10)
    view.seed.set_value(3, lock=True)
    qtbot.mouseClick(view.edit_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    params = read_params(edit.saved_items[0].png)
    assert params["sampler"] == "dpmpp-2m" and params["spacing"] == "trailing"
    view.sampler.set_name("ddim")
    assert view.eta.isEnabled() and view.harmonize.isEnabled() and not view.sampler_note.isVisible()
    edit.apply_params(params)
    assert view.sampler.name() == "dpmpp-2m"
