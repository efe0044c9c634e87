"""Generate mode, driven like a person would: sliders, buttons, keys; then the gallery and the files."""

from __future__ import annotations

import numpy as np
import torch
from PySide6.QtCore import Qt

from ddim_studio.core.imaging import read_params
from ddim_studio.core.latents import load_latent
from ddim_studio.core.noise import initial_noise
from ddim_studio.ui.qt_image import qimage_to_array
from tests.ui.conftest import WAIT_MS, wait_idle


def set_controls(window, *, eta: int = 0, steps: int = 4, batch: int = 2, seed: int = 123) -> None:  # type: ignore[no-untyped-def]
    view = window.generate_view
    view.eta.slider.setValue(eta)  # the slider counts hundredths
    view.steps.spin.setValue(steps)
    view.batch.setValue(batch)
    view.seed.setValue(seed)
    view.lock.setChecked(True)


def test_status_bar_names_the_model(window) -> None:  # type: ignore[no-untyped-def]
    assert window.model_label.text() == "tiny_model · 32×32 · cpu · float32"
    assert window.generate_view.steps.slider.maximum() == 1000


def test_generate_saves_pngs_with_params_and_latents(qtbot, window, outputs) -> None:  # type: ignore[no-untyped-def]
    set_controls(window, eta=30, steps=4, batch=2, seed=123)
    assert window.generate_view.eta.value_label.text() == "0.30"
    qtbot.mouseClick(window.generate_view.generate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(window.services.library.items) == 2, timeout=WAIT_MS)
    wait_idle(qtbot, window)

    assert window.gallery_model.rowCount() == 2
    pngs = sorted(outputs.glob("*.png"))
    assert [p.name for p in pngs] == ["s123_S4_eta0.30.png", "s124_S4_eta0.30.png"]
    result = window.generate.result
    for i, png in enumerate(pngs):
        params = read_params(png)
        assert params is not None
        assert (params["kind"], params["seed"], params["steps"], params["eta"]) == ("sample", 123 + i, 4, 0.3)
        assert params["spacing"] == "uniform" and params["model"] == "tiny_model"
        x_T, latent_params = load_latent(png.with_suffix(".safetensors"))
        assert torch.equal(x_T, result.x_T[i])
        assert latent_params["seed"] == 123 + i
    expected, _noise = initial_noise([123, 124], (3, 32, 32))
    assert torch.equal(result.x_T, expected)
    assert window.generate_view.grid.captions() == ["seed 123", "seed 124"]
    assert window.generate_view.scrubber.isEnabled()
    assert window.generate_view.scrub_label.text() == "step 4 of 4 · t = 0"
    assert window.generate_view.progress.label.text() == "Done · 2 images"


