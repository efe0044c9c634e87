"""The command line's progress adapter: one overall bar on stderr for a whole command.

A command opens one :func:`overall` bar whose total is every model call it will make (all batches,
all phases: encode + decode + frames), and drains each of its runs into it with :func:`drain`.
The bar shows s/step when a step takes longer than a second, and the elapsed and remaining time
of the whole command. Outside an ``overall`` block, ``drain`` opens a bar of its own sized by the
run (its ``total_calls``), so a single run still gets one bar, not one per phase or chunk.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from ddim_studio.operations.run import Run, run_to_end

R = TypeVar("R")

#: The bar's layout: s/step or it/s (tqdm picks by the rate), elapsed<remaining for the whole job.
BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} calls [{elapsed}<{remaining}, {rate_fmt}]"


class _Overall:
    """The whole command's bar, opened at its first model call (a command that fails before any
    call writes only its error)."""

    def __init__(self, total: int, desc: str) -> None:
        self.total, self.desc = max(0, int(total)), desc
        self.bar: Any = None

    def open(self, desc: str) -> Any:
        if self.bar is None:
            self.bar = progress(self.total, desc)
        else:
            self.bar.set_description_str(desc, refresh=False)
        return self.bar

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


_current: list[_Overall] = []  # the open overall bar, if any (innermost last)
_shares: list[Any] = []  # the CpuShare of the running command, if any


@contextmanager
def shared_cores() -> Iterator[None]:
    """Within the block, share the cores with other studio runs computing at once (``core.cpu_share``).

    Not when the user set ``OMP_NUM_THREADS`` (as ``torchrun`` and ``accelerate`` do for each process).
    """
    if os.environ.get("OMP_NUM_THREADS"):
        yield
        return
    from ddim_studio.core.cpu_share import CpuShare
    from ddim_studio.core.resources import cache_dir

    with CpuShare(cache_dir("running")) as share:
        _shares.append(share)
        try:
            yield
        finally:
            _shares.remove(share)


def progress(total: int, desc: str) -> Any:
    """A tqdm bar on stderr counting model calls (a context manager with ``update``)."""
    from tqdm import tqdm

    return tqdm(
        total=total, desc=desc, unit="step", file=sys.stderr, leave=False, dynamic_ncols=True,
        bar_format=BAR_FORMAT,
    )  # fmt: skip


@contextmanager
def overall(total: int, desc: str) -> Iterator[None]:
    """One bar for a whole command: ``total`` model calls; every ``drain`` inside advances it."""
    job = _Overall(total, desc)
    _current.append(job)
    try:
        yield
    finally:
        _current.remove(job)
        job.close()


def drain(run: Run[R], desc: str) -> R:
    """Run an operation to its end, advancing the overall bar (or one bar of its own); its result.

    ``desc`` names the part of the job that runs (a batch of seeds, a file) on the bar.
    """
    job = _current[-1] if _current else None
    own: Any = None

    def on_step(current: Run[R], _step: object) -> None:
        nonlocal own
        if _shares:
            _shares[-1].rebalance()  # between model calls: this run's part of the cores
        if job is not None:
            bar = job.open(desc) if current.calls == 1 else job.bar
        else:
            if own is None:
                own = progress(current.total_calls, desc)
            own.total = max(own.total or 0, current.total_calls)  # sized by the run's stages
            bar = own
        bar.update(1)

    if _shares:
        _shares[-1].rebalance()  # before the first call too (the model is loaded by now)
    try:
        return run_to_end(run, on_step)
    finally:
        if own is not None:
            own.close()


def shrink(calls: int) -> None:
    """Take ``calls`` off the open overall bar's total (a negative number adds them).

    For totals learnt as a command goes: a batch with nothing left to compute, a file opened.
    """
    if not _current:
        return
    job = _current[-1]
    job.total = max(0, job.total - int(calls))
    if job.bar is not None:
        job.bar.total = job.total
        job.bar.refresh()


def say(message: str) -> None:
    """One line on stderr, flushed at once."""
    print(message, file=sys.stderr, flush=True)


@contextmanager
def status(message: str) -> Iterator[None]:
    """Show ``message`` (e.g. ``loading model…``) on a terminal's stderr while the block runs.

    The line is erased when the block ends, like a progress bar; nothing is written when stderr is
    not a terminal (logs and pipes get only results and errors).
    """
    shown = bool(getattr(sys.stderr, "isatty", lambda: False)())
    if shown:
        sys.stderr.write(message)
        sys.stderr.flush()
    try:
        yield
    finally:
        if shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
