"""How far a hub download is: :class:`DownloadProgress` events and the meter that makes them.

The meter counts bytes (those already on disk apart from those arriving, so a resume does not read
as a burst of speed), reports at most every ``PROGRESS_INTERVAL`` seconds, and checks the cancel
flag at every chunk. :func:`bar_class` wraps it in the tqdm-shaped class ``http_get`` takes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: Progress is reported at most this often (seconds), and always at the start and end of a file.
PROGRESS_INTERVAL = 0.1
#: The window over which the speed is measured (seconds).
SPEED_WINDOW = 3.0


class DownloadCancelled(Exception):
    """The person cancelled the download; what was fetched stays, to be resumed."""


@dataclass(frozen=True)
class DownloadProgress:
    """How far a pull is.

    Attributes:
        repo_id: the model.
        filename: the file being fetched.
        done_bytes: bytes on disk of everything the pull fetches (resumed bytes included).
        total_bytes: bytes of everything it fetches.
        bytes_per_second: the recent speed (0 before it is known).
        seconds_left: the time left at that speed (None before it is known).
    """

    repo_id: str
    filename: str
    done_bytes: int
    total_bytes: int
    bytes_per_second: float = 0.0
    seconds_left: float | None = None

    @property
    def fraction(self) -> float:
        """Done over total, 0 to 1."""
        return min(1.0, self.done_bytes / self.total_bytes) if self.total_bytes > 0 else 0.0


class Meter:
    """Counts bytes for a pull and turns them into :class:`DownloadProgress` events."""

    def __init__(
        self,
        repo_id: str,
        total_bytes: int,
        on_progress: Callable[[DownloadProgress], None] | None,
        cancelled: Callable[[], bool],
    ) -> None:
        self.repo_id, self.total_bytes = repo_id, total_bytes
        self.on_progress, self.cancelled = on_progress, cancelled
        self.done = 0
        self.received = 0  # bytes that came over the network in this pull (the speed's measure)
        self.filename = ""
        self._samples: list[tuple[float, int]] = []
        self._last_emit = 0.0

    def add(self, count: int, *, force: bool = False, arrived: bool = True) -> None:
        """Count ``count`` more bytes; ``arrived=False`` for bytes already on disk (not in the speed)."""
        self.done += count
        self.received += count if arrived else 0
        now = time.monotonic()
        if count > 0 and arrived:
            self._samples.append((now, self.received))
            while len(self._samples) > 2 and now - self._samples[0][0] > SPEED_WINDOW:
                self._samples.pop(0)
        if self.on_progress is not None and (force or now - self._last_emit >= PROGRESS_INTERVAL):
            self._last_emit = now
            self.on_progress(self.event())
        if self.cancelled():
            raise DownloadCancelled(f"The download of {self.repo_id} was cancelled.")

    def event(self) -> DownloadProgress:
        speed = 0.0
        if len(self._samples) >= 2:
            (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
            speed = (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0
        total = self.total_bytes
        left = (total - self.done) / speed if speed > 0 else None
        return DownloadProgress(self.repo_id, self.filename, self.done, total, speed, left)


def bar_class(meter: Meter) -> type:
    """A tqdm-shaped class for ``http_get``'s ``tqdm_class``: counts into ``meter``, draws nothing."""

    class _Bar:
        def __init__(self, *_args: Any, **_kwargs: Any) -> None:
            self.n = 0

        def update(self, n: int | float = 1) -> None:
            self.n += int(n)
            meter.add(int(n))

        def close(self) -> None:
            pass

        def __enter__(self) -> _Bar:
            return self

        def __exit__(self, *_exc: object) -> None:
            self.close()

    return _Bar
