"""Generate ▸ Guide: a reference slot, the factor with the coarse picture it keeps, "until", results.

Layout only (Qt widgets, no torch); ``guide_controller.GuideController`` wires it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QPushButton, QSlider, QWidget

from ddim_studio.ui.widgets.controls import ProgressRow, caption, heading
from ddim_studio.ui.widgets.file_drop import FileDropMixin
from ddim_studio.ui.widgets.image_grid import ImageGrid
from ddim_studio.ui.widgets.image_view import PixelCanvas

FACTOR_TIP = (
    "N: the results keep what survives shrinking the reference N times — its layout and colours at "
    "that scale. Large N keeps only the coarse layout; small N nearly copies the reference."
)
UNTIL_TIP = "Stop following the reference for the last part of the run, so the model finishes freely."


class ReferenceSlot(FileDropMixin, PixelCanvas):
    """The reference picture; files dropped on it are emitted with ``filesDropped``."""

    filesDropped = Signal(list)  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Drop a reference picture here", parent)
        self.setAcceptDrops(True)
        self.setToolTip(
            "The picture whose composition the results follow (drop one, or pick from the gallery)"
        )


class GuidePanel(QFrame):
    """The Guide card: reference, factor and its coarse picture, until, Guide button, results."""

    filesDropped = Signal(list)  # noqa: N815
    fromGalleryRequested = Signal()  # noqa: N815
    guideRequested = Signal()  # noqa: N815
    cancelRequested = Signal()  # noqa: N815
    factorChanged = Signal(int)  # noqa: N815
    untilChanged = Signal(float)  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Card")
        self.factors: list[int] = [2, 4, 8, 16, 32]
        grid = QGridLayout(self)
        grid.setContentsMargins(14, 10, 14, 10)
        grid.setHorizontalSpacing(12)
        top = QHBoxLayout()
        top.addWidget(heading("Guide by a picture"))
        note = caption("new pictures that follow a reference's layout and colours (ILVR)")
        note.setWordWrap(True)
        top.addWidget(note, 1)
        self.gallery_button = QPushButton("From gallery")
        self.gallery_button.setToolTip("Use the picture selected in the gallery as the reference")
        self.guide_button = QPushButton("Guide")
        self.guide_button.setToolTip("Sample with the Sampler and Seeds settings, following the reference")
        top.addWidget(self.gallery_button)
        top.addWidget(self.guide_button)
        grid.addLayout(top, 0, 0, 1, 3)
        self.reference = ReferenceSlot()
        self.coarse = PixelCanvas("What the results keep")
        self.coarse.setToolTip("φ_N(reference): the reference shrunk N times and enlarged back")
        for canvas in (self.reference, self.coarse):
            canvas.setFixedSize(112, 112)
        grid.addWidget(self.reference, 1, 0, 3, 1)
        grid.addWidget(self.coarse, 1, 1, 3, 1)
        grid.addLayout(self._make_sliders(), 1, 2)
        self.progress = ProgressRow()
        grid.addWidget(self.progress, 2, 2)
        self.results = ImageGrid("Guided results land here and in the gallery.")
        self.results.setFixedHeight(112)
        grid.addWidget(self.results, 3, 2)
        grid.setColumnStretch(2, 1)
        self._connect()

    def _make_sliders(self) -> QGridLayout:
        rows = QGridLayout()
        self.factor = QSlider(Qt.Orientation.Horizontal)
        self.factor.setToolTip(FACTOR_TIP)
        self.factor_label = QLabel("")
        self.until = QSlider(Qt.Orientation.Horizontal)
        self.until.setRange(0, 90)
        self.until.setSingleStep(5)
        self.until.setToolTip(UNTIL_TIP)
        self.until_label = QLabel("")
        rows.addWidget(QLabel("Factor"), 0, 0)
        rows.addWidget(self.factor, 0, 1)
        rows.addWidget(self.factor_label, 0, 2)
        rows.addWidget(QLabel("Until"), 1, 0)
        rows.addWidget(self.until, 1, 1)
        rows.addWidget(self.until_label, 1, 2)
        rows.setColumnStretch(1, 1)
        self.set_factors(self.factors, 8)
        self._until_moved(0)
        return rows

    def _connect(self) -> None:
        self.reference.filesDropped.connect(self.filesDropped)
        self.gallery_button.clicked.connect(self.fromGalleryRequested)
        self.guide_button.clicked.connect(self.guideRequested)
        self.progress.cancelRequested.connect(self.cancelRequested)
        self.factor.valueChanged.connect(self._factor_moved)
        self.until.valueChanged.connect(self._until_moved)

    def _factor_moved(self, index: int) -> None:
        n = self.factor_value()
        self.factor_label.setText(f"N = {n}")
        self.factorChanged.emit(n)

    def _until_moved(self, value: int) -> None:
        self.until_label.setText("every step" if value == 0 else f"free for the last {value} %")
        self.untilChanged.emit(value / 100)

    # ---- state in and out ---------------------------------------------------------------------
    def set_factors(self, factors: list[int], current: int | None = None) -> None:
        """Offer ``factors`` (those that divide the model's size) and select ``current`` (or the nearest)."""
        keep = current if current is not None else self.factor_value() if self.factors else 8
        self.factors = list(factors)
        index = min(range(len(self.factors)), key=lambda i: abs(self.factors[i] - keep))
        self.factor.blockSignals(True)
        self.factor.setRange(0, len(self.factors) - 1)
        self.factor.setValue(index)
        self.factor.blockSignals(False)
        self._factor_moved(index)

    def factor_value(self) -> int:
        """N as selected."""
        return self.factors[max(0, min(self.factor.value(), len(self.factors) - 1))]

    def until_value(self) -> float:
        """F as selected."""
        return self.until.value() / 100

    def set_until(self, until: float) -> None:
        """Select F (rounded to the slider's 1 % steps)."""
        self.until.setValue(round(float(until) * 100))

    def set_reference(self, image: QImage | None, coarse: QImage | None, caption_text: str = "") -> None:
        """Show the reference and its coarse picture."""
        self.reference.set_image(image)
        self.reference.set_caption(caption_text or None)
        self.coarse.set_image(coarse)

    def set_busy(self, busy: bool) -> None:
        """Reflect a running guide job."""
        self.guide_button.setText("Restart" if busy else "Guide")
