"""Restore in the Edit mode on the shipped model: upscale, colourise, fill, soft masks, Reuse params."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from ddim_studio.core.imaging import read_params
from ddim_studio.core.masks import feather_mask
from ddim_studio.operations.restore import RestoreOutput
from tests.ui.conftest import open_window, wait_idle


@pytest.fixture
def window(qtbot, aloop, settings, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.delenv("DDIM_STUDIO_MODEL", raising=False)  # the shipped 32×32 shapes model
    w = open_window(qtbot, settings)
    w.set_mode("edit")
    yield w
    w.close()


def _scene(tmp_path: Path, size: int, grey: bool = False) -> Path:
    from ddim_studio.core.scenes import make_scenes

    image = Image.fromarray(make_scenes(1, seed=10_003)[0]).resize((size, size), Image.Resampling.BOX)
    path = tmp_path / f"scene{size}{'g' if grey else ''}.png"
    (image.convert("L").convert("RGB") if grey else image).save(path)
    return path


def _run(qtbot, window) -> list:  # type: ignore[no-untyped-def]
    events: list = []
    window.edit.tracker.step.connect(events.append)
    qtbot.mouseClick(window.edit_view.edit_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    return events


def test_upscale_streams_saves_and_reuse_params_restores(qtbot, window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    view, edit = window.edit_view, window.edit
    small = _scene(tmp_path, 8)
    assert edit.load_path(small)
    view.task_panel.set_choice("upscale", 4)
    assert view.edit_button.text() == "Restore" and not view.strength.isEnabled()
    view.steps.set_value(6)
    view.seed.set_value(5, lock=True)
    events = _run(qtbot, window)
    assert events and events[0].phase == "restore" and events[-1].total == 6
    out = edit.result
    assert isinstance(out, RestoreOutput) and out.task == "upscale" and max(out.consistency) <= 1 / 255
    assert view.compare.after is not None and view.compare.before is not None
    item = edit.saved_items[0]
    params = read_params(item.png)
    assert params["kind"] == "restore" and params["factor"] == 4 and params["seed"] == 5
    result = np.asarray(Image.open(item.png).convert("RGB"), dtype=float)
    pooled = result.reshape(8, 4, 8, 4, 3).mean(axis=(1, 3))
    assert np.abs(pooled - np.asarray(Image.open(small), dtype=float)).max() <= 1.0
    assert np.abs(result - np.kron(np.asarray(Image.open(small), float), np.ones((4, 4, 1)))).mean() > 2
    # change the controls, then Reuse params brings the task, factor, steps and seed back
    view.task_panel.set_choice("colorize")
    view.steps.set_value(30)
    window.gallery_view.select_row(window.gallery.model.row_of(item.png))
    assert window.gallery_view.reuse_params_button.isEnabled()
    qtbot.mouseClick(window.gallery_view.reuse_params_button, Qt.MouseButton.LeftButton)
    assert window.stack.currentWidget() is view
    assert view.task_panel.task_name() == "upscale" and view.task_panel.factor_value() == 4
    assert view.steps.value() == 6 and view.seed.value() == 5
    _run(qtbot, window)  # the reused input is the 8×8 picture itself: the same result again
    again = np.asarray(Image.open(edit.saved_items[0].png).convert("RGB"), dtype=float)
    assert np.array_equal(again, result)


def test_colourise_and_a_feathered_fill(qtbot, window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    view, edit = window.edit_view, window.edit
    assert edit.load_path(_scene(tmp_path, 32, grey=True))
    view.task_panel.set_choice("colorize")
    view.steps.set_value(6)
    _run(qtbot, window)
    out = np.asarray(Image.open(edit.saved_items[0].png).convert("RGB"), dtype=float)
    grey = np.asarray(Image.open(_scene(tmp_path, 32, grey=True)).convert("L"), dtype=float)
    assert np.abs(out.mean(axis=2) - grey).max() <= 1.0 and out.std(axis=2).mean() > 3  # coloured
    # fill: no mask yet is refused in words; a soft brush and a feather give a soft mask
    assert edit.load_path(_scene(tmp_path, 32))
    view.task_panel.set_choice("inpaint")
    _run(qtbot, window)
    assert view.progress.label.text().startswith("Paint the region to fill with the Mask tool first.")
    assert read_params(edit.saved_items[0].png)["task"] == "colorize"  # nothing new was run
    view.hardness.setValue(0)
    view.brush_size.setValue(8)
    view.set_tool("mask")
    view.canvas.stroke([(16.5, 16.5)])
    mask = view.canvas.mask_pixels()
    assert mask[16, 16] == 255 and ((mask > 0) & (mask < 255)).sum() >= 8  # a soft rim
    view.feather.setValue(2)
    painted = view.canvas.painted.copy()
    _run(qtbot, window)
    out = edit.result
    assert isinstance(out, RestoreOutput) and out.task == "inpaint" and out.method == "ddnm"
    saved = np.asarray(Image.open(edit.saved_items[0].png).convert("RGB"))
    assert out.feather == 2 and read_params(edit.saved_items[0].png)["feather"] == 2
    kept = feather_mask(out.mask, 2)[0, 0].numpy() == 0
    assert kept.sum() > 500 and np.array_equal(saved[kept], painted[kept])
