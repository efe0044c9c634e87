"""An inline, non-blocking message strip (errors stay until closed, info fades after a while)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QToolButton, QWidget

from ddim_studio.ui import theme

INFO_TIMEOUT_MS = 6000
_ICONS = {"error": "error", "warning": "warning", "info": "info"}
MAX_SHOWN = 600  # characters shown; the whole message is in the tooltip
_BREAK_AFTER = "/\\_.-,;:=&?"
_LONGEST_RUN = 40


def breakable(text: str, limit: int = MAX_SHOWN) -> str:
    """``text`` cut to ``limit`` characters, with invisible break points in long unbroken runs (paths,
    hashes) so a word-wrapped label can always wrap it instead of widening the window."""
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    out: list[str] = []
    run = 0
    for ch in text:
        out.append(ch)
        run = 0 if ch.isspace() else run + 1
        if run and (ch in _BREAK_AFTER or run >= _LONGEST_RUN):
            out.append("\u200b")
            run = 0
    return "".join(out)


class Banner(QFrame):
    """A message with an icon and a close button, styled by its ``level`` property."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Banner")
        self.icon = QLabel()
        self.icon.setFixedSize(20, 20)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.text.setMinimumWidth(40)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.close_button = QToolButton()
        self.close_button.setProperty("flat", True)
        theme.apply_icon(self.close_button, "close")
        self.close_button.setToolTip("Dismiss")
        self.close_button.clicked.connect(self.dismiss)
        self.action_button = QPushButton()  # an optional one-click fix ("Use the model's setting")
        self.action_button.hide()
        self.action_button.clicked.connect(self._act)
        self._action: Callable[[], None] | None = None
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 8, 8)
        layout.setSpacing(10)
        layout.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.action_button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.dismiss)
        self.level = ""
        self._message = ""
        self.hide()

    def show_message(
        self, level: str, message: str, action: tuple[str, Callable[[], None]] | None = None
    ) -> None:
        """Show ``message``; ``level`` is ``error``, ``warning`` or ``info`` (info hides itself).

        ``action`` (button text, callback) adds a button that runs the callback and closes the banner;
        a banner with an action stays until it is used or closed.
        """
        self._action = action[1] if action is not None else None
        self.action_button.setText(action[0] if action is not None else "")
        self.action_button.setVisible(action is not None)
        self.level = level
        self.setProperty("level", level)
        self.style().unpolish(self)
        self.style().polish(self)
        c = theme.colors()
        color = {"error": c.danger, "warning": "#e0af68", "info": c.accent}.get(level, c.icon)
        self.icon.setPixmap(theme.svg_pixmap(_ICONS.get(level, "info"), 20, color))
        self._message = message
        self.text.setText(breakable(message))
        self.text.setToolTip(message if len(message) > MAX_SHOWN else "")
        self.show()
        if level == "info" and action is None:
            self._timer.start(INFO_TIMEOUT_MS)
        else:
            self._timer.stop()

    def message(self) -> str:
        """The text shown (empty when hidden)."""
        return self._message if self.isVisible() else ""

    def dismiss(self) -> None:
        """Hide the banner."""
        self._timer.stop()
        self.hide()

    def _act(self) -> None:
        action = self._action
        self.dismiss()
        if action is not None:
            action()
