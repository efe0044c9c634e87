"""Wires the gallery view to the library (the output store) and forwards cross-mode requests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtGui import QDesktopServices

from ddim_studio.core.store import SavedItem
from ddim_studio.ui import dialogs
from ddim_studio.ui.gallery.gallery_model import GalleryModel
from ddim_studio.ui.gallery.gallery_view import GalleryView
from ddim_studio.ui.gallery.library import Library
from ddim_studio.ui.notify import Notifier
from ddim_studio.ui.params import bad_fields_note, checked_params
from ddim_studio.ui.settings import AppSettings


class GalleryController(QObject):
    """Keeps the gallery view in step with the library and carries out its actions.

    Signals (handled by the main window, which routes them to the modes):
        reuseParams(dict), reuseSeed(int), encodeItem(object), interpolateItem(object, str),
        editItem(object), reuseEdit(object, dict) (Reuse params on an edit)
    """

    reuseParams = Signal(dict)  # noqa: N815
    reuseSeed = Signal(int)  # noqa: N815
    encodeItem = Signal(object)  # noqa: N815
    interpolateItem = Signal(object, str)  # noqa: N815
    editItem = Signal(object)  # noqa: N815 - edit this picture
    reuseEdit = Signal(object, dict)  # noqa: N815 - an edit's item and parameters (Reuse params)

    def __init__(
        self,
        view: GalleryView,
        library: Library,
        settings: AppSettings,
        notifier: Notifier,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.view = view
        self.model: GalleryModel = view.model
        self.library = library
        self.settings = settings
        self.notifier = notifier
        library.reset.connect(self._on_reset)
        library.added.connect(self._on_added)
        library.removed.connect(self._on_removed)
        library.duplicate.connect(lambda item: self.view.select_row(self.model.row_of(item.png)))
        view.refreshRequested.connect(library.refresh)
        view.deleteRequested.connect(self.delete)
        view.undoDeleteRequested.connect(self.undo_delete)
        view.openFolderRequested.connect(self.open_folder)
        view.reuseParams.connect(self._reuse_params)
        view.reuseSeed.connect(self._reuse_seed)
        view.encodeRequested.connect(self.encodeItem)
        view.interpolateRequested.connect(self.interpolateItem)
        view.editRequested.connect(self.editItem)

    def selected(self) -> SavedItem | None:
        """The selected item."""
        return self.view.current_item()

    def _on_reset(self, items: list[SavedItem]) -> None:
        current = self.selected()
        self.model.set_items(items)
        row = self.model.row_of(current.png) if current is not None else -1
        self.view.select_row(row if row >= 0 else 0)
        if not items:
            self.view.show_item(None)

    def _on_added(self, item: SavedItem) -> None:
        self.model.prepend(item)
        self.view.select_row(0)

    def _on_removed(self, item: SavedItem) -> None:
        row = self.model.row_of(item.png)
        self.model.remove(item)
        if self.model.rowCount():
            self.view.select_row(min(max(row, 0), self.model.rowCount() - 1))
        else:
            self.view.show_item(None)

    def _checked(self, item: SavedItem) -> dict[str, Any]:
        """The item's parameters the window can use; the ignored fields are named in the banner."""
        params, bad = checked_params(item.params, item.bad_fields)
        if bad:
            self.notifier.warning(bad_fields_note(bad, item.png.name))
        return params

    def _reuse_params(self, item: SavedItem) -> None:
        params = self._checked(item)
        if params.get("kind") in ("edit", "restore"):
            self.reuseEdit.emit(item, params)
            return
        self.reuseParams.emit(params)

    def _reuse_seed(self, item: SavedItem) -> None:
        seed = self._checked(item).get("seed")
        if isinstance(seed, int):
            self.reuseSeed.emit(seed)

    def delete(self, item: SavedItem | None = None) -> bool:
        """Move ``item`` (default: the selected one) to the trash, after confirmation if enabled."""
        item = item or self.selected()
        if item is None:
            return False
        if self.settings.get("confirm_delete") and not dialogs.confirm(
            self.view,
            "Delete picture",
            f"Move “{item.png.name}”{' and its latent' if item.latent else ''} to the trash?\n"
            f"It can be recovered from {self.library.store.trash_dir}.",
            ok="Move to trash",
        ):
            return False
        return self.library.delete(item)

    def undo_delete(self) -> SavedItem | None:
        """Ctrl+Z: put the last deleted picture back, and select it."""
        item = self.library.undo_delete()
        if item is not None:
            self.view.select_row(self.model.row_of(item.png))
        return item

    def open_folder(self, item: SavedItem | None = None) -> None:
        """Open the output folder (or the folder of ``item``) in the file manager."""
        folder = item.png.parent if item is not None else self.library.root
        try:
            Path(folder).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.notifier.error(f"The output folder {folder} cannot be created: {exc.strerror or exc}.")
            return
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
            self.notifier.warning(f"No file manager could be opened; the folder is {folder}.")
