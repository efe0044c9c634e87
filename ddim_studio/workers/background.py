"""Side tasks off the GUI thread that do not need the model: a hub download, a disk scan, a timing.

The job runner owns the model and runs one job at a time; a download of several hundred MB must
not wait behind a sampling run nor hold it up, so it runs here, in its own thread. A task is a
function ``fn(report, cancelled)``: ``report(obj)`` sends progress to the GUI thread (as the
``progress`` signal) and ``cancelled()`` turns true once :meth:`BackgroundTask.cancel` is called.
The outcome arrives as exactly one of ``done(result)``, ``failed(message)`` or ``cancelled()``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from ddim_studio.workers.faults import window_words

#: Exceptions that mean "the person cancelled", by class name (the core raises its own).
CANCEL_NAMES = frozenset({"DownloadCancelled", "JobCancelled"})

Task = Callable[[Callable[[object], None], Callable[[], bool]], object]


class BackgroundTask(QObject):
    """One function run in its own thread, with progress and cancel.

    Signals:
        progress(object): whatever the function reported.
        done(object): its return value.
        failed(str): its error, in the window's words.
        was_cancelled(): it stopped because :meth:`cancel` was called.
    """

    progress = Signal(object)
    done = Signal(object)
    failed = Signal(str)
    was_cancelled = Signal()

    def __init__(self, fn: Task, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.fn = fn
        self.flag = threading.Event()
        #: ``running`` until the function returns, then ``done``, ``failed`` or ``cancelled``;
        #: ``result`` is its return value (or the failure's words). For a late listener: a
        #: connection made after the outcome was emitted would never hear of it.
        self.outcome = "running"
        self.result: object = None
        # A daemon thread, not a QThread: a timing still running when the app quits ends with it
        # (a QThread destroyed while running aborts the process). Signals emitted from it are
        # queued to the receivers' (GUI) thread.
        self._thread = threading.Thread(target=self._run, name="ddim-background", daemon=True)

    def _run(self) -> None:
        try:
            result = self.fn(self.progress.emit, self.flag.is_set)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message
            if type(exc).__name__ in CANCEL_NAMES or self.flag.is_set():
                self.outcome = "cancelled"
                self.was_cancelled.emit()
            else:
                self.result = window_words(str(exc)) or "The task failed."
                self.outcome = "failed"
                self.failed.emit(self.result)
            return
        self.result, self.outcome = result, "done"
        self.done.emit(result)

    def start(self) -> BackgroundTask:
        """Start the thread; returns self."""
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the function to stop (it polls ``cancelled()``)."""
        self.flag.set()

    def is_running(self) -> bool:
        """Whether the thread has not ended."""
        return self._thread.is_alive()

    def wait(self, timeout_ms: int = 10_000) -> bool:
        """Wait for the thread to end (on close); True when it did."""
        self._thread.join(timeout_ms / 1000)
        return not self._thread.is_alive()


def run_in_background(fn: Task, parent: QObject | None = None, **slots: Any) -> BackgroundTask:
    """Start ``fn`` with the given slots connected (``done=…``, ``failed=…``, ``progress=…``)."""
    task = BackgroundTask(fn, parent)
    for name, slot in slots.items():
        getattr(task, name).connect(slot)
    return task.start()
