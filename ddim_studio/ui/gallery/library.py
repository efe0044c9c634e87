"""The gallery's data: the output store behind Qt signals, with errors reported in words.

Every mode saves through :class:`Library`, so the gallery learns about new pictures at once and
store failures (disk full, no permission) become messages instead of exceptions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from PySide6.QtCore import QObject, Signal

from ddim_studio.core.names import APP, PARAMS_VERSION
from ddim_studio.core.store import SavedItem, StoreError
from ddim_studio.operations.files import OutputStore
from ddim_studio.ui.notify import Notifier

logger = logging.getLogger("ddim_studio.ui")


def stamp(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with the studio's name and a creation time added (ISO 8601, local time).

    The other keys come from ``operations.build_params``; ``created`` is added here only, so the
    command line's files stay byte-identical across reruns.
    """
    out: dict[str, Any] = {"app": APP, "params_version": PARAMS_VERSION}
    out.update(params)
    out.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%S"))
    return out


_NOT_COMPARED = ("created", "app_version")


def same_params(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two pictures were made the same way (ignoring when, and by which studio version)."""
    strip = lambda p: {k: v for k, v in p.items() if k not in _NOT_COMPARED}  # noqa: E731
    return bool(a) and strip(a) == strip(b)


def same_pixels(png: Path, image: Image.Image) -> bool:
    """Whether the picture file shows exactly ``image``."""
    try:
        with Image.open(png) as saved:
            return saved.size == image.size and np.array_equal(
                np.asarray(saved.convert("RGB")), np.asarray(image.convert("RGB"))
            )
    except OSError:
        return False


class Library(QObject):
    """Saves pictures to the output folder and keeps the list the gallery shows.

    Signals:
        reset(list): the whole list changed (startup, refresh, new output folder).
        added(object): a SavedItem was saved (newest first, so it goes on top).
        removed(object): a SavedItem was deleted.

    Args:
        root: the output folder.
        notifier: where errors are reported.
    """

    reset = Signal(list)
    added = Signal(object)
    removed = Signal(object)
    duplicate = Signal(object)  # a save found the same picture already there (a SavedItem)

    def __init__(self, root: Path, notifier: Notifier, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._notifier = notifier
        self.store = OutputStore(root)
        self.items: list[SavedItem] = []
        self.trashed: list[SavedItem] = []  # deleted this session, last on top (Ctrl+Z puts it back)
        self.last_reused = False  # the last save found the same picture already there

    @property
    def root(self) -> Path:
        """The output folder."""
        return self.store.root

    def set_root(self, root: Path) -> None:
        """Switch to another output folder and rescan it."""
        if Path(root) != self.store.root:
            self.store = OutputStore(root)
        self.refresh()

    def refresh(self) -> list[SavedItem]:
        """Rescan the output folder (newest first); on error keep the old list and report it."""
        try:
            self.items = self.store.list_items()
        except StoreError as exc:
            self._notifier.error(exc.message)
        except OSError as exc:  # pragma: no cover - store maps these, belt and braces
            self._notifier.error(f"The output folder could not be read: {exc}")
        self.reset.emit(list(self.items))
        return self.items

    def save(
        self,
        image: Image.Image,
        params: dict[str, Any],
        *,
        stem: str,
        latent: torch.Tensor | None = None,
        extras: Sequence[tuple[str, Image.Image]] = (),
    ) -> SavedItem | None:
        """Save one picture (its latent, ``extras`` beside it); the item, or None after reporting failure.

        The same picture made the same way is not saved twice: the item already there is returned
        (and ``duplicate`` emitted).
        """
        existing = self.find_same(image, params)
        self.last_reused = existing is not None
        if existing is not None:
            self.duplicate.emit(existing)
            self._notifier.info(
                f"{existing.png.name} is already in the gallery (same settings, same picture)."
            )
            return existing
        try:
            item = self.store.save_image(image, stamp(params), stem=stem, latent=latent, extras=extras)
        except StoreError as exc:
            self._notifier.error(exc.message)
            return None
        except (OSError, ValueError) as exc:
            logger.exception("saving %s failed", stem)
            self._notifier.error(f"{stem} could not be saved: {exc}")
            return None
        self.items.insert(0, item)
        self.added.emit(item)
        return item

    def delete(self, item: SavedItem) -> bool:
        """Move an item to the output folder's ``.trash``; False (and a message) on failure."""
        try:
            trashed = self.store.delete(item, to_trash=True)
        except StoreError as exc:
            self._notifier.error(exc.message)
            return False
        if trashed is not None:
            self.trashed.append(trashed)
        self.items = [it for it in self.items if it.png != item.png]
        self.removed.emit(item)
        self._notifier.info(f"Moved {item.png.name} to the trash (Ctrl+Z puts it back).")
        return True

    def undo_delete(self) -> SavedItem | None:
        """Put the last picture deleted this session back from the trash; None when there is none."""
        while self.trashed:
            item = self.trashed.pop()
            if not item.png.is_file():
                continue  # emptied from the trash meanwhile
            try:
                restored = self.store.restore(item)
            except StoreError as exc:
                self._notifier.error(exc.message)
                return None
            self.refresh()
            self._notifier.info(f"Put {restored.png.name} back in the gallery.")
            return self.find(restored.png) or restored
        self._notifier.info("Nothing to undo: no picture was deleted.")
        return None

    def find_same(self, image: Image.Image, params: dict[str, Any]) -> SavedItem | None:
        """An item made with the same parameters that shows the same picture, if any."""
        for item in self.items:
            if same_params(item.params, params) and same_pixels(item.png, image):
                return item
        return None

    def find(self, png: Path) -> SavedItem | None:
        """The item of a PNG path, if the gallery has it."""
        for item in self.items:
            if item.png == png:
                return item
        return None
