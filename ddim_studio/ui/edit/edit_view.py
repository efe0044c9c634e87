"""Edit mode's layout: tools and edit controls on the left; the canvas, before | after and the results."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QKeySequence, QShortcut
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

from ddim_studio.core.names import MAX_HARMONIZE, MAX_REFINE
from ddim_studio.ui import theme
from ddim_studio.ui.edit.canvas import EditCanvas
from ddim_studio.ui.edit.compare import SplitView
from ddim_studio.ui.edit.extend_panel import EXTEND_MIN_HEIGHT, ExtendPanel
from ddim_studio.ui.edit.paint_controls import PaintControls
from ddim_studio.ui.edit.restore_panel import RestorePanel
from ddim_studio.ui.widgets.controls import (
    EtaControl,
    OffWhenDisabledSpinBox,
    ProgressRow,
    StepsControl,
    caption,
    heading,
    primary_button,
)
from ddim_studio.ui.widgets.file_drop import FileDropMixin
from ddim_studio.ui.widgets.image_grid import ImageGrid
from ddim_studio.ui.widgets.panel import ControlPanel, form, mode_main
from ddim_studio.ui.widgets.sampler_choice import SamplerCombo, eta_note
from ddim_studio.ui.widgets.scroll_card import ScrollCard
from ddim_studio.ui.widgets.seed import SeedControl

HARMONIZE_TOOLTIP = (
    "Redo each step this many times after re-noising (RePaint), so a masked region blends in. Needs a mask."
)
REFINE_TOOLTIP = (
    "Invert start: refine each inversion step with up to this many fixed-point updates (up to 2 + K "
    "model calls a step), so the kept layout comes back closer to the picture. 0 = the paper's inversion."
)
START_TOOLTIP = (
    "noise (SDEdit): add fresh noise up to the start level, so strokes become plausible content. "
    "invert: DDIM-invert the picture to that level, which keeps its layout (for masks and η > 0)."
)
STRENGTH_TOOLTIP = (
    "How far into noise the picture goes: low keeps the picture and smooths the strokes in, "
    "high keeps only the rough layout and colours."
)


class EditView(FileDropMixin, PaintControls, QWidget):
    """Layout of the Edit mode; the whole view accepts dropped pictures."""

    filesDropped = Signal(list)  # noqa: N815 - list[Path]
    openRequested = Signal()  # noqa: N815
    fromGalleryRequested = Signal()  # noqa: N815
    fromGenerateRequested = Signal()  # noqa: N815
    loadMaskRequested = Signal()  # noqa: N815
    editRequested = Signal()  # noqa: N815
    cancelRequested = Signal()  # noqa: N815
    colorRequested = Signal()  # noqa: N815
    controlsChanged = Signal()  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.canvas = EditCanvas()
        layout.addWidget(self._make_controls())
        layout.addWidget(self._make_main(), 1)
        self._connect()
        self.set_tool("brush")
        self.set_color(self.canvas.color)
        self.update_history()

    # ---- left column --------------------------------------------------------------------------
    def _make_controls(self) -> ControlPanel:
        panel = ControlPanel()
        panel.add_group("Source", self._make_source())
        panel.add_group("Paint", self._make_tools())
        panel.add_group("Edit", self._make_edit_form())
        seeds = form()
        self.seed = SeedControl("Result i uses seed + i; the same seed gives the same edit.")
        seeds.addRow(self.seed)
        panel.add_group("Seed", seeds)
        panel.add_stretch()
        self.edit_button = primary_button("Edit", "run")
        self.edit_button.setToolTip("Re-imagine the painted picture where the mask says (Ctrl+Enter)")
        self.edit_button.setMinimumHeight(38)
        panel.add_widget(self.edit_button)
        return panel

    def _make_source(self) -> QGridLayout:
        grid = QGridLayout()
        grid.setSpacing(6)
        self.open_button = QPushButton("Open…")
        theme.apply_icon(self.open_button, "image")
        self.open_button.setToolTip("Open a picture to edit")
        self.gallery_button = QPushButton("From gallery")
        theme.apply_icon(self.gallery_button, "gallery")
        self.gallery_button.setToolTip("Edit the picture selected in the gallery")
        self.generate_button = QPushButton("From Generate")
        theme.apply_icon(self.generate_button, "generate")
        self.generate_button.setToolTip("Edit Generate's selected result")
        self.source_label = caption("Drop a picture on the canvas; it is cropped to the model's size.")
        grid.addWidget(self.open_button, 0, 0)
        grid.addWidget(self.gallery_button, 0, 1)
        grid.addWidget(self.generate_button, 1, 0, 1, 2)
        grid.addWidget(self.source_label, 2, 0, 1, 2)
        return grid

    def _make_edit_form(self) -> QVBoxLayout:
        column = form()
        self.task_panel = RestorePanel()
        column.addRow(self.task_panel)
        self.strength = QSlider(Qt.Orientation.Horizontal)
        self.strength.setRange(1, 100)
        self.strength.setValue(50)
        self.strength.setToolTip(STRENGTH_TOOLTIP)
        self.strength_label = caption("strength 0.5")
        self.start = QComboBox()
        self.start.addItems(["noise", "invert"])
        self.start.setToolTip(START_TOOLTIP)
        self.steps = StepsControl()
        self.eta = EtaControl()
        self.sampler = SamplerCombo()
        self.sampler_note = caption("")
        self.sampler_note.setWordWrap(True)
        self.sampler_note.setVisible(False)
        self.harmonize = OffWhenDisabledSpinBox()  # "off" with no mask: it would be ignored
        self.harmonize.setRange(0, MAX_HARMONIZE)
        self.harmonize.setToolTip(HARMONIZE_TOOLTIP)
        strength = QVBoxLayout()
        strength.setSpacing(2)
        strength.addWidget(self.strength)
        strength.addWidget(self.strength_label)
        column.addRow("Strength", strength)
        column.addRow("Steps S", self.steps)
        column.addRow("Sampler", self.sampler)
        column.addRow("η", self.eta)
        column.addRow(self.sampler_note)
        row = QGridLayout()
        row.setHorizontalSpacing(8)
        row.setVerticalSpacing(2)
        self.count = QSpinBox()
        self.count.setRange(1, 16)
        self.count.setToolTip("How many results, one per seed")
        self.refine = QSpinBox()
        self.refine.setRange(0, MAX_REFINE)
        self.refine.setToolTip(REFINE_TOOLTIP)
        self.refine.setEnabled(False)  # for the invert start only
        cells: tuple[tuple[str, QWidget], ...] = (("Start", self.start), ("Refine", self.refine))
        cells += (("Harmonize", self.harmonize), ("Results", self.count))
        for i, (name, widget) in enumerate(cells):  # two by two: the panel keeps its width
            widget.setMinimumWidth(60)
            row.addWidget(caption(name), 2 * (i // 2), i % 2)
            row.addWidget(widget, 2 * (i // 2) + 1, i % 2)
        column.addRow(row)
        return column  # type: ignore[return-value]

    # ---- main area ----------------------------------------------------------------------------
    def _make_main(self) -> QWidget:
        main, column, header, self.summary = mode_main(
            "Edit", "Paint strokes or mask a region; the model re-imagines it to fit the rest."
        )
        self.progress = ProgressRow()
        self.drop_zone = QFrame()
        self.drop_zone.setObjectName("DropZone")
        zone = QVBoxLayout(self.drop_zone)
        zone.setContentsMargins(6, 6, 6, 6)
        self.canvas_scroll = QScrollArea()
        self.canvas_scroll.setWidgetResizable(True)
        self.canvas_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.canvas_scroll.setWidget(self.canvas)
        zone.addWidget(self.canvas_scroll, 1)
        self.compare = SplitView()
        self.compare_slider = QSlider(Qt.Orientation.Horizontal)
        self.compare_slider.setRange(0, 100)
        self.compare_slider.setValue(50)
        self.compare_slider.setToolTip("Move the split between before and after")
        self.compare_caption = caption("")
        panes = QGridLayout()
        panes.setHorizontalSpacing(16)
        panes.addWidget(heading("Painted source"), 0, 0)
        panes.addWidget(heading("Before | after"), 0, 1)
        panes.addWidget(self.drop_zone, 1, 0)
        panes.addWidget(self.compare, 1, 1)
        panes.addWidget(self.canvas_caption_label(), 2, 0)
        below = QVBoxLayout()
        below.addWidget(self.compare_slider)
        below.addWidget(self.compare_caption)
        panes.addLayout(below, 2, 1)
        panes.setRowStretch(1, 1)
        panes.setColumnStretch(0, 1)
        panes.setColumnStretch(1, 1)
        column.addLayout(header)
        column.addWidget(self.progress)
        column.addLayout(panes, 1)
        column.addWidget(heading("Results"))
        self.results = ImageGrid("Each run's results land here and in the gallery.")
        self.results.setFixedHeight(128)
        column.addWidget(self.results)
        self.extend = ExtendPanel()  # Extend past the frame (ui/edit/extend_panel.py)
        # A short window still shows the card's title row and its arrows; the strip scrolls.
        column.addWidget(ScrollCard(self.extend, min_height=EXTEND_MIN_HEIGHT))
        return main

    def canvas_caption_label(self) -> QLabel:
        """The line under the canvas (picture size, tool)."""
        self.canvas_caption = caption("")
        return self.canvas_caption

    def _connect(self) -> None:
        self.open_button.clicked.connect(self.openRequested)
        self.gallery_button.clicked.connect(self.fromGalleryRequested)
        self.generate_button.clicked.connect(self.fromGenerateRequested)
        self.load_mask.clicked.connect(self.loadMaskRequested)
        self.edit_button.clicked.connect(self.editRequested)
        self.progress.cancelRequested.connect(self.cancelRequested)
        self.color_button.clicked.connect(self.colorRequested)
        for name, button in self.tool_buttons.items():
            button.clicked.connect(lambda _=False, n=name: self.set_tool(n))
        self.brush_size.valueChanged.connect(self._set_size)
        self.hardness.valueChanged.connect(lambda v: setattr(self.canvas, "hardness", v / 100))
        self.task_panel.changed.connect(self._task_changed)
        self.feather.valueChanged.connect(lambda *_: self.controlsChanged.emit())
        self.opacity.valueChanged.connect(self._set_opacity)
        self.show_mask.toggled.connect(self._set_show_mask)
        self.invert_mask.clicked.connect(self.canvas.invert_mask)
        self.clear_mask.clicked.connect(self.canvas.clear_mask)
        self.undo_button.clicked.connect(self.canvas.undo)
        self.redo_button.clicked.connect(self.canvas.redo)
        self.zoom.currentIndexChanged.connect(lambda i: self.canvas.set_zoom((0, 1, 2, 4, 8, 16)[i]))
        self.canvas.changed.connect(self.update_history)
        self.canvas.colorPicked.connect(self._picked)
        self.compare_slider.valueChanged.connect(lambda v: self.compare.set_split(v / 100))
        for signal in (self.strength.valueChanged, self.start.currentIndexChanged, self.steps.valueChanged,
                       self.eta.valueChanged, self.harmonize.valueChanged,
                       self.refine.valueChanged, self.sampler.currentIndexChanged):  # fmt: skip
            signal.connect(lambda *_: self.controlsChanged.emit())
        self.start.currentTextChanged.connect(lambda start: self.refine.setEnabled(start == "invert"))
        self.sampler.currentIndexChanged.connect(lambda _i: self.update_sampler_rules())
        QShortcut(QKeySequence.StandardKey.Undo, self, self.canvas.undo)
        QShortcut(QKeySequence("Ctrl+Shift+Z"), self, self.canvas.redo)
        for key, tool in (
            ("B", "brush"),
            ("E", "eraser"),
            ("M", "mask"),
            ("K", "unmask"),
            ("I", "eyedropper"),
        ):
            shortcut = QShortcut(QKeySequence(key), self.canvas, lambda t=tool: self.set_tool(t))
            shortcut.setContext(Qt.ShortcutContext.WidgetShortcut)  # only while the canvas has focus

    # ---- state --------------------------------------------------------------------------------
    def set_tool(self, tool: str) -> None:
        """Choose the canvas tool."""
        self.canvas.tool = tool
        self.tool_buttons[tool].setChecked(True)
        self._update_caption()

    def set_color(self, color: QColor) -> None:
        """The brush colour (shown on the colour button)."""
        self.canvas.color = QColor(color)
        fg = "#000" if color.lightness() > 128 else "#fff"
        self.color_button.setStyleSheet(f"background:{color.name()}; color:{fg};")

    def strength_value(self) -> float:
        """The strength, 0.01 … 1."""
        return self.strength.value() / 100

    def set_strength(self, strength: float) -> None:
        """Set the strength slider (clamped to 0.01 … 1)."""
        self.strength.setValue(round(min(1.0, max(0.01, float(strength))) * 100))

    def update_history(self) -> None:
        """Enable undo/redo and harmonize as the canvas and the sampler allow."""
        self.undo_button.setEnabled(self.canvas.can_undo())
        self.redo_button.setEnabled(self.canvas.can_redo())
        multistep = not self.sampler.supports_renoise()  # DPM-Solver++: its history cannot be redone
        self.harmonize.setEnabled(self.canvas.has_mask and not multistep)
        self.harmonize.setToolTip(
            HARMONIZE_TOOLTIP
            if self.canvas.has_mask and not multistep
            else "Harmonize needs a mask: paint one with Mask."
            if not multistep
            else f"{self.sampler.currentText()} cannot redo a step; choose DDIM to use harmonize."
        )
        self._update_caption()

    def update_sampler_rules(self) -> None:
        """η and harmonize apply to DDIM only: disable them for DPM-Solver++ and say why."""
        applies = self.sampler.supports_eta()
        self.eta.setEnabled(applies)
        note = "" if applies else eta_note(self.sampler.currentText())
        if not self.sampler.supports_renoise():
            note += (" " if note else "") + "It cannot harmonize."
        self.sampler_note.setText(note)
        self.sampler_note.setVisible(bool(note))
        self.update_history()

    def _update_caption(self) -> None:
        w, h = self.canvas.picture_size()
        if not w:
            self.canvas_caption.setText("no picture yet")
            return
        mask = "mask painted" if self.canvas.has_mask else "no mask: the whole picture is edited"
        self.canvas_caption.setText(f"{w}×{h} · {self.canvas.tool} · {mask}")

    def _picked(self, color: QColor) -> None:
        self.set_color(color)
        self.set_tool("brush")

    def _set_size(self, size: int) -> None:
        self.canvas.brush_size = size

    def _set_opacity(self, value: int) -> None:
        self.canvas.opacity = value / 100
        self.opacity_label.setText(f"{value} %")

    def _set_show_mask(self, on: bool) -> None:
        self.canvas.show_mask = on
        self.canvas.update()

    def _task_changed(self) -> None:
        """Restore tasks have no strength, start, refine or harmonize; the run button says what runs."""
        restore = self.task_panel.is_restore()
        for widget in (self.strength, self.strength_label, self.start, self.refine, self.harmonize):
            widget.setEnabled(not restore)
        if not restore:
            self.refine.setEnabled(self.start.currentText() == "invert")
            self.update_history()
        self.edit_button.setText("Restore" if restore else "Edit")
        self.controlsChanged.emit()

    def set_busy(self, busy: bool) -> None:
        """Disable the run button while a job runs."""
        self.edit_button.setEnabled(not busy)

    def drop_highlight(self) -> QWidget:
        """The canvas frame lights up while files hover over the view."""
        return self.drop_zone
