"""A seed box with a dice (a random seed) and a lock (keep the seed between runs)."""

from __future__ import annotations

import random

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QSpinBox, QToolButton, QWidget

from ddim_studio.ui import theme

MAX_SEED = 2**31 - 1


def seed_buttons(run: str = "A run") -> tuple[QToolButton, QToolButton]:
    """The dice (a random seed) and the lock (keep the seed) beside a seed box.

    The lock shows a closed padlock when locked and an open one when ``run`` rolls a new seed.
    """
    dice = QToolButton()
    dice.setProperty("icononly", True)
    dice.setFixedSize(34, 30)
    theme.apply_icon(dice, "dice")
    dice.setToolTip("Pick a random seed")
    lock = QToolButton()
    lock.setProperty("icononly", True)
    lock.setFixedSize(34, 30)
    lock.setCheckable(True)

    def show(locked: bool) -> None:
        theme.apply_icon(lock, "lock" if locked else "unlock", active=True)
        lock.setToolTip(
            f"The seed is locked: {run} keeps it (click to roll a new seed each time)"
            if locked
            else f"Lock the seed: {run} keeps it instead of rolling a new one"
        )

    lock.toggled.connect(show)
    show(False)
    return dice, lock


class SeedControl(QWidget):
    """Seed spin box, dice and lock; a run rolls a new seed unless the lock is on.

    Signals:
        valueChanged(int): the seed changed.
    """

    valueChanged = Signal(int)  # noqa: N815 - Qt naming

    def __init__(
        self, tooltip: str = "The same seed gives the same noise.", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.seed = QSpinBox()
        self.seed.setRange(0, MAX_SEED)
        self.seed.setToolTip(tooltip)
        self.dice, self.lock = seed_buttons("Edit")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.seed, 1)
        row.addWidget(self.dice)
        row.addWidget(self.lock)
        self.dice.clicked.connect(self.roll)
        self.seed.editingFinished.connect(lambda: self.lock.setChecked(True))
        self.seed.valueChanged.connect(self.valueChanged)

    def value(self) -> int:
        """The seed."""
        return self.seed.value()

    def set_value(self, seed: int, *, lock: bool = False) -> None:
        """Set the seed (and lock it when asked)."""
        self.seed.setValue(int(seed))
        if lock:
            self.lock.setChecked(True)

    def locked(self) -> bool:
        """Whether runs keep the seed."""
        return self.lock.isChecked()

    def roll(self) -> int:
        """A new random seed in the box; returns it."""
        seed = random.randrange(0, MAX_SEED)
        self.seed.setValue(seed)
        return seed

    def for_run(self) -> int:
        """The seed a run should use: a new one unless locked."""
        return self.value() if self.locked() else self.roll()
