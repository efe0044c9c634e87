"""Registries and model facts the window reads: samplers in the Generate panel, steps_offset, ᾱ convention."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from ddim_studio.core.samplers import SamplerSpec, register_sampler, unregister_sampler
from ddim_studio.core.sampling import StepResult, iter_sample
from ddim_studio.core.schedule import make_timesteps
from ddim_studio.ui.window_actions import model_info_rows
from tests.ui.conftest import SCHEDULER, WAIT_MS, make_tiny_model, wait_idle

CALLS: list[int] = []


def _throwaway(model, x_T, **kwargs) -> Iterator[StepResult]:  # type: ignore[no-untyped-def]
    CALLS.append(int(x_T.shape[0]))
    yield from iter_sample(model, x_T, **kwargs)


def test_a_registered_sampler_is_offered_and_used_by_generate(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    register_sampler(SamplerSpec("throwaway", "Throwaway", _throwaway, True, "A test sampler."))
    CALLS.clear()
    try:
        window.generate.on_model_ready()  # the list is read from the registry when a model is ready
        combo = window.generate_view.sampler
        names = [combo.itemData(i) for i in range(combo.count())]
        assert names[0] == "ddim" and "throwaway" in names
        assert combo.itemText(names.index("throwaway")) == "Throwaway"
        combo.setCurrentIndex(names.index("throwaway"))
        view = window.generate_view
        view.steps.spin.setValue(2)
        view.batch.setValue(1)
        view.lock.setChecked(True)
        window.generate.generate()
        wait_idle(qtbot, window)
        assert CALLS == [1]
        item = window.services.library.items[0]
        assert item.params["sampler"] == "throwaway" and item.params["kind"] == "sample"
        window.generate.apply_params({"sampler": "ddim", "steps": 3})
        assert view.params().sampler == "ddim"
    finally:
        unregister_sampler("throwaway")


def test_steps_offset_and_alpha_convention_reach_generate_and_model_info(
    qtbot, window, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "offset_model"
    folder.mkdir()
    make_tiny_model(folder)
    config = {**SCHEDULER, "steps_offset": 1, "set_alpha_to_one": False}
    (folder / "scheduler_config.json").write_text(json.dumps(config))
    window.services.model.load(str(folder))
    qtbot.waitUntil(
        lambda: window.services.model.info is not None and window.services.model.info.steps_offset == 1,
        timeout=WAIT_MS,
    )
    view = window.generate_view
    view.spacing.setCurrentIndex(view.spacing.findText("leading"))
    view.steps.spin.setValue(10)
    window.generate.update_timesteps()
    expected = make_timesteps(10, 1000, "leading", 1)
    assert expected[0] == 901
    assert view.timesteps.text.toPlainText() == ", ".join(str(t) for t in expected)
    rows = dict(model_info_rows(window.services.model.info))
    assert rows["Steps offset"] == "1"
    assert "set_alpha_to_one: false" in rows["ᾱ after the last step"]


class _ThrowawayController:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def run(self) -> None:
        self.calls.append("run")

    def cancel(self) -> bool:
        self.calls.append("cancel")
        return True

    def save(self) -> None:
        self.calls.append("save")

    def export_dialog(self, kind: str) -> None:
        self.calls.append(f"export {kind}")


def test_a_registered_mode_gets_rail_menus_shortcuts_and_the_window_keys(qtbot, aloop, settings) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtWidgets import QLabel

    from ddim_studio.ui.menus import shortcut_rows
    from ddim_studio.ui.modes import ModeSpec, mode_names, register_mode, unregister_mode
    from tests.ui.conftest import open_window

    controller = _ThrowawayController()
    register_mode(
        ModeSpec(
            name="throwaway",
            label="Throwaway",
            icon="film",
            tooltip="A test mode",
            shortcut="Ctrl+9",
            run_label="Throw",
            view=lambda: QLabel("throwaway view"),
            controller=lambda window, view: controller,
            exports=(("png", "As PNG…"),),
        )
    )
    try:
        assert mode_names()[-1] == "throwaway"
        window = open_window(qtbot, settings, wait_model=False)
        qtbot.waitUntil(lambda: window.attached, timeout=WAIT_MS)
        assert window.rail.buttons[-1].text() == "Throwaway"
        view_action = window.menus.modes[-1]
        assert view_action.text() == "Throwaway" and view_action.shortcut().toString() == "Ctrl+9"
        file_menu = window.menuBar().actions()[0].menu()
        export = next(a.menu() for a in file_menu.actions() if a.text() == "Export Throwaway")
        view_action.trigger()
        assert window.mode_name() == "throwaway" and window.stack.currentWidget() is window.throwaway_view
        assert window.throwaway is controller and window.rail.buttons[-1].isChecked()
        window.run_current()
        window.cancel_current()
        window.save_current()
        window.set_mode("generate")
        export.actions()[0].trigger()
        assert window.mode_name() == "throwaway"
        assert controller.calls == ["run", "cancel", "save", "export png"]
        assert ("Ctrl+9", "Switch to Throwaway") in shortcut_rows(window.mode_specs)
        wait_idle(qtbot, window)
        window.close()
    finally:
        unregister_mode("throwaway")
    assert "throwaway" not in mode_names()


def test_a_registered_sampler_appears_in_every_mode_and_the_samplers_view(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    """Issue 20: one registration line reaches Generate, Encode, Interpolate, Edit and the Samplers view."""
    spec = SamplerSpec("throwaway", "Throwaway(1S)", _throwaway, False, "A test sampler.", short_label="Thr")
    register_sampler(spec)
    CALLS.clear()
    try:
        window.services.model.ready.emit(window.services.model.info)  # every mode reads the registry
        combos = {
            "generate": window.generate_view.sampler,
            "encode": window.encode_view.sampler,
            "interpolate": window.interpolate_view.sampler,
            "edit": window.edit_view.sampler,
        }
        for mode, combo in combos.items():
            names = [combo.itemData(i) for i in range(combo.count())]
            assert "throwaway" in names, mode
            assert combo.itemText(names.index("throwaway")) == "Throwaway(1S)", mode
        edit_view = window.edit_view
        edit_view.sampler.set_name("throwaway")
        edit_view.update_sampler_rules()
        assert not edit_view.eta.isEnabled()  # the registry says η does not apply to it
        window.generate.paper.samplers()
        wait_idle(qtbot, window)
        captions = window.generate_view.paper_strip._captions
        assert [c for c in captions if c.startswith("Thr ")] == ["Thr 5", "Thr 10", "Thr 20", "Thr 50"]
        assert len(CALLS) == 4  # the Samplers view ran it at each S
    finally:
        unregister_sampler("throwaway")
