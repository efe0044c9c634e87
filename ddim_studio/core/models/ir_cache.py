"""The converted models kept on disk: one folder per weights and batch size, within a size budget.

A folder ``<key>-b<batch>`` holds the IR (``unet.xml`` + ``unet.bin``), a manifest with the sizes
and hashes of both written last, and OpenVINO's compiled blobs for that IR (``compiled/<hint>``),
so removing the folder removes everything made from it. The manifest's time is the entry's last
use. After a new entry is stored the least recently used entries of other models are removed
until the whole cache fits :data:`BUDGET_BYTES` (a 256-px UNet is 0.87 GB with its bf16 blob; a model
retrained in a loop would otherwise leave one per run). Staging folders of a conversion that was
killed, and the blob folder shared by all entries before this layout, are removed then too.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["BUDGET_BYTES", "IRCache", "prune"]

#: The most the converted models may take on disk together (the model just stored always stays).
BUDGET_BYTES = 6 << 30
#: A staging folder older than this belongs to a conversion that did not finish.
STAGING_AGE_S = 24 * 3600


def _file_hash(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def _size(folder: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def _entries(root: Path) -> list[tuple[float, Path]]:
    """(last use, folder) of every complete-looking entry under ``root``, oldest first."""
    found = []
    for folder in root.iterdir() if root.is_dir() else ():
        key, _, batch = folder.name.rpartition("-b")
        if not (key and batch.isdigit() and folder.is_dir()):
            continue
        try:
            used = (folder / "manifest.json").stat().st_mtime
        except OSError:
            used = 0.0  # no manifest: an entry cut short, the first to go
        found.append((used, folder))
    return sorted(found)


def prune(root: Path, keep: str, budget: int | None = None) -> list[Path]:
    """Remove the least recently used entries of other models than ``keep`` (a key) to fit ``budget``.

    Also removes staging folders older than a day and the old shared blob folder. Returns what was
    removed. Nothing here raises: a folder that cannot be removed is left for the next time.
    """
    budget = BUDGET_BYTES if budget is None else budget
    removed: list[Path] = []
    now = time.time()
    for folder in root.glob(".staging-*"):
        with contextlib.suppress(OSError):
            if now - folder.stat().st_mtime > STAGING_AGE_S:
                shutil.rmtree(folder)
                removed.append(folder)
    legacy = root / "compiled"
    if legacy.is_dir():
        shutil.rmtree(legacy, ignore_errors=True)
        removed.append(legacy)
    entries = [(used, folder, _size(folder)) for used, folder in _entries(root)]
    total = sum(size for _used, _folder, size in entries)
    for _used, folder, size in entries:
        if total <= budget:
            break
        if folder.name.rpartition("-b")[0] == keep:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            total -= size
            removed.append(folder)
    return removed


class IRCache:
    """The converted models of one UNet: one folder per batch size, each with a manifest."""

    def __init__(self, root: Path, key: str) -> None:
        self.root = root
        self.key = key
        self._checked: dict[int, Path] = {}  # entries already found complete (hashing is not free)

    def folder(self, batch: int) -> Path:
        """The folder of the IR for ``batch``."""
        return self.root / f"{self.key}-b{batch}"

    def blob_dir(self, batch: int, hint: str) -> Path:
        """OpenVINO's ``CACHE_DIR`` for the IR of ``batch`` compiled with precision ``hint``.

        One folder per precision: OpenVINO 2026.4's blob key ignores the hint, and a bf16 compile
        that loaded the f32 blob returned wrong numbers (max |Δ| 5.7).
        """
        return self.folder(batch) / "compiled" / hint

    def valid(self, batch: int) -> Path | None:
        """The IR's xml path if its entry is complete and unaltered, else None."""
        folder = self.folder(batch)
        if batch in self._checked and self._checked[batch].is_file():
            return self._checked[batch]
        try:
            manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
            for name in ("unet.xml", "unet.bin"):
                path = folder / name
                entry = manifest[name]
                if path.stat().st_size != entry["size"] or _file_hash(path) != entry["blake2b"]:
                    return None
        except (OSError, ValueError, KeyError, TypeError):
            return None
        self._checked[batch] = folder / "unet.xml"
        return folder / "unet.xml"

    def mark_used(self, batch: int) -> None:
        """Record that the entry of ``batch`` was used now (its manifest's time; best effort)."""
        with contextlib.suppress(OSError):
            os.utime(self.folder(batch) / "manifest.json")

    def exists(self, batch: int) -> bool:
        """Whether anything is stored for ``batch`` (complete or not)."""
        return self.folder(batch).exists()

    def discard(self, batch: int) -> None:
        """Remove the entry for ``batch`` (a damaged one)."""
        self._checked.pop(batch, None)
        shutil.rmtree(self.folder(batch), ignore_errors=True)

    def store(self, ov: Any, model: Any, batch: int) -> Path:
        """Save ``model`` as the IR for ``batch``; the manifest is written last, the folder renamed in.

        Then older entries are pruned to the budget (:func:`prune`).

        Raises:
            OSError: the cache folder cannot be written (a full disk, no permission).
        """
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.root))
        try:
            ov.save_model(model, str(staging / "unet.xml"), compress_to_fp16=False)
            manifest = {
                name: {"size": (staging / name).stat().st_size, "blake2b": _file_hash(staging / name)}
                for name in ("unet.xml", "unet.bin")
            }
            (staging / "manifest.json").write_text(json.dumps(manifest), "utf-8")
            self.discard(batch)
            os.replace(staging, self.folder(batch))
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        prune(self.root, keep=self.key)  # never this model's entries, so ``_checked`` stays true
        return self.folder(batch) / "unet.xml"
