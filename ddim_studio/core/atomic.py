"""Atomic, never-overwriting file writes shared by the output store and latent files.

A write goes to a hidden temp file in the target folder (``.name.tmp-<random>``), is flushed and
fsynced, then *hard-linked* to its final name. ``os.link`` fails when the name is taken, so an
existing file is never replaced: the next free name (``name-1.png``…) is tried instead. Where hard
links are not supported the name is reserved with ``O_CREAT | O_EXCL`` and the temp file renamed
over the reservation. On any error the temp files are removed and a :class:`StoreError` says what
happened and what to do. (Its own module so that ``core.latents`` and ``core.store`` do not import
each other.)
"""

from __future__ import annotations

import errno
import os
import secrets
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

_MAX_BUMPS = 100_000
_NO_LINK_ERRNOS = {errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP}

Writer = Callable[[BinaryIO], None]


class StoreError(Exception):
    """A save, listing or deletion that failed; ``str(error)`` says what happened and what to do.

    Attributes:
        kind: ``disk_full``, ``permission``, ``io`` or ``bad_name``.
        message: the same text as ``str(error)``.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def _store_error(exc: BaseException, name: str, folder: Path, action: str = "saved") -> StoreError:
    """Translate an exception raised while ``name`` was being ``action`` in ``folder``."""
    err = getattr(exc, "errno", None)
    again = "save again" if action == "saved" else "try again"
    if err in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return StoreError(
            "disk_full", f"The disk is full: {name} was not {action}. Free some space and {again}."
        )
    if err in (errno.EACCES, errno.EPERM, errno.EROFS) or isinstance(exc, PermissionError):
        return StoreError(
            "permission",
            f"DDIM Studio may not write to {folder}: {name} was not {action}. "
            "Choose another output folder or allow writing to this one.",
        )
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return StoreError("io", f"{name} was not {action} in {folder}: {reason}.")


def _fsync_dir(folder: Path) -> None:
    """Make new directory entries durable (POSIX); best effort."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def _write_temp(folder: Path, name: str, writer: Writer, created: list[Path]) -> Path:
    """Write a hidden, fsynced temp file for ``name`` in ``folder``.

    Its path goes on ``created`` before the file exists, and the caller removes what is there: a
    Ctrl+C or SIGTERM (raised between any two bytecodes) right after the file was created but before
    it was on a list left it behind (seen once in CI: ``.pic-edit-000024.png.tmp-…``).
    """
    tmp = folder / f".{name[:120]}.tmp-{secrets.token_hex(6)}"  # matches _TEMP_NAME
    created.append(tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    with os.fdopen(fd, "wb") as fh:
        writer(fh)
        fh.flush()
        os.fsync(fh.fileno())
    return tmp


def _place(src: Path, dest: Path) -> bool:
    """Give ``src`` the name ``dest`` unless it is taken; True on success. Never replaces ``dest``.

    ``src`` keeps its name too, except in the no-hard-link fallback, where it is renamed.
    """
    try:
        os.link(src, dest)
        return True
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in _NO_LINK_ERRNOS:
            raise
    try:  # no hard links here: reserve the name, then rename over the reservation
        os.close(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except FileExistsError:
        return False
    try:
        os.replace(src, dest)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return True


def _unplace(placed: Sequence[Path], sources: Sequence[Path]) -> None:
    """Undo :func:`_place` for the first ``len(placed)`` sources."""
    for dest, src in zip(placed, sources, strict=False):
        if src.exists():
            dest.unlink(missing_ok=True)
        else:
            os.replace(dest, src)


def place_group(sources: Sequence[Path], folder: Path, stem: str, suffixes: Sequence[str]) -> list[Path]:
    """Give each source ``<stem'><suffix>`` in ``folder`` with the first ``stem'`` free for all of them.

    ``stem'`` is ``stem``, ``stem-1``, ``stem-2``… Sources are linked, never moved over existing
    files; the caller removes them afterwards (a source renamed by the no-link fallback is gone).

    Returns:
        The final paths, in the order of ``sources``.
    """
    for n in range(_MAX_BUMPS):
        base = stem if n == 0 else f"{stem}-{n}"
        placed: list[Path] = []
        try:
            for src, suffix in zip(sources, suffixes, strict=True):
                dest = folder / f"{base}{suffix}"
                if not _place(src, dest):
                    break
                placed.append(dest)
        except BaseException:
            _unplace(placed, sources)
            raise
        if len(placed) == len(sources):
            _fsync_dir(folder)
            return placed
        _unplace(placed, sources)  # a partial group: try the next stem
    raise FileExistsError(errno.EEXIST, f"no free name for {stem} after {_MAX_BUMPS} tries")


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Within the block, Ctrl+C and SIGTERM wait; their handlers run as it ends (main thread only).

    A handler that raises (Ctrl+C's KeyboardInterrupt, the command line's SIGTERM) does so between
    any two bytecodes: landing after the temp files were placed but before they were removed, it
    left both behind (seen in CI: ``.pic-edit-000014.png.tmp-…`` and its ``.source.png.tmp-…``).
    A save is short (one fsynced file), so a signal during it takes effect once it is complete.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # Python runs signal handlers in the main thread only: nothing to defer here
        return
    caught: list[int] = []
    signums = [signal.SIGINT] + ([signal.SIGTERM] if hasattr(signal, "SIGTERM") else [])
    previous = {signum: signal.signal(signum, lambda n, _f: caught.append(n)) for signum in signums}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        if caught:  # the first one decides, as it would have without the deferral
            first = signal.Signals(caught[0])
            then = previous[first]
            if callable(then):
                then(first, None)
            elif then != signal.SIG_IGN:
                signal.raise_signal(first)


def atomic_write_group(folder: Path, stem: str, writers: Sequence[tuple[str, Writer]]) -> list[Path]:
    """Atomically write several files that share one final stem (e.g. an image and its latent).

    Args:
        folder: the existing target folder.
        stem: the wanted file stem; bumped to ``stem-1``… until every name is free.
        writers: ``(suffix, writer)`` pairs; each writer writes the whole file to the binary stream.

    Returns:
        The final paths, in the order of ``writers``.

    Raises:
        StoreError: ``disk_full``, ``permission`` or ``io``; then no file and no temp file is left.
    """
    temps: list[Path] = []  # every temp path, listed before its file is created
    display = f"{stem}{writers[0][0]}" if writers else stem
    with _signals_deferred():
        try:
            for suffix, writer in writers:
                _write_temp(folder, f"{stem}{suffix}", writer, temps)
            return place_group(temps, folder, stem, [suffix for suffix, _w in writers])
        except StoreError:
            raise
        except Exception as exc:
            raise _store_error(exc, display, folder) from exc
        finally:
            for tmp in temps:
                tmp.unlink(missing_ok=True)


def atomic_write(path: str | os.PathLike[str], writer: Writer) -> Path:
    """Atomically write one file; never overwrite: a taken name becomes ``name-1.ext``, ``name-2.ext``…

    Args:
        path: the wanted path; its folder must exist.
        writer: writes the whole file to the binary stream it is given.

    Returns:
        The path actually written.

    Raises:
        StoreError: ``disk_full``, ``permission`` or ``io``; then no file and no temp file is left.
    """
    target = Path(path)
    return atomic_write_group(target.parent, target.stem, [(target.suffix, writer)])[0]
