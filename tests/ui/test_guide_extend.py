"""Generate ▸ Guide and Edit ▸ Extend in the window: drop a reference, see φ_N(y), guide, gallery,
Reuse params; pan with the arrows, the strip grows, export as PNG, Reuse params restores the walk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt

from ddim_studio.core.imaging import read_params
from ddim_studio.core.store import SOURCE_SUFFIX
from tests.ui.conftest import wait_idle


def _items(window, kind: str) -> list:  # type: ignore[no-untyped-def]
    window.services.library.refresh()
    return [i for i in window.services.library.store.list_items() if i.params.get("kind") == kind]


def test_guide_shows_the_coarse_picture_runs_saves_and_reuse_restores(qtbot, window, picture) -> None:  # type: ignore[no-untyped-def]
    gen, panel = window.generate, window.generate_view.guide
    assert panel.factors == [2, 4, 8, 16, 32]  # the divisors of the model's 32 px (1 would only copy)
    assert gen.guide.load_path(picture)
    assert panel.reference.image() is not None and panel.coarse.image() is not None
    sharp = panel.coarse.image().copy()
    panel.set_factors(panel.factors, 16)
    assert panel.factor_label.text() == "N = 16" and panel.coarse.image() != sharp  # coarser at larger N
    panel.set_until(0.2)
    window.generate_view.steps.set_value(6)
    window.generate_view.batch.setValue(2)
    window.generate_view.seed.setValue(7)
    window.generate_view.lock.setChecked(True)
    qtbot.mouseClick(panel.guide_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    out = gen.guide.result
    assert out is not None and out.seeds == (7, 8) and out.factor == 16 and out.until == 0.2
    assert panel.results.count() == 2
    items = _items(window, "guide")
    assert len(items) == 2
    item = next(i for i in items if i.params["seed"] == 8)
    assert item.params["factor"] == 16 and item.params["until"] == 0.2 and item.params["steps"] == 6
    reference = np.asarray(Image.open(item.png.with_name(item.png.stem + SOURCE_SUFFIX)).convert("RGB"))
    # change the controls, then Reuse params restores the reference, N, until and the sampler settings
    panel.set_factors(panel.factors, 4)
    panel.set_until(0.0)
    gen.guide.reference = None
    window.generate_view.steps.set_value(30)
    window.gallery_view.select_row(window.gallery.model.row_of(item.png))
    qtbot.mouseClick(window.gallery_view.reuse_params_button, Qt.MouseButton.LeftButton)
    assert window.stack.currentWidget() is window.generate_view
    assert panel.factor_value() == 16 and panel.until_value() == 0.2
    assert window.generate_view.steps.value() == 6 and window.generate_view.seed.value() == 8
    assert np.array_equal(np.asarray(gen.guide.reference), reference)


def test_guide_without_a_reference_says_so(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    messages = []
    window.services.notifier.message.connect(lambda *args: messages.append(args))
    window.generate.guide.guide()
    assert any("reference picture" in str(m) for m in messages)
    assert window.generate.guide.result is None


def _open_in_edit(window, picture: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.ui.conftest import settle_loads

    window.set_mode("edit")
    assert window.edit.load_path(picture)
    settle_loads(window)  # pictures open off the GUI thread


def test_extend_arrows_grow_the_strip_save_steps_export_and_reuse(qtbot, window, picture, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _open_in_edit(window, picture)
    panel, extend = window.edit_view.extend, window.edit.extend
    panel.band.setValue(6)
    panel.steps.setValue(4)
    start = window.edit_view.canvas.painted.copy()
    for _ in range(2):
        qtbot.mouseClick(panel.arrows["right"], Qt.MouseButton.LeftButton)
        wait_idle(qtbot, window)
    strip = extend.panorama()
    assert strip is not None and tuple(strip.shape[2:]) == (32, 32 + 2 * 6)
    assert panel.strip.pixmap() is not None and not panel.strip.pixmap().isNull()
    first = np.asarray(Image.open(sorted(i.png for i in _items(window, "extend"))[0]).convert("RGB"))
    assert np.array_equal(first[:, : 32 - 6 - 2], start[:, 6:30])  # kept beyond the feather, exactly
    exported = extend.export_png(tmp_path / "pano.png")
    assert exported is not None and Image.open(exported).size == (44, 32)
    assert read_params(exported)["panorama"] is True
    items = _items(window, "extend")
    assert sorted(i.params["step"] for i in items) == [1, 2]
    # Reuse params on step 2: the walk's start picture comes back, the next arrow starts from it
    panel.band.setValue(3)
    step2 = next(i for i in items if i.params["step"] == 2)
    window.gallery_view.select_row(window.gallery.model.row_of(step2.png))
    qtbot.mouseClick(window.gallery_view.reuse_params_button, Qt.MouseButton.LeftButton)
    assert window.stack.currentWidget() is window.edit_view
    assert panel.band.value() == 6 and extend.frames == [] and extend.start is not None
    assert np.array_equal(((extend.start[0].permute(1, 2, 0) + 1) * 127.5).round().byte().numpy(), start)
