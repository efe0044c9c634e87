"""Typed access to the studio's persistent settings (QSettings, INI format, per user).

Organisation "DDIM Studio", application "ddim-studio". Tests point the INI location at a temp
folder with ``QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tmp)``.

The file is the person's to edit, so every value read is checked: a number is clamped to the range
of the control that shows it (:data:`RANGES`; ``frames=99999999999`` or ``preview_fps=inf`` becomes
the control's maximum, ``nan`` or text the default), a name not in its list (:data:`CHOICES`) is the
default, and no value can stop the window from starting.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QObject, QSettings, Signal

from ddim_studio.core.names import BACKEND_NAMES, DTYPE_NAMES, PRECISION_NAMES, SPACINGS
from ddim_studio.ui.theme import THEMES

ORGANIZATION = "DDIM Studio"
APPLICATION = "ddim-studio"
MAX_RECENT = 8
DEVICES = ("auto", "cpu", "cuda", "mps")
BACKENDS = BACKEND_NAMES
PRECISIONS = PRECISION_NAMES
DTYPES = DTYPE_NAMES

DEFAULTS: dict[str, Any] = {
    "theme": "dark",
    "output_dir": "",
    "preview_fps": 20,
    "confirm_delete": True,
    "defaults/steps": 50,
    "defaults/eta": 0.0,
    "defaults/spacing": "uniform",
    "defaults/batch": 4,
    "defaults/encode_steps": 50,
    "defaults/frames": 9,
    "defaults/interpolate_batch": 8,
    "compute/threads": 0,
    "compute/backend": "auto",
    "compute/precision": "auto",
    "model/device": "auto",
    "model/dtype": "float32",
    "model/last": "",
}

#: The most a widget's 32-bit integer takes; a larger number in the file is clamped to it first.
INT_LIMIT = 2**31 - 1
#: (lowest, highest) of each numeric setting: the range of the control that shows it (the
#: settings dialog, and the mode views the defaults go to). Threads: 0 (all cores) to the cores.
RANGES: dict[str, tuple[float, float]] = {
    "preview_fps": (1, 60),
    "defaults/steps": (1, 1000),
    "defaults/eta": (0.0, 1.0),
    "defaults/batch": (1, 64),
    "defaults/encode_steps": (1, 1000),
    "defaults/frames": (2, 64),
    "defaults/interpolate_batch": (1, 64),
    "compute/threads": (0, max(1, os.cpu_count() or 1)),
}
#: The names a setting may hold (another name reads as the default).
CHOICES: dict[str, tuple[str, ...]] = {
    "theme": THEMES,
    "defaults/spacing": SPACINGS,
    "model/device": DEVICES,
    "model/dtype": DTYPES,
    "compute/backend": BACKENDS,
    "compute/precision": PRECISIONS,
}


def _coerce(value: Any, default: Any) -> Any:
    """``value`` as read from an INI file, converted to the type of ``default``.

    Whole numbers are clamped to ±:data:`INT_LIMIT` (``inf`` and ``1e400`` included); ``nan`` and
    text that is not a number give ``default``.
    """
    if value is None:
        return default
    try:
        if isinstance(default, bool):
            return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")
        if isinstance(default, (int, float)):
            number = float(value)
            if math.isnan(number):
                return default
            if isinstance(default, float):
                return number
            return int(min(INT_LIMIT, max(-INT_LIMIT - 1, number)))
    except (TypeError, ValueError, OverflowError):
        return default
    return str(value)


def _in_range(key: str, value: Any, default: Any) -> Any:
    """``value`` clamped to the range of ``key``'s control, or ``default`` when not one of its names."""
    if key in RANGES:
        low, high = RANGES[key]
        return type(default)(min(high, max(low, value)))
    if key in CHOICES and value not in CHOICES[key]:
        return default
    return value


class AppSettings(QObject):
    """The settings, with defaults and types; emits ``changed(key)`` after a write.

    Args:
        qsettings: the store to use; default the per-user INI file of the studio.
    """

    changed = Signal(str)

    def __init__(self, qsettings: QSettings | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._qs = qsettings or QSettings(
            QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION
        )

    @property
    def path(self) -> str:
        """The file the settings live in."""
        return self._qs.fileName()

    def get(self, key: str) -> Any:
        """The value of ``key`` (one of :data:`DEFAULTS`), typed like its default and within its range."""
        default = DEFAULTS[key]
        return _in_range(key, _coerce(self._qs.value(key, default), default), default)

    def set(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key`` and emit ``changed`` when it differs."""
        if key in DEFAULTS and self.get(key) == value:
            return
        self._qs.setValue(key, value)
        self._qs.sync()
        self.changed.emit(key)

    def output_dir(self) -> Path:
        """Where results are saved: the chosen folder, else the user data folder."""
        chosen = self.get("output_dir").strip()
        return Path(chosen).expanduser() if chosen else self.default_output_dir()

    @staticmethod
    def default_output_dir() -> Path:
        """The store's default folder (``$DDIM_STUDIO_OUTPUT_DIR`` or the user data folder)."""
        from ddim_studio.operations.files import default_output_dir  # the store imports torch: load on use

        return default_output_dir()

    def recent_models(self) -> list[str]:
        """Recently opened model sources, newest first."""
        raw = self._qs.value("model/recent", "[]")
        try:
            items = json.loads(raw) if isinstance(raw, str) else list(raw or [])
        except ValueError:
            return []
        return [str(item) for item in items if str(item)][:MAX_RECENT]

    def add_recent_model(self, source: str) -> None:
        """Put ``source`` at the top of the recent models."""
        items = [source] + [item for item in self.recent_models() if item != source]
        self._qs.setValue("model/recent", json.dumps(items[:MAX_RECENT]))
        self._qs.sync()
        self.changed.emit("model/recent")

    def clear_recent_models(self) -> None:
        """Forget the recent models."""
        self._qs.setValue("model/recent", "[]")
        self.changed.emit("model/recent")

    def window_state(self) -> tuple[QByteArray | None, QByteArray | None]:
        """The saved window geometry and dock/toolbar state (None when never saved)."""
        geometry = self._qs.value("window/geometry")
        state = self._qs.value("window/state")
        return (
            geometry if isinstance(geometry, QByteArray) else None,
            state if isinstance(state, QByteArray) else None,
        )

    def save_window_state(self, geometry: QByteArray, state: QByteArray) -> None:
        """Remember the window geometry and dock state."""
        self._qs.setValue("window/geometry", geometry)
        self._qs.setValue("window/state", state)
        self._qs.sync()

    def value(self, key: str, default: Any = None) -> Any:
        """A free-form value (view state such as the last mode); typed like ``default``."""
        return _coerce(self._qs.value(key, default), default) if default is not None else self._qs.value(key)

    def set_value(self, key: str, value: Any) -> None:
        """Store a free-form value."""
        self._qs.setValue(key, value)

    def sync(self) -> None:
        """Write pending changes to disk."""
        self._qs.sync()
