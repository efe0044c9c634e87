"""Small composite inputs shared by the modes: η and steps sliders, a progress row, an expander."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QPainter, QPaintEvent, QValidator
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ddim_studio.core.names import SPACINGS
from ddim_studio.ui import theme
from ddim_studio.ui.widgets.eta import JobClock

STEP_PRESETS = (10, 20, 50, 100, 1000)
#: ``core.schedule.SPACINGS``, repeated so the views import without torch (a test keeps them equal).
SPACING_CHOICES = SPACINGS
ETA_TOOLTIP = (
    "η sets how much fresh noise each step adds: 0 is deterministic DDIM (same x_T → same image), "
    "1 is the stochastic DDPM sampler."
)
STEPS_TOOLTIP = (
    "Steps S is how many times the network is called: DDIM skips timesteps, so 20–100 steps give "
    "what DDPM needs about 1000 for."
)
SPACING_TOOLTIP = (
    "Spacing picks which S of the T training timesteps are visited: uniform every T/S-th, quadratic "
    "denser near the clean end, leading/trailing/linspace as in diffusers."
)


def heading(text: str) -> QLabel:
    """A small upper-case section heading."""
    label = QLabel(text.upper())
    label.setProperty("role", "heading")
    return label


def caption(text: str = "", role: str = "caption") -> QLabel:
    """A muted caption label."""
    label = QLabel(text)
    label.setProperty("role", role)
    label.setWordWrap(True)
    return label


def primary_button(text: str, icon_name: str | None = None) -> QPushButton:
    """The accent-coloured main action button of a panel."""
    button = QPushButton(text)
    button.setProperty("primary", True)
    if icon_name:
        theme.apply_icon(button, icon_name, on_accent=True)
    button.setCursor(Qt.CursorShape.PointingHandCursor)
    return button


class EtaControl(QWidget):
    """η slider from 0 to 1 in steps of 0.01, its value shown, ends labelled DDIM and DDPM."""

    valueChanged = Signal(float)  # noqa: N815 - Qt naming

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 100)
        self.slider.setSingleStep(1)
        self.slider.setPageStep(10)
        self.value_label = QLabel("0.00")
        self.value_label.setProperty("role", "value")
        self.value_label.setMinimumWidth(40)
        self.value_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.slider, 1)
        row.addWidget(self.value_label)
        ends = QHBoxLayout()
        ends.setContentsMargins(0, 0, 0, 0)
        self.ddim_label, self.ddpm_label = caption("DDIM"), caption("DDPM")
        ends.addWidget(self.ddim_label)
        ends.addStretch(1)
        ends.addWidget(self.ddpm_label)
        ends.addSpacing(46)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(row)
        layout.addLayout(ends)
        self.setToolTip(ETA_TOOLTIP)
        self.slider.valueChanged.connect(self._changed)

    def value(self) -> float:
        """η, rounded to two decimals."""
        return round(self.slider.value() / 100, 2)

    def set_value(self, eta: float) -> None:
        """Set η (clamped to [0, 1])."""
        self.slider.setValue(round(min(1.0, max(0.0, float(eta))) * 100))

    def _changed(self, raw: int) -> None:
        self.value_label.setText(f"{raw / 100:.2f}")
        self.valueChanged.emit(raw / 100)


class ClampingSpinBox(QSpinBox):
    """A spin box where a number typed above the maximum becomes the maximum (5000 → 1000), not a
    shorter number (Qt's own box drops the last digit: 5000 → 500)."""

    def validate(self, text: str, pos: int) -> object:  # noqa: D102 - Qt API
        digits = text.strip()
        if digits.isdigit() and int(digits) > self.maximum():
            return QValidator.State.Intermediate, text, pos
        return super().validate(text, pos)

    def fixup(self, text: str) -> str:  # noqa: D102 - Qt API
        digits = text.strip()
        if digits.isdigit() and int(digits) > self.maximum():
            return str(self.maximum())
        return super().fixup(text)


class OffWhenDisabledSpinBox(QSpinBox):
    """A spin box that reads ``off`` while disabled (its value is kept for when it applies again).

    Edit's Harmonize: with no mask it is ignored, so showing "2" there would be a setting that
    does nothing.
    """

    OFF = "off"

    def textFromValue(self, value: int) -> str:  # noqa: N802 - Qt API
        """``off`` while disabled, the number otherwise."""
        return self.OFF if not self.isEnabled() else super().textFromValue(value)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt API
        """Show ``off`` or the number again when the box is disabled or enabled."""
        super().changeEvent(event)
        if event.type() == QEvent.Type.EnabledChange:
            self.lineEdit().setText(self.textFromValue(self.value()))


class StepsControl(QWidget):
    """Steps S: a slider 1–T, an exact spin box and preset buttons (10, 20, 50, 100, 1000)."""

    valueChanged = Signal(int)  # noqa: N815 - Qt naming

    def __init__(self, maximum: int = 1000, value: int = 50, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.spin = ClampingSpinBox()
        self.spin.setFixedWidth(74)
        self.spin.setAlignment(Qt.AlignmentFlag.AlignRight)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.slider, 1)
        row.addWidget(self.spin)
        presets = QHBoxLayout()
        presets.setContentsMargins(0, 2, 0, 0)
        presets.setSpacing(4)
        self.preset_buttons: dict[int, QToolButton] = {}
        for preset in STEP_PRESETS:
            button = QToolButton()
            button.setText(str(preset))
            button.setProperty("preset", True)
            button.setToolTip(f"Use {preset} steps")
            button.clicked.connect(lambda _=False, p=preset: self.set_value(p))
            presets.addWidget(button, 1)
            self.preset_buttons[preset] = button
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(row)
        layout.addLayout(presets)
        self.setToolTip(STEPS_TOOLTIP)
        self.set_maximum(maximum)
        self.set_value(value)
        self.slider.valueChanged.connect(self.spin.setValue)
        self.spin.valueChanged.connect(self._spin_changed)

    def value(self) -> int:
        """S."""
        return self.spin.value()

    def set_value(self, steps: int) -> None:
        """Set S (clamped to 1–T)."""
        self.spin.setValue(int(steps))

    def set_maximum(self, maximum: int) -> None:
        """T, the model's number of training timesteps; presets above it are disabled."""
        maximum = max(1, int(maximum))
        self.slider.setRange(1, maximum)
        self.spin.setRange(1, maximum)
        self.slider.setPageStep(max(1, maximum // 20))
        for preset, button in self.preset_buttons.items():
            button.setEnabled(preset <= maximum)

    def _spin_changed(self, steps: int) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(steps)
        self.slider.blockSignals(False)
        for preset, button in self.preset_buttons.items():
            button.setCheckable(True)
            button.setChecked(preset == steps)
        self.valueChanged.emit(steps)


class Expander(QWidget):
    """A toggle header that shows or hides a read-only monospace text (e.g. the timestep list)."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.button = QToolButton()
        self.button.setProperty("flat", True)
        self.button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.button.setCheckable(True)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setProperty("role", "mono")
        self.text.setMaximumHeight(96)
        self.text.setVisible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.text)
        self.button.toggled.connect(self._toggled)
        self.set_title(title)
        self._toggled(False)

    def set_title(self, title: str) -> None:
        """The header text."""
        self.button.setText(title)

    def set_text(self, text: str) -> None:
        """The body text."""
        self.text.setPlainText(text)

    def _toggled(self, shown: bool) -> None:
        self.text.setVisible(shown)
        theme.apply_icon(self.button, "chevron-down" if shown else "chevron-right")


LOADING_TEXT = "Loading the model…"


class ProgressRow(QWidget):
    """A progress bar, its text and a Cancel button.

    While a job runs the text ends with the job's clock, ticking once a second:
    "Step 12 of 50 · 3.2 s/step · 0:38 elapsed · about 2:10 left" (``done``/``total`` of
    :meth:`step` count the whole job's model calls, so the time left is the whole job's).
    """

    cancelRequested = Signal()  # noqa: N815 - Qt naming

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.bar.setFixedHeight(8)
        self.label = ElidedLabel("Ready")  # long messages elide; they never widen the window
        self.cancel_button = QPushButton("Cancel")
        theme.apply_icon(self.cancel_button, "stop")
        self.cancel_button.setToolTip("Stop the running job (Esc)")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self._cancel_clicked)
        self._stopping = False  # a cancel was asked and the job has not ended yet
        self.clock = JobClock()
        self._text = ""
        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self._render)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(10)
        text_col = QVBoxLayout()
        text_col.setSpacing(4)
        text_col.addWidget(self.label)
        text_col.addWidget(self.bar)
        layout.addLayout(text_col, 1)
        layout.addWidget(self.cancel_button)

    def start(self, text: str) -> None:
        """Show a job starting."""
        self._stopping = False
        self.bar.setRange(0, 0)
        self._text = text
        self.clock.start()
        self._tick.start()
        self._render()
        self.cancel_button.setEnabled(True)

    def step(self, done: int, total: int, text: str) -> None:
        """Show progress ``done`` of ``total`` (the text stays "Stopping…" once a cancel was asked)."""
        self.bar.setRange(0, max(1, total))
        self.bar.setValue(done)
        self._text = text
        self.clock.update(done, total)
        if not self._tick.isActive():
            self._tick.start()
        self._render()

    def _render(self) -> None:
        if self._stopping:
            return
        timing = self.clock.text()
        self.label.setText(f"{self._text} · {timing}" if timing else self._text)

    def stopping(self) -> None:
        """Acknowledge a cancel at once: disable Cancel and say "Stopping…" until the job ends."""
        if self.cancel_button.isEnabled():
            self._stopping = True
            self.cancel_button.setEnabled(False)
            self.label.setText("Stopping…")

    def _cancel_clicked(self) -> None:
        self.stopping()
        self.cancelRequested.emit()

    def finish(self, text: str, *, full: bool = True) -> None:
        """Show a job ended (``full`` fills the bar, else it empties)."""
        self._stopping = False
        self._tick.stop()
        self.clock.stop()
        self.bar.setRange(0, 1)
        self.bar.setValue(1 if full else 0)
        self._text = text
        self.label.setText(text)
        self.cancel_button.setEnabled(False)

    def model_loading(self, loading: bool) -> None:
        """Say "Loading the model…" while a model loads and no job runs here (not "Ready")."""
        idle = not self.cancel_button.isEnabled() and not self._tick.isActive()
        if loading and idle:
            self.label.setText(LOADING_TEXT)
        elif not loading and self.label.text() == LOADING_TEXT:
            self.label.setText(self._text or "Ready")


class ElidedLabel(QLabel):
    """A one-line label that shortens its text with "…" instead of widening its parent."""

    def fix_width(self, width: int) -> None:
        """Give the label a fixed width (a layout then reserves exactly that much)."""
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)
        self.setFixedWidth(width)

    def __init__(self, text: str = "", role: str = "caption", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setProperty("role", role)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(20)
        self.elide_mode = Qt.TextElideMode.ElideRight  # ElideMiddle keeps both ends in view

    def setText(self, text: str) -> None:  # noqa: N802 - Qt API
        super().setText(text)
        self.setToolTip(text if self.fontMetrics().horizontalAdvance(text) > self.width() else "")
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        rect = self.contentsRect()
        text = self.fontMetrics().elidedText(self.text(), self.elide_mode, rect.width())
        painter.drawText(rect, int(self.alignment()) | int(Qt.AlignmentFlag.AlignVCenter), text)
