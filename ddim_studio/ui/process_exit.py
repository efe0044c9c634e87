"""Leaving the process quickly once the window has closed.

After the window closes (0.01–0.08 s) a normal interpreter exit still takes 1.5–4 s on a 2-core
machine: Python's final garbage collection walks every module (torch, diffusers, numpy, Qt), then
the C++ static destructors unregister thousands of torch operators. The window is gone by then,
so the user sees a process that lingers. :func:`leave_process` does what an exit must keep —
syncs the settings, runs the ``atexit`` handlers (logging, finalizers), flushes the standard
streams — and then ends the process with ``os._exit``, skipping only that teardown.

Where the teardown does something a user would miss, the normal exit is kept: when this process
owns the clipboard, Qt hands its contents to the clipboard manager while it tears down.
"""

from __future__ import annotations

import atexit
import os
import sys
from typing import Protocol


class _Syncable(Protocol):
    def sync(self) -> None: ...


def owns_clipboard() -> bool:
    """Whether this process holds the system clipboard (Qt passes it on at teardown)."""
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance()
    if not isinstance(app, QGuiApplication):
        return False
    clipboard = app.clipboard()
    return bool(clipboard.ownsClipboard() and clipboard.mimeData() and clipboard.mimeData().formats())


def leave_process(code: int, settings: _Syncable | None = None) -> int:
    """Sync ``settings``, run the exit handlers and end the process with ``code`` without teardown.

    Returns ``code`` (without exiting) only when the teardown is needed; see the module docstring.
    """
    if settings is not None:
        settings.sync()
    if owns_clipboard():
        return code
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
