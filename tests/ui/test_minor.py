"""Small things a new user met: steps typed above the maximum, the lock's look, the Model menu, words."""

from __future__ import annotations

from PySide6.QtCore import Qt

from ddim_studio.ui.widgets.controls import StepsControl
from tests.ui.conftest import WAIT_MS


def test_steps_typed_above_the_maximum_become_the_maximum(qtbot) -> None:  # type: ignore[no-untyped-def]
    steps = StepsControl(maximum=1000)
    qtbot.addWidget(steps)
    steps.show()
    steps.spin.setFocus()
    qtbot.waitUntil(steps.spin.hasFocus, timeout=WAIT_MS)
    steps.spin.lineEdit().selectAll()
    qtbot.keyClicks(steps.spin, "5000")
    qtbot.keyClick(steps.spin, Qt.Key.Key_Return)
    assert steps.value() == 1000


def test_the_lock_looks_different_locked_and_unlocked(window) -> None:  # type: ignore[no-untyped-def]
    for lock in (window.generate_view.lock, window.edit_view.seed.lock):  # one seed row, both modes
        lock.setChecked(False)
        open_icon, open_tip = lock.icon().pixmap(20, 20).toImage(), lock.toolTip()
        lock.setChecked(True)
        closed_icon, closed_tip = lock.icon().pixmap(20, 20).toImage(), lock.toolTip()
        assert open_icon != closed_icon and open_tip != closed_tip
        assert lock.property("iconName") == "lock"


def test_the_model_menu_opens_models_too(window) -> None:  # type: ignore[no-untyped-def]
    model_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Model")
    texts = [a.text() for a in model_menu.actions()]
    assert {"Open Model Folder…", "Open Checkpoint…", "Open from Hugging Face Hub…"} <= set(texts)


def test_variations_say_what_eta_does(window) -> None:  # type: ignore[no-untyped-def]
    from ddim_studio.ui.encode.encode_view import VARIATIONS_TEXT

    assert "layout stays" not in VARIATIONS_TEXT and "η" in VARIATIONS_TEXT
    assert window.encode_view.var_button.toolTip() == VARIATIONS_TEXT
