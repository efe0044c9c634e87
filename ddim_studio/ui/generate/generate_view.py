"""Generate mode's layout: sampler controls on the left, the live preview grid, scrubber and paper views."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ddim_studio.core.names import DEFAULT_SAMPLER
from ddim_studio.ui import theme
from ddim_studio.ui.widgets.controls import (
    ETA_TOOLTIP,
    SPACING_CHOICES,
    SPACING_TOOLTIP,
    ElidedLabel,
    EtaControl,
    Expander,
    ProgressRow,
    StepsControl,
    caption,
    heading,
    primary_button,
)
from ddim_studio.ui.widgets.image_grid import ImageGrid
from ddim_studio.ui.widgets.panel import ControlPanel, form, mode_main
from ddim_studio.ui.widgets.sampler_choice import SamplerCombo, SamplerRow, eta_note
from ddim_studio.ui.widgets.seed import seed_buttons

MAX_SEED = 2**31 - 1
MAX_BATCH = 64


@dataclass(frozen=True)
class GenerateParams:
    """What the Generate controls say."""

    seed: int
    batch: int
    steps: int
    eta: float
    spacing: str
    clip_sample: bool
    sampler: str = DEFAULT_SAMPLER


class GenerateView(QWidget):
    """Layout of the Generate mode; user intent leaves as signals, results come in through setters."""

    generateRequested = Signal()  # noqa: N815
    cancelRequested = Signal()  # noqa: N815
    paramsChanged = Signal()  # noqa: N815 - any sampler control moved (auto-run listens)
    diceRequested = Signal()  # noqa: N815
    seedEdited = Signal(int)  # noqa: N815 - the person typed a seed
    scrubbed = Signal(int)  # noqa: N815
    showXtToggled = Signal(bool)  # noqa: N815
    saveRequested = Signal()  # noqa: N815
    editRequested = Signal()  # noqa: N815 - paint on the selected result in Edit
    consistencyRequested = Signal()  # noqa: N815
    etaSweepRequested = Signal()  # noqa: N815
    samplersRequested = Signal()  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self._make_controls())
        layout.addWidget(self._make_main(), 1)
        self._connect()

    # ---- left column --------------------------------------------------------------------------
    def _make_controls(self) -> ControlPanel:
        panel = ControlPanel()
        sampler = form()
        self.eta = EtaControl()
        self.steps = StepsControl()
        self.sampler = SamplerCombo()
        self.eta_note = caption("")
        self.eta_note.setVisible(False)
        self.spacing = QComboBox()
        self.spacing.addItems(list(SPACING_CHOICES))
        self.spacing.setToolTip(SPACING_TOOLTIP)
        self.spacing_note = caption("")
        self.timesteps = Expander("Timesteps")
        self.timesteps.setToolTip("The timesteps τ the sampler visits, noisiest first.")
        self.clip = QCheckBox("Clip predicted x₀ to [−1, 1]")
        self.clip.setToolTip(
            "Clamp the predicted clean image at every step (some models were trained to expect it)."
        )
        sampler.addRow(self._label("Sampler", self.sampler.toolTip()), self.sampler)
        sampler.addRow(self._label("η  (eta)", self.eta.toolTip()), self.eta)
        sampler.addRow(self.eta_note)
        sampler.addRow(self._label("Steps S", self.steps.toolTip()), self.steps)
        sampler.addRow(self._label("Spacing", SPACING_TOOLTIP), self.spacing)
        sampler.addRow(self.spacing_note)
        sampler.addRow(self.timesteps)
        sampler.addRow(self.clip)
        panel.add_group("Sampler", sampler)
        panel.add_group("Seeds", self._make_seed_form())
        self.autorun = QCheckBox("Auto-run when a setting changes")
        self.autorun.setToolTip(
            "Re-run the same seeds ~0.3 s after a control moves, cancelling the run in progress."
        )
        panel.add_stretch()
        panel.add_widget(self.autorun)  # in the footer: never half-scrolled under the cost line
        self.cost = caption("")
        self.cost.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.cost.setToolTip("Each step is one call of the network on the whole batch.")
        panel.add_widget(self.cost)
        self.generate_button = primary_button("Generate", "run")
        self.generate_button.setToolTip("Sample one image per seed (Ctrl+Enter)")
        self.generate_button.setMinimumHeight(38)
        panel.add_widget(self.generate_button)
        return panel

    def _label(self, text: str, tip: str) -> QLabel:
        label = QLabel(text)
        label.setToolTip(tip)
        return label

    def _make_seed_form(self) -> QVBoxLayout:
        seeds = form()
        self.seed = QSpinBox()
        self.seed.setRange(0, MAX_SEED)
        self.seed.setToolTip("Image i of the batch uses seed + i; the same seed gives the same x_T.")
        self.dice, self.lock = seed_buttons("Generate")
        row = QHBoxLayout()
        row.setSpacing(6)
        row.addWidget(self.seed, 1)
        row.addWidget(self.dice)
        row.addWidget(self.lock)
        self.batch = QSpinBox()
        self.batch.setRange(1, MAX_BATCH)
        self.batch.setToolTip("How many images to sample at once (seeds seed … seed + n − 1).")
        seeds.addRow("Seed", row)
        seeds.addRow("Batch size", self.batch)
        return seeds

    # ---- main area ----------------------------------------------------------------------------
    def _make_main(self) -> QWidget:
        main, column, header, self.summary = mode_main("Preview", "")
        self.show_xt = QToolButton()
        self.show_xt.setCheckable(True)
        self.show_xt.setText("Show x_t")
        theme.apply_icon(self.show_xt, "eye", active=True)
        self.show_xt.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.show_xt.setToolTip("Stream the noisy latent x_t instead of the predicted x₀ while sampling")
        self.save_button = QPushButton("Save to gallery")
        theme.apply_icon(self.save_button, "save")
        self.save_button.setToolTip("Keep these auto-run results in the gallery (Ctrl+S)")
        self.save_button.setVisible(False)
        self.edit_button = QPushButton("Edit")
        theme.apply_icon(self.edit_button, "edit")
        self.edit_button.setToolTip("Paint on the selected result in Edit")
        header.addWidget(self.save_button)
        header.addWidget(self.edit_button)
        header.addWidget(self.show_xt)
        self.progress = ProgressRow()
        self.grid = ImageGrid(
            "Press Generate (Ctrl+Enter) to sample.\nEvery step's predicted x₀ streams in here."
        )
        self.grid.setObjectName("PreviewGrid")
        column.addLayout(header)
        column.addWidget(self.progress)
        column.addWidget(self.grid, 1)
        column.addLayout(self._make_scrubber())
        column.addWidget(self._make_paper())
        return main

    def _make_scrubber(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(10)
        label = QLabel("Replay")
        label.setProperty("role", "heading")
        self.scrubber = QSlider(Qt.Orientation.Horizontal)
        self.scrubber.setEnabled(False)
        self.scrubber.setToolTip("Replay the run: the predicted x₀ recorded at each step")
        self.scrub_label = ElidedLabel("no run yet")
        self.scrub_label.fix_width(170)
        row.addWidget(label)
        row.addWidget(self.scrubber, 1)
        row.addWidget(self.scrub_label)
        return row

    def _make_paper(self) -> QFrame:
        card = QFrame()
        card.setObjectName("Card")
        column = QVBoxLayout(card)
        column.setContentsMargins(14, 10, 14, 10)
        column.setSpacing(6)
        row = QHBoxLayout()
        row.addWidget(heading("Paper views"))
        self.paper_title = ElidedLabel("select an image, then compare")
        row.addWidget(self.paper_title, 1)
        self.consistency_button = QPushButton("S = 10 … 1000")
        self.consistency_button.setToolTip(
            "Consistency (DDIM §5.2): decode the selected seed's x_T with η = 0 at S = 10, 20, 50, 100 and "
            "1000 steps; the high-level picture stays the same."
        )
        self.sweep_button = QPushButton("η sweep")
        self.sweep_button.setToolTip(
            "Sample the selected seed at η = 0, 0.2, 0.5 and 1.0 with the current steps."
        )
        self.samplers_button = QPushButton("Samplers")
        self.samplers_button.setToolTip(
            "Decode the selected seed's x_T with DDIM and with DPM-Solver++ at S = 5, 10, 20 and 50 "
            "(η = 0, each with the spacing that suits it): both reach the same picture; "
            "DPM-Solver++ gets there in fewer steps."
        )
        row.addWidget(self.consistency_button)
        row.addWidget(self.sweep_button)
        row.addWidget(self.samplers_button)
        self.paper_strip = ImageGrid(
            "Same x_T at growing S shows DDIM's consistency; the η sweep shows how noise changes the result.",
            spacing=14,
        )
        self.paper_strip.setMinimumHeight(150)
        self.paper_strip.setMaximumHeight(190)
        column.addLayout(row)
        column.addWidget(self.paper_strip)
        return card

    def _connect(self) -> None:
        self.generate_button.clicked.connect(self.generateRequested)
        self.progress.cancelRequested.connect(self.cancelRequested)
        for signal in (
            self.eta.valueChanged,
            self.steps.valueChanged,
            self.spacing.currentIndexChanged,
            self.sampler.currentIndexChanged,
            self.clip.toggled,
            self.batch.valueChanged,
            self.seed.valueChanged,
        ):
            signal.connect(lambda *_: self.paramsChanged.emit())
        self.dice.clicked.connect(self.diceRequested)
        self.seed.editingFinished.connect(lambda: self.seedEdited.emit(self.seed.value()))
        self.scrubber.valueChanged.connect(self.scrubbed)
        self.show_xt.toggled.connect(self.showXtToggled)
        self.save_button.clicked.connect(self.saveRequested)
        self.edit_button.clicked.connect(self.editRequested)
        self.consistency_button.clicked.connect(self.consistencyRequested)
        self.sweep_button.clicked.connect(self.etaSweepRequested)
        self.samplers_button.clicked.connect(self.samplersRequested)
        self.sampler.currentIndexChanged.connect(lambda _i: self.update_eta_applies())

    # ---- state in and out ---------------------------------------------------------------------
    def params(self) -> GenerateParams:
        """The current control values."""
        return GenerateParams(
            seed=self.seed.value(),
            batch=self.batch.value(),
            steps=self.steps.value(),
            eta=self.eta.value() if self.sampler.supports_eta() else 0.0,
            spacing=self.spacing.currentText(),
            clip_sample=self.clip.isChecked(),
            sampler=self.sampler.name(),
        )

    def set_sampler_choices(self, choices: list[tuple[str, str, str]] | list[SamplerRow]) -> None:
        """Fill the sampler list with SamplerRows or ``(name, label, description)``, keeping the choice."""
        rows = [row if isinstance(row, SamplerRow) else SamplerRow(*row) for row in choices]
        self.sampler.set_rows(rows)
        self.update_eta_applies()

    def update_eta_applies(self) -> None:
        """Disable η for a sampler it does not apply to, and say why."""
        applies = self.sampler.supports_eta()
        self.eta.setEnabled(applies)
        note = "" if applies else eta_note(self.sampler.currentText())
        self.eta.setToolTip(ETA_TOOLTIP if applies else note)
        self.eta_note.setText(note)
        self.eta_note.setVisible(not applies)

    def set_params(self, params: GenerateParams, *, quiet: bool = True) -> None:
        """Set every control (without triggering auto-run when ``quiet``)."""
        widgets = (self.eta, self.steps, self.spacing, self.sampler, self.clip, self.batch, self.seed)
        if quiet:
            for widget in widgets:
                widget.blockSignals(True)
        try:
            self.eta.set_value(params.eta)
            self.eta.value_label.setText(f"{params.eta:.2f}")
            self.steps.set_value(params.steps)
            self.steps.slider.setValue(params.steps)
            index = self.spacing.findText(params.spacing)
            self.spacing.setCurrentIndex(max(index, 0))
            self.sampler.set_name(params.sampler)
            self.clip.setChecked(params.clip_sample)
            self.batch.setValue(params.batch)
            self.seed.setValue(params.seed)
        finally:
            if quiet:
                for widget in widgets:
                    widget.blockSignals(False)
        self.update_eta_applies()

    def set_busy(self, busy: bool) -> None:
        """Reflect a running job in the buttons."""
        self.generate_button.setText("Generate" if not busy else "Restart")
        self.consistency_button.setEnabled(True)
        self.sweep_button.setEnabled(True)
        self.samplers_button.setEnabled(True)

    def set_scrubber(self, frames: int, position: int) -> None:
        """Enable the scrubber over ``frames`` recorded frames (0 disables it) at ``position``."""
        self.scrubber.blockSignals(True)
        self.scrubber.setRange(0, max(0, frames - 1))
        self.scrubber.setValue(position)
        self.scrubber.setEnabled(frames > 1)
        self.scrubber.blockSignals(False)
