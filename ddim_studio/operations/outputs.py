"""The output folder before and during a run: checked first, created late, shared by concurrent runs.

- :func:`check_output_folder` refuses, before any model is loaded or any file made, a folder that
  cannot be written: a path naming a file, a read-only or forbidden place, a name longer than the
  file system takes. It creates nothing; the folder is made by the first save (``core.store``).
- :func:`claim` lets runs that write into one folder share the work: a picture is made by the run
  that holds its claim. A claim is an exclusive lock on a hidden ``.<stem>.claim`` file
  (``flock`` on POSIX, ``msvcrt.locking`` on Windows) that the operating system releases when the
  process ends, however it ends; so a killed run's claim never blocks a later run (a pid written
  in the file could not tell a dead run from a new process that got the same pid). The file holds
  the owner's pid for people and is removed once the picture is saved.
- :func:`differing_params` says whether a saved picture was made with other settings.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ddim_studio.core.locks import same_file, try_lock
from ddim_studio.core.store import StoreError

CLAIM_SUFFIX = ".claim"
#: The saved parameters that decide what a picture looks like (not ``app_version``, ``created``, nor
#: ``model_source``: the same model opened from another path makes the same pictures).
PICTURE_KEYS = (
    "kind",
    "model",
    "prediction_type",
    "size",
    "sampler",
    "steps",
    "spacing",
    "timesteps",
    "eta",
    "clip_sample",
    "seed",
)


def _name_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return 255


def _refuse(kind: str, message: str) -> StoreError:
    return StoreError(kind, message)


def check_output_folder(path: str | os.PathLike[str]) -> Path:
    """Refuse an output folder that cannot be made or written, without creating anything.

    Args:
        path: the folder (it may not exist yet; its nearest existing parent must then be writable).

    Returns:
        The folder as a Path.

    Raises:
        StoreError: ``bad_name`` (a file is there, a name too long), ``permission`` (read-only,
            forbidden); one line naming the folder.
    """
    folder = Path(os.fspath(path))
    shown = os.fspath(folder)
    existing = folder
    while True:
        try:
            st = os.stat(existing)
            break
        except (FileNotFoundError, NotADirectoryError):  # look at the parent: is it a file?
            if existing.parent == existing:
                raise _refuse("bad_name", f"The output folder {shown} cannot be made here.") from None
            existing = existing.parent
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                raise _too_long(folder) from None
            reason = exc.strerror or exc
            raise _refuse("permission", f"The output folder {shown} cannot be reached: {reason}.") from None
    if not stat.S_ISDIR(st.st_mode):
        what = "is a file" if existing == folder else f"cannot be made: {existing} is a file"
        raise _refuse("bad_name", f"The output folder {shown} {what}; choose a folder.")
    limit = _name_max(existing)
    missing = folder.relative_to(existing).parts if existing != folder else ()
    if any(len(os.fsencode(part)) > limit for part in missing):
        raise _too_long(folder, limit)
    _check_writable(existing, folder)
    return folder


def _too_long(folder: Path, limit: int = 255) -> StoreError:
    longest = max(folder.parts, key=lambda p: len(os.fsencode(p)))
    return _refuse(
        "bad_name",
        f"The output folder name “{longest[:40]}…” is {len(os.fsencode(longest))} bytes long, more than "
        f"the {limit} this file system allows; choose a shorter name.",
    )


def _check_writable(existing: Path, folder: Path) -> None:
    """Try to create (and remove) a probe in ``existing``: the only test a read-only mount fails for root."""
    probe = existing / f".ddim-studio-probe-{os.getpid()}"
    try:
        os.mkdir(probe)
    except FileExistsError:
        pass
    except OSError as exc:
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            where = "is on a read-only disk" if exc.errno == errno.EROFS else "may not be written"
            raise _refuse(
                "permission",
                f"The output folder {folder} {where}; choose another folder.",
            ) from None
        raise _refuse("io", f"The output folder {folder} cannot be written: {exc.strerror}.") from None
    try:
        os.rmdir(probe)
    except OSError:
        pass


def make_output_folder(path: str | os.PathLike[str]) -> Path:
    """Create the output folder (and its parents); StoreError in one line when that fails."""
    folder = Path(os.fspath(path))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from ddim_studio.core.store import _store_error

        raise _store_error(exc, "the folder", folder, "created") from exc
    return folder


class Claim:
    """A held claim on one picture's files; :meth:`release` gives it up."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path, self._fd = path, fd

    def release(self) -> None:
        """Give the claim up: its file is removed (still locked, so no other run holds it), then unlocked."""
        if self._fd < 0:
            return
        try:
            os.unlink(self.path)
        except OSError:
            pass  # Windows cannot remove an open file: the next run takes the unlocked claim over
        os.close(self._fd)  # releases the lock
        self._fd = -1


def claim(folder: Path, stem: str) -> Claim | None:
    """Claim the picture ``stem`` in ``folder`` for this process; None when another run holds it.

    The folder must exist. A claim left by a run that was killed is taken over at once.
    """
    path = folder / f".{stem}{CLAIM_SUFFIX}"
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o666)
        if not try_lock(fd):
            os.close(fd)
            return None
        if not same_file(path, fd):  # a finished claim is removed: lock the file at ``path`` now
            os.close(fd)
            continue
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return Claim(path, fd)


def claim_all(folder: Path, stems: Iterable[str]) -> dict[str, Claim]:
    """Claims on as many of ``stems`` as are free (stem → claim)."""
    held: dict[str, Claim] = {}
    for stem in stems:
        got = claim(folder, stem)
        if got is not None:
            held[stem] = got
    return held


def differing_params(saved: Mapping[str, Any] | None, wanted: Mapping[str, Any]) -> bool:
    """Whether a saved picture's parameters differ from ``wanted`` in what decides the picture."""
    if not saved:
        return True
    return any(saved.get(key) != wanted.get(key) for key in PICTURE_KEYS if key in wanted or key in saved)
