"""The output folder: atomic, never-overwriting saves, latents beside images, listing and trash.

The atomic writing lives in :mod:`ddim_studio.core.atomic` and is re-exported here: each file is
written to a hidden temp file, fsynced, then hard-linked to its final name, never replacing an
existing file (a taken name becomes ``name-1.png``…); on any error nothing is left behind and a
:class:`StoreError` says what happened and what to do.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath
from typing import Any, BinaryIO

import platformdirs
import torch
from PIL import Image

from ddim_studio.core.atomic import (  # noqa: F401 - re-exported: the store's API since the start
    StoreError,
    Writer,
    _fsync_dir,
    _store_error,
    _write_temp,
    atomic_write,
    atomic_write_group,
    place_group,
)
from ddim_studio.core.imaging import ImageLoadError, png_info, read_params
from ddim_studio.core.latents import encode_latent
from ddim_studio.core.names import LATENT_SUFFIX
from ddim_studio.core.saved_params import utf8_text

OUTPUT_DIR_ENV = "DDIM_STUDIO_OUTPUT_DIR"
TRASH_DIR = ".trash"
PNG_SUFFIX = ".png"
#: Pictures saved beside an edit's picture (its painted source and its mask); not listed on their own.
SOURCE_SUFFIX = ".source.png"
MASK_SUFFIX = ".mask.png"
COMPANION_SUFFIXES = (SOURCE_SUFFIX, MASK_SUFFIX)
MAX_STEM_BYTES = 150
#: A temp file untouched this long (seconds) was left by a save that was killed; younger ones may
#: belong to a save in progress in another process and are never removed.
STALE_TEMP_SECONDS = 600
_TEMP_NAME = re.compile(r"\..+\.tmp-[0-9a-f]{12}", re.DOTALL)
_UNSAFE_CHARS = re.compile(r'[\x00-\x1f\x7f<>:"|?*]')
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{p}{i}" for p in ("COM", "LPT") for i in range(1, 10)}
_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_MODES = {"RGB", "RGBA", "L", "LA", "P", "1", "I;16"}


def sanitize_stem(stem: str) -> str:
    """A file stem safe on every platform, or :class:`StoreError` ``bad_name`` for path tricks.

    Only real path escapes are refused: ``.``/``..``, path separators, NUL, drive letters
    (``a..b`` is an ordinary name). Bytes of a file name that are not UTF-8 (Python keeps them as
    lone surrogates) are replaced by U+FFFD. Control and
    Windows-reserved characters become ``_``; leading/trailing dots and spaces are dropped; reserved
    Windows device names get a ``_`` suffix; the result is cut to :data:`MAX_STEM_BYTES` UTF-8 bytes.
    """
    stem = utf8_text(stem)
    if stem.strip() in (".", "..") or any(c in stem for c in "/\\\x00") or PureWindowsPath(stem).drive:
        raise StoreError(
            "bad_name",
            f"The name {stem!r} is not allowed: a name may not be '..' or contain '/', '\\' or a NUL "
            "character. Use a plain name such as 'portrait'.",
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
        bad_fields: saved parameters that failed validation and are not in ``params``.
    """

    png: Path
    latent: Path | None
    params: dict[str, Any] = field(default_factory=dict, compare=False)
    mtime: float = 0.0
    bad_fields: tuple[str, ...] = field(default=(), compare=False)

    @property
    def stem(self) -> str:
        """The shared file stem."""
        return self.png.stem


def _png_writer(picture: Image.Image) -> Writer:
    def write(fh: BinaryIO) -> None:
        picture.save(fh, format="PNG")

    return write


def beside(png: str | os.PathLike[str], suffix: str) -> Path | None:
    """The file ``<stem><suffix>`` saved beside ``png`` (its latent, an edit's source or mask), or None.

    Only a regular file in the picture's own folder counts: a symlink, or a name that resolves
    outside the folder, is ignored, so *Reuse params* never reads a file the gallery did not write
    (a ``<name>.source.png`` linked to ``~/.ssh/…`` or to a picture elsewhere).
    """
    picture = Path(png)
    path = picture.with_name(picture.stem + suffix)
    try:
        if path.is_symlink() or not path.is_file():
            return None
        if path.resolve().parent != picture.parent.resolve():
            return None
    except (OSError, RuntimeError):  # a loop of links, a folder that cannot be read
        return None
    return path


