"""What a new user met in the window, round three (issue 25): the wheel, seed slots, stale displays…"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QKeySequence, QShortcut, QWheelEvent
from PySide6.QtWidgets import QApplication, QComboBox, QSlider, QSpinBox, QWidget

from ddim_studio.ui.widgets import wheel_guard
from ddim_studio.ui.widgets.controls import LOADING_TEXT, OffWhenDisabledSpinBox


def wheel(widget: QWidget, steps: int = -3) -> None:
    """Turn the wheel ``steps`` notches (negative: towards the user, scrolling down) over ``widget``."""
    local = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(
        local, QPointF(widget.mapToGlobal(local.toPoint())), QPoint(0, 0), QPoint(0, 120 * steps),
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False,
    )  # fmt: skip
    QApplication.sendEvent(widget, event)


def test_the_wheel_over_an_unfocused_control_scrolls_the_panel(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    window.resize(1024, 500)  # short: Generate's panel scrolls
    window.set_mode("generate")
    view = window.generate_view
    scroll = view.findChild(QWidget, "ControlPanelScroll").verticalScrollBar()
    qtbot.waitUntil(lambda: scroll.maximum() > 0, timeout=60_000)
    sampler = view.sampler
    assert sampler.focusPolicy() == Qt.FocusPolicy.StrongFocus  # the wheel never gives it focus
    window.setFocus()
    before, top = sampler.currentIndex(), scroll.value()
    wheel(sampler, -3)
    assert sampler.currentIndex() == before  # Sampler kept: the wheel went to the panel
    assert scroll.value() > top
    for control in (view.steps.spin, view.batch, view.eta.slider):
        control.clearFocus()
        value = control.value()
        wheel(control, 2)
        assert control.value() == value
    sampler.setFocus()  # clicked or tabbed into: the wheel chooses, as usual
    qtbot.waitUntil(sampler.hasFocus, timeout=60_000)
    wheel(sampler, -1)
    assert sampler.currentIndex() != before


def test_every_panel_control_is_guarded_and_controls_outside_panels_are_not(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    for view in window.mode_views.values():
        for control in view.findChildren(QWidget):
            if isinstance(control, wheel_guard.GUARDED) and wheel_guard.scroll_area_of(control) is not None:
                assert control.focusPolicy() != Qt.FocusPolicy.WheelFocus, control
    loose = QSpinBox()  # a dialog's spin box: no scrolling panel around it, the wheel changes it
    qtbot.addWidget(loose)
    loose.show()
    wheel(loose, 2)
    assert loose.value() == 2


def test_typing_into_an_empty_seed_slot_fills_it(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    window.set_mode("interpolate")
    view = window.interpolate_view
    spin = view.slot_a.seed
    assert spin.text() == "" and spin.lineEdit().placeholderText() == "type a seed"
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus, timeout=60_000)
    qtbot.keyClicks(spin, "8")  # no select-all first: the field is empty, the digit goes in
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    slot = window.interpolate.slots["A"]
    assert slot is not None and slot.kind == "seed" and slot.params["seed"] == 8


def test_the_sprout_on_an_empty_seed_slot_draws_a_random_seed(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    window.set_mode("interpolate")
    seeds = []
    for name in ("A", "B"):
        view = window.interpolate_view.slot(name)
        view.seed_button.click()
        seeds.append(window.interpolate.slots[name].params["seed"])
        assert view.seed.value() == seeds[-1]
    assert seeds[0] != seeds[1] and all(0 <= s < 2**31 for s in seeds)  # not 0 and 1 every time


def test_the_slot_box_keeps_its_height_when_its_status_line_empties(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    window.set_mode("interpolate")
    slot = window.interpolate_view.slot_a
    slot.show_content(None, "seed 5", "encoded from the picture on Run")
    qtbot.wait(10)
    tall = slot.sizeHint().height(), slot.height()
    slot.show_content(None, "seed 5", "")
    qtbot.wait(10)
    assert (slot.sizeHint().height(), slot.height()) == tall


def test_the_shortcut_list_names_every_key_the_window_answers(window) -> None:  # type: ignore[no-untyped-def]
    from ddim_studio.ui.menus import shortcut_rows

    listed = " ".join(keys for keys, _what in shortcut_rows(window.mode_specs))
    keys = {s.key().toString() for s in window.findChildren(QShortcut)}
    keys |= {a.shortcut().toString() for a in window.findChildren(type(window.menus.save)) if a.shortcut()}
    keys -= {"", "Ctrl+Return", "Del"}  # listed as Ctrl+Enter and Delete
    for key in sorted(keys):
        assert key in listed, key
    for key in ("Ctrl+Z", "Ctrl+Shift+Z", "B", "E", "M", "K", "I", "F1", "Delete", "Ctrl+Enter"):
        assert key in listed, key
    assert QKeySequence(QKeySequence.StandardKey.HelpContents).toString() == "F1"


def test_harmonize_reads_off_without_a_mask(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    harmonize = window.edit_view.harmonize
    assert isinstance(harmonize, OffWhenDisabledSpinBox)
    harmonize.setEnabled(True)
    harmonize.setValue(2)
    assert harmonize.text() == "2"
    window.edit_view.update_history()  # no mask painted
    assert not harmonize.isEnabled() and harmonize.text() == "off" and harmonize.value() == 2
    harmonize.setEnabled(True)
    assert harmonize.text() == "2"


def test_the_gallery_delete_looks_disabled_with_nothing_selected(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    gallery = window.gallery_view
    gallery.show_item(None)
    button = gallery.delete_button
    assert not button.isEnabled()

    def reddish(widget: QWidget) -> int:
        image = widget.grab().toImage()
        danger = QColor("#f7768e")
        return sum(
            1
            for y in range(image.height())
            for x in range(image.width())
            if abs(image.pixelColor(x, y).red() - danger.red()) < 30
            and abs(image.pixelColor(x, y).green() - danger.green()) < 30
        )

    disabled = reddish(button)
    button.setEnabled(True)
    assert reddish(button) > 10 * max(1, disabled)  # red only when it would act


def test_preview_says_loading_while_the_model_loads(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    window.services.model.load(None, remember=False)
    assert window.generate_view.progress.label.text() == LOADING_TEXT
    assert window.encode_view.progress.label.text() == LOADING_TEXT
    qtbot.waitUntil(lambda: not window.services.model.is_loading, timeout=60_000)
    assert window.generate_view.progress.label.text() != LOADING_TEXT


def test_memory_per_batch_of_a_tiny_model_is_not_zero(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    from ddim_studio.ui.settings_dialog import memory_words

    assert memory_words(3 * 2**20) == "3.00 MiB" and memory_words(5 * 2**30) == "5.00 GiB"
    assert memory_words(100) == "1 KiB"
    assert "0.00" not in memory_words(40_000)


def test_encode_opens_images_and_latents_by_default() -> None:
    from ddim_studio.ui import dialogs

    first = dialogs.IMAGE_OR_LATENT_FILTER.split(";;")[0]
    assert "*.safetensors" in first and "*.png" in first


def test_combo_spin_and_slider_are_the_guarded_kinds() -> None:
    assert all(issubclass(k, wheel_guard.GUARDED) for k in (QComboBox, QSpinBox, QSlider))


def test_hub_failures_are_told_in_plain_words(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ddim_studio.core.models.hub import download_from_hub, hub_failure_words
    from ddim_studio.core.models.protocol import ModelLoadError
    from ddim_studio.workers.faults import window_words

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # never the network
    messages = {}
    for repo in ("ddim-studio/a..b", "ddim-studio-tests/not-a-cached-repo"):
        try:
            download_from_hub(repo, cache_dir=tmp_path)
        except ModelLoadError as exc:
            messages[repo] = window_words(str(exc))
    assert messages["ddim-studio/a..b"].startswith("'ddim-studio/a..b' is not a model id")
    assert "Could not reach" in messages["ddim-studio-tests/not-a-cached-repo"]
    errno = OSError(-2, "Name or service not known")
    messages["errno"] = window_words(hub_failure_words("a/b", errno))
    for text in messages.values():
        assert "Errno" not in text and "Error" not in text and "Repo id must" not in text, text
        assert "Open Model Folder" in text or "is not a model id" in text


def test_a_load_error_banner_goes_once_a_model_opens(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    from ddim_studio.ui.model_controller import LOAD_FAILED

    window.services.notifier.error(f"{LOAD_FAILED}: 'a..b' is not a model id.")
    assert window.banner.isVisible() and window.banner.message().startswith(LOAD_FAILED)
    window.services.model.load(None, remember=False)
    qtbot.waitUntil(lambda: not window.services.model.is_loading, timeout=60_000)
    assert not window.banner.isVisible()


class _Screen:
    """A 1280×720 screen whose whole area is available (a window manager without panels)."""

    def __init__(self, width: int, height: int) -> None:
        from PySide6.QtCore import QRect

        self.rect = QRect(0, 0, width, height)

    def availableGeometry(self):  # type: ignore[no-untyped-def]  # noqa: N802 - Qt's name
        return self.rect


def test_the_first_window_and_its_frame_fit_the_available_screen(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    for width, height in ((1280, 720), (1366, 768)):
        window.resize(1400, 900)  # the first launch's size, larger than the screen
        window.move(0, 0)
        window.screen = lambda w=width, h=height: _Screen(w, h)  # type: ignore[method-assign]
        window.fit_to_screen()
        frame = window.frameGeometry()
        extra_h = frame.height() - window.height()
        assert extra_h > 0  # offscreen windows have a (thin) frame too: it is counted
        assert frame.right() < width and frame.bottom() < height  # the status bar stays on screen
        assert window.height() == height - extra_h  # and the room is used


def test_generate_at_1280_by_695_shows_auto_run_whole(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    window.set_mode("generate")
    window.gallery_dock.show()
    window.resize(1280, 695)
    qtbot.wait(50)
    view = window.generate_view
    autorun, cost = view.autorun, view.cost
    assert autorun.visibleRegion().boundingRect().size() == autorun.size()  # not clipped by the scroll
    top_left = autorun.mapTo(window, autorun.rect().topLeft())
    mine = autorun.rect().translated(top_left)
    theirs = cost.rect().translated(cost.mapTo(window, cost.rect().topLeft()))
    assert not mine.intersects(theirs)


def test_paper_views_use_the_seeds_the_grid_shows_after_a_cancel(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    from tests.ui.conftest import wait_idle
    from tests.ui.test_generate import set_controls

    set_controls(window, steps=3, batch=2, seed=100)
    window.generate.generate()
    wait_idle(qtbot, window)
    assert window.generate.selected_seed() in (100, 101)
    set_controls(window, steps=600, batch=2, seed=7000)
    view = window.generate_view
    window.generate.generate()
    qtbot.waitUntil(lambda: view.progress.bar.value() > 0, timeout=60_000)
    window.generate.cancel()
    wait_idle(qtbot, window)
    # The paper views' title names a seed of the cancelled run the grid shows (seen stale in a window).
    assert window.generate.selected_seed() in (7000, 7001)
    assert view.paper_title.text() == f"for seed {window.generate.selected_seed()}"
    view.grid.set_selected(1)
    captions = view.grid.captions()
    assert window.generate.selected_seed() == 7001 and captions[1] == "seed 7001"  # not the last result's
    window.generate.scrub(0)  # no replay of the older run over the cancelled run's pictures
    assert view.grid.captions() == captions


def test_edit_forgets_the_last_results_when_a_new_source_comes(qtbot, window, picture, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    from tests.ui.conftest import wait_idle, wait_loaded

    window.set_mode("edit")
    view, edit = window.edit_view, window.edit
    intro = view.summary.text()
    assert edit.load_path(picture)
    wait_loaded(qtbot, window)  # pictures open off the GUI thread
    view.steps.set_value(4)
    edit.run()
    wait_idle(qtbot, window)
    assert view.results.count() >= 1 and view.summary.text() != intro and view.compare_caption.text()
    other = tmp_path / "other.png"
    Image.new("RGB", (40, 40), (200, 30, 90)).save(other)
    assert edit.load_path(other)
    wait_loaded(qtbot, window)  # pictures open off the GUI thread
    assert view.results.count() == 0 and view.summary.text() == intro and view.compare_caption.text() == ""
    assert edit.result is None


def test_interpolate_shows_no_stale_frames_and_says_it_is_encoding(qtbot, window, picture) -> None:  # type: ignore[no-untyped-def]
    from tests.ui.conftest import wait_idle, wait_loaded

    window.set_mode("interpolate")
    view, interp = window.interpolate_view, window.interpolate
    view.steps.set_value(3)
    view.frames.setValue(5)
    interp.fill_from_seed("A", 1)
    interp.fill_from_seed("B", 2)
    interp.run()
    wait_idle(qtbot, window)
    earlier = [view.film.image(i) for i in range(5)]
    assert all(image is not None for image in earlier)
    seen: list[str] = []
    interp.tracker.step.connect(lambda _e: seen.append(view.large.placeholder()))
    assert interp.fill_from_path("A", picture)
    wait_loaded(qtbot, window)  # pictures open off the GUI thread
    view.steps.set_value(400)
    interp.run()
    qtbot.waitUntil(lambda: bool(seen), timeout=60_000)
    assert seen[0].startswith("Encoding slot A")  # not "Fill slots A and B"
    qtbot.waitUntil(lambda: view.large.placeholder().startswith("Decoding"), timeout=60_000)
    interp.cancel()  # while the path decodes: its frames so far, and none of the earlier run
    wait_idle(qtbot, window)
    assert all(view.film.image(i) is not earlier[i] for i in range(5))  # no frame of the earlier run


def test_the_refine_advice_follows_the_numbers() -> None:
    from types import SimpleNamespace as H

    from ddim_studio.ui.encode.health_advice import refine_advice

    plain, refined = H(mean=0.02, std=1.67, autocorr=0.40), H(mean=0.02, std=1.76, autocorr=0.41)
    further = refine_advice(refined, 4, (0, plain))  # the photograph: 1.67 → 1.76
    assert "further from noise" in further and "1.67 → 1.76" in further and "closer" not in further
    closer = refine_advice(H(mean=0.0, std=1.2, autocorr=0.1), 4, (0, plain))
    assert "closer to noise" in closer and "1.67 → 1.20" in closer
    assert "about as far" in refine_advice(H(mean=0.02, std=1.675, autocorr=0.40), 2, (0, plain))
    assert "try Refine" in refine_advice(plain, 0) and refine_advice(refined, 4) == ""


def test_encode_shows_the_refine_advice_of_its_numbers(qtbot, window, picture) -> None:  # type: ignore[no-untyped-def]
    from tests.ui.conftest import wait_idle, wait_loaded

    window.set_mode("encode")
    view, encode = window.encode_view, window.encode
    texts = []
    for refine in (0, 2):
        assert encode.load_path(picture)
        wait_loaded(qtbot, window)  # pictures open off the GUI thread
        view.steps.set_value(5)
        view.refine.setValue(refine)
        encode.run()
        wait_idle(qtbot, window)
        texts.append(view.health_warning.text())
    assert not any("More refinement brings it closer" in t for t in texts)
    if view.health_warning.isVisible():  # a latent far from noise: the advice compares the two encodes
        assert "Refine 2 (instead of 0)" in texts[1]


def test_encode_at_1024_by_640_keeps_the_latent_health_rows_whole(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    from types import SimpleNamespace

    window.set_mode("encode")
    view = window.encode_view
    for gallery in (False, True):
        window.gallery_dock.setVisible(gallery)
        window.resize(1024, 640) if not gallery else window.resize(window.minimumSizeHint())
        health = SimpleNamespace(mean=0.01, std=1.76, autocorr=0.41, status="far", verdict="far", warning="w")
        view.set_health(health, "Refine 4 (instead of 0) moved it further from noise (spread 1.67 → 1.76).")
        qtbot.wait(50)
        labels = [*view.health_values.values(), view.health_verdict, view.health_warning]
        for label in labels:
            need = label.heightForWidth(label.width()) if label.wordWrap() else label.sizeHint().height()
            assert label.height() >= need, (label.text(), label.height(), need)  # never squashed
        tops = sorted(label.mapTo(view, label.rect().topLeft()).y() for label in view.health_values.values())
        row = view.health_values["mean"].height()
        assert all(b - a >= row for a, b in zip(tops[:-1], tops[1:], strict=True))  # rows never overlap


def test_a_model_of_another_size_keeps_the_edit_mask_and_undo(qtbot, window, picture, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    from tests.ui.conftest import wait_loaded
    from tests.ui.test_model_switch import _small_model

    window.set_mode("generate")  # the user is elsewhere when the model changes
    edit, canvas = window.edit, window.edit_view.canvas
    assert edit.load_path(picture)
    wait_loaded(qtbot, window)  # pictures open off the GUI thread
    mask = np.zeros((32, 32), np.uint8)
    mask[:, :16] = 255  # the left half regenerates
    canvas.set_mask(mask)
    assert canvas.can_undo()
    window.services.model.load(str(_small_model(tmp_path / "small16")))
    qtbot.waitUntil(lambda: window.services.model.info.sample_shape == (3, 16, 16), timeout=60_000)
    assert canvas.picture_size() == (16, 16) and canvas.has_mask
    # What is written about the picture speaks of the new size, not the last run (seen in a window).
    assert window.edit_view.source_label.text().endswith("→ 16×16")
    assert window.edit_view.progress.label.text().startswith("Ready")
    kept = canvas.mask_pixels()
    assert kept is not None and kept[:, :8].min() == 255 and kept[:, 8:].max() == 0  # fitted, not wiped
    assert canvas.can_undo() and canvas.undo() and not canvas.has_mask  # the history came along
    assert canvas.painted is not None and canvas.painted.shape == (16, 16, 3)


def test_labels_of_different_pictures_can_be_told_apart(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    from ddim_studio.ui.params import short_label

    labels = {short_label({"kind": "variation", "eta": 0.5, "noise_seed": 7000 + i}) for i in range(4)}
    assert len(labels) == 4  # not four times "var · η 0.5"
    window.set_mode("interpolate")
    shown = []
    for name, seed in (("A", 1266242167), ("B", 1266249981)):
        slot = window.interpolate_view.slot(name)
        slot.show_content(None, f"seed {seed} · seed{seed}_s50_eta0.51.png", "saved latent")
        qtbot.wait(20)
        label = slot.label
        shown.append(
            label.fontMetrics().elidedText(label.text(), label.elide_mode, label.contentsRect().width())
        )
    assert shown[0] != shown[1], shown  # the differing digits stay in view


def test_the_encode_estimate_counts_the_refinement(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    from ddim_studio.operations.cost import CostModel

    window.advisor.costs = CostModel("cpu", {1: 0.1})
    view = window.encode_view
    view.steps.set_value(50)
    view.refine.setValue(0)
    plain = window.advisor.estimate("encode")
    view.refine.setValue(2)
    assert plain == pytest.approx(100 * 0.1)  # 50 calls to invert, 50 to decode
    assert window.advisor.estimate("encode") == pytest.approx((50 * 4 + 50) * 0.1)  # up to 2 + K a step


def test_the_extend_card_needs_no_sideways_scroll_at_1366_by_768(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    window.set_mode("edit")
    window.gallery_dock.show()
    window.resize(1366, 768 - 30)  # the screen less a window frame
    qtbot.wait(50)
    scroll = window.edit_view.extend.parentWidget().parentWidget()  # the ScrollCard around the card
    card = window.edit_view.extend
    assert scroll.horizontalScrollBar().maximum() == 0, (card.sizeHint().width(), scroll.viewport().width())
    for button in (*card.arrows.values(), card.export_button, card.reset_button):
        # whole, not clipped: the short window still shows the title row and the arrows
        assert button.visibleRegion().boundingRect().size() == button.size(), button.text()


def test_a_runs_overhead_includes_saving_its_pictures(qtbot, window, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Found by benchmarks/bench_estimates.py: short runs were estimated at 0.7 of their time."""
    import time

    from tests.ui.conftest import wait_idle
    from tests.ui.test_generate import set_controls

    gen = window.generate
    save = gen.save_results
    monkeypatch.setattr(gen, "save_results", lambda: (time.sleep(0.5), save())[1])  # a slow disk
    qtbot.waitUntil(lambda: window.advisor.costs is not None, timeout=60_000)
    set_controls(window, steps=3, batch=1)
    gen.generate()
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: "sample" in window.advisor.costs.overhead, timeout=60_000)
    assert window.advisor.costs.overhead["sample"] >= 0.5  # the saving is part of what the user waits for


