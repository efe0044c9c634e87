"""The window with big models in mind: the cost before Run, the config's clipping, loads that wait
for a job, large-model defaults, display-sized previews, and the compute settings."""

from __future__ import annotations

import json
import re
import shutil

from PySide6.QtCore import QRect, QSize

from ddim_studio.core.models.protocol import ModelInfo
from ddim_studio.operations.cost import CostModel
from ddim_studio.ui.model_advice import CLIP_MESSAGE, WAIT_MESSAGE, display_side
from ddim_studio.ui.qt_image import display_rect
from ddim_studio.ui.settings_dialog import SettingsDialog
from ddim_studio.workers import EncodeJob
from tests.helpers.slow import SlowUNet
from tests.ui.conftest import WAIT_MS, wait_idle

ESTIMATE = re.compile(r"^(⚠ )?(≈ .+|< 1 s) on this CPU$")


def test_estimate_next_to_run_in_every_mode(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    advisor = window.advisor
    qtbot.waitUntil(lambda: advisor.costs is not None, timeout=WAIT_MS)  # the probe timed at load
    assert advisor.costs.probe[1] > 0 and set(advisor.costs.probe) <= {1, 2, 4, 8}
    for mode in ("generate", "encode", "interpolate", "edit"):
        window.set_mode(mode)
        qtbot.waitUntil(lambda m=mode: bool(advisor.labels[m].text()), timeout=WAIT_MS)
        assert ESTIMATE.match(advisor.labels[mode].text()), advisor.labels[mode].text()
    view = window.generate_view
    view.steps.set_value(10)
    view.batch.setValue(1)
    ten = advisor.estimate("generate")
    view.steps.set_value(20)
    assert advisor.estimate("generate") == 2 * ten  # S calls per batch: twice the steps, twice the time
    advisor.costs = CostModel("cpu", {1: 10.5})  # a 256-px model on this CPU, timed once
    view.steps.set_value(50)
    view.batch.setValue(4)
    advisor.refresh()
    label = advisor.labels["generate"].text()
    assert label == "⚠ ≈ 35 min on this CPU"  # 50 calls × 4 pictures × 10.5 s, and a warning
    edit = window.edit_view
    edit.steps.set_value(50)
    edit.strength.setValue(40)  # strength 0.4: 20 of 50 steps
    edit.count.setValue(1)
    edit.start.setCurrentText("noise")
    edit.harmonize.setValue(0)
    noise = advisor.estimate("edit")
    edit.start.setCurrentText("invert")  # the inversion up to t₀ costs as many calls again
    assert noise is not None and advisor.estimate("edit") == 2 * noise


def test_large_model_defaults_on_a_cpu(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    info = ModelInfo("celebahq-like", "x", "diffusers", (3, 256, 256), 113_700_000, "epsilon")
    window.generate_view.batch.setValue(4)
    window.advisor._apply_defaults(info)
    assert window.generate_view.steps.value() == 20 and window.generate_view.batch.value() == 1
    assert window.encode_view.steps.value() == 20 and window.interpolate_view.steps.value() == 20


def test_config_clip_sample_banner_uses_the_models_setting(qtbot, window, tiny_model, tmp_path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "clipping"
    shutil.copytree(tiny_model, folder)
    config = json.loads((folder / "scheduler_config.json").read_text())
    (folder / "scheduler_config.json").write_text(json.dumps({**config, "clip_sample": True}))
    assert not window.generate_view.clip.isChecked()  # off by default
    window.services.model.load(str(folder), remember=False)
    qtbot.waitUntil(lambda: window.banner.message() == CLIP_MESSAGE, timeout=WAIT_MS)
    assert not window.generate_view.clip.isChecked()  # reported, not applied
    assert (
        window.banner.action_button.isVisible()
        and window.banner.action_button.text() == "Use the model's setting"
    )
    window.banner.action_button.click()
    assert window.generate_view.clip.isChecked() and not window.banner.isVisible()
    assert window.generate_view.params().clip_sample is True  # what the run and its saved params use


def test_a_load_behind_a_job_says_so_and_can_cancel_it(qtbot, window, tiny_model) -> None:  # type: ignore[no-untyped-def]
    slow = SlowUNet(sleep_s=0.5)
    runner = window.services.runner
    try:
        runner.set_model(slow.model)
        window.generate_view.steps.set_value(20)
        window.generate.generate()
        qtbot.waitUntil(lambda: slow.blocks_run >= 1, timeout=WAIT_MS)
        window.services.model.load(str(tiny_model), remember=False)
        qtbot.waitUntil(lambda: window.banner.message() == WAIT_MESSAGE, timeout=WAIT_MS)
        assert "waiting for the current job" in window.model_label.text()
        window.banner.action_button.click()  # "Cancel the job and load"
        qtbot.waitUntil(
            lambda: window.services.model.is_loaded and not window.services.model.is_loading, timeout=WAIT_MS
        )
        assert "waiting" not in window.model_label.text()
        assert slow.calls_completed < 20
        wait_idle(qtbot, window)
    finally:
        slow.make_fast()


def test_previews_follow_the_display_up_to_the_model_size(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    window.set_mode("generate")
    window.generate.generate()
    wait_idle(qtbot, window)
    window.advisor.refresh()
    side = display_side(window.generate_view)
    assert side >= 32
    assert window.services.runner.preview_size == 32  # the model's 32 px: never more, never less here


def test_pictures_are_drawn_native_smooth_or_crisp() -> None:
    cell = QRect(0, 0, 434, 434)
    rect, smooth = display_rect(QSize(256, 256), cell)
    assert (rect.width(), rect.height(), smooth) == (256, 256, False)  # native size, centred
    assert rect.left() == (434 - 256) // 2
    rect, smooth = display_rect(QSize(256, 256), QRect(0, 0, 200, 200))
    assert (rect.width(), smooth) == (200, True)  # shrunk smoothly
    rect, smooth = display_rect(QSize(32, 32), cell)
    assert (rect.width(), smooth) == (434, False)  # a tiny model enlarged pixel-crisp


def test_compute_settings_and_memory_estimate(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    settings = window.services.settings
    dialog = SettingsDialog(settings, window, sample_shape=(3, 256, 256))
    qtbot.addWidget(dialog)
    assert dialog.threads.value() == 0 and "all cores" in dialog.threads.specialValueText()
    dialog.batch.setValue(4)
    dialog.interpolate_batch.setValue(2)
    text = dialog.memory.text()
    assert "batch of 4 at 256 × 256 ≈ 96 MiB" in text and "batch of 2 at 256 × 256 ≈ 48 MiB" in text
    dialog.threads.setValue(1)
    dialog.apply()
    assert settings.get("compute/threads") == 1 and settings.get("defaults/interpolate_batch") == 2
    assert window.services.runner.num_threads == 1
    settings.set("compute/threads", 0)
    assert window.services.runner.num_threads == 0  # torch's default again (all cores)


def test_an_interpolation_slot_is_only_encoded(qtbot, window, picture) -> None:  # type: ignore[no-untyped-def]
    from ddim_studio.core.imaging import fit_to_model, load_image, pil_to_tensor

    image = pil_to_tensor(fit_to_model(load_image(picture).image, (32, 32)))
    events = []
    window.services.runner.step.connect(events.append)
    with qtbot.waitSignal(window.services.runner.finished, timeout=WAIT_MS) as done:
        window.services.runner.submit(EncodeJob(image, steps=5, decode=False))
    result = done.args[1]
    assert result.x_T.shape == (1, 3, 32, 32) and result.reconstruction.shape[0] == 0
    assert {e.phase for e in events} == {"encode"} and max(e.job_total for e in events) == 5
