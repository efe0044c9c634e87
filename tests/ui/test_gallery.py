"""The gallery: persisted across restarts, keyboard, delete to the trash, drag out, errors in words."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from PySide6.QtCore import Qt, QUrl

from ddim_studio.core.store import StoreError
from ddim_studio.ui import dialogs
from ddim_studio.ui.gallery import gallery_controller
from tests.ui.conftest import WAIT_MS, open_window, wait_idle


def save_pictures(window, count: int) -> list:  # type: ignore[no-untyped-def]
    """Save ``count`` small pictures through the library, as the modes do."""
    items = []
    for i in range(count):
        image = Image.fromarray(np.full((32, 32, 3), 40 * i, np.uint8))
        params = {"kind": "sample", "seed": i, "steps": 10, "eta": 0.0, "spacing": "uniform"}
        items.append(
            window.services.library.save(image, params, stem=f"pic{i}", latent=torch.zeros(3, 32, 32))
        )
    return items


def test_gallery_is_restored_when_the_window_reopens(qtbot, aloop, settings) -> None:  # type: ignore[no-untyped-def]
    first = open_window(qtbot, settings)
    save_pictures(first, 3)
    assert first.gallery_model.rowCount() == 3
    first.set_mode(2)
    first.resize(1200, 800)
    first.close()
    assert first.services.runner.shutdown()  # already stopped by closeEvent: returns at once

    second = open_window(qtbot, settings, wait_model=False)
    qtbot.waitUntil(lambda: second.gallery_model.rowCount() == 3, timeout=WAIT_MS)
    names = [second.gallery_model.item(r).png.name for r in range(3)]
    assert names == ["pic2.png", "pic1.png", "pic0.png"]  # newest first
    assert second.gallery_model.item(0).params["seed"] == 2
    assert second.mode() == 2
    assert second.gallery_view.count_label.text() == "3 pictures"
    second.close()


def test_arrow_keys_and_details(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    save_pictures(window, 3)
    view = window.gallery_view
    view.select_row(0)
    view.list.setFocus()
    qtbot.keyClick(view.list, Qt.Key.Key_Right)
    assert window.gallery.selected().png.name == "pic1.png"
    assert "Seed" in view.details.text() and ">1<" in view.details.text()
    assert view.file_label.text().startswith("pic1.png")


def test_delete_key_moves_to_trash_after_confirmation(qtbot, window, outputs, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    save_pictures(window, 2)
    answers = iter([False, True])
    monkeypatch.setattr(dialogs, "confirm", lambda *a, **k: next(answers))
    view = window.gallery_view
    view.select_row(0)
    view.list.setFocus()
    qtbot.keyClick(view.list, Qt.Key.Key_Delete)  # answered "Cancel"
    assert (outputs / "pic1.png").exists()
    qtbot.keyClick(view.list, Qt.Key.Key_Delete)  # answered "Move to trash"
    assert not (outputs / "pic1.png").exists() and not (outputs / "pic1.safetensors").exists()
    assert (outputs / ".trash" / "pic1.png").exists() and (outputs / ".trash" / "pic1.safetensors").exists()
    assert window.gallery_model.rowCount() == 1
    assert window.gallery.selected().png.name == "pic0.png"


def test_drag_out_carries_file_urls(window) -> None:  # type: ignore[no-untyped-def]
    save_pictures(window, 1)
    model = window.gallery_model
    mime = model.mimeData([model.index(0, 0)])
    assert mime.urls() == [QUrl.fromLocalFile(str(window.gallery.selected().png))]
    assert model.flags(model.index(0, 0)) & Qt.ItemFlag.ItemIsDragEnabled


def test_open_in_file_manager(window, monkeypatch, outputs) -> None:  # type: ignore[no-untyped-def]
    opened = []
    monkeypatch.setattr(
        gallery_controller.QDesktopServices, "openUrl", lambda url: opened.append(url) or True
    )
    save_pictures(window, 1)
    window.gallery_view.show_button.click()
    window.open_output_folder()
    assert opened == [QUrl.fromLocalFile(str(outputs))] * 2


def test_disk_full_is_shown_and_nothing_crashes(qtbot, window, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def full(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise StoreError("disk_full", "The disk is full: s1_S2_eta0.00.png was not saved. Free some space.")

    monkeypatch.setattr(window.services.library.store, "save_image", full)
    view = window.generate_view
    view.steps.spin.setValue(2)
    view.batch.setValue(1)
    view.seed.setValue(1)
    view.lock.setChecked(True)
    window.generate.generate()
    wait_idle(qtbot, window)
    assert window.banner.isVisible() and window.banner.level == "error"
    assert "The disk is full" in window.banner.message()
    assert "The disk is full" in window.statusBar().currentMessage()
    assert window.services.library.items == []
    assert view.save_button.isVisible()  # the results are kept, ready to save again


def test_a_model_that_fails_to_load_is_reported(qtbot, window, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    empty = tmp_path / "not_a_model"
    empty.mkdir()
    monkeypatch.setattr(dialogs, "choose_folder", lambda *a, **k: empty)
    window.open_model_folder()
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=WAIT_MS)
    assert window.banner.message().startswith("The model could not be loaded:")
    assert window.model_label.text() == "tiny_model · 32×32 · cpu · float32"  # the old model stays
    window.generate_view.steps.spin.setValue(2)
    window.generate.generate()
    wait_idle(qtbot, window)
    assert window.generate.result is not None


def test_save_selected_as_copies_png_and_latent(window, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    save_pictures(window, 1)
    monkeypatch.setattr(dialogs, "save_file", lambda *a, **k: tmp_path / "copy.png")
    written = window.save_selected_as()
    assert written == tmp_path / "copy.png"
    assert written.read_bytes() == window.gallery.selected().png.read_bytes()
    assert (tmp_path / "copy.safetensors").exists()
    assert window.save_selected_as() == tmp_path / "copy-1.png"  # never overwrites


def test_reuse_seed_locks_it_in_generate(window) -> None:  # type: ignore[no-untyped-def]
    save_pictures(window, 2)
    window.set_mode(2)
    window.gallery_view.select_row(1)
    window.gallery_view.reuse_seed_button.click()
    assert window.mode() == 0
    assert window.generate_view.seed.value() == 0 and window.generate_view.lock.isChecked()


def test_the_same_run_again_reuses_the_picture_already_there(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    gen = window.generate_view
    gen.steps.spin.setValue(2)
    gen.batch.setValue(1)
    gen.seed.setValue(131)
    gen.lock.setChecked(True)
    window.generate.generate()
    wait_idle(qtbot, window)
    window.generate.generate()
    wait_idle(qtbot, window)
    items = window.services.library.items
    assert len(items) == 1 and not list(items[0].png.parent.glob("*-1.png"))
    assert "already in the gallery" in window.services.notifier.last()
    assert window.gallery.selected().png == items[0].png


def test_labels_elide_in_the_middle_with_the_full_text_in_the_tooltip(window) -> None:  # type: ignore[no-untyped-def]
    from ddim_studio.ui.gallery.gallery_model import GalleryModel
    from ddim_studio.ui.params import short_label

    save_pictures(window, 1)
    view = window.gallery_view
    assert view.list.textElideMode() == Qt.TextElideMode.ElideMiddle
    model: GalleryModel = view.model
    tip = model.data(model.index(0), Qt.ItemDataRole.ToolTipRole)
    assert tip.splitlines()[0] == short_label(window.services.library.items[0].params)


def test_ctrl_z_puts_a_deleted_picture_back(qtbot, window, outputs, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    save_pictures(window, 2)
    monkeypatch.setattr(dialogs, "confirm", lambda *a, **k: True)
    window.gallery_view.select_row(0)
    gone = window.gallery.selected()
    assert window.gallery.delete()
    assert not gone.png.exists() and len(window.services.library.items) == 1
    assert "Ctrl+Z" in window.services.notifier.last()
    qtbot.keyClick(window.gallery_view.list, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert gone.png.exists() and gone.latent is not None and gone.latent.exists()
    assert len(window.services.library.items) == 2 and window.gallery.selected().png == gone.png
    assert not (outputs / ".trash" / gone.png.name).exists()
