"""Every mode's controls keep their last value across restarts, and what is typed before the model
arrives is kept when the controllers take over.

The controls are found on each mode view: its spin boxes, combo boxes, check boxes, checkable tool
buttons and the studio's own steps and η controls (attributes of the view, not sliders, which are
scrubbers). Values are stored under ``controls/<mode>/<attribute>``.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtWidgets import QAbstractButton, QComboBox, QDoubleSpinBox, QSpinBox, QWidget

from ddim_studio.ui.settings import INT_LIMIT, AppSettings
from ddim_studio.ui.widgets.controls import EtaControl, StepsControl

PREFIX = "controls"


def _controls(view: QWidget) -> dict[str, QWidget]:
    """The view's value controls by attribute name."""
    found: dict[str, QWidget] = {}
    for name, widget in vars(view).items():
        if name.startswith("_") or not isinstance(widget, QWidget):
            continue
        if isinstance(widget, (StepsControl, EtaControl, QSpinBox, QDoubleSpinBox, QComboBox)) or (
            isinstance(widget, QAbstractButton) and widget.isCheckable()
        ):
            found[name] = widget
    return found


def read(widget: QWidget) -> Any:
    """The value of one control."""
    if isinstance(widget, (StepsControl, EtaControl, QSpinBox, QDoubleSpinBox)):
        return widget.value()
    if isinstance(widget, QComboBox):
        data = widget.currentData()
        return data if isinstance(data, str) else widget.currentText()
    assert isinstance(widget, QAbstractButton)
    return widget.isChecked()


def _write_number(widget: QWidget, number: float) -> bool:
    """Set a number control, clamped to its range; False for ``nan``."""
    if math.isnan(number):
        return False
    if isinstance(widget, (StepsControl, QSpinBox)):
        whole = int(min(INT_LIMIT, max(-INT_LIMIT - 1, number)))  # a spin box takes 32 bits
        if isinstance(widget, StepsControl):
            widget.set_value(whole)
        else:
            widget.setValue(min(widget.maximum(), max(widget.minimum(), whole)))
    elif isinstance(widget, EtaControl):
        widget.set_value(number)
    elif isinstance(widget, QDoubleSpinBox):
        widget.setValue(min(widget.maximum(), max(widget.minimum(), number)))
    return True


def write(widget: QWidget, value: Any) -> bool:
    """Set one control from a stored value (INI files give text back); False when it does not fit.

    A number out of the control's range (``99999999999``, ``inf``) is clamped to it; ``nan`` does not fit.
    """
    try:
        if isinstance(widget, (StepsControl, QSpinBox, EtaControl, QDoubleSpinBox)):
            return _write_number(widget, float(value))
        if isinstance(widget, QComboBox):
            index = widget.findData(str(value))
            index = index if index >= 0 else widget.findText(str(value))
            if index < 0:
                return False
            widget.setCurrentIndex(index)
        if isinstance(widget, QAbstractButton):
            checked = value if isinstance(value, bool) else str(value).lower() in ("true", "1")
            if widget.isChecked() != checked:
                widget.setChecked(checked)
            else:
                widget.toggled.emit(checked)  # let a controller attached meanwhile catch up
    except (TypeError, ValueError, OverflowError):
        return False
    return True


class ControlMemory:
    """Restores, snapshots and saves the controls of the mode views."""

    def __init__(self, settings: AppSettings, views: dict[str, QWidget]) -> None:
        self.settings = settings
        self.views = views
        self.known: set[tuple[str, str]] = set()  # restored or typed: a controller must not reset them
        self.pending: dict[tuple[str, str], Any] = {}  # combo values whose entry is not listed yet
        self.watching = False

    def controls(self) -> dict[tuple[str, str], QWidget]:
        """Every remembered control, keyed by (mode, attribute)."""
        return {(mode, name): w for mode, view in self.views.items() for name, w in _controls(view).items()}

    def restore(self) -> None:
        """Set the controls to their saved values and note what the person types from now on."""
        for (mode, name), widget in self.controls().items():
            value = self.settings.value(f"{PREFIX}/{mode}/{name}")
            if value is not None:
                if write(widget, value):
                    self.known.add((mode, name))
                else:
                    self.pending[(mode, name)] = value
            self._watch(mode, name, widget)
        self.watching = True

    def _watch(self, mode: str, name: str, widget: QWidget) -> None:
        """Before the controllers exist only the person changes a control: note which."""

        def touched(*_args: Any) -> None:
            if self.watching:
                self.known.add((mode, name))
                self.pending.pop((mode, name), None)

        if isinstance(widget, QComboBox):
            widget.currentIndexChanged.connect(touched)
        elif isinstance(widget, QAbstractButton):
            widget.toggled.connect(touched)
        else:
            widget.valueChanged.connect(touched)  # type: ignore[attr-defined]

    def snapshot(self) -> dict[tuple[str, str], Any]:
        """The values of the controls that were restored or typed (and stop noting changes)."""
        self.watching = False
        controls = self.controls()
        return {key: read(controls[key]) for key in self.known if key in controls}

    def apply(self, values: dict[tuple[str, str], Any]) -> None:
        """Put back a :meth:`snapshot` (after the controllers set their defaults), and any pending value."""
        controls = self.controls()
        for key, value in {**values, **self.pending}.items():
            if key in controls and write(controls[key], value):
                self.pending.pop(key, None)

    def save(self) -> None:
        """Store every control's value."""
        for (mode, name), widget in self.controls().items():
            self.settings.set_value(f"{PREFIX}/{mode}/{name}", read(widget))
