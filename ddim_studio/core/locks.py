"""Advisory file locks that the operating system releases when the process ends, however it ends."""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path


def try_lock(fd: int) -> bool:
    """Take an exclusive lock on the open file ``fd`` without waiting; False if another holds it.

    ``flock`` on POSIX (two opens of one file conflict even within a process), ``msvcrt.locking``
    on Windows.
    """
    if sys.platform == "win32":  # pragma: no cover - Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise


def same_file(path: Path, fd: int) -> bool:
    """Whether ``path`` still names the open file ``fd``: False if it was removed or replaced since.

    A lock taken on a file another process had just removed protects nothing; check after locking.
    """
    try:
        here = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (here.st_ino, here.st_dev) == (mine.st_ino, mine.st_dev)
