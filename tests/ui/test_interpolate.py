"""Interpolate mode: filling slots A and B, running, scrubbing, exporting."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import Qt

from ddim_studio.core.imaging import read_params
from ddim_studio.core.interpolation import interpolation_path
from ddim_studio.core.models import DEFAULT_MODEL_DIR
from ddim_studio.core.noise import initial_noise
from ddim_studio.ui import dialogs
from tests.ui.conftest import WAIT_MS, open_window, wait_idle
from tests.ui.test_encode import drop_files


def fill_seeds(qtbot, window, a: int = 3, b: int = 8) -> None:  # type: ignore[no-untyped-def]
    view = window.interpolate_view
    view.slot_a.seed.setValue(a)
    qtbot.mouseClick(view.slot_a.seed_button, Qt.MouseButton.LeftButton)
    view.slot_b.seed.setValue(b)
    qtbot.mouseClick(view.slot_b.seed_button, Qt.MouseButton.LeftButton)


def test_seeds_frames_scrub_and_gif(qtbot, window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    window.set_mode(2)
    view = window.interpolate_view
    fill_seeds(qtbot, window)
    assert view.slot_a.label.text() == "seed 3" and view.slot_b.label.text() == "seed 8"
    view.frames.setValue(5)
    view.steps.spin.setValue(3)
    qtbot.mouseClick(view.run_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)

    ctrl = window.interpolate
    assert len(ctrl.frames) == 5 and view.film.count() == 5
    assert view.film.captions()[0] == "λ 0.00" and view.film.captions()[-1] == "λ 1.00"
    a, _ = initial_noise([3], (3, 32, 32))
    b, _ = initial_noise([8], (3, 32, 32))
    assert torch.allclose(ctrl.result.latents, interpolation_path(a[0], b[0], 5, "slerp"), atol=1e-5)

    view.scrubber.setValue(2)
    assert view.scrub_label.text() == "frame 3 of 5 · λ = 0.500"
    assert view.film.selected() == 2

    gif = ctrl.export("gif", tmp_path / "morph.gif")
    with Image.open(gif) as im:
        assert im.n_frames == 5
        assert im.size[0] >= 256
        assert im.info.get("loop") == 0
    strip = ctrl.export("strip", tmp_path / "strip.png")
    assert read_params(strip)["frames"] == 5
    frames = ctrl.export("frames", tmp_path / "frames")
    assert [p.name for p in frames] == [f"frame_00{i}.png" for i in range(1, 6)]
    again = ctrl.export("gif", tmp_path / "morph.gif")
    assert again.name == "morph-1.gif"  # never overwrites


def test_export_buttons_use_file_dialogs(qtbot, window, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    fill_seeds(qtbot, window)
    window.interpolate_view.frames.setValue(3)
    window.interpolate_view.steps.spin.setValue(2)
    window.interpolate.run()
    wait_idle(qtbot, window)
    monkeypatch.setattr(dialogs, "save_file", lambda *a, **k: tmp_path / "via_button.gif")
    qtbot.mouseClick(window.interpolate_view.gif_button, Qt.MouseButton.LeftButton)
    with Image.open(tmp_path / "via_button.gif") as im:
        assert im.n_frames == 3


def test_image_slot_is_encoded_first_then_frame_to_gallery(qtbot, window, picture) -> None:  # type: ignore[no-untyped-def]
    window.set_mode(2)
    view = window.interpolate_view
    view.slot_a.seed.setValue(1)
    view.slot_a.seed_button.click()
    assert drop_files(view.slot_b, picture)
    slot_b = window.interpolate.slots["B"]
    assert slot_b.kind == "image" and not slot_b.ready
    assert view.slot_b.label.text() == "photo.png" and view.slot_b.state.text() == "encoded on Run"
    view.frames.setValue(4)
    view.steps.spin.setValue(3)
    window.interpolate.run()
    wait_idle(qtbot, window)
    assert slot_b.ready and slot_b.kind == "latent"
    assert len(window.interpolate.frames) == 4

    view.scrubber.setValue(1)
    qtbot.mouseClick(view.add_button, Qt.MouseButton.LeftButton)
    items = window.services.library.items
    assert len(items) == 1
    params = items[0].params
    assert (params["kind"], params["frame"], params["frames"], params["method"]) == (
        "interpolate",
        1,
        4,
        "slerp",
    )
    assert items[0].latent is not None


def test_gallery_items_fill_slots(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    gen = window.generate_view
    gen.steps.spin.setValue(2)
    gen.batch.setValue(2)
    gen.seed.setValue(20)
    gen.lock.setChecked(True)
    window.generate.generate()
    wait_idle(qtbot, window)
    window.gallery_view.select_row(1)
    window.gallery_view.interpolateRequested.emit(window.gallery.selected(), "A")
    assert window.mode() == 2
    slot = window.interpolate.slots["A"]
    expected, _ = initial_noise([20], (3, 32, 32))
    assert slot.ready and torch.equal(slot.latent, expected[0])


def test_run_without_slots_says_what_to_do(window) -> None:  # type: ignore[no-untyped-def]
    window.interpolate.run()
    assert "Fill slot A and B first" in window.services.notifier.last()


@pytest.fixture
def shapes_window(qtbot, aloop, settings, monkeypatch):  # type: ignore[no-untyped-def]
    """The window on the shipped (trained) model: its inversion reproduces pictures closely."""
    monkeypatch.setenv("DDIM_STUDIO_MODEL", str(DEFAULT_MODEL_DIR))
    w = open_window(qtbot, settings)
    yield w
    w.close()


def _gallery_picture(qtbot, window, *, eta: float, steps: int, seed: int = 43):  # type: ignore[no-untyped-def]
    gen = window.generate_view
    gen.steps.spin.setValue(steps)
    gen.batch.setValue(1)
    gen.seed.setValue(seed)
    gen.lock.setChecked(True)
    gen.eta.set_value(eta)
    window.generate.generate()
    wait_idle(qtbot, window)
    item = window.services.library.items[0]
    with Image.open(item.png) as im:
        pixels = torch.from_numpy(np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0)
    return item, pixels


def _last_frame(qtbot, window, item, *, steps: int):  # type: ignore[no-untyped-def]
    view = window.interpolate_view
    view.slot_a.seed.setValue(5)
    view.slot_a.seed_button.click()
    window.gallery_view.interpolateRequested.emit(item, "B")
    view.frames.setValue(2)
    view.steps.spin.setValue(steps)
    window.interpolate.run()
    wait_idle(qtbot, window)
    return torch.from_numpy(window.interpolate.frames[-1].astype(np.float32) / 255.0)


def test_gallery_end_made_with_eta_is_encoded_and_reproduced(qtbot, shapes_window) -> None:  # type: ignore[no-untyped-def]
    window = shapes_window
    item, pixels = _gallery_picture(qtbot, window, eta=0.5, steps=20)
    frame = _last_frame(qtbot, window, item, steps=20)
    assert window.interpolate.slots["B"].how == "encoded from the picture"
    assert window.interpolate_view.slot_b.state.text() == "encoded from the picture"
    error = float(((frame - pixels) ** 2).mean())
    assert error < 3e-3, error  # decoding the saved x_T at η = 0 gives another picture (MSE ≈ 0.03)


def test_gallery_end_with_other_timesteps_is_encoded(qtbot, shapes_window) -> None:  # type: ignore[no-untyped-def]
    window = shapes_window
    item, pixels = _gallery_picture(qtbot, window, eta=0.0, steps=5)
    frame = _last_frame(qtbot, window, item, steps=20)
    assert window.interpolate.slots["B"].how == "encoded from the picture"
    error = float(((frame - pixels) ** 2).mean())
    assert error < 3e-3, error


def test_gallery_end_at_eta_0_uses_its_saved_latent(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    item, pixels = _gallery_picture(qtbot, window, eta=0.0, steps=4)
    frame = _last_frame(qtbot, window, item, steps=4)
    assert window.interpolate.slots["B"].how == "saved latent"
    assert window.interpolate_view.slot_b.state.text() == "saved latent"
    assert float((frame - pixels).abs().max()) <= 1 / 255 + 1e-6


def test_seed_fields_show_a_placeholder_until_a_seed_fills_the_slot(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    window.set_mode(2)
    view = window.interpolate_view
    for name in ("A", "B"):
        seed = view.slot(name).seed
        assert seed.text() == "" and seed.lineEdit().placeholderText() == "type a seed"
        assert window.interpolate.slots[name] is None
    spin = view.slot_a.seed
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus, timeout=WAIT_MS)
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin, "42")
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    slot = window.interpolate.slots["A"]
    assert slot is not None and slot.kind == "seed" and slot.params["seed"] == 42
    assert view.slot_a.label.text() == "seed 42"
    view.slot_b.seed_button.click()  # the button on the placeholder draws a random seed
    drawn = window.interpolate.slots["B"].params["seed"]
    assert drawn >= 0 and view.slot_b.seed.value() == drawn


def test_two_files_dropped_on_a_fill_a_and_b(qtbot, window, picture, tmp_path) -> None:  # type: ignore[no-untyped-def]
    second = tmp_path / "second.png"
    Image.new("RGB", (40, 30), (30, 90, 200)).save(second)
    assert drop_files(window.interpolate_view.slot_a, picture, second)
    a, b = window.interpolate.slots["A"], window.interpolate.slots["B"]
    assert a is not None and a.path == picture and b is not None and b.path == second


def test_picture_slots_are_encoded_with_the_refine_setting(qtbot, window, picture) -> None:  # type: ignore[no-untyped-def]
    window.set_mode("interpolate")
    view, controller = window.interpolate_view, window.interpolate
    view.slot_a.seed.setValue(1)
    view.slot_a.seed_button.click()
    assert drop_files(view.slot_b, picture)
    view.frames.setValue(2)
    view.steps.spin.setValue(3)
    kinds: list[str] = []
    window.services.runner.started.connect(lambda _id, kind: kinds.append(kind))
    view.refine.setValue(2)
    controller.run()
    wait_idle(qtbot, window)
    assert kinds.count("encode") == 1 and controller.slots["B"].params["refine"] == 2
    view.refine.setValue(0)  # another refinement: the picture is encoded again, not reused
    controller.run()
    wait_idle(qtbot, window)
    assert kinds.count("encode") == 2 and controller.slots["B"].params["refine"] == 0
    controller.run()  # the same setting: the slot's latent is reused
    wait_idle(qtbot, window)
    assert kinds.count("encode") == 2
