"""``ddim-studio train``: train the default model (resumable); the work is ``ddim_studio.training.run``.

Training reports its own errors and interruptions, so ``main`` runs it outside the one-line error
handling of the other commands (``ONE_LINE_ERRORS = False``).
"""

from __future__ import annotations

import argparse
from typing import Any

#: ``main`` passes this command's exceptions through untouched.
ONE_LINE_ERRORS = False


def add_parser(sub: Any) -> None:
    """Register ``train`` with the training driver's arguments."""
    from ddim_studio.training.run import build_parser as train_parser

    train_parser(sub.add_parser("train", help="train the default model (resumable)"))


def run(args: argparse.Namespace) -> int:
    """Train (or export) as the arguments say; the exit status."""
    from ddim_studio.training.run import run as train

    return train(args)
