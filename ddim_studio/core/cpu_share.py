"""Sharing the cores between studio runs that go at once on one machine.

torch gives each process a thread per core. Two command-line runs started side by side on two
cores then have four threads, and each of torch's parallel regions waits for a thread whose core
the other run holds: two concurrent ``sample --num 4 --steps 20 --backend torch`` took 6.1–7.0 s
with two threads each and 4.2–4.7 s with one each (a run alone: 4.1–4.6 s). So a run registers
itself while it computes, as a locked file ``<pid>.lock`` in a folder of the cache, and between
model calls (at most every ``interval`` seconds) counts the runs whose files are still locked and
takes ``cores // runs`` threads, at least one; when the others finish it takes the cores back.
The operating system releases a lock when its process ends, however it ends, so a killed run
never counts; its file is removed by the next run that finds it unlocked.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import torch

from ddim_studio.core.locks import same_file, try_lock

SUFFIX = ".lock"


class CpuShare:
    """This process's part of the cores while other studio runs compute beside it.

    Use as a context manager around the work; call :meth:`rebalance` between model calls.
    Leaving restores the thread count the process had.
    """

    def __init__(
        self,
        folder: Path,
        cores: int | None = None,
        *,
        interval: float = 0.5,
        set_threads: Callable[[int], None] | None = None,
        get_threads: Callable[[], int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folder = Path(folder)
        self._set = set_threads or torch.set_num_threads
        self._get = get_threads or torch.get_num_threads
        self._clock = clock
        self.cores = max(1, int(cores if cores is not None else self._get()))
        self.interval = float(interval)
        self._fd = -1
        self._path: Path | None = None
        self._original = self._get()
        self._checked: float | None = None

    def __enter__(self) -> CpuShare:
        """Register this run (a folder that cannot be written leaves it unregistered: no sharing)."""
        self._original = self._get()
        path = self.folder / f"{os.getpid()}-{id(self):x}{SUFFIX}"
        for _ in range(3):  # another run may take the new file for a stale one and remove it
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o666)
            except OSError:
                return self
            if try_lock(fd) and same_file(path, fd):
                self._fd, self._path = fd, path
                return self
            os.close(fd)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Unregister and give the process its thread count back."""
        if self._fd >= 0 and self._path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._path)
            os.close(self._fd)
        self._fd, self._path = -1, None
        if self._get() != self._original:
            self._set(self._original)

    @property
    def registered(self) -> bool:
        """Whether this run holds its file (it does inside the ``with`` block unless the folder failed)."""
        return self._fd >= 0

    def runs(self) -> int:
        """How many registered runs are computing now, this one included."""
        live = 1 if self.registered else 0
        try:
            entries = [p for p in self.folder.iterdir() if p.name.endswith(SUFFIX) and p != self._path]
        except OSError:
            return max(1, live)
        for path in entries:
            try:
                fd = os.open(path, os.O_RDWR)
            except OSError:
                continue  # removed meanwhile
            try:
                if try_lock(fd):  # nobody holds it: a run that ended without removing its file
                    with contextlib.suppress(OSError):
                        os.unlink(path)
                else:
                    live += 1
            finally:
                os.close(fd)
        return max(1, live)

    def threads(self) -> int:
        """This run's part of the cores: ``cores // runs``, at least one."""
        return max(1, self.cores // self.runs())

    def rebalance(self) -> int | None:
        """Between model calls: take this run's part of the cores; the count set, or None if unchanged.

        Looks at the other runs at most every ``interval`` seconds (the first call always looks).
        """
        if not self.registered:
            return None
        now = self._clock()
        if self._checked is not None and now - self._checked < self.interval:
            return None
        self._checked = now
        wanted = self.threads()
        if wanted == self._get():
            return None
        self._set(wanted)
        return wanted
