"""A card that takes the room it needs when there is some, and scrolls instead of growing the window."""

from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtWidgets import QFrame, QScrollArea, QWidget


class ScrollCard(QScrollArea):
    """``card`` in a frameless scroll area whose minimum size is small (the window's minimum stays).

    Its size hint is the card's, so a layout with room shows the whole card; a short window
    scrolls it instead.
    """

    def __init__(self, card: QWidget, parent: QWidget | None = None, *, min_height: int = 60) -> None:
        super().__init__(parent)
        self.card = card
        self.min_height = min_height  # what a short window still shows (e.g. a card's title and controls)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setWidget(card)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return self.card.sizeHint()

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(120, self.min_height)
