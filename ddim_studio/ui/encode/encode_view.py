"""Encode mode's layout: a drop zone and inversion controls, then original | x_T | reconstruction | error."""

from __future__ import annotations

from typing import Protocol

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ddim_studio.core.names import MAX_REFINE
from ddim_studio.ui import theme
from ddim_studio.ui.qt_image import to_qimage
from ddim_studio.ui.visuals import ERROR_GAIN, colour_bar
from ddim_studio.ui.widgets.controls import (
    ETA_TOOLTIP,
    SPACING_CHOICES,
    SPACING_TOOLTIP,
    ProgressRow,
    StepsControl,
    caption,
    heading,
    primary_button,
)
from ddim_studio.ui.widgets.file_drop import FileDropMixin
from ddim_studio.ui.widgets.image_grid import ImageGrid
from ddim_studio.ui.widgets.image_view import ImagePanel, PixelCanvas
from ddim_studio.ui.widgets.panel import ControlPanel, form, mode_main
from ddim_studio.ui.widgets.sampler_choice import SamplerCombo

REFINE_TOOLTIP = (
    "Refine each inversion step until decoding it gives the step's input back: 0 is the paper's "
    "inversion; a few refinements reconstruct the picture far more exactly, for more model calls."
)
DECODE_SAMPLER_TOOLTIP = (
    "How x_T is decoded back into a picture. The inversion always runs DDIM backwards, so DDIM "
    "gives the picture back most exactly."
)
HEALTH_TOOLTIP = (
    "How much x_T looks like the random noise the model starts from: noise has mean 0, spread "
    "(standard deviation) 1 and no correlation between neighbouring values."
)
#: (key, name, what random noise gives) of the health readout's rows.
HEALTH_ROWS = (("mean", "mean", "0"), ("std", "spread", "1"), ("autocorr", "neighbours", "0"))
HEALTH_WORDS = {
    "gaussian": "Looks like random noise.",
    "slightly_off": "Close to random noise, with small differences.",
    "far": "Far from random noise.",
}
SHORT_WARNING = "Interpolating it can blur the middle frames, and its variations drift further."


def format_mse(mse: float) -> str:
    """MSE with five decimals, or in powers of ten below 10⁻⁴ (a refined inversion gets there)."""
    return f"{mse:.5f}" if mse == 0 or mse >= 1e-4 else f"{mse:.1e}"


class LatentHealthLike(Protocol):
    """What the readout shows (``core.latent_health.LatentHealth``; the view imports no torch)."""

    mean: float
    std: float
    autocorr: float
    status: str
    verdict: str
    warning: str


VARIATIONS_TEXT = (
    "Make variations samples this x_T with η > 0: every step adds fresh noise, so a small η changes "
    "details and a large η can change the whole picture (more so for photos unlike the model's data)."
)