def companions(png: Path) -> list[Path]:
    """The files saved beside ``png`` (an edit's source and mask) that exist, to move or delete with it.

    Links are included here (a link is moved or deleted, never followed); readers use :func:`beside`.
    """
    found = [png.with_name(png.stem + suffix) for suffix in COMPANION_SUFFIXES]
    return [p for p in found if p.is_file()]


def _is_companion(name: str, names: set[str]) -> bool:
    """Whether ``name`` is a companion of a picture in ``names`` (then it is not listed itself)."""
    lower = name.lower()
    return any(lower.endswith(s) and name[: -len(s)] + PNG_SUFFIX in names for s in COMPANION_SUFFIXES)


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
        self._cache: dict[Path, tuple[int, int, dict[str, Any], tuple[str, ...]]] = {}

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
        extras: Sequence[tuple[str, Image.Image]] = (),
    ) -> SavedItem:
        """Save ``img`` as ``<stem>.png`` with ``params`` inside, and ``latent`` as ``<stem>.safetensors``.

        All files get the same final stem, bumped (``stem-1``…) when a name is taken. ``extras``
        are ``(suffix, picture)`` pairs saved beside it as plain PNGs (an edit's source and mask,
        suffixes in :data:`COMPANION_SUFFIXES`); they move and are deleted with the picture.

        Raises:
            StoreError: ``bad_name`` for a stem with path tricks; ``disk_full``, ``permission`` or
                ``io`` when writing fails, and then nothing is left behind.
        """
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
        writers += [(suffix, _png_writer(extra)) for suffix, extra in extras]
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
            params, bad = cached[2], cached[3]
        else:
            if not _looks_complete_png(png):
                return None
            found: list[str] = []
            try:
                params = read_params(png, found) or {}
            except ImageLoadError:
                return None
            bad = tuple(found)
            self._cache[png] = (st.st_mtime_ns, st.st_size, params, bad)
        latent = png.with_suffix(LATENT_SUFFIX)
        return SavedItem(png, latent if latent.is_file() else None, dict(params), st.st_mtime, bad)

    def _scan(self, folder: Path) -> list[SavedItem]:
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise _store_error(exc, "the list of pictures", folder, "read") from exc
        items = []
        seen = set()
        names = {entry.name for entry in entries}
        stale_before = time.time() - STALE_TEMP_SECONDS
        for entry in entries:
            if _TEMP_NAME.fullmatch(entry.name):
                _remove_if_stale(entry, stale_before)
                continue
            if entry.name.startswith(".") or not entry.name.lower().endswith(PNG_SUFFIX):
                continue
            if _is_companion(entry.name, names):
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
        extra = companions(item.png)
        suffixes = [p.suffix for p in sources] + [p.name[len(item.png.stem) :] for p in extra]
        sources += extra
        self._ensure(folder)
        try:
            placed = place_group(sources, folder, item.png.stem, suffixes)
            for src in sources:
                src.unlink(missing_ok=True)
        except OSError as exc:
            raise _store_error(exc, item.png.name, folder, "moved") from exc
        latent = placed[1] if item.latent is not None else None
        return SavedItem(placed[0], latent, dict(item.params), placed[0].stat().st_mtime)

    def delete(self, item: SavedItem, to_trash: bool = True) -> SavedItem | None:
        """Delete an item: move it into ``<root>/.trash`` (see :meth:`restore`) or remove it for good.

        Returns:
            The item as it is in the trash, or None when removed for good.
        """
        if to_trash:
            return self._move(item, self.trash_dir)
        for path in (item.png, item.latent, *companions(item.png)):
            if path is not None:
                try:
                    path.unlink(missing_ok=True)
                except OSError as exc:
                    raise _store_error(exc, path.name, path.parent, "deleted") from exc
        return None

    def restore(self, item: SavedItem) -> SavedItem:
        """Move an item from the trash back into the output folder (bumping its name if taken)."""
        return self._move(item, self.root)
