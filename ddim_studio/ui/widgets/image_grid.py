"""A painted grid of pixel-crisp images with captions, selection and hover (previews, strips, filmstrips)."""

from __future__ import annotations

import math

from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from ddim_studio.ui import theme
from ddim_studio.ui.qt_image import draw_image

CAPTION_HEIGHT = 20


class ImageGrid(QWidget):
    """Images laid out in the grid that makes them largest, or in one row of fixed-size cells.

    Signals:
        clicked(int): a cell was clicked (its index).
        hovered(int): the mouse moved onto a cell (only with ``hover_select``).

    Args:
        placeholder: text shown while the grid is empty.
        cell_size: fixed cell size in px for a single scrolling row (filmstrip); 0 for a fitted grid.
        hover_select: select the cell under the mouse (scrub by hovering).
    """

    clicked = Signal(int)
    hovered = Signal(int)

    def __init__(
        self,
        placeholder: str = "",
        *,
        cell_size: int = 0,
        hover_select: bool = False,
        spacing: int = 10,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._images: list[QImage | None] = []
        self._captions: list[str] = []
        self._selected = -1
        self._placeholder = placeholder
        self._cell_size = cell_size
        self._hover_select = hover_select
        self._spacing = spacing
        self._max_cell = 0
        self.setMouseTracking(hover_select)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        if cell_size:
            self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)

    # ---- content ------------------------------------------------------------------------------
    def count(self) -> int:
        """Number of cells."""
        return len(self._images)

    def set_count(self, count: int, captions: list[str] | None = None) -> None:
        """Make ``count`` empty cells (keeps images already there when the count is unchanged)."""
        if count != len(self._images):
            self._images = [None] * count
            self._selected = min(self._selected, count - 1)
        self._captions = list(captions) if captions is not None else [""] * count
        self._relayout()

    def set_images(self, images: list[QImage], captions: list[str] | None = None) -> None:
        """Replace all cells."""
        self._images = list(images)
        self._captions = list(captions) if captions is not None else [""] * len(images)
        if self._selected >= len(images):
            self._selected = len(images) - 1
        self._relayout()

    def set_image(self, index: int, image: QImage) -> None:
        """Replace one cell's image (ignored when out of range)."""
        if 0 <= index < len(self._images):
            self._images[index] = image
            self.update(self.cell_rect(index).adjusted(-3, -3, 3, 3))

    def set_caption(self, index: int, caption: str) -> None:
        """Replace one cell's caption."""
        if 0 <= index < len(self._captions):
            self._captions[index] = caption
            self.update()

    def image(self, index: int) -> QImage | None:
        """The image of a cell, or None."""
        return self._images[index] if 0 <= index < len(self._images) else None

    def captions(self) -> list[str]:
        """All captions."""
        return list(self._captions)

    def clear(self) -> None:
        """Remove every cell."""
        self.set_images([])

    def set_cell_size(self, size: int) -> None:
        """Change the fixed cell size of a single-row grid."""
        if self._cell_size and size != self._cell_size:
            self._cell_size = max(8, int(size))
            self._relayout()

    # ---- selection ----------------------------------------------------------------------------
    def selected(self) -> int:
        """The selected cell, or -1."""
        return self._selected

    def set_selected(self, index: int) -> None:
        """Select a cell (-1 for none)."""
        index = index if 0 <= index < len(self._images) else -1
        if index != self._selected:
            self._selected = index
            self.update()

    # ---- geometry -----------------------------------------------------------------------------
    def _has_captions(self) -> bool:
        return any(self._captions)

    def _grid(self) -> tuple[int, int, int]:
        """(columns, rows, cell size) for the current size."""
        n = len(self._images)
        caption = CAPTION_HEIGHT if self._has_captions() else 0
        if self._cell_size:
            return max(n, 1), 1, self._cell_size
        if n == 0:
            return 1, 1, 0
        width, height, sp = self.width(), self.height(), self._spacing
        best = (1, n, 0)
        for cols in range(1, n + 1):
            rows = math.ceil(n / cols)
            cell = min((width - (cols - 1) * sp) / cols, (height - rows * caption - (rows - 1) * sp) / rows)
            if cell > best[2]:
                best = (cols, rows, int(cell))
        cols, rows, cell = best
        if self._max_cell:
            cell = min(cell, self._max_cell)
        return cols, rows, max(cell, 0)

    def cell_rect(self, index: int) -> QRect:
        """The image rect of cell ``index`` (without its caption)."""
        cols, rows, cell = self._grid()
        caption = CAPTION_HEIGHT if self._has_captions() else 0
        sp = self._spacing
        total_w = cols * cell + (cols - 1) * sp
        total_h = rows * (cell + caption) + (rows - 1) * sp
        left = max(0, (self.width() - total_w) // 2) if not self._cell_size else sp // 2
        top = max(0, (self.height() - total_h) // 2) if not self._cell_size else sp // 2
        row, col = divmod(index, cols)
        return QRect(left + col * (cell + sp), top + row * (cell + caption + sp), cell, cell)

    def index_at(self, pos: QPoint) -> int:
        """The cell under ``pos``, or -1."""
        for index in range(len(self._images)):
            if self.cell_rect(index).contains(pos):
                return index
        return -1

    def _relayout(self) -> None:
        if self._cell_size:
            cols = max(len(self._images), 1)
            caption = CAPTION_HEIGHT if self._has_captions() else 0
            size = QSize(cols * (self._cell_size + self._spacing), self._cell_size + caption + self._spacing)
            self.setFixedSize(size)
        self.updateGeometry()
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        if self._cell_size:
            return self.size()
        return QSize(480, 360)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(120, 120) if not self._cell_size else self.size()

    # ---- events -------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        index = self.index_at(event.position().toPoint())
        if index >= 0 and event.button() == Qt.MouseButton.LeftButton:
            self.set_selected(index)
            self.clicked.emit(index)
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        if self._hover_select:
            index = self.index_at(event.position().toPoint())
            if index >= 0 and index != self._selected:
                self.set_selected(index)
                self.hovered.emit(index)
        super().mouseMoveEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        c = theme.colors()
        if not self._images:
            self._paint_placeholder(painter, c)
            return
        caption_font = QFont(self.font())
        caption_font.setPointSizeF(max(7.0, self.font().pointSizeF() * 0.85))
        painter.setFont(caption_font)
        for index, image in enumerate(self._images):
            rect = self.cell_rect(index)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(c.surface))
            painter.drawRoundedRect(rect, 4, 4)
            if image is not None and not image.isNull():
                draw_image(painter, image, rect)
            if index == self._selected:
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.setPen(QPen(QColor(c.accent), 2))
                painter.drawRoundedRect(rect.adjusted(-2, -2, 2, 2), 5, 5)
            if index < len(self._captions) and self._captions[index]:
                painter.setPen(QColor(c.accent if index == self._selected else c.muted))
                text_rect = QRect(rect.left() - 4, rect.bottom() + 2, rect.width() + 8, CAPTION_HEIGHT - 2)
                elided = painter.fontMetrics().elidedText(
                    self._captions[index], Qt.TextElideMode.ElideRight, text_rect.width()
                )
                painter.drawText(text_rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, elided)

    def _paint_placeholder(self, painter: QPainter, c: theme.Colors) -> None:
        if not self._placeholder:
            return
        painter.setPen(QColor(c.muted))
        painter.drawText(
            self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._placeholder
        )
