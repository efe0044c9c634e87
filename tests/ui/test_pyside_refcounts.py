"""The Qt binding keeps Python's reference counts: painting must not eat references to None.

PySide6 6.12.0 drops one reference to ``None`` on every call of a void QPainter method
(``setPen``, ``setBrush``, ``drawRoundedRect``…). On Python 3.11, where ``None`` is an ordinary
object, the window then aborted with "Fatal Python error: none_dealloc: deallocating None" after
some thousands of paints — found by ``benchmarks/bench_estimates.py`` (two crashes, both in
``ImageGrid.paintEvent`` during Interpolate). pyproject.toml keeps PySide6 below 6.12 on Python
< 3.12; this test fails on any binding with the same bug.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen

from ddim_studio.ui.widgets.image_grid import ImageGrid

CALLS = 200


def test_void_painter_calls_keep_the_references_to_none(qapp) -> None:  # type: ignore[no-untyped-def]
    image = QImage(32, 32, QImage.Format.Format_RGB32)
    painter = QPainter(image)
    try:
        calls = {
            "setPen": lambda: painter.setPen(QPen(QColor("#336699"), 2)),
            "setBrush": lambda: painter.setBrush(QColor("#336699")),
            "drawRoundedRect": lambda: painter.drawRoundedRect(QRect(0, 0, 10, 10), 4, 4),
            "drawText": lambda: painter.drawText(QRect(0, 0, 30, 10), Qt.AlignmentFlag.AlignLeft, "ab"),
        }
        for name, call in calls.items():
            call()
            before = sys.getrefcount(None)
            for _ in range(CALLS):
                call()
            # a few references may come and go elsewhere; one lost per call is the bug
            assert sys.getrefcount(None) > before - CALLS // 2, f"QPainter.{name} drops references to None"
    finally:
        painter.end()


def test_painting_the_picture_grid_keeps_the_references_to_none(qapp) -> None:  # type: ignore[no-untyped-def]
    grid = ImageGrid()
    grid.resize(480, 160)
    grid.set_count(9, [f"frame {i}" for i in range(9)])
    image = QImage(16, 16, QImage.Format.Format_RGB32)
    image.fill(0)
    for i in range(9):
        grid.set_image(i, image)
    grid.grab()
    before = sys.getrefcount(None)
    for _ in range(20):
        grid.grab()  # 9 cells, several painter calls each
    assert sys.getrefcount(None) > before - 90
