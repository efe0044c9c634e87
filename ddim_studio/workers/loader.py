"""A small loader thread: short blocking calls (decoding a picture) run off the GUI thread.

Public API (call from the GUI thread)::

    loader = Loader(parent)
    generation = loader.submit(fn, on_done, on_error, key="")  # fn() runs in the loader's thread
    loader.submit(fn, on_done, on_error, key="", args=(…), isolated=True)  # fn(*args) in the decoder process
    loader.cancel(key=None) -> bool     # drop what is pending for key (None: every key)
    loader.busy(key=None) -> bool       # something of key (None: any) has not been delivered
    warm_decoder()                      # start the decoder process now (the window does at start)

``isolated`` calls run in one decoder process shared by every loader (spawned, it imports only
what ``fn`` needs: for pictures Pillow and numpy); the loader thread just waits for them. A
36-megapixel JPEG then never competes with the GUI thread for the interpreter lock. ``fn`` and
its arguments and result must pickle; if the process cannot start, the call runs in the thread.

``on_done(result)`` or ``on_error(message)`` then runs on the GUI thread, unless a newer
``submit`` of the same key or a ``cancel`` came first: each key keeps a generation number, and a
result whose generation is no longer the key's is dropped (stale). A call already running cannot
be interrupted (a decoder has no abort flag), but nothing of it reaches the window after a cancel.
Calls run one at a time, in submission order; a stale call that has not started is skipped.

Signals: ``busyChanged(bool)``: whether something is pending, on the GUI thread.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import sys
import threading
import types
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from ddim_studio.operations.pictures import decoder_started

__all__ = ["Loader", "stop_decoder", "warm_decoder"]

logger = logging.getLogger("ddim_studio.workers")
_decoder: Executor | None = None
_decoder_lock = threading.Lock()


def _decoder_pool() -> Executor:
    global _decoder
    with _decoder_lock:
        if _decoder is None:
            atexit.register(stop_decoder)  # also run by the window's quick exit (ui.process_exit)
            pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=decoder_started,  # torch-free: the process imports no torch, no Qt
                initargs=(os.getpid(),),
            )
            # A spawned process imports the parent's __main__ (a script without a main guard would
            # run again there), so the one decoder process starts now with a blank __main__.
            main = sys.modules["__main__"]
            sys.modules["__main__"] = types.ModuleType("__main__")
            try:
                pool.submit(os.getpid)
            finally:
                sys.modules["__main__"] = main
            _decoder = pool
        return _decoder


def stop_decoder() -> None:
    """End the decoder process (the window does when it closes; a later picture starts a new one)."""
    global _decoder
    with _decoder_lock:
        pool, _decoder = _decoder, None
    if pool is not None:
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        # The process only decodes pictures: end it now. Left to the pool's own shutdown, the exit
        # handlers could wait on it forever (multiprocessing joins its children at exit).
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join(timeout=2.0)


def _forget_decoder(broken: Executor) -> None:
    global _decoder
    with _decoder_lock:
        if _decoder is broken:
            _decoder = None
    broken.shutdown(wait=False, cancel_futures=True)


def run_isolated(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """``fn(*args)`` in the decoder process (in this thread if that process cannot be started)."""
    pool = _decoder_pool()
    try:
        return pool.submit(fn, *args).result()
    except (BrokenProcessPool, OSError, RuntimeError) as exc:
        logger.warning("the picture decoder process is not available; decoding in a thread (%s)", exc)
        _forget_decoder(pool)
        return fn(*args)


def warm_decoder() -> None:
    """Start the decoder process now, so that the first picture does not wait for it."""
    try:
        _decoder_pool()
    except (OSError, RuntimeError) as exc:  # no processes here: pictures decode in the thread
        logger.warning("the picture decoder process could not start (%s)", exc)


@dataclass(frozen=True)
class _Delivery:
    """What the loader thread hands back: the key and generation it ran for, and its outcome."""

    key: str
    generation: int
    ok: bool
    value: Any  # the result when ok, else the message (str)


class _Call(QRunnable):
    def __init__(
        self, loader: Loader, key: str, generation: int, fn: Callable[..., Any], args: tuple[Any, ...] | None
    ) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._loader, self._key, self._generation, self._fn, self._args = loader, key, generation, fn, args

    def run(self) -> None:
        if self._loader.generation(self._key) != self._generation:
            return  # stale before it started: skip the work (its delivery was dropped by cancel)
        try:
            value = self._fn() if self._args is None else run_isolated(self._fn, self._args)
            delivery = _Delivery(self._key, self._generation, True, value)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message in words
            message = getattr(exc, "message", None) or str(exc) or "The file could not be read."
            if not hasattr(exc, "message"):
                logger.warning("a background load failed", exc_info=exc)
            delivery = _Delivery(self._key, self._generation, False, message)
        try:
            self._loader.delivered.emit(delivery)
        except RuntimeError:  # the loader was deleted with its window meanwhile
            pass


class Loader(QObject):
    """Runs blocking calls in a thread of its own and delivers the newest result per key; see above."""

    busyChanged = Signal(bool)  # noqa: N815
    #: (internal) a :class:`_Delivery`, emitted from the loader thread, received on the GUI thread
    delivered = Signal(_Delivery)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._generations: dict[str, int] = {}
        self._pending: dict[str, tuple[int, Callable[[Any], None], Callable[[str], None]]] = {}
        self.delivered.connect(self._deliver)

    def generation(self, key: str = "") -> int:
        """The current generation of ``key`` (a result of an older one is stale)."""
        return self._generations.get(key, 0)

    def busy(self, key: str | None = None) -> bool:
        """Whether a call of ``key`` (None: of any key) is pending."""
        return bool(self._pending) if key is None else key in self._pending

    def submit(
        self,
        fn: Callable[..., Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[str], None],
        *,
        key: str = "",
        args: tuple[Any, ...] = (),
        isolated: bool = False,
    ) -> int:
        """Run ``fn(*args)`` in the loader thread (``isolated``: in the decoder process); its result
        goes to ``on_done`` unless a newer call of ``key`` or a cancel came first. Returns the
        call's generation."""
        was_busy = self.busy()
        generation = self.generation(key) + 1
        self._generations[key] = generation
        self._pending[key] = (generation, on_done, on_error)
        call = (
            _Call(self, key, generation, fn, args)
            if isolated
            else _Call(self, key, generation, lambda: fn(*args), None)
        )
        self._pool.start(call)
        if not was_busy:
            self.busyChanged.emit(True)
        return generation

    def cancel(self, key: str | None = None) -> bool:
        """Drop the pending call of ``key`` (None: of every key); True if there was one."""
        keys = list(self._pending) if key is None else [key] if key in self._pending else []
        for k in keys:
            self._generations[k] = self.generation(k) + 1
            del self._pending[k]
        if keys and not self._pending:
            self.busyChanged.emit(False)
        return bool(keys)

    def wait(self, timeout_ms: int = -1) -> bool:
        """Block until the loader thread is idle (tests, shutdown); True if it is."""
        return bool(self._pool.waitForDone(timeout_ms))

    @Slot(object)
    def _deliver(self, delivery: _Delivery) -> None:
        pending = self._pending.get(delivery.key)
        if pending is None or pending[0] != delivery.generation:
            return  # stale: cancelled, or a newer call of the same key took over
        del self._pending[delivery.key]
        _generation, on_done, on_error = pending
        if not self._pending:
            self.busyChanged.emit(False)
        if delivery.ok:
            on_done(delivery.value)
        else:
            on_error(str(delivery.value))
