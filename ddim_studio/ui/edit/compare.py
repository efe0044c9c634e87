"""Before | after: one picture over the other, split where the person drags."""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QWidget

from ddim_studio.ui import theme


class SplitView(QWidget):
    """Before | after: the left part of the split shows ``before``, the right ``after``; drag to move it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.before: QImage | None = None
        self.after: QImage | None = None
        self.split = 0.5
        self.setMinimumSize(160, 160)

    def set_images(self, before: QImage | None, after: QImage | None) -> None:
        """Show ``before`` left of the split and ``after`` right of it."""
        self.before, self.after = before, after
        self.update()

    def set_split(self, fraction: float) -> None:
        """Move the split (0 = all after, 1 = all before)."""
        self.split = min(1.0, max(0.0, fraction))
        self.update()

    def _rect(self) -> QRect:
        side = min(self.width(), self.height())
        image = self.after or self.before
        if image is not None and side >= image.width():
            side = side // image.width() * image.width()
        return QRect((self.width() - side) // 2, (self.height() - side) // 2, side, side)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        self.mouseMoveEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        if event.buttons() & Qt.MouseButton.LeftButton:
            rect = self._rect()
            self.set_split((event.position().x() - rect.left()) / max(1, rect.width()))

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        c = theme.colors()
        rect = self._rect()
        painter.fillRect(rect, QColor(c.surface))
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        cut = rect.left() + round(rect.width() * self.split)
        for image, part in (
            (self.before, QRect(rect.left(), rect.top(), cut - rect.left(), rect.height())),
            (self.after, QRect(cut, rect.top(), rect.right() + 1 - cut, rect.height())),
        ):
            if image is None or part.width() <= 0:
                continue
            painter.save()
            painter.setClipRect(part)
            painter.drawImage(rect, image)
            painter.restore()
        if self.before is None and self.after is None:
            painter.setPen(QColor(c.muted))
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             "Before | after\nappears after a run")  # fmt: skip
            return
        painter.setPen(QPen(QColor(c.accent), 2))
        painter.drawLine(cut, rect.top(), cut, rect.bottom())
        painter.setPen(QColor(255, 255, 255))
        painter.drawText(
            rect.adjusted(6, 4, -6, -4), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, "before"
        )
        painter.drawText(
            rect.adjusted(6, 4, -6, -4), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop, "after"
        )
