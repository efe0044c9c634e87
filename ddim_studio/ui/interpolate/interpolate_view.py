"""Interpolate mode's layout: slots A and B, path settings, a large view, a scrubber and a filmstrip."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ddim_studio.core.names import MAX_REFINE
from ddim_studio.ui import theme
from ddim_studio.ui.interpolate.slot_widget import SlotWidget
from ddim_studio.ui.widgets.controls import (
    SPACING_CHOICES,
    SPACING_TOOLTIP,
    ElidedLabel,
    ProgressRow,
    StepsControl,
    caption,
    primary_button,
)
from ddim_studio.ui.widgets.image_grid import ImageGrid
from ddim_studio.ui.widgets.image_view import PixelCanvas
from ddim_studio.ui.widgets.panel import ControlPanel, form, mode_main
from ddim_studio.ui.widgets.sampler_choice import SamplerCombo

METHOD_TOOLTIP = (
    "slerp follows the sphere between the two latents and keeps their norm (as in the paper); lerp cuts "
    "straight through and fades to grey in the middle."
)
FILM_CELL = 76
MIN_FILM_CELL, MAX_FILM_CELL = 44, 88


class InterpolateView(QWidget):
    """Layout of the Interpolate mode; intent leaves as signals."""

    runRequested = Signal()  # noqa: N815
    cancelRequested = Signal()  # noqa: N815
    scrubbed = Signal(int)  # noqa: N815
    exportGifRequested = Signal()  # noqa: N815
    exportStripRequested = Signal()  # noqa: N815
    exportFramesRequested = Signal()  # noqa: N815
    addFrameRequested = Signal()  # noqa: N815
    swapRequested = Signal()  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self._make_controls())
        layout.addWidget(self._make_main(), 1)
        self._connect()
        self.set_has_frames(False)

    def _make_controls(self) -> ControlPanel:
        panel = ControlPanel()
        ends = QVBoxLayout()
        ends.setSpacing(8)
        self.slot_a, self.slot_b = SlotWidget("A"), SlotWidget("B")
        self.swap_button = QPushButton("Swap A ⇄ B")
        theme.apply_icon(self.swap_button, "reuse")
        ends.addWidget(self.slot_a)
        ends.addWidget(self.slot_b)
        ends.addWidget(self.swap_button)
        panel.add_group("Endpoints", ends)
        path = form()
        self.frames = QSpinBox()
        self.frames.setRange(2, 64)
        self.frames.setToolTip("How many pictures the morph has, A and B included")
        self.method = QComboBox()
        self.method.addItems(["slerp", "lerp"])
        self.method.setToolTip(METHOD_TOOLTIP)
        self.steps = StepsControl()
        self.spacing = QComboBox()
        self.spacing.addItems(list(SPACING_CHOICES))
        self.spacing.setToolTip(SPACING_TOOLTIP)
        pair = QHBoxLayout()
        pair.setSpacing(8)
        pair.addWidget(self.frames, 1)
        pair.addWidget(self.method, 1)
        path.addRow("Frames  ·  method", pair)
        self.sampler = SamplerCombo()
        self.spacing_note = caption("")
        path.addRow("Steps S", self.steps)
        path.addRow("Sampler", self.sampler)
        path.addRow("Spacing", self.spacing)
        path.addRow(self.spacing_note)
        self.refine = QSpinBox()
        self.refine.setRange(0, MAX_REFINE)
        self.refine.setToolTip(
            "Picture slots: refine each inversion step with up to this many fixed-point updates (up to "
            "2 + K model calls a step), so the end frames come back closer to the pictures. 0 = the "
            "paper's inversion."
        )
        path.addRow("Refine", self.refine)
        panel.add_group("Path", path)
        panel.add_stretch()
        self.run_button = primary_button("Run", "run")
        self.run_button.setToolTip("Encode image slots if needed, then decode every frame (Ctrl+Enter)")
        self.run_button.setMinimumHeight(38)
        panel.add_widget(self.run_button)
        return panel

    def _make_main(self) -> QWidget:
        main, column, header, self.summary = mode_main(
            "Interpolate",
            "x_T is a semantic latent: walking between two of them morphs one picture into the other.",
        )
        self.progress = ProgressRow()
        self.large = PixelCanvas("Fill slots A and B, then press Run (Ctrl+Enter).")
        column.addLayout(header)
        column.addWidget(self.progress)
        column.addWidget(self.large, 1)
        column.addLayout(self._make_scrubber())
        column.addWidget(self._make_film())
        column.addLayout(self._make_exports())
        return main

    def _make_scrubber(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.scrubber = QSlider(Qt.Orientation.Horizontal)
        self.scrubber.setToolTip("Scrub through the morph (or hover over the filmstrip)")
        self.scrub_label = ElidedLabel("")
        self.scrub_label.fix_width(170)
        row.addWidget(QLabel("A"))
        row.addWidget(self.scrubber, 1)
        row.addWidget(QLabel("B"))
        row.addWidget(self.scrub_label)
        return row

    def _make_film(self) -> QScrollArea:
        self.film = ImageGrid("", cell_size=FILM_CELL, hover_select=True, spacing=8)
        scroll = self.film_scroll = QScrollArea()
        scroll.setObjectName("Filmstrip")
        scroll.setWidget(self.film)
        scroll.setWidgetResizable(False)
        scroll.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignVCenter)
        scroll.setFixedHeight(MAX_FILM_CELL + 40)
        scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        return scroll

    def _make_exports(self) -> QGridLayout:
        row = QGridLayout()
        row.setHorizontalSpacing(8)
        self.gif_button = self._button(
            "GIF…", "film", "Export the morph as an endlessly looping animated GIF"
        )
        self.strip_button = self._button("PNG strip…", "export", "Export all frames side by side in one PNG")
        self.frames_button = self._button(
            "Frames…", "folder", "Export every frame as its own PNG into a folder"
        )
        self.add_button = self._button(
            "Add to gallery", "plus", "Save the frame shown (and its latent) in the gallery"
        )
        row.addWidget(self.gif_button, 0, 1)
        row.addWidget(self.strip_button, 0, 2)
        row.addWidget(self.frames_button, 0, 3)
        row.setColumnStretch(4, 1)
        row.addWidget(self.add_button, 0, 5)
        return row

    def _button(self, text: str, icon_name: str, tip: str) -> QPushButton:
        button = QPushButton(text)
        theme.apply_icon(button, icon_name)
        button.setToolTip(tip)
        return button

    def _connect(self) -> None:
        self.run_button.clicked.connect(self.runRequested)
        self.progress.cancelRequested.connect(self.cancelRequested)
        self.scrubber.valueChanged.connect(self.scrubbed)
        self.film.clicked.connect(self.scrubber.setValue)
        self.film.hovered.connect(self.scrubber.setValue)
        self.gif_button.clicked.connect(self.exportGifRequested)
        self.strip_button.clicked.connect(self.exportStripRequested)
        self.frames_button.clicked.connect(self.exportFramesRequested)
        self.add_button.clicked.connect(self.addFrameRequested)
        self.swap_button.clicked.connect(self.swapRequested)

    def fit_film(self) -> None:
        """Size the filmstrip's cells so all frames fit the width when they can (else it scrolls)."""
        count = max(1, self.film.count())
        spare = self.film_scroll.viewport().width() - 8 * count - 4
        cell = max(MIN_FILM_CELL, min(MAX_FILM_CELL, spare // count))
        self.film.set_cell_size(cell)
        self.film_scroll.setFixedHeight(cell + 36 + (12 if cell * count > spare else 0))

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self.fit_film()

    def slot(self, name: str) -> SlotWidget:
        """Slot ``"A"`` or ``"B"``."""
        return self.slot_a if name == "A" else self.slot_b

    def set_has_frames(self, has: bool) -> None:
        """Enable the scrubber and exports once there are frames."""
        for widget in (
            self.scrubber,
            self.gif_button,
            self.strip_button,
            self.frames_button,
            self.add_button,
        ):
            widget.setEnabled(has)
