"""Warnings raised in background threads (the job runner's, the loader's) reach the window.

A warning that torch, diffusers or Pillow raises in the worker thread would otherwise go to
stderr, where a person running the window never sees it. While a :class:`WarningRelay` exists,
``warnings.showwarning`` is wrapped: a warning shown from a thread other than the main one is
logged and emitted as ``warned(str)`` (its first line, each distinct text once per relay); the main
thread's warnings go where they always went. Qt delivers ``warned`` on the relay's (GUI) thread.
"""

from __future__ import annotations

import logging
import threading
import warnings
import weakref
from typing import Any, TextIO

from PySide6.QtCore import QObject, Signal

__all__ = ["WarningRelay"]

logger = logging.getLogger("ddim_studio.workers")
_relays: weakref.WeakSet[WarningRelay] = weakref.WeakSet()
_lock = threading.Lock()
_original: Any = None


def _show(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    relays = list(_relays)
    if threading.current_thread() is threading.main_thread() or not relays:
        _original(message, category, filename, lineno, file, line)
        return
    text = (str(message).strip().splitlines() or [category.__name__])[0]
    logger.warning("%s (%s:%s, in %s)", text, filename, lineno, threading.current_thread().name)
    for relay in relays:
        relay.forward(text)


def _install() -> None:
    global _original
    with _lock:
        if warnings.showwarning is not _show:
            _original = warnings.showwarning
            warnings.showwarning = _show


class WarningRelay(QObject):
    """Forwards warnings of background threads as ``warned(str text)``; see the module docstring."""

    warned = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._seen: set[str] = set()
        self._seen_lock = threading.Lock()
        _relays.add(self)
        _install()

    def forward(self, text: str) -> None:
        """Emit ``warned(text)`` once per distinct text (called from any thread)."""
        with self._seen_lock:
            if text in self._seen:
                return
            self._seen.add(text)
        try:
            self.warned.emit(text)
        except RuntimeError:  # deleted with its window
            _relays.discard(self)
