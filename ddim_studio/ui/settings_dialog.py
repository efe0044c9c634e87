"""The settings dialog: output folder, preview rate, theme, the defaults of new runs, and compute."""

from __future__ import annotations

import os

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ddim_studio.ui import dialogs
from ddim_studio.ui.settings import BACKENDS, PRECISIONS, AppSettings
from ddim_studio.ui.theme import THEMES
from ddim_studio.ui.widgets.controls import SPACING_CHOICES


def memory_words(n: int) -> str:
    """``1.25 GiB``, ``3.4 MiB``, ``12 KiB``: a small model's batch is not "0.00 GiB"."""
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2)):
        if n >= size:
            value = n / size
            return f"{value:.2f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{max(1, round(n / 1024))} KiB"


class SettingsDialog(QDialog):
    """Edits :class:`AppSettings`; :meth:`apply` writes the values back."""

    def __init__(
        self,
        settings: AppSettings,
        parent: QWidget | None = None,
        *,
        sample_shape: tuple[int, ...] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(520)
        self.settings = settings
        self.sample_shape = sample_shape  # the loaded model's (C, H, W): the memory estimate
        layout = QVBoxLayout(self)
        layout.setSpacing(12)
        layout.addWidget(self._general())
        layout.addWidget(self._defaults())
        layout.addWidget(self._compute())
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.load()

    def _general(self) -> QGroupBox:
        box = QGroupBox("GENERAL")
        form = QFormLayout(box)
        self.output_dir = QLineEdit()
        self.output_dir.setPlaceholderText(str(self.settings.default_output_dir()))
        self.output_dir.setToolTip("Where pictures and latents are saved; empty: the user data folder")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.output_dir, 1)
        row.addWidget(browse)
        self.preview_fps = QSpinBox()
        self.preview_fps.setRange(1, 60)
        self.preview_fps.setSuffix(" previews/s")
        self.preview_fps.setToolTip("How often a running job updates the preview (lower costs less time)")
        self.theme = QComboBox()
        self.theme.addItems(list(THEMES))
        self.confirm_delete = QCheckBox("Ask before moving a picture to the trash")
        form.addRow("Output folder", row)
        form.addRow("Preview rate", self.preview_fps)
        form.addRow("Theme", self.theme)
        form.addRow("", self.confirm_delete)
        return box

    def _defaults(self) -> QGroupBox:
        box = QGroupBox("DEFAULTS FOR NEW SESSIONS")
        form = QFormLayout(box)
        self.steps = QSpinBox()
        self.steps.setRange(1, 1000)
        self.eta = QDoubleSpinBox()
        self.eta.setRange(0.0, 1.0)
        self.eta.setSingleStep(0.05)
        self.spacing = QComboBox()
        self.spacing.addItems(list(SPACING_CHOICES))
        self.batch = QSpinBox()
        self.batch.setRange(1, 64)
        self.encode_steps = QSpinBox()
        self.encode_steps.setRange(1, 1000)
        self.frames = QSpinBox()
        self.frames.setRange(2, 64)
        form.addRow("Steps S", self.steps)
        form.addRow("η", self.eta)
        form.addRow("Spacing", self.spacing)
        form.addRow("Batch size", self.batch)
        form.addRow("Inversion steps", self.encode_steps)
        form.addRow("Interpolation frames", self.frames)
        return box

    def _compute(self) -> QGroupBox:
        box = QGroupBox("COMPUTE (LARGE MODELS)")
        form = QFormLayout(box)
        cores = os.cpu_count() or 1
        self.threads = QSpinBox()
        self.threads.setRange(0, max(1, cores))
        self.threads.setSpecialValueText("all cores")
        self.threads.setToolTip("CPU threads the model computes with; fewer leave the computer responsive")
        self.interpolate_batch = QSpinBox()
        self.interpolate_batch.setRange(1, 64)
        self.interpolate_batch.setToolTip("Frames decoded together; lower needs less memory")
        self.memory = QLabel("")
        self.memory.setProperty("role", "caption")
        self.memory.setWordWrap(True)
        self.batch.valueChanged.connect(self._update_memory)
        self.interpolate_batch.valueChanged.connect(self._update_memory)
        self.backend = QComboBox()
        self.backend.addItems(list(BACKENDS))
        self.backend.setToolTip(
            "What runs the model: auto uses OpenVINO on the CPU when it is installed (converted once, "
            "kept for the next launch), torch otherwise"
        )
        self.precision = QComboBox()
        self.precision.addItems(list(PRECISIONS))
        self.precision.setToolTip(
            "exact: float32 throughout. fast: bfloat16 on CPUs that have it, float16 on a GPU. "
            "auto: fast only where it was measured to keep the pictures"
        )
        form.addRow("Threads", self.threads)
        form.addRow("Backend", self.backend)
        form.addRow("Precision", self.precision)
        form.addRow("Interpolation batch", self.interpolate_batch)
        form.addRow("Memory per batch", self.memory)
        return box

    def _update_memory(self) -> None:
        """The memory one batch needs with the loaded model (``core.limits.estimate_batch_bytes``)."""
        if self.sample_shape is None:
            self.memory.setText("open a model to see the estimate")
            return
        from ddim_studio.core.limits import estimate_batch_bytes  # imports torch: load on use

        size = " × ".join(str(d) for d in self.sample_shape[1:])
        parts = []
        for what, batch in (
            ("Generate", self.batch.value()),
            ("Interpolate", self.interpolate_batch.value()),
        ):
            need = memory_words(estimate_batch_bytes(self.sample_shape, batch))
            parts.append(f"{what}: batch of {batch} at {size} ≈ {need}")
        self.memory.setText("\n".join(parts))

    def _browse(self) -> None:
        start = self.output_dir.text() or str(self.settings.default_output_dir())
        folder = dialogs.choose_folder(self, "Output folder", start)
        if folder is not None:
            self.output_dir.setText(str(folder))

    def load(self) -> None:
        """Fill the fields from the settings."""
        s = self.settings
        self.output_dir.setText(s.get("output_dir"))
        self.preview_fps.setValue(int(s.get("preview_fps")))
        self.theme.setCurrentText(s.get("theme"))
        self.confirm_delete.setChecked(s.get("confirm_delete"))
        self.steps.setValue(s.get("defaults/steps"))
        self.eta.setValue(s.get("defaults/eta"))
        self.spacing.setCurrentText(s.get("defaults/spacing"))
        self.batch.setValue(s.get("defaults/batch"))
        self.encode_steps.setValue(s.get("defaults/encode_steps"))
        self.frames.setValue(s.get("defaults/frames"))
        self.threads.setValue(int(s.get("compute/threads")))
        self.backend.setCurrentText(s.get("compute/backend"))
        self.precision.setCurrentText(s.get("compute/precision"))
        self.interpolate_batch.setValue(int(s.get("defaults/interpolate_batch")))
        self._update_memory()

    def apply(self) -> None:
        """Write the fields to the settings (each change emits ``AppSettings.changed``)."""
        s = self.settings
        s.set("output_dir", self.output_dir.text().strip())
        s.set("preview_fps", self.preview_fps.value())
        s.set("theme", self.theme.currentText())
        s.set("confirm_delete", self.confirm_delete.isChecked())
        s.set("defaults/steps", self.steps.value())
        s.set("defaults/eta", round(self.eta.value(), 2))
        s.set("defaults/spacing", self.spacing.currentText())
        s.set("defaults/batch", self.batch.value())
        s.set("defaults/encode_steps", self.encode_steps.value())
        s.set("defaults/frames", self.frames.value())
        s.set("compute/threads", self.threads.value())
        s.set("compute/backend", self.backend.currentText())
        s.set("compute/precision", self.precision.currentText())
        s.set("defaults/interpolate_batch", self.interpolate_batch.value())