class EncodeView(FileDropMixin, QWidget):
    """Layout of the Encode mode; the whole view accepts dropped image and latent files."""

    filesDropped = Signal(list)  # noqa: N815 - list[Path]
    openRequested = Signal()  # noqa: N815
    fromGalleryRequested = Signal()  # noqa: N815
    encodeRequested = Signal()  # noqa: N815
    cancelRequested = Signal()  # noqa: N815
    saveLatentRequested = Signal()  # noqa: N815
    sendRequested = Signal(str)  # noqa: N815 - "A" or "B"
    addToGalleryRequested = Signal()  # noqa: N815
    variationsRequested = Signal()  # noqa: N815
    stepsChanged = Signal()  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self._make_controls())
        layout.addWidget(self._make_main(), 1)
        self._connect()
        self.set_has_latent(False)
        self.encode_button.setEnabled(False)

    # ---- left column --------------------------------------------------------------------------
    def _make_controls(self) -> ControlPanel:
        panel = ControlPanel()
        source = QVBoxLayout()
        source.setSpacing(8)
        self.drop_zone = QFrame()
        self.drop_zone.setObjectName("DropZone")
        zone = QVBoxLayout(self.drop_zone)
        zone.setContentsMargins(10, 10, 10, 10)
        self.source_canvas = PixelCanvas("Drop an image or a latent here")
        self.source_canvas.setFixedHeight(118)
        buttons = QHBoxLayout()
        self.open_button = QPushButton("Open…")
        theme.apply_icon(self.open_button, "image")
        self.open_button.setToolTip("Open an image or a latent file (Ctrl+O)")
        self.gallery_button = QPushButton("From gallery")
        theme.apply_icon(self.gallery_button, "gallery")
        self.gallery_button.setToolTip("Use the picture selected in the gallery")
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.gallery_button)
        zone.addWidget(self.source_canvas, 1)
        self.source_label = caption("PNG, JPEG, WebP… are centre-cropped and resized to the model's size.")
        source.addWidget(self.drop_zone)
        source.addLayout(buttons)
        source.addWidget(self.source_label)
        panel.add_group("Source", source)
        inversion = form()
        self.steps = StepsControl()
        self.steps.setToolTip("Inversion steps: more steps make x_T reconstruct the image more exactly.")
        self.spacing = QComboBox()
        self.spacing.addItems(list(SPACING_CHOICES))
        self.spacing.setToolTip(SPACING_TOOLTIP)
        self.refine = QSpinBox()
        self.refine.setRange(0, MAX_REFINE)
        self.refine.setToolTip(REFINE_TOOLTIP)
        self.refine_cost = caption("")
        self.refine_cost.setToolTip("Each model call runs the network once on the picture.")
        refine_row = QHBoxLayout()
        refine_row.setSpacing(8)
        refine_row.addWidget(self.refine)
        refine_row.addWidget(self.refine_cost, 1)
        self.sampler = SamplerCombo()
        self.sampler.setToolTip(DECODE_SAMPLER_TOOLTIP)
        self.spacing_note = caption("")
        inversion.addRow("Inversion steps", self.steps)
        inversion.addRow("Spacing", self.spacing)
        inversion.addRow(self.spacing_note)
        inversion.addRow("Refine", refine_row)
        inversion.addRow("Decode with", self.sampler)
        panel.add_group("Inversion", inversion)
        panel.add_group("Latent", self._make_latent_actions())
        panel.add_stretch()
        self.encode_button = primary_button("Encode", "run")
        self.encode_button.setToolTip("Invert the image to x_T, then decode it back (Ctrl+Enter)")
        self.encode_button.setMinimumHeight(38)
        panel.add_widget(self.encode_button)
        return panel

    def _make_latent_actions(self) -> QGridLayout:
        grid = QGridLayout()
        grid.setSpacing(6)
        self.save_latent_button = QPushButton("Save x_T…")
        theme.apply_icon(self.save_latent_button, "latent")
        self.save_latent_button.setToolTip("Write x_T with its parameters to a .safetensors file")
        self.send_button = QPushButton("Interpolate")
        theme.apply_icon(self.send_button, "send")
        self.send_button.setToolTip("Send x_T to slot A or B of Interpolate")
        menu = QMenu(self.send_button)
        menu.addAction("As slot A", lambda: self.sendRequested.emit("A"))
        menu.addAction("As slot B", lambda: self.sendRequested.emit("B"))
        self.send_button.setMenu(menu)
        self.add_button = QPushButton("Add to gallery")
        theme.apply_icon(self.add_button, "save")
        self.add_button.setToolTip("Save the reconstruction (and x_T beside it) in the gallery (Ctrl+S)")
        self.var_eta = QDoubleSpinBox()
        self.var_eta.setRange(0.05, 1.0)
        self.var_eta.setSingleStep(0.05)
        self.var_eta.setValue(0.5)
        self.var_eta.setPrefix("η ")
        self.var_eta.setToolTip(ETA_TOOLTIP + " Variations need η > 0, so they always use DDIM.")
        self.var_count = QSpinBox()
        self.var_count.setRange(1, 16)
        self.var_count.setValue(4)
        self.var_count.setSuffix(" images")
        for spin in (self.var_eta, self.var_count):
            spin.setMinimumWidth(70)
        self.var_button = QPushButton("Make variations")
        theme.apply_icon(self.var_button, "variations")
        self.var_button.setToolTip(VARIATIONS_TEXT)
        grid.addWidget(self.save_latent_button, 0, 0)
        grid.addWidget(self.send_button, 0, 1)
        grid.addWidget(self.add_button, 1, 0, 1, 2)
        grid.addWidget(heading("Variations"), 2, 0, 1, 2)
        grid.addWidget(self.var_eta, 3, 0)
        grid.addWidget(self.var_count, 3, 1)
        grid.addWidget(self.var_button, 4, 0, 1, 2)
        return grid

    # ---- main area ----------------------------------------------------------------------------
    def _make_main(self) -> QWidget:
        main, column, header, self.summary = mode_main(
            "Encode", "DDIM inversion runs the ODE backwards: image → x_T → image.", spacing=12
        )
        self.progress = ProgressRow()
        panels = QGridLayout()
        panels.setHorizontalSpacing(16)
        panels.setVerticalSpacing(10)
        self.original = ImagePanel("Original", "the cropped input")
        self.latent = ImagePanel("x_T (latent)", "the inverted noise")
        self.reconstruction = ImagePanel("Reconstruction", "x_T decoded back")
        self.error = ImagePanel(f"Error ×{ERROR_GAIN:g}", "|original − reconstruction|")
        for index, panel in enumerate((self.original, self.latent, self.reconstruction, self.error)):
            panels.addWidget(panel, index // 2, index % 2)
        top = QHBoxLayout()
        top.setSpacing(16)
        top.addLayout(panels, 1)
        top.addWidget(self._scrolling(self._make_metrics()))
        column.addLayout(header)
        column.addWidget(self.progress)
        column.addLayout(top, 1)
        column.addWidget(heading("Variations"))
        self.variations = ImageGrid(VARIATIONS_TEXT)
        self.variations.setFixedHeight(128)
        column.addWidget(self.variations)
        return main

    def _scrolling(self, card: QFrame) -> QScrollArea:
        """The metrics card in a scroll area: in a short window it scrolls instead of squashing its rows."""
        area = QScrollArea()
        area.setObjectName("MetricsScroll")
        area.setWidget(card)
        area.setWidgetResizable(True)
        area.setFrameShape(QFrame.Shape.NoFrame)
        area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        area.setFixedWidth(card.width() + area.verticalScrollBar().sizeHint().width())
        area.setMinimumHeight(120)
        self.metrics_scroll = area
        return area

    def _make_metrics(self) -> QFrame:
        card = QFrame()
        card.setObjectName("Card")
        card.setFixedWidth(190)
        column = QVBoxLayout(card)
        column.setContentsMargins(14, 12, 14, 12)
        column.setSpacing(6)
        self.mse_label = QLabel("—")
        self.psnr_label = QLabel("—")
        title = heading("Reconstruction error")
        title.setWordWrap(True)
        column.addWidget(title)
        column.addSpacing(6)
        for name, label in (("MSE", self.mse_label), ("PSNR", self.psnr_label)):
            label.setProperty("role", "metric-big")
            column.addWidget(caption(name))
            column.addWidget(label)
        column.addSpacing(8)
        legend_row = QHBoxLayout()
        legend_row.setSpacing(6)
        legend = QLabel()
        legend.setPixmap(QPixmap.fromImage(to_qimage(colour_bar(80, 8))))
        legend.setToolTip(f"Error colour map: black = no error, yellow ≥ {1 / ERROR_GAIN:.3f}")
        legend_row.addWidget(caption("0"))
        legend_row.addWidget(legend)
        legend_row.addWidget(caption(f"{1 / ERROR_GAIN:.3f}"))
        legend_row.addStretch(1)
        column.addLayout(legend_row)
        column.addSpacing(8)
        self.metrics_note = caption(
            "MSE per pixel on a [0, 1] scale. The paper reports 0.0023 at S = 50 "
            "and 0.0009 at S = 100 on CIFAR-10."
        )
        column.addWidget(self.metrics_note)
        column.addSpacing(6)
        column.addWidget(self._make_health())
        column.addStretch(1)
        return card

    def _make_health(self) -> QWidget:
        """The latent health readout: mean, std, neighbour correlation against the noise's 0, 1, 0."""
        box = QWidget()
        box.setObjectName("LatentHealth")
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(4)
        title = heading("Latent health")
        title.setToolTip(HEALTH_TOOLTIP)
        column.addWidget(title)
        grid = QGridLayout()
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(2)
        self.health_values: dict[str, QLabel] = {}
        for row, (key, name, noise) in enumerate(HEALTH_ROWS):
            value = QLabel("—")
            value.setProperty("role", "value")
            grid.addWidget(caption(name), row, 0)
            grid.addWidget(value, row, 1)
            grid.addWidget(caption(f"noise {noise}"), row, 2)
            self.health_values[key] = value
        column.addLayout(grid)
        self.health_verdict = caption("Encode a picture or open a latent to see how noise-like x_T is.")
        self.health_warning = caption("", role="warning")
        self.health_warning.setVisible(False)
        column.addWidget(self.health_verdict)
        column.addWidget(self.health_warning)
        return box

    def _connect(self) -> None:
        self.open_button.clicked.connect(self.openRequested)
        self.gallery_button.clicked.connect(self.fromGalleryRequested)
        self.encode_button.clicked.connect(self.encodeRequested)
        self.progress.cancelRequested.connect(self.cancelRequested)
        self.save_latent_button.clicked.connect(self.saveLatentRequested)
        self.add_button.clicked.connect(self.addToGalleryRequested)
        self.var_button.clicked.connect(self.variationsRequested)
        self.steps.valueChanged.connect(lambda _v: self.stepsChanged.emit())
        self.spacing.currentIndexChanged.connect(lambda _v: self.stepsChanged.emit())
        self.refine.valueChanged.connect(lambda _v: self.stepsChanged.emit())

    # ---- state --------------------------------------------------------------------------------
    def set_has_latent(self, has: bool) -> None:
        """Enable the actions that need an x_T."""
        for button in (self.save_latent_button, self.send_button, self.var_button, self.add_button):
            button.setEnabled(has)

    def set_health(self, health: LatentHealthLike | None, advice: str = "") -> None:
        """Show a latent's health (None clears); ``advice`` on refining follows the warning."""
        if health is None:
            for label in self.health_values.values():
                label.setText("—")
            self.health_verdict.setText("Encode a picture or open a latent to see how noise-like x_T is.")
            self.health_verdict.setToolTip("")
            self.health_warning.setVisible(False)
            return
        self.health_values["mean"].setText(f"{health.mean:+.2f}")
        self.health_values["std"].setText(f"{health.std:.2f}")
        self.health_values["autocorr"].setText(f"{health.autocorr:+.2f}")
        self.health_verdict.setText(HEALTH_WORDS.get(health.status, health.verdict))
        self.health_verdict.setToolTip(health.verdict)
        far = bool(health.warning)
        self.health_warning.setText(f"{SHORT_WARNING} {advice}".strip() if far else "")
        self.health_warning.setToolTip(health.warning)
        self.health_warning.setVisible(far)

    def set_metrics(self, mse: float | None, psnr: float | None, missing: str = "—") -> None:
        """Show the reconstruction error (None shows ``missing``)."""
        self.mse_label.setText(missing if mse is None else format_mse(mse))
        if psnr is None:
            self.psnr_label.setText(missing)
        else:
            self.psnr_label.setText("∞" if psnr == float("inf") else f"{psnr:.2f} dB")

    # ---- drag and drop ------------------------------------------------------------------------
    def drop_highlight(self) -> QWidget:
        """The drop zone lights up while files hover over the view."""
        return self.drop_zone
