"""The job clock of a progress row: elapsed time and the remaining time of the whole job.

Qt-free (the row ticks it once a second): :class:`JobClock` remembers when the job started and
the latest ``done`` of ``total`` model calls, and says ``0:38 elapsed · about 2:10 left``. The
remaining time is the average time per call so far times the calls left, counted down between
steps (down to the calls after the one under way), so with 10-second model calls the text still
moves every second.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ddim_studio.durations import clock


def pace(seconds_per_step: float) -> str:
    """``3.2 s/step`` when a step takes a second or more, else ``12.5 it/s``."""
    if seconds_per_step <= 0:
        return ""
    if seconds_per_step >= 1.0:
        return f"{seconds_per_step:.1f} s/step"
    return f"{1.0 / seconds_per_step:.1f} it/s"


class JobClock:
    """Elapsed and remaining time of one job, from its start and its latest progress.

    Args:
        now: the time source (seconds; ``time.monotonic``), replaceable in tests.
    """

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._start: float | None = None
        self._done = 0
        self._total = 0
        self._at = 0.0  # when ``done`` was last reported

    @property
    def running(self) -> bool:
        """Whether a job is being timed."""
        return self._start is not None

    def start(self) -> None:
        """A job starts now."""
        self._start, self._done, self._total = self._now(), 0, 0
        self._at = self._start

    def stop(self) -> None:
        """The job ended."""
        self._start = None

    def update(self, done: int, total: int) -> None:
        """``done`` of ``total`` model calls of the job are finished."""
        if self._start is None:
            self.start()
        self._done, self._total, self._at = max(0, int(done)), max(0, int(total)), self._now()

    def elapsed(self) -> float:
        """Seconds since the job started (0 when none runs)."""
        return 0.0 if self._start is None else max(0.0, self._now() - self._start)

    def seconds_per_call(self) -> float:
        """Average seconds per call so far (0 before the first call ends)."""
        if self._start is None or self._done <= 0:
            return 0.0
        return max(0.0, self._at - self._start) / self._done

    def remaining(self) -> float | None:
        """Seconds left for the whole job, counted down since the last step; None before a step.

        The count-down stops at the calls after the one under way (a slow call does not read as
        "0:00 left" while calls remain).
        """
        per_call = self.seconds_per_call()
        if self._start is None or self._done <= 0 or self._total <= 0:
            return None
        calls_left = max(0, self._total - self._done)
        left = per_call * calls_left - (self._now() - self._at)
        return max(per_call * max(0, calls_left - 1), left)

    def text(self) -> str:
        """``0:38 elapsed · about 2:10 left`` (only the elapsed part before the first step)."""
        if self._start is None:
            return ""
        words = f"{clock(self.elapsed())} elapsed"
        left = self.remaining()
        if left is not None and self._done < self._total:
            words += f" · about {clock(left)} left"
        return words
