"""The Edit mode's canvas: paint on a picture and mask a region at the model's resolution, drawn large.

The pictures are numpy arrays at the model's size (a 32×32 model paints 32×32 pixels); the widget
draws them scaled with nearest-neighbour sampling so every pixel stays a crisp square. A stroke is
rasterised once (pen of ``size`` pixels, no antialiasing) and composited on the state from before the
stroke, so the opacity of a stroke does not pile up where it crosses itself.

Tools: ``brush`` (colour at an opacity), ``eraser`` (restores the source), ``mask`` (white =
regenerate), ``unmask`` (back to keep), ``eyedropper`` (picks the colour under the cursor). The
mask tools have a hardness (1 = a hard edge; lower fades the stroke's rim, :func:`soft_stroke_alpha`),
so a mask can hold values between keep and regenerate.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen, QWheelEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from ddim_studio.ui import theme
from ddim_studio.ui.qt_image import to_qimage


def _resize(pixels: np.ndarray, size: tuple[int, int], method: Image.Resampling) -> np.ndarray:
    """(H, W) or (H, W, 3) uint8 resized to ``size`` (width, height)."""
    return np.asarray(Image.fromarray(np.ascontiguousarray(pixels, np.uint8)).resize(size, method), np.uint8)


TOOLS = ("brush", "eraser", "mask", "unmask", "eyedropper")
MAX_UNDO = 50
MASK_TINT = (40, 140, 255)


def stroke_alpha(size: tuple[int, int], points: list[tuple[float, float]], width: int) -> np.ndarray:
    """Where a stroke through ``points`` (image coordinates) with a pen of ``width`` pixels lands.

    Returns:
        (H, W) bool, True on the stroke's pixels.
    """
    w, h = size
    layer = QImage(w, h, QImage.Format.Format_ARGB32)
    layer.fill(Qt.GlobalColor.transparent)
    painter = QPainter(layer)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
    pen = QPen(QColor(255, 255, 255), max(1, width), Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    painter.setPen(pen)
    painter.setBrush(QColor(255, 255, 255))
    radius = max(0.5, width / 2)
    first = QPointF(*points[0])
    if width <= 1:
        painter.drawPoint(first)
    else:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.drawEllipse(first, radius, radius)
        painter.setPen(pen)
    for a, b in zip(points, points[1:], strict=False):
        painter.drawLine(QPointF(*a), QPointF(*b))
    painter.end()
    bits = layer.constBits()
    raw = np.frombuffer(bits, np.uint8).reshape(h, layer.bytesPerLine())[:, : w * 4]
    return raw.reshape(h, w, 4)[:, :, 3] > 0


def soft_stroke_alpha(
    size: tuple[int, int], points: list[tuple[float, float]], width: int, hardness: float
) -> np.ndarray:
    """A stroke's coverage in [0, 1] for a brush of ``hardness`` (1 hard … 0 soft).

    The mean of hard strokes whose widths run from ``hardness·width`` to ``width``: full inside the
    hard core, falling linearly to the rim (a cone at hardness 0).

    Returns:
        (H, W) float32.
    """
    if hardness >= 1.0 or width <= 1:
        return stroke_alpha(size, points, width).astype(np.float32)
    core = max(1.0, hardness * width)
    widths = np.linspace(core, width, num=max(2, min(8, width)))
    return np.mean([stroke_alpha(size, points, round(float(w))) for w in widths], axis=0).astype(np.float32)


class EditCanvas(QWidget):
    """Paints the picture and its mask overlay; mouse strokes edit them with the current tool.

    Signals:
        changed(): the painted picture or the mask changed (a stroke, undo, redo, a new source).
        colorPicked(QColor): the eyedropper picked a colour.
        filesDropped(list): set by the view (drops are handled by the whole view).
    """

    changed = Signal()
    colorPicked = Signal(QColor)  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.source: np.ndarray | None = None
        self.painted: np.ndarray | None = None
        self.mask_array: np.ndarray | None = None  # uint8 (H, W), 255 = regenerate
        self.has_mask = False
        self.tool = "brush"
        self.color = QColor(230, 60, 50)
        self.brush_size = 3
        self.opacity = 1.0
        self.hardness = 1.0  # the mask tools' brush: 1 hard … 0 soft
        self.show_mask = True
        self.zoom = 0  # 0 = fit the widget, else screen pixels per picture pixel
        self._undo: list[tuple[np.ndarray, np.ndarray, bool]] = []
        self._redo: list[tuple[np.ndarray, np.ndarray, bool]] = []
        self._points: list[tuple[float, float]] = []
        self._base: tuple[np.ndarray, np.ndarray, bool] | None = None
        self._hover: QPointF | None = None
        self._placeholder = "Drop a picture here, or open one"
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 160)

    # ---- content ------------------------------------------------------------------------------
    def set_source(
        self, pixels: np.ndarray, painted: np.ndarray | None = None, mask: np.ndarray | None = None
    ) -> None:
        """Start over on ``pixels`` ((H, W, 3) uint8); optional painted picture and mask; clears undo."""
        self.source = np.ascontiguousarray(pixels, np.uint8).copy()
        self.painted = (self.source if painted is None else np.asarray(painted, np.uint8)).copy()
        h, w = self.source.shape[:2]
        self.has_mask = mask is not None
        self.mask_array = np.zeros((h, w), np.uint8) if mask is None else np.asarray(mask, np.uint8).copy()
        self._undo.clear()
        self._redo.clear()
        self.update()
        self.changed.emit()

    def refit(self, pixels: np.ndarray) -> None:
        """A new source size (another model): keep the paint, the mask and the undo history, resized.

        ``pixels`` is the source fitted again to the new size; what was painted and masked is
        resized to it (bilinear for paint, nearest for the mask), and so is every undo step.
        """
        if self.painted is None or self.mask_array is None:
            self.set_source(pixels)
            return
        size = (int(pixels.shape[1]), int(pixels.shape[0]))

        def resized(state: tuple[np.ndarray, np.ndarray, bool]) -> tuple[np.ndarray, np.ndarray, bool]:
            painted, mask, has_mask = state
            return (
                _resize(painted, size, Image.Resampling.BILINEAR),
                _resize(mask, size, Image.Resampling.NEAREST),
                has_mask,
            )

        self.source = np.ascontiguousarray(pixels, np.uint8).copy()
        self.painted, self.mask_array, self.has_mask = resized(self._state())
        self._undo[:] = [resized(state) for state in self._undo]
        self._redo[:] = [resized(state) for state in self._redo]
        self.update()
        self.changed.emit()

    def is_empty(self) -> bool:
        """True until a picture is set."""
        return self.painted is None

    def picture_size(self) -> tuple[int, int]:
        """(width, height) of the picture at model resolution, (0, 0) when empty."""
        return (0, 0) if self.painted is None else (self.painted.shape[1], self.painted.shape[0])

    def mask_pixels(self) -> np.ndarray | None:
        """The mask (H, W) uint8 (255 = regenerate), or None when no mask is painted."""
        return None if not self.has_mask or self.mask_array is None else self.mask_array.copy()

    def set_mask(self, mask: np.ndarray | None) -> None:
        """Replace the mask (None removes it), as one undoable change."""
        if self.mask_array is None:
            return
        self._push()
        self.has_mask = mask is not None
        self.mask_array = (
            np.zeros_like(self.mask_array) if mask is None else np.asarray(mask, np.uint8).copy()
        )
        self._after_change()

    def invert_mask(self) -> None:
        """Keep ↔ regenerate (an absent mask becomes 'regenerate everything')."""
        if self.mask_array is not None:
            self.set_mask(255 - (self.mask_array if self.has_mask else np.zeros_like(self.mask_array)))

    def clear_mask(self) -> None:
        """Remove the mask: the edit changes the whole picture again."""
        self.set_mask(None)

    # ---- undo ---------------------------------------------------------------------------------
    def _state(self) -> tuple[np.ndarray, np.ndarray, bool]:
        assert self.painted is not None and self.mask_array is not None
        return self.painted.copy(), self.mask_array.copy(), self.has_mask

    def _push(self) -> None:
        self._undo.append(self._state())
        del self._undo[:-MAX_UNDO]
        self._redo.clear()

    def can_undo(self) -> bool:
        """Whether there is a change to undo."""
        return bool(self._undo)

    def can_redo(self) -> bool:
        """Whether there is an undone change to redo."""
        return bool(self._redo)

    def undo(self) -> bool:
        """Undo the last stroke or mask change; False when there is none."""
        if not self._undo or self.painted is None:
            return False
        self._redo.append(self._state())
        self.painted, self.mask_array, self.has_mask = self._undo.pop()
        self._after_change()
        return True

    def redo(self) -> bool:
        """Redo the last undone change; False when there is none."""
        if not self._redo or self.painted is None:
            return False
        self._undo.append(self._state())
        self.painted, self.mask_array, self.has_mask = self._redo.pop()
        self._after_change()
        return True

    def _after_change(self) -> None:
        self.update()
        self.changed.emit()

    # ---- strokes ------------------------------------------------------------------------------
    def begin_stroke(self, point: tuple[float, float]) -> None:
        """Start a stroke at ``point`` (picture coordinates); the eyedropper picks instead."""
        if self.painted is None:
            return
        if self.tool == "eyedropper":
            x, y = int(point[0]), int(point[1])
            if 0 <= y < self.painted.shape[0] and 0 <= x < self.painted.shape[1]:
                r, g, b = (int(v) for v in self.painted[y, x])
                self.color = QColor(r, g, b)
                self.colorPicked.emit(self.color)
            return
        self._push()
        self._base = self._state()
        self._points = [point]
        self._apply()

    def extend_stroke(self, point: tuple[float, float]) -> None:
        """Continue the stroke to ``point``."""
        if self._base is None:
            return
        self._points.append(point)
        self._apply()

    def end_stroke(self) -> None:
        """Finish the stroke."""
        self._base, self._points = None, []

    def stroke(self, points: list[tuple[float, float]]) -> None:
        """A whole stroke through ``points`` (for scripts and tests)."""
        self.begin_stroke(points[0])
        for p in points[1:]:
            self.extend_stroke(p)
        self.end_stroke()

    def _apply(self) -> None:
        assert self._base is not None and self.source is not None
        base_painted, base_mask, base_has = self._base
        h, w = base_mask.shape
        if self.tool in ("mask", "unmask"):
            cover = soft_stroke_alpha((w, h), self._points, self.brush_size, self.hardness)
            base = base_mask.astype(np.float32)
            mask = np.maximum(base, 255 * cover) if self.tool == "mask" else base * (1 - cover)
            self.mask_array, self.has_mask = np.clip(np.rint(mask), 0, 255).astype(np.uint8), True
        else:
            hit = stroke_alpha((w, h), self._points, self.brush_size)
            if self.tool == "eraser":
                fill, alpha = np.asarray(self.source, np.float32)[hit], 1.0
            else:
                fill, alpha = (
                    np.array([self.color.red(), self.color.green(), self.color.blue()], np.float32),
                    self.opacity,
                )
            out = base_painted.astype(np.float32)
            out[hit] = (1 - alpha) * out[hit] + alpha * fill
            self.painted = np.clip(np.rint(out), 0, 255).astype(np.uint8)
            self.mask_array, self.has_mask = base_mask, base_has
        self._after_change()

    # ---- geometry -----------------------------------------------------------------------------
    def target_rect(self) -> QRect:
        """Where the picture is drawn in the widget (whole screen pixels per picture pixel when ≥ 1)."""
        w, h = self.picture_size()
        if not w:
            side = min(self.width(), self.height())
            return QRect((self.width() - side) // 2, (self.height() - side) // 2, side, side)
        scale = float(self.zoom) if self.zoom else min(self.width() / w, self.height() / h)
        if scale >= 1:
            scale = float(int(scale))
        tw, th = int(w * scale), int(h * scale)
        return QRect((self.width() - tw) // 2, (self.height() - th) // 2, tw, th)

    def to_picture(self, pos: QPointF | QPoint) -> tuple[float, float]:
        """A widget position in picture coordinates (pixel centres at .5)."""
        rect = self.target_rect()
        w, h = self.picture_size()
        return (
            (pos.x() - rect.left()) * w / max(1, rect.width()),
            (pos.y() - rect.top()) * h / max(1, rect.height()),
        )

    def set_zoom(self, zoom: int) -> None:
        """0 fits the widget; k draws each picture pixel as k×k screen pixels."""
        self.zoom = max(0, min(64, int(zoom)))
        w, h = self.picture_size()
        if self.zoom and w:  # larger than its scroll area: the area scrolls
            self.setMinimumSize(w * self.zoom, h * self.zoom)
        else:
            self.setMinimumSize(160, 160)
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(384, 384)

    # ---- events -------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        if event.button() == Qt.MouseButton.LeftButton:
            self.begin_stroke(self.to_picture(event.position()))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        self._hover = event.position()
        if event.buttons() & Qt.MouseButton.LeftButton:
            self.extend_stroke(self.to_picture(event.position()))
        self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        if event.button() == Qt.MouseButton.LeftButton:
            self.end_stroke()

    def leaveEvent(self, event: object) -> None:  # noqa: N802 - Qt API
        self._hover = None
        self.update()

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt API
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier and not self.is_empty():
            current = self.zoom or max(1, self.target_rect().width() // max(1, self.picture_size()[0]))
            self.set_zoom(current + (1 if event.angleDelta().y() > 0 else -1))
            event.accept()
        else:
            event.ignore()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        c = theme.colors()
        rect = self.target_rect()
        if self.painted is None:
            painter.fillRect(rect, QColor(c.surface))
            painter.setPen(QColor(c.muted))
            flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
            painter.drawText(rect.adjusted(8, 8, -8, -8), flags,
                             self._placeholder)  # fmt: skip
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        painter.drawImage(rect, to_qimage(self.painted))
        if self.show_mask and self.has_mask and self.mask_array is not None:
            painter.drawImage(rect, self._overlay())
        if self._hover is not None and self.tool != "eyedropper":
            scale = rect.width() / max(1, self.picture_size()[0])
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            painter.setPen(QPen(QColor(c.accent), 1.5))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            radius = max(1.0, self.brush_size * scale / 2)
            painter.drawEllipse(self._hover, radius, radius)

    def _overlay(self) -> QImage:
        assert self.mask_array is not None
        h, w = self.mask_array.shape
        rgba = np.zeros((h, w, 4), np.uint8)
        rgba[..., :3] = MASK_TINT
        rgba[..., 3] = (self.mask_array.astype(np.uint16) * 150 // 255).astype(np.uint8)
        return to_qimage(rgba)