def test_a_runs_overhead_ends_with_its_own_flow(qtbot, window, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Found by bench_estimates.py: a flow started after the run (the next run's preparation) counted
    as the run's overhead until the window was idle again (an estimate of 19 s for a run of 10 s)."""
    import asyncio

    from ddim_studio.ui.tasks import running_tasks, spawn
    from tests.ui.conftest import wait_idle
    from tests.ui.test_generate import set_controls

    monkeypatch.setattr("ddim_studio.ui.model_advice.IDLE_WAIT_S", 3600.0)  # no learning by the fallback
    qtbot.waitUntil(lambda: window.advisor.costs is not None, timeout=60_000)
    release = asyncio.Event()

    async def next_flow() -> None:
        await release.wait()

    later: list[object] = []
    window.services.runner.finished.connect(lambda *_: later or later.append(spawn(next_flow())))
    set_controls(window, steps=3, batch=1)
    window.generate.generate()
    qtbot.waitUntil(lambda: bool(later), timeout=60_000)
    # learned while the later flow still waits: it is not part of this run
    qtbot.waitUntil(lambda: "sample" in window.advisor.costs.overhead, timeout=60_000)
    assert running_tasks() >= 1 and not later[0].done()  # type: ignore[attr-defined]
    release.set()
    wait_idle(qtbot, window)
