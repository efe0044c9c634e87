"""Typed access to the studio's persistent settings (QSettings, INI format, per user).

Organisation "DDIM Studio", application "ddim-studio". Tests point the INI location at a temp
folder with ``QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tmp)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QObject, QSettings, Signal

from ddim_studio.core.names import BACKEND_NAMES, DTYPE_NAMES, PRECISION_NAMES

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


def _coerce(value: Any, default: Any) -> Any:
    """``value`` as read from an INI file, converted to the type of ``default``."""
    if value is None:
        return default
    try:
        if isinstance(default, bool):
            return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")
        if isinstance(default, int):
            return int(float(value))
        if isinstance(default, float):
            return float(value)
    except (TypeError, ValueError):
        return default
    return str(value)


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
        """The value of ``key`` (one of :data:`DEFAULTS`), typed like its default."""
        default = DEFAULTS[key]
        return _coerce(self._qs.value(key, default), default)

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
        from ddim_studio.core.store import default_output_dir  # the store imports torch: load on use

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
