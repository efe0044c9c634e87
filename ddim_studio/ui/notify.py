"""Messages for the person at the window: one object every controller reports through.

The main window shows each message in the status bar and, for warnings and errors, in an inline
banner; nothing here blocks or raises.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal

from ddim_studio.workers.faults import window_words

logger = logging.getLogger("ddim_studio.ui")


class Notifier(QObject):
    """Emits ``message(level, text)`` with level ``info``, ``warning`` or ``error``."""

    message = Signal(str, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.history: list[tuple[str, str]] = []

    def _emit(self, level: str, text: str) -> None:
        text = window_words(text)
        self.history.append((level, text))
        del self.history[:-50]
        log = logger.error if level == "error" else logger.warning if level == "warning" else logger.info
        log("%s", text)
        self.message.emit(level, text)

    def info(self, text: str) -> None:
        """Something worth knowing (fades away)."""
        self._emit("info", text)

    def warning(self, text: str) -> None:
        """Something that may surprise the person (stays until closed)."""
        self._emit("warning", text)

    def error(self, text: str) -> None:
        """Something that failed, said in words (stays until closed)."""
        self._emit("error", text)

    def last(self, level: str | None = None) -> str:
        """The most recent message text (of ``level``, when given), or ``""``."""
        for lvl, text in reversed(self.history):
            if level is None or lvl == level:
                return text
        return ""
