"""The output folder: atomic, never-overwriting saves, latents beside images, listing and trash.

A save writes each file to a hidden temp file in the target folder (``.name.tmp-<random>``),
flushes and fsyncs it, then *hard-links* it to its final name. ``os.link`` fails when the name is
taken, so an existing file is never replaced: the next free name (``name-1.png``, ``name-2.png``…)
is tried instead, and two concurrent saves of the same name produce two files. Where hard links are
not supported (FAT, some network shares), the name is reserved with ``O_CREAT | O_EXCL`` and the temp
file renamed over the reservation. On any error the temp files are removed and a
:class:`StoreError` says what happened and what to do.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath
from typing import Any, BinaryIO

import platformdirs
import torch
from PIL import Image

from ddim_studio.core.imaging import ImageLoadError, png_info, read_params
from ddim_studio.core.names import LATENT_SUFFIX

OUTPUT_DIR_ENV = "DDIM_STUDIO_OUTPUT_DIR"
TRASH_DIR = ".trash"
PNG_SUFFIX = ".png"
MAX_STEM_BYTES = 150
_MAX_BUMPS = 100_000
#: A temp file untouched this long (seconds) was left by a save that was killed; younger ones may
#: belong to a save in progress in another process and are never removed.
STALE_TEMP_SECONDS = 600
_TEMP_NAME = re.compile(r"\..+\.tmp-[0-9a-f]{12}", re.DOTALL)
_NO_LINK_ERRNOS = {errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP}
_UNSAFE_CHARS = re.compile(r'[\x00-\x1f\x7f<>:"|?*]')
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{p}{i}" for p in ("COM", "LPT") for i in range(1, 10)}
_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_MODES = {"RGB", "RGBA", "L", "LA", "P", "1", "I;16"}

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


def _write_temp(folder: Path, name: str, writer: Writer) -> Path:
    """Write a hidden, fsynced temp file for ``name`` in ``folder``; remove it if anything fails."""
    tmp = folder / f".{name[:120]}.tmp-{secrets.token_hex(6)}"  # matches _TEMP_NAME
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            writer(fh)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
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
    temps: list[Path] = []
    display = f"{stem}{writers[0][0]}" if writers else stem
    try:
        for suffix, writer in writers:
            temps.append(_write_temp(folder, f"{stem}{suffix}", writer))
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


def sanitize_stem(stem: str) -> str:
    """A file stem safe on every platform, or :class:`StoreError` ``bad_name`` for path tricks.

    Stems with ``..``, path separators, drive letters or absolute paths are refused; control and
    Windows-reserved characters become ``_``; leading/trailing dots and spaces are dropped; reserved
    Windows device names get a ``_`` suffix; the result is cut to :data:`MAX_STEM_BYTES` UTF-8 bytes.
    """
    if ".." in stem or "/" in stem or "\\" in stem or os.path.isabs(stem) or PureWindowsPath(stem).drive:
        raise StoreError(
            "bad_name",
            f"The name {stem!r} is not allowed: names may not contain '..', '/' or '\\' "
            "or be absolute paths. Use a plain name such as 'portrait'.",
        )
    clean = _UNSAFE_CHARS.sub("_", stem).strip(" .")
    clean = clean.encode("utf-8")[:MAX_STEM_BYTES].decode("utf-8", "ignore").rstrip(" .")
    if not clean:
        raise StoreError("bad_name", f"The name {stem!r} is empty once made safe; use letters or digits.")
    if clean.split(".")[0].upper() in _WINDOWS_RESERVED:
        clean += "_"
    return clean


def default_output_dir() -> Path:
    """``$DDIM_STUDIO_OUTPUT_DIR`` when set, else ``<user data dir>/ddim-studio/outputs``."""
    override = os.environ.get(OUTPUT_DIR_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_data_dir("ddim-studio", appauthor=False)) / "outputs"


@dataclass(frozen=True)
class SavedItem:
    """One saved picture.

    Attributes:
        png: the PNG file.
        latent: the ``.safetensors`` latent with the same stem, or None.
        params: the parameters stored in the PNG (empty when it has none).
        mtime: modification time of the PNG, seconds since the epoch.
    """

    png: Path
    latent: Path | None
    params: dict[str, Any] = field(default_factory=dict, compare=False)
    mtime: float = 0.0

    @property
    def stem(self) -> str:
        """The shared file stem."""
        return self.png.stem


def _looks_complete_png(path: Path) -> bool:
    """Cheap check: PNG signature at the start and an IEND chunk at the very end."""
    try:
        with open(path, "rb") as fh:
            if fh.read(8) != _PNG_SIGNATURE:
                return False
            fh.seek(-len(_IEND), os.SEEK_END)
            return fh.read() == _IEND
    except OSError:
        return False


def _remove_if_stale(entry: os.DirEntry[str], stale_before: float) -> None:
    """Remove the temp file ``entry`` of a killed save if it was last written before ``stale_before``."""
    try:
        if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < stale_before:
            os.unlink(entry.path)
    except OSError:
        pass  # gone already, or not ours to remove: it stays hidden either way


class OutputStore:
    """The folder where results are saved, listed and deleted.

    Args:
        root: the folder; created on the first save.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._cache: dict[Path, tuple[int, int, dict[str, Any]]] = {}

    @property
    def trash_dir(self) -> Path:
        """Where :meth:`delete` moves items; hidden from :meth:`list_items`."""
        return self.root / TRASH_DIR

    def _ensure(self, folder: Path) -> None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _store_error(exc, "the folder", folder, "created") from exc

    def save_image(
        self,
        img: Image.Image,
        params: dict[str, Any],
        *,
        stem: str,
        latent: torch.Tensor | None = None,
    ) -> SavedItem:
        """Save ``img`` as ``<stem>.png`` with ``params`` inside, and ``latent`` as ``<stem>.safetensors``.

        Both files get the same final stem, bumped (``stem-1``…) when a name is taken.

        Raises:
            StoreError: ``bad_name`` for a stem with path tricks; ``disk_full``, ``permission`` or
                ``io`` when writing fails, and then nothing is left behind.
        """
        from ddim_studio.core.latents import encode_latent  # local: latents imports this module

        clean = sanitize_stem(stem)
        self._ensure(self.root)
        info = png_info(params)
        picture = img if img.mode in _PNG_MODES else img.convert("RGB")

        def write_png(fh: BinaryIO) -> None:
            picture.save(fh, format="PNG", pnginfo=info)

        writers: list[tuple[str, Writer]] = [(PNG_SUFFIX, write_png)]
        if latent is not None:
            blob = encode_latent(latent, params)

            def write_latent(fh: BinaryIO) -> None:
                fh.write(blob)

            writers.append((LATENT_SUFFIX, write_latent))
        paths = atomic_write_group(self.root, clean, writers)
        return SavedItem(
            paths[0], paths[1] if latent is not None else None, dict(params), paths[0].stat().st_mtime
        )

    def _item(self, png: Path) -> SavedItem | None:
        """The item for ``png``, or None when it is not a complete, readable PNG."""
        try:
            st = png.stat()
        except OSError:
            return None
        cached = self._cache.get(png)
        if cached is not None and cached[:2] == (st.st_mtime_ns, st.st_size):
            params = cached[2]
        else:
            if not _looks_complete_png(png):
                return None
            try:
                params = read_params(png) or {}
            except ImageLoadError:
                return None
            self._cache[png] = (st.st_mtime_ns, st.st_size, params)
        latent = png.with_suffix(LATENT_SUFFIX)
        return SavedItem(png, latent if latent.is_file() else None, dict(params), st.st_mtime)

    def _scan(self, folder: Path) -> list[SavedItem]:
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise _store_error(exc, "the list of pictures", folder, "read") from exc
        items = []
        seen = set()
        stale_before = time.time() - STALE_TEMP_SECONDS
        for entry in entries:
            if _TEMP_NAME.fullmatch(entry.name):
                _remove_if_stale(entry, stale_before)
                continue
            if entry.name.startswith(".") or not entry.name.lower().endswith(PNG_SUFFIX):
                continue
            if entry.is_file(follow_symlinks=False):
                path = Path(entry.path)
                seen.add(path)
                item = self._item(path)
                if item is not None:
                    items.append(item)
        for stale in [p for p in list(self._cache) if p.parent == folder and p not in seen]:
            self._cache.pop(stale, None)
        return sorted(items, key=lambda it: (-it.mtime, it.png.name))

    def list_items(self) -> list[SavedItem]:
        """Saved pictures, newest first (then by name); temp, hidden and damaged files are skipped.

        Temp files of saves that were killed (``.NAME.tmp-XXXXXXXXXXXX`` older than
        :data:`STALE_TEMP_SECONDS`) are removed on the way.
        """
        return self._scan(self.root)

    def list_trash(self) -> list[SavedItem]:
        """Pictures in the trash, newest first."""
        return self._scan(self.trash_dir)

    def _move(self, item: SavedItem, folder: Path) -> SavedItem:
        sources = [item.png] + ([item.latent] if item.latent is not None else [])
        self._ensure(folder)
        try:
            placed = place_group(sources, folder, item.png.stem, [p.suffix for p in sources])
            for src in sources:
                src.unlink(missing_ok=True)
        except OSError as exc:
            raise _store_error(exc, item.png.name, folder, "moved") from exc
        latent = placed[1] if len(placed) > 1 else None
        return SavedItem(placed[0], latent, dict(item.params), placed[0].stat().st_mtime)

    def delete(self, item: SavedItem, to_trash: bool = True) -> SavedItem | None:
        """Delete an item: move it into ``<root>/.trash`` (see :meth:`restore`) or remove it for good.

        Returns:
            The item as it is in the trash, or None when removed for good.
        """
        if to_trash:
            return self._move(item, self.trash_dir)
        for path in (item.png, item.latent):
            if path is not None:
                try:
                    path.unlink(missing_ok=True)
                except OSError as exc:
                    raise _store_error(exc, path.name, path.parent, "deleted") from exc
        return None

    def restore(self, item: SavedItem) -> SavedItem:
        """Move an item from the trash back into the output folder (bumping its name if taken)."""
        return self._move(item, self.root)
