"""Edit ▸ Extend: arrow buttons and a band width; the panorama grows in a strip view, exports as PNG.

Layout only (Qt widgets, no torch); ``extend_controller.ExtendController`` wires it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ddim_studio.ui.widgets.controls import ProgressRow, caption, heading

ARROWS = (("left", "←"), ("up", "↑"), ("down", "↓"), ("right", "→"))
STRIP_HEIGHT = 96
EXTEND_MIN_HEIGHT = 88  # px: the title row and the arrows' row, what a short window still shows


class ExtendPanel(QFrame):
    """The Extend card: one button per direction, band width and steps, the strip, Export PNG."""

    panRequested = Signal(str)  # noqa: N815 - a direction
    exportRequested = Signal()  # noqa: N815
    resetRequested = Signal()  # noqa: N815
    cancelRequested = Signal()  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Card")
        column = QVBoxLayout(self)
        column.setContentsMargins(14, 10, 14, 10)
        column.setSpacing(6)
        title = QHBoxLayout()
        title.addWidget(heading("Extend"))
        note = caption("walk the picture past its frame; the model fills each new band")
        note.setWordWrap(True)
        title.addWidget(note, 1)
        # The panorama's actions share the title row: the arrows' row stays short in a narrow panel.
        self.reset_button = QPushButton("Start over")
        self.reset_button.setToolTip("Forget the panorama; the next arrow starts from the Edit picture")
        self.export_button = QPushButton("Export PNG…")
        self.export_button.setToolTip("Save the panorama as a PNG file")
        title.addWidget(self.reset_button)
        title.addWidget(self.export_button)
        column.addLayout(title)
        row = QHBoxLayout()
        self.arrows: dict[str, QToolButton] = {}
        for direction, text in ARROWS:
            button = QToolButton()
            button.setText(text)
            button.setToolTip(f"Extend the picture {direction}: shift it and let the model fill the band")
            button.clicked.connect(lambda _c=False, d=direction: self.panRequested.emit(d))
            self.arrows[direction] = button
            row.addWidget(button)
        self.band = QSpinBox()
        self.band.setRange(1, 31)
        self.band.setValue(8)
        self.band.setSuffix(" px")
        self.band.setToolTip("How many pixels each step adds")
        self.steps = QSpinBox()
        self.steps.setRange(1, 1000)
        self.steps.setValue(25)
        self.steps.setToolTip("Steps S of each step's inpainting")
        row.addWidget(QLabel("Band"))
        row.addWidget(self.band)
        row.addWidget(QLabel("Steps"))
        row.addWidget(self.steps)
        row.addStretch(1)
        column.addLayout(row)
        self.progress = ProgressRow()
        column.addWidget(self.progress)
        self.strip = QLabel("The panorama grows here.")
        self.strip.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.strip.setMinimumHeight(STRIP_HEIGHT)
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setWidget(self.strip)
        self.scroll_area.setFixedHeight(STRIP_HEIGHT + 24)
        column.addWidget(self.scroll_area)
        self.export_button.clicked.connect(self.exportRequested)
        self.reset_button.clicked.connect(self.resetRequested)
        self.progress.cancelRequested.connect(self.cancelRequested)
        self.set_strip(None)

    def set_strip(self, image: QImage | None, text: str = "") -> None:
        """Show the panorama scaled to the strip's height (pixels kept sharp), or the placeholder."""
        self.export_button.setEnabled(image is not None)
        self.reset_button.setEnabled(image is not None)
        if image is None:
            self.strip.setPixmap(QPixmap())
            self.strip.setText("The panorama grows here: open a picture above, then press an arrow.")
            return
        scale = max(1, STRIP_HEIGHT // max(1, image.height()))
        pixmap = QPixmap.fromImage(image).scaled(
            image.width() * scale, image.height() * scale, Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.FastTransformation,
        )  # fmt: skip
        self.strip.setPixmap(pixmap)
        self.strip.setToolTip(text)

    def set_busy(self, busy: bool) -> None:
        """No new step while one runs."""
        for button in self.arrows.values():
            button.setEnabled(not busy)
