"""Headless commands over the same core as the window: sample, encode, decode, interpolate, edit, guide,
extend, train.

Every command takes ``--model`` (a diffusers folder, a hub id, or an original DDIM checkpoint
with ``--model-config``), ``--device``, ``--dtype``, ``--out`` and ``--json``; progress goes to
stderr, the ``--json`` summary to stdout, and a bad argument exits with status 2 and one line.

``sample`` shards its seeds over the processes of a distributed launcher (``torchrun`` or
``accelerate launch`` set ``RANK`` and ``WORLD_SIZE``): each image has its own seed and a file
named by it, so any number of processes writes the same set of files, and a rerun skips the
files that exist.

Each command is one module here with ``add_parser(sub)`` (torch-free: the parser is built before
the engine loads) and ``run(args)``; a new command is a new module and one entry in ``COMMANDS``.
Shared argument types and flags are in ``cli/common.py``, the loaded model in ``cli/session.py``,
the progress bar in ``cli/progress.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ddim_studio import __version__
from ddim_studio.cli import decode, edit, encode, extend, guide, interpolate, models, restore, sample, train
from ddim_studio.cli.common import OneLineParser, user_errors
from ddim_studio.core.names import DTYPE_NAMES, SPACINGS

__all__ = ["COMMANDS", "DTYPE_NAMES", "SPACINGS", "build_parser", "main"]

#: The subcommands, in the order ``--help`` lists them: name -> module with ``add_parser`` and ``run``.
COMMANDS = {
    "sample": sample,
    "encode": encode,
    "decode": decode,
    "interpolate": interpolate,
    "edit": edit,
    "restore": restore,
    "guide": guide,
    "extend": extend,
    "train": train,
    "models": models,
}


def build_parser() -> argparse.ArgumentParser:
    """The ``ddim-studio`` argument parser with its subcommands."""
    parser = OneLineParser(prog="ddim-studio", description="DDIM sampling, inversion and interpolation.")
    parser.add_argument("--version", action="version", version=f"ddim-studio {__version__}")
    parser.add_argument(
        "--self-test", action="store_true", help="open the window offscreen, generate, encode, exit"
    )
    parser.add_argument("--model", dest="gui_model", default=None, help="model to open in the window")
    sub = parser.add_subparsers(dest="command", parser_class=OneLineParser)
    for command in COMMANDS.values():
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.command is None:
        from ddim_studio.ui.app import run_app, self_test

        return self_test() if args.self_test else run_app(model=args.gui_model)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the window: no spinning threads under load
    command = COMMANDS[args.command]
    one_line = getattr(command, "ONE_LINE_ERRORS", True)
    reported: tuple[type[Exception], ...] = user_errors() if one_line else ()
    try:
        with sigterm_interrupts(), _computing(args.command):
            summary = command.run(args)
    except reported as exc:
        print(f"ddim-studio {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        return _interrupted(args.command, exc)
    if not one_line:
        return int(summary)
    if args.json and summary is not None:
        print(json.dumps(summary, indent=2, default=_json_default))
    return 0


#: Commands that do not compute with a model (downloads, the library; training sets its own threads).
NOT_SHARING = frozenset({"models", "train"})


@contextmanager
def _computing(command: str) -> Iterator[None]:
    """Share the cores with other studio runs while a computing command runs (``cli.progress``)."""
    if command in NOT_SHARING:
        yield
        return
    from ddim_studio.cli.progress import shared_cores  # imports torch: after OMP_WAIT_POLICY is set

    with shared_cores():
        yield


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the command is, so that it cleans up as for Ctrl+C (temp files removed)."""


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` (in the main thread; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_terminated(_signum: int, _frame: object) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupted(command: str, exc: KeyboardInterrupt) -> int:
    """The one line and exit status of a command stopped by Ctrl+C (130) or SIGTERM (143)."""
    stopped = "terminated" if isinstance(exc, Terminated) else "interrupted"
    if command == "train":
        print(f"ddim-studio: {stopped}; training resumes from its last checkpoint.", file=sys.stderr)
    else:
        print(f"ddim-studio: {stopped}; files written so far are complete.", file=sys.stderr)
    return 143 if isinstance(exc, Terminated) else 130


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
