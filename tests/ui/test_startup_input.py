"""Input before the model is ready is kept and runs once it is; every control survives a restart."""

from __future__ import annotations

from PySide6.QtCore import Qt

from ddim_studio.ui.main_window import MainWindow
from tests.ui.conftest import WAIT_MS, open_window, wait_idle


def test_generate_while_starting_runs_once_the_model_is_loaded(qtbot, aloop, settings) -> None:  # type: ignore[no-untyped-def]
    window = MainWindow(settings=settings, defer_attach=True)
    qtbot.addWidget(window)
    window.show()
    view = window.generate_view
    view.batch.setValue(2)  # typed while the status says "starting…"
    view.steps.spin.setValue(3)
    qtbot.mouseClick(view.generate_button, Qt.MouseButton.LeftButton)
    assert "will run when the model is loaded" in window.banner.message()
    window.attach()
    assert view.batch.value() == 2 and view.steps.value() == 3  # kept when the controllers take over
    qtbot.waitUntil(lambda: window.generate.result is not None, timeout=WAIT_MS)
    wait_idle(qtbot, window)
    assert window.generate.result.images.shape[0] == 2 and len(window.generate.result.timesteps) == 3
    assert view.batch.value() == 2 and view.steps.value() == 3
    window.close()


def test_ctrl_enter_while_the_model_loads_is_queued(qtbot, aloop, settings) -> None:  # type: ignore[no-untyped-def]
    window = open_window(qtbot, settings, wait_model=False)
    window.set_mode(0)
    window.generate_view.steps.spin.setValue(2)
    window.generate_view.batch.setValue(1)
    assert not window.services.model.is_loaded
    window.run_current()
    assert "will run when the model is loaded" in window.services.notifier.last()
    qtbot.waitUntil(lambda: window.generate.result is not None, timeout=WAIT_MS)
    wait_idle(qtbot, window)
    window.close()


def test_every_control_survives_a_restart(qtbot, aloop, settings) -> None:  # type: ignore[no-untyped-def]
    first = open_window(qtbot, settings)
    g, e, i = first.generate_view, first.encode_view, first.interpolate_view
    g.steps.spin.setValue(7)
    g.batch.setValue(3)
    g.eta.set_value(0.3)
    g.spacing.setCurrentText("quadratic")
    g.show_xt.setChecked(True)
    g.autorun.setChecked(True)
    e.steps.spin.setValue(9)
    e.var_count.setValue(5)
    i.steps.spin.setValue(11)
    i.method.setCurrentText("lerp")
    first.close()
    again = open_window(qtbot, settings)
    g, e, i = again.generate_view, again.encode_view, again.interpolate_view
    assert (g.steps.value(), g.batch.value(), g.eta.value()) == (7, 3, 0.3)
    assert g.spacing.currentText() == "quadratic"
    assert g.show_xt.isChecked() and again.generate._show_xt and g.autorun.isChecked()
    assert (e.steps.value(), e.var_count.value()) == (9, 5)
    assert (i.steps.value(), i.method.currentText()) == (11, "lerp")
    again.close()
