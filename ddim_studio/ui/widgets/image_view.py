"""One large pixel-crisp image with a title and an optional crop-box overlay."""

from __future__ import annotations

from PySide6.QtCore import QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from ddim_studio.ui import theme
from ddim_studio.ui.qt_image import draw_image

CAPTION_HEIGHT = 22


class PixelCanvas(QWidget):
    """Paints an image fitted to the widget with nearest-neighbour scaling.

    Args:
        placeholder: text shown while there is no image.
    """

    def __init__(self, placeholder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self._placeholder = placeholder
        self._crop: tuple[int, int, int, int] | None = None
        self._caption: str | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(96, 96)

    def set_image(self, image: QImage | None, crop: tuple[int, int, int, int] | None = None) -> None:
        """Show ``image`` (None clears); ``crop`` (left, top, right, bottom) outlines a region of it."""
        self._image = image
        self._crop = crop
        self.update()

    def image(self) -> QImage | None:
        """The image shown, or None."""
        return self._image

    def placeholder(self) -> str:
        """Text shown while empty."""
        return self._placeholder

    def set_placeholder(self, text: str) -> None:
        """Text shown while empty."""
        self._placeholder = text
        self.update()

    def set_caption(self, text: str | None) -> None:
        """A line drawn right under the image (None: no caption line; the image is then centred)."""
        self._caption = text
        self.update()

    def caption(self) -> str:
        """The caption text."""
        return self._caption or ""

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(256, 256)

    def heightForWidth(self, width: int) -> int:  # noqa: N802 - Qt API
        return width

    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt API
        return True

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        c = theme.colors()
        caption_h = CAPTION_HEIGHT if self._caption is not None else 0
        side = max(0, min(self.width(), self.height() - caption_h))
        top = 0 if caption_h else (self.height() - side) // 2
        box = QRect((self.width() - side) // 2, top, side, side)
        if caption_h:
            painter.setPen(QColor(c.muted))
            painter.drawText(
                QRect(0, box.bottom() + 4, self.width(), caption_h - 4),
                Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                self._caption or "",
            )
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(c.surface))
        painter.drawRoundedRect(box, 6, 6)
        if self._image is None or self._image.isNull():
            painter.setPen(QColor(c.muted))
            painter.drawText(
                box.adjusted(8, 8, -8, -8),
                Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                self._placeholder,
            )
            return
        target = draw_image(painter, self._image, box)
        if self._crop is not None:
            self._paint_crop(painter, target, c)

    def _paint_crop(self, painter: QPainter, target: QRect, c: theme.Colors) -> None:
        left, top, right, bottom = self._crop or (0, 0, 0, 0)
        sx = target.width() / max(1, self._image.width())  # type: ignore[union-attr]
        sy = target.height() / max(1, self._image.height())  # type: ignore[union-attr]
        crop = QRectF(
            target.left() + left * sx, target.top() + top * sy, (right - left) * sx, (bottom - top) * sy
        )
        shade = QColor(0, 0, 0, 120)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(shade)
        outer = QRectF(target)
        for part in (
            QRectF(outer.left(), outer.top(), outer.width(), crop.top() - outer.top()),
            QRectF(outer.left(), crop.bottom(), outer.width(), outer.bottom() - crop.bottom()),
            QRectF(outer.left(), crop.top(), crop.left() - outer.left(), crop.height()),
            QRectF(crop.right(), crop.top(), outer.right() - crop.right(), crop.height()),
        ):
            if part.width() > 0 and part.height() > 0:
                painter.drawRect(part)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(QColor(c.accent), 2, Qt.PenStyle.DashLine))
        painter.drawRect(crop)


class ImagePanel(QWidget):
    """A titled :class:`PixelCanvas` with a caption line right under the image (e.g. "σ = 0.98").

    Args:
        title: the heading above the image.
        placeholder: text shown while there is no image.
    """

    def __init__(self, title: str, placeholder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        self.title = QLabel(title.upper())
        self.title.setProperty("role", "heading")
        self.canvas = PixelCanvas(placeholder)
        self.canvas.set_caption("")
        layout.addWidget(self.title)
        layout.addWidget(self.canvas, 1)

    def set_image(self, image: QImage | None, caption: str | None = None) -> None:
        """Show ``image`` and, when given, a new caption."""
        self.canvas.set_image(image)
        if caption is not None:
            self.canvas.set_caption(caption)
