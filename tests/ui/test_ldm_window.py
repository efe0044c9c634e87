"""A latent diffusion model in the window: Model Info says so, Generate makes pictures of the decoded
size with x_T in latent space, Encode shows the autoencoder's floor beside the whole error."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from ddim_studio.core.imaging import read_params
from ddim_studio.core.latents import load_latent
from ddim_studio.ui.window_actions import model_info_rows
from tests.helpers.ldm import save_ldm_folder
from tests.ui.conftest import WAIT_MS, settle_loads, wait_idle
from tests.ui.test_encode import drop_files


def open_ldm(qtbot, window, tmp_path):  # type: ignore[no-untyped-def]
    folder = save_ldm_folder(tmp_path / "tiny_ldm", "vq", scaling_factor=None)
    window.services.model.load(str(folder))
    qtbot.waitUntil(
        lambda: window.services.model.info is not None and window.services.model.info.space == "latent",
        timeout=WAIT_MS,
    )
    wait_idle(qtbot, window)


def test_model_info_and_generate(qtbot, window, tmp_path, outputs) -> None:  # type: ignore[no-untyped-def]
    assert not window.generate_view.codebook.isVisibleTo(window)  # a pixel model has no codebook
    open_ldm(qtbot, window, tmp_path)
    rows = dict(model_info_rows(window.services.model.info))
    assert rows["Space"].startswith("latent: the UNet samples 3 × 8 × 8 latents")
    assert rows["Autoencoder"].startswith("VQ") and rows["Picture size"] == "3 × 16 × 16"
    assert rows["Latent scale"].startswith("1: a VQ model whose config has no scaling_factor")
    assert window.services.model.size() == (16, 16)
    view = window.generate_view
    view.steps.spin.setValue(4)
    view.batch.setValue(1)
    view.seed.setValue(5)
    view.lock.setChecked(True)
    qtbot.mouseClick(view.generate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(window.services.library.items) == 1, timeout=WAIT_MS)
    wait_idle(qtbot, window)
    png = sorted(outputs.glob("*.png"))[0]
    params = read_params(png)
    assert params["size"] == [16, 16] and params["latent_scale"] == 1.0
    x_T, _ = load_latent(png.with_suffix(".safetensors"))
    assert tuple(x_T.shape[-3:]) == (3, 8, 8)  # x_T saved in latent space
    assert window.generate.result.frames.shape[-3:] == (16, 16, 3)  # previews are pictures
    assert view.codebook.isVisibleTo(window) and view.codebook.isChecked()
    view.codebook.setChecked(False)
    assert window.generate.make_job(view.params()).quantize is False


def test_encode_shows_the_autoencoder_floor(qtbot, window, tmp_path, picture) -> None:  # type: ignore[no-untyped-def]
    open_ldm(qtbot, window, tmp_path)
    window.set_mode(1)
    view = window.encode_view
    assert drop_files(view, picture)
    assert view.original.canvas.image().size().width() == 16
    view.steps.spin.setValue(5)
    qtbot.mouseClick(view.encode_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    enc = window.encode
    assert enc.x_T is not None and tuple(enc.x_T.shape) == (3, 8, 8)
    assert "autoencoder alone" in view.psnr_label.text()
    assert np.asarray(enc.reconstruction).shape == (16, 16, 3)


def test_masked_edit_keeps_the_pixels_beyond_the_seam(qtbot, window, tmp_path, picture) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    from ddim_studio.operations.edit import edit_files

    open_ldm(qtbot, window, tmp_path)
    window.set_mode("edit")
    view, edit = window.edit_view, window.edit
    assert edit.load_path(picture)
    settle_loads(window)  # pictures open off the GUI thread
    view.set_tool("mask")
    view.brush_size.setValue(2)
    view.canvas.stroke([(3.5, 3.5), (5.5, 3.5)])
    view.set_strength(0.6)
    view.steps.set_value(6)
    view.count.setValue(1)
    qtbot.mouseClick(view.edit_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    item = edit.saved_items[0]
    source_path, mask_path = edit_files(item.png)
    mask = np.asarray(Image.open(mask_path)) > 0
    result = np.asarray(Image.open(item.png).convert("RGB")).astype(int)
    painted = np.asarray(Image.open(source_path).convert("RGB")).astype(int)
    assert result.shape == (16, 16, 3) and mask.any()
    far = np.ones_like(mask)  # pixels more than the seam (2 px) from any masked pixel
    for y, x in zip(*np.nonzero(mask), strict=True):
        far[max(0, y - 2) : y + 3, max(0, x - 2) : x + 3] = False
    assert far.sum() > 100 and np.array_equal(result[far], painted[far])


def test_interpolate_a_seed_and_a_picture(qtbot, window, tmp_path, picture) -> None:  # type: ignore[no-untyped-def]
    open_ldm(qtbot, window, tmp_path)
    window.set_mode(2)
    view = window.interpolate_view
    view.slot_a.seed.setValue(1)
    view.slot_a.seed_button.click()
    assert tuple(window.interpolate.slots["A"].latent.shape) == (3, 8, 8)  # a latent-space x_T
    assert drop_files(view.slot_b, picture)
    view.frames.setValue(3)
    view.steps.spin.setValue(3)
    window.interpolate.run()
    wait_idle(qtbot, window)
    result = window.interpolate.result
    assert tuple(result.latents.shape) == (3, 3, 8, 8) and tuple(result.images.shape) == (3, 3, 16, 16)
    assert window.interpolate.slots["B"].ready and len(window.interpolate.frames) == 3
