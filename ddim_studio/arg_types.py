"""Numbers typed on a command line, refused in words (no torch, no Qt: ``cli/`` and ``training/`` share it).

argparse words a ``type=`` function's ValueError as ``invalid <function name> value: 'abc'``; these
raise its ArgumentTypeError instead, so the message is the words written here.
"""

from __future__ import annotations

import argparse
import math


def whole(text: str) -> int:
    """``text`` as a whole number; otherwise argparse's error in words (never a function's name)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None


def number(text: str) -> float:
    """``text`` as a finite number; otherwise argparse's error in words."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value
