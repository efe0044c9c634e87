"""Durations as people read them (no torch, no Qt: the window's progress row and the estimator share it)."""

from __future__ import annotations

import math


def format_duration(seconds: float) -> str:
    """``40 s``, ``14 min``, ``1 h 20 min`` (rounded for people; under a second: ``< 1 s``)."""
    if not math.isfinite(seconds) or seconds < 0:
        return "unknown"
    if seconds < 1:
        return "< 1 s"
    if seconds < 90:
        return f"{round(seconds)} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def clock(seconds: float) -> str:
    """``m:ss`` or ``h:mm:ss`` for elapsed and remaining times."""
    total = max(0, int(round(seconds))) if math.isfinite(seconds) else 0
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
