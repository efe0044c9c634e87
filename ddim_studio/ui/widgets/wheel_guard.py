"""The mouse wheel scrolls a panel instead of changing the setting under the pointer.

Turning the wheel over a scrolled panel (as one does to scroll it) used to change whichever
drop-down, spin box or slider happened to be under the pointer: Generate's Sampler silently became
DPM-Solver++ and the next run used it. :func:`install` puts one event filter on the application:

- every combo box, spin box and slider takes focus by click or Tab only (``Qt.StrongFocus``,
  not ``Qt.WheelFocus``), set when the widget is first polished, so the wheel never focuses it;
- a wheel event over such a control inside a :class:`~PySide6.QtWidgets.QScrollArea` is passed
  on to the scroll area unless the control has the keyboard focus (clicked or tabbed into).

Controls outside a scroll area (a dialog's spin box, a popup) keep the wheel as usual.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import (
    QAbstractSlider,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QScrollArea,
    QScrollBar,
    QWidget,
)

GUARDED = (QComboBox, QAbstractSpinBox, QAbstractSlider)


def scroll_area_of(widget: QWidget) -> QScrollArea | None:
    """The scrolling panel that holds ``widget`` (its nearest QScrollArea ancestor), if any."""
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, QScrollArea):
            return parent
        parent = parent.parentWidget()
    return None


def pass_on(event: QWheelEvent, area: QScrollArea) -> None:
    """Send a copy of the wheel ``event`` to ``area``'s viewport, which scrolls the panel."""
    viewport = area.viewport()
    where = QPointF(viewport.mapFromGlobal(event.globalPosition().toPoint()))
    copy = QWheelEvent(
        where, event.globalPosition(), event.pixelDelta(), event.angleDelta(), event.buttons(),
        event.modifiers(), event.phase(), event.inverted(),
    )  # fmt: skip
    QApplication.sendEvent(viewport, copy)


def guarded(obj: QObject) -> QWidget | None:
    """The control a wheel event to ``obj`` would change (a spin box's line edit is its box), if any."""
    if isinstance(obj, QScrollBar):  # the panel's own scroll bar takes the wheel it is given
        return None
    if isinstance(obj, GUARDED):
        return obj
    parent = obj.parent() if isinstance(obj, QWidget) else None
    return parent if isinstance(parent, QAbstractSpinBox) else None


class WheelGuard(QObject):
    """The application's event filter: see the module docstring."""

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        """Give the wheel to the panel for an unfocused control; take focus by click or Tab only."""
        kind = event.type()
        if kind == QEvent.Type.Polish and isinstance(obj, GUARDED):
            if obj.focusPolicy() == Qt.FocusPolicy.WheelFocus:
                obj.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            return False
        if kind != QEvent.Type.Wheel:
            return False
        control = guarded(obj)
        if control is None or control.hasFocus():
            return False
        area = scroll_area_of(control)
        if area is None:
            return False
        pass_on(event, area)  # type: ignore[arg-type]
        event.accept()
        return True


def install(app: QApplication | None = None) -> WheelGuard | None:
    """Install the guard on ``app`` (the running application) once; returns it (None without an app)."""
    app = app or QApplication.instance()  # type: ignore[assignment]
    if not isinstance(app, QApplication):
        return None
    existing = app.findChild(WheelGuard)
    if existing is not None:
        return existing
    guard = WheelGuard(app)
    app.installEventFilter(guard)
    for widget in app.allWidgets():  # widgets polished before the guard was there
        if isinstance(widget, GUARDED) and widget.focusPolicy() == Qt.FocusPolicy.WheelFocus:
            widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    return guard
