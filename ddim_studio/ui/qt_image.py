"""The one place where pixel arrays become Qt images, and where images are drawn.

Tiny models make 32×32 pictures; shown at 256 px they must stay sharp squares, never blur. Larger
pictures (a 256-px model) are shown at their native size when the cell holds them and shrunk
smoothly when it does not. Every widget draws images through :func:`draw_image` (aspect ratio
kept) or gets a pre-scaled pixmap from :func:`to_pixmap`.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, QRectF, QSize, Qt
from PySide6.QtGui import QImage, QPainter, QPixmap


def to_qimage(array: np.ndarray) -> QImage:
    """An ``(H, W, 3)`` or ``(H, W)`` uint8 array as a QImage that owns its pixels (a copy).

    Raises:
        ValueError: for other shapes or dtypes.
    """
    arr = np.asarray(array)
    if arr.dtype != np.uint8:
        raise ValueError(f"Expected a uint8 array, got {arr.dtype}.")
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"Expected an (H, W, 3) array, got shape {arr.shape}.")
    arr = np.ascontiguousarray(arr)
    height, width, channels = arr.shape
    fmt = QImage.Format.Format_RGB888 if channels == 3 else QImage.Format.Format_RGBA8888
    image = QImage(arr.data, width, height, width * channels, fmt)
    return image.copy()  # detach from the numpy buffer


def qimage_to_array(image: QImage) -> np.ndarray:
    """A QImage as an ``(H, W, 3)`` uint8 array (for tests and exports)."""
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    width, height = rgb.width(), rgb.height()
    ptr = rgb.constBits()
    raw = np.frombuffer(ptr, dtype=np.uint8, count=rgb.bytesPerLine() * height)
    return raw.reshape(height, rgb.bytesPerLine())[:, : width * 3].reshape(height, width, 3).copy()


def to_pixmap(image: QImage | np.ndarray, size: int | None = None) -> QPixmap:
    """A pixmap of ``image``; with ``size``, scaled nearest-neighbour so its longer side is ``size``."""
    qimage = image if isinstance(image, QImage) else to_qimage(image)
    if size is not None and not qimage.isNull():
        qimage = qimage.scaled(
            size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation
        )
    return QPixmap.fromImage(qimage)


def fit_rect(src: QSize, box: QRect, *, whole_pixels: bool = False) -> QRect:
    """The largest rect with ``src``'s aspect ratio centred in ``box``.

    With ``whole_pixels`` the zoom is an integer when the box allows at least 1× (crisper pixels).
    """
    if src.width() <= 0 or src.height() <= 0 or box.width() <= 0 or box.height() <= 0:
        return QRect(box.topLeft(), QSize(0, 0))
    scale = min(box.width() / src.width(), box.height() / src.height())
    if whole_pixels and scale >= 1:
        scale = float(int(scale))
    width, height = round(src.width() * scale), round(src.height() * scale)
    left = box.left() + (box.width() - width) // 2
    top = box.top() + (box.height() - height) // 2
    return QRect(left, top, width, height)


#: Pictures this small (longest side, px) are enlarged pixel-crisp (nearest neighbour) to fill a cell.
TINY_SIDE = 64


def display_rect(src: QSize, box: QRect) -> tuple[QRect, bool]:
    """Where to draw a picture of size ``src`` in ``box``, and whether to scale it smoothly.

    A tiny picture (≤ :data:`TINY_SIDE`) fills the box, enlarged nearest-neighbour; a larger one is
    drawn at its native size when the box holds it, and smoothly shrunk to fit otherwise.
    """
    if max(src.width(), src.height()) <= TINY_SIDE:
        return fit_rect(src, box), False
    if src.width() <= box.width() and src.height() <= box.height():
        left = box.left() + (box.width() - src.width()) // 2
        top = box.top() + (box.height() - src.height()) // 2
        return QRect(left, top, src.width(), src.height()), False
    return fit_rect(src, box), True


def draw_image(painter: QPainter, image: QImage, box: QRect) -> QRect:
    """Draw ``image`` in ``box`` by :func:`display_rect`; returns the rect used."""
    target, smooth = display_rect(image.size(), box)
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
    painter.drawImage(QRectF(target), image)
    painter.restore()
    return target