def test_scrubber_replays_recorded_frames(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    set_controls(window, steps=5, batch=1)
    window.generate.generate()
    wait_idle(qtbot, window)
    view = window.generate_view
    first = view.grid.image(0)
    view.scrubber.setValue(0)
    assert view.scrub_label.text().startswith("step 1 of 5")
    assert view.grid.image(0) != first
    view.scrubber.setValue(view.scrubber.maximum())
    assert view.scrub_label.text() == "step 5 of 5 · t = 0"


def test_show_xt_switches_the_replay_between_x_t_and_x0(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    set_controls(window, steps=5, batch=1)
    window.generate.generate()
    wait_idle(qtbot, window)
    view, result = window.generate_view, window.generate.result
    assert result.frames_xt is not None and result.frames_xt.shape == result.frames.shape
    view.scrubber.setValue(1)
    x0 = view.grid.image(0)
    assert np.array_equal(qimage_to_array(x0), result.frames[1][0])
    view.show_xt.setChecked(True)
    assert np.array_equal(qimage_to_array(view.grid.image(0)), result.frames_xt[1][0])
    assert not np.array_equal(result.frames_xt[1][0], result.frames[1][0])
    view.scrubber.setValue(2)
    assert np.array_equal(qimage_to_array(view.grid.image(0)), result.frames_xt[2][0])
    view.show_xt.setChecked(False)
    assert np.array_equal(qimage_to_array(view.grid.image(0)), result.frames[2][0])


def test_unlocked_seed_rolls_on_generate(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    set_controls(window, steps=2, batch=1, seed=7)
    window.generate_view.lock.setChecked(False)
    window.generate.generate()
    wait_idle(qtbot, window)
    assert window.generate.result.seeds != (7,)
    assert window.generate.result.seeds == (window.generate_view.seed.value(),)


def test_cancel_mid_run_with_escape(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    set_controls(window, steps=400, batch=1)
    view = window.generate_view
    qtbot.keyClick(window, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: view.progress.bar.value() > 0, timeout=WAIT_MS)
    assert view.progress.cancel_button.isEnabled()
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    # acknowledged at once, before the worker has stopped: Cancel disabled, "Stopping…"
    assert not view.progress.cancel_button.isEnabled()
    assert view.progress.label.text() == "Stopping…"
    wait_idle(qtbot, window)
    assert view.progress.label.text() == "Cancelled"
    assert window.services.library.items == []
    assert window.generate.result is None
    # the runner still works after a cancel
    set_controls(window, steps=2, batch=1)
    window.generate.generate()
    wait_idle(qtbot, window)
    assert len(window.services.library.items) == 1


def test_cancel_button_is_acknowledged_at_once_and_steps_do_not_overwrite_it(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    set_controls(window, steps=400, batch=1)
    view = window.generate_view
    window.generate.generate()
    qtbot.waitUntil(lambda: view.progress.bar.value() > 0, timeout=WAIT_MS)
    qtbot.mouseClick(view.progress.cancel_button, Qt.MouseButton.LeftButton)
    assert not view.progress.cancel_button.isEnabled()
    assert view.progress.label.text() == "Stopping…"
    view.progress.step(3, 400, "Step 3 of 400")  # a late step event keeps the acknowledgement
    assert view.progress.label.text() == "Stopping…"
    wait_idle(qtbot, window)
    assert view.progress.label.text() == "Cancelled"
    assert window.generate.result is None


def test_auto_run_reruns_after_a_pause_and_keeps_results_unsaved(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    set_controls(window, steps=3, batch=1, seed=5)
    view = window.generate_view
    view.autorun.setChecked(True)
    for value in (10, 20, 30, 40):  # a burst of slider moves
        view.eta.slider.setValue(value)
    qtbot.waitUntil(lambda: window.generate.result is not None, timeout=WAIT_MS)
    wait_idle(qtbot, window)
    assert window.generate.result_params.eta == 0.4
    assert window.generate.result.seeds == (5,)
    assert window.services.library.items == []
    assert view.save_button.isVisible()
    qtbot.mouseClick(view.save_button, Qt.MouseButton.LeftButton)
    assert len(window.services.library.items) == 1
    assert not view.save_button.isVisible()


def test_eta_sweep_paper_view(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    set_controls(window, steps=3, batch=1, seed=11)
    qtbot.mouseClick(window.generate_view.sweep_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    strip = window.generate_view.paper_strip
    assert strip.captions() == ["η = 0 (DDIM)", "η = 0.2", "η = 0.5", "η = 1 (DDPM)"]
    assert all(strip.image(i) is not None for i in range(4))
    assert "seed 11" in window.generate_view.paper_title.text()


def test_consistency_paper_view_labels_every_s(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    set_controls(window, steps=3, batch=1, seed=2)
    window.generate.paper.consistency()
    wait_idle(qtbot, window, timeout=120_000)
    strip = window.generate_view.paper_strip
    assert strip.captions() == ["S = 10", "S = 20", "S = 50", "S = 100", "S = 1000"]
    assert all(strip.image(i) is not None for i in range(5))


def test_timestep_list_is_visible(window) -> None:  # type: ignore[no-untyped-def]
    view = window.generate_view
    view.steps.spin.setValue(10)
    view.spacing.setCurrentText("uniform")
    assert view.timesteps.button.text() == "Timesteps τ (10): 900 → 0"
    assert view.timesteps.text.toPlainText().startswith("900, 800, 700")
    assert "τ" in view.timesteps.toolTip()
    for widget in (view.eta, view.steps, view.spacing):
        assert widget.toolTip()


def test_reuse_params_from_gallery(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    set_controls(window, eta=50, steps=3, batch=1, seed=99)
    window.generate.generate()
    wait_idle(qtbot, window)
    set_controls(window, eta=0, steps=20, batch=1, seed=1)
    window.gallery_view.select_row(0)
    qtbot.mouseClick(window.gallery_view.reuse_params_button, Qt.MouseButton.LeftButton)
    p = window.generate_view.params()
    assert (p.seed, p.steps, p.eta) == (99, 3, 0.5)
    assert window.mode() == 0


def test_header_and_replay_describe_the_run_in_progress_and_its_cancel(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    set_controls(window, steps=3, batch=2)
    window.generate.generate()
    wait_idle(qtbot, window)
    view = window.generate_view
    assert view.summary.text().startswith("2 × S = 3") and view.scrub_label.text() == "step 3 of 3 · t = 0"
    set_controls(window, steps=400, batch=1)
    window.generate.generate()
    qtbot.waitUntil(lambda: view.summary.text() == "1 × S = 400 · DDIM · uniform · running…", timeout=WAIT_MS)
    assert "step 3 of 3" not in view.scrub_label.text()
    qtbot.waitUntil(lambda: view.progress.bar.value() > 0, timeout=WAIT_MS)
    window.generate.cancel()
    wait_idle(qtbot, window)
    assert view.summary.text() == "1 × S = 400 · DDIM · uniform · cancelled"
    assert view.scrub_label.text() == "no replay: the run was cancelled"


def test_paper_title_names_the_seed_its_strip_shows(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    set_controls(window, steps=2, batch=2, seed=30)
    window.generate.generate()
    wait_idle(qtbot, window)
    view = window.generate_view
    view.grid.set_selected(0)
    window.generate.paper.eta_sweep()
    wait_idle(qtbot, window)
    assert view.paper_title.text() == "seed 30 · S = 2"
    view.grid.set_selected(1)
    view.grid.clicked.emit(1)
    assert view.paper_title.text() == "showing seed 30 · the buttons use seed 31"
    view.grid.set_selected(0)
    view.grid.clicked.emit(0)
    assert view.paper_title.text() == "seed 30 · S = 2"
