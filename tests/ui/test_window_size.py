"""The window never outgrows the screen: long messages wrap or elide, small screens fit, saved sizes clamp."""

from __future__ import annotations

from PySide6.QtGui import QGuiApplication

LONG = "Could not read /home/user/" + "x" * 1000 + "/picture.png: " + "details " * 120


def test_a_long_message_never_widens_the_window(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    window.resize(1300, 800)
    qtbot.wait(50)
    width = window.width()
    window.services.notifier.error(LONG)
    for view in (window.generate_view, window.encode_view, window.interpolate_view):
        view.progress.finish(f"Failed: {LONG}", full=False)
    window.statusBar().showMessage(LONG)
    for mode in range(len(window.mode_specs)):
        window.set_mode(mode)
        qtbot.wait(50)
        assert window.width() == width
        assert window.minimumSizeHint().width() <= 1280
    assert window.banner.isVisible() and window.banner.message() == LONG.strip()


def test_the_window_fits_small_screens(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    for mode in range(len(window.mode_specs)):
        window.set_mode(mode)
        window.gallery_dock.show()
        qtbot.wait(20)
        hint = window.minimumSizeHint()
        assert hint.width() <= 1280 and hint.height() <= 720, (mode, hint)
        window.gallery_dock.hide()
        qtbot.wait(20)
        hint = window.minimumSizeHint()
        assert hint.width() <= 1024 and hint.height() <= 640, (mode, hint)


def test_run_buttons_stay_in_view_in_a_short_window(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    window.gallery_dock.hide()
    window.resize(1024, 640)
    buttons = {
        "generate": window.generate_view.generate_button,
        "encode": window.encode_view.encode_button,
        "interpolate": window.interpolate_view.run_button,
        "edit": getattr(getattr(window, "edit_view", None), "edit_button", None),
    }
    for mode, button in buttons.items():
        if button is None:
            continue
        window.set_mode(mode)
        qtbot.wait(50)
        top_left = button.mapTo(window, button.rect().topLeft())
        assert button.isVisible() and 0 <= top_left.y() and top_left.y() + button.height() <= window.height()


def test_a_saved_geometry_larger_than_the_screen_is_clamped(qtbot, aloop, settings) -> None:  # type: ignore[no-untyped-def]
    from ddim_studio.ui.main_window import MainWindow

    room = QGuiApplication.primaryScreen().availableGeometry()
    first = MainWindow(settings=settings, load_model=False, defer_attach=True)
    qtbot.addWidget(first)
    first.setMinimumSize(0, 0)
    first.setGeometry(room.left() + 300, room.top() + 200, room.width() + 900, room.height() + 700)
    assert first.width() > room.width()
    first.close()  # saves the geometry
    again = MainWindow(settings=settings, load_model=False, defer_attach=True)
    qtbot.addWidget(again)
    assert again.width() <= room.width() and again.height() <= room.height()
    assert room.contains(again.geometry().topLeft())
    again.close()
