"""The gallery's list model: saved items with lazily loaded thumbnails, dragged out as file URLs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QAbstractListModel, QMimeData, QModelIndex, QPersistentModelIndex, Qt, QUrl
from PySide6.QtGui import QIcon, QImage, QPixmap

from ddim_studio.ui import params as params_text

if TYPE_CHECKING:
    from ddim_studio.core.store import SavedItem

THUMB_SIZE = 78
ItemRole = Qt.ItemDataRole.UserRole + 1
Index = QModelIndex | QPersistentModelIndex


def thumbnail(path: Path, size: int = THUMB_SIZE) -> QIcon:
    """A pixel-crisp thumbnail icon of a picture file (nearest-neighbour up-scaling)."""
    image = QImage(str(path))
    if image.isNull():
        return QIcon()
    scaled = image.scaled(
        size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation
    )
    return QIcon(QPixmap.fromImage(scaled))


class GalleryModel(QAbstractListModel):
    """Saved items, newest first; ``ItemRole`` gives the :class:`SavedItem` of a row."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._items: list[SavedItem] = []
        self._thumbs: dict[Path, QIcon] = {}

    # ---- content ------------------------------------------------------------------------------
    def set_items(self, items: list[SavedItem]) -> None:
        """Replace the whole list."""
        self.beginResetModel()
        self._items = list(items)
        keep = {item.png for item in items}
        self._thumbs = {path: icon for path, icon in self._thumbs.items() if path in keep}
        self.endResetModel()

    def prepend(self, item: SavedItem) -> None:
        """Put a new item on top."""
        self.beginInsertRows(QModelIndex(), 0, 0)
        self._items.insert(0, item)
        self.endInsertRows()

    def remove(self, item: SavedItem) -> None:
        """Drop an item (matched by its PNG path)."""
        for row, existing in enumerate(self._items):
            if existing.png == item.png:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._items[row]
                self._thumbs.pop(item.png, None)
                self.endRemoveRows()
                return

    def item(self, row: int) -> SavedItem | None:
        """The item of a row, or None."""
        return self._items[row] if 0 <= row < len(self._items) else None

    def items(self) -> list[SavedItem]:
        """All items, newest first."""
        return list(self._items)

    def row_of(self, png: Path) -> int:
        """The row of a PNG path, or -1."""
        for row, item in enumerate(self._items):
            if item.png == png:
                return row
        return -1

    # ---- Qt model API -------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008 - Qt API
        return 0 if parent.isValid() else len(self._items)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        item = self.item(index.row()) if index.isValid() else None
        if item is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return params_text.short_label(item.params)
        if role == Qt.ItemDataRole.DecorationRole:
            if item.png not in self._thumbs:
                self._thumbs[item.png] = thumbnail(item.png)
            return self._thumbs[item.png]
        if role == Qt.ItemDataRole.ToolTipRole:
            label = params_text.short_label(item.params)
            return f"{label}\n{item.png.name}\n" + "\n".join(
                f"{k}: {v}" for k, v in params_text.rows(item.params)
            )
        if role == ItemRole:
            return item
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        base = super().flags(index)
        return base | Qt.ItemFlag.ItemIsDragEnabled if index.isValid() else base

    def mimeTypes(self) -> list[str]:  # noqa: N802 - Qt API
        return ["text/uri-list"]

    def mimeData(self, indexes: list[QModelIndex]) -> QMimeData:  # noqa: N802 - Qt API
        """File URLs of the dragged pictures (and their latents), for other apps and the studio."""
        mime = QMimeData()
        urls = []
        for index in indexes:
            item = self.item(index.row())
            if item is not None:
                urls.append(QUrl.fromLocalFile(str(item.png)))
        mime.setUrls(urls)
        return mime

    def supportedDragActions(self) -> Qt.DropAction:  # noqa: N802 - Qt API
        return Qt.DropAction.CopyAction
