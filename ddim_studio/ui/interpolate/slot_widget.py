"""One interpolation endpoint (A or B): a drop target with its picture and the ways to fill it."""

from __future__ import annotations

import random

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QImage, QValidator
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSpinBox, QToolButton, QVBoxLayout, QWidget

from ddim_studio.ui import theme
from ddim_studio.ui.widgets.controls import ElidedLabel
from ddim_studio.ui.widgets.file_drop import FileDropMixin
from ddim_studio.ui.widgets.image_view import PixelCanvas

MAX_SEED = 2**31 - 1
NO_SEED = -1  # the seed field's placeholder value: the slot is not drawn from a seed
THUMB = 84
PLACEHOLDER = "type a seed"


class SeedBox(QSpinBox):
    """A seed spin box that is empty (a greyed placeholder, not text) at :data:`NO_SEED`.

    A placeholder instead of ``setSpecialValueText``: special text is real text in the field, so a
    digit typed into it made the text invalid and was refused.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setRange(NO_SEED, MAX_SEED)
        self.setValue(NO_SEED)
        self.lineEdit().setPlaceholderText(PLACEHOLDER)

    def textFromValue(self, value: int) -> str:  # noqa: N802 - Qt override
        """No text at :data:`NO_SEED`: the placeholder shows."""
        return "" if value == NO_SEED else str(value)

    def valueFromText(self, text: str) -> int:  # noqa: N802 - Qt override
        """An empty field is :data:`NO_SEED`."""
        text = text.strip()
        return int(text) if text.isdigit() else NO_SEED

    def validate(self, text: str, pos: int) -> object:  # Qt override
        """Digits only (a seed is never negative); an empty field is allowed."""
        stripped = text.strip()
        if not stripped:
            return QValidator.State.Acceptable, text, pos
        if not stripped.isdigit():
            return QValidator.State.Invalid, text, pos
        ok = int(stripped) <= MAX_SEED
        return (QValidator.State.Acceptable if ok else QValidator.State.Invalid), text, pos


class SlotWidget(FileDropMixin, QFrame):
    """Slot A or B: drop an image or latent on it, or pick a file, a gallery item or a seed."""

    filesDropped = Signal(list)  # noqa: N815 - list[Path]
    openImageRequested = Signal()  # noqa: N815
    openLatentRequested = Signal()  # noqa: N815
    galleryRequested = Signal()  # noqa: N815
    seedChosen = Signal(int)  # noqa: N815

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.setObjectName("DropZone")
        self.setAcceptDrops(True)
        self.canvas = PixelCanvas("drop an image")
        self.canvas.setFixedSize(THUMB, THUMB)
        title = QLabel(f"SLOT {name}")
        title.setProperty("role", "heading")
        self.label = ElidedLabel("empty")
        self.label.elide_mode = Qt.TextElideMode.ElideMiddle  # "seed 13…4567.png": both ends stay
        self.state = ElidedLabel("")  # how x_T is obtained: "saved latent", "encoded on Run"…
        self.state.ensurePolished()
        self.state.setMinimumHeight(self.state.fontMetrics().height())
        self.seed = SeedBox()  # empty, with a placeholder, until a seed fills the slot
        self.seed.setMinimumWidth(70)
        self.seed.setToolTip(
            f"Draw slot {name}'s x_T from this seed (Enter or the seed button fills the slot)"
        )
        self.image_button = self._button("image", "Open an image (it is encoded when you press Run)")
        self.latent_button = self._button("latent", "Open a latent .safetensors file")
        self.gallery_button = self._button("gallery", "Use the picture selected in the gallery")
        self.seed_button = self._button("seed", f"Use this seed's x_T as slot {name}")
        sources = QHBoxLayout()
        sources.setSpacing(4)
        for button in (self.image_button, self.latent_button, self.gallery_button):
            sources.addWidget(button)
        sources.addStretch(1)
        seed_row = QHBoxLayout()
        seed_row.setSpacing(4)
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(self.seed_button)
        right = QVBoxLayout()
        right.setSpacing(4)
        right.addWidget(title)
        right.addWidget(self.label)
        right.addWidget(self.state)
        right.addLayout(sources)
        right.addLayout(seed_row)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(10)
        layout.addWidget(self.canvas, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(right, 1)
        self.image_button.clicked.connect(self.openImageRequested)
        self.latent_button.clicked.connect(self.openLatentRequested)
        self.gallery_button.clicked.connect(self.galleryRequested)
        self.seed_button.clicked.connect(self._choose_seed)
        self.seed.editingFinished.connect(self._seed_typed)
        self._typed = False
        self.seed.valueChanged.connect(lambda _v: setattr(self, "_typed", self.seed.hasFocus()))

    def _choose_seed(self) -> None:
        if self.seed.value() == NO_SEED:  # the sprout on an empty field: a random seed
            self.seed.setValue(random.randrange(0, MAX_SEED))
        self.seedChosen.emit(self.seed.value())

    def _seed_typed(self) -> None:
        """A seed typed and confirmed (Enter or leaving the field) fills the slot at once."""
        if self._typed and self.seed.value() != NO_SEED:
            self._typed = False
            self.seedChosen.emit(self.seed.value())

    def _button(self, icon_name: str, tip: str) -> QToolButton:
        button = QToolButton()
        theme.apply_icon(button, icon_name)
        button.setToolTip(tip)
        button.setProperty("icononly", True)
        button.setIconSize(QSize(18, 18))
        button.setFixedSize(34, 30)
        return button

    def show_content(self, image: QImage | None, label: str, state: str = "") -> None:
        """Show what fills the slot, and how its x_T is obtained (``state``)."""
        self.canvas.set_image(image)
        # "seed 1266242167 · seed1266…png": the seed comes first and differs, so keep the start;
        # a file name elides in the middle (both ends stay: "photo_1.png" vs "photo_2.png")
        seeded = label.startswith("seed ")
        self.label.elide_mode = Qt.TextElideMode.ElideRight if seeded else Qt.TextElideMode.ElideMiddle
        self.label.setText(label)
        self.label.setToolTip(label)
        self.state.setText(state)  # an empty line keeps its height: the buttons below never move
