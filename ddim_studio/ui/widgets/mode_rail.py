"""The narrow column on the far left that switches between Generate, Encode and Interpolate."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import QButtonGroup, QFrame, QLabel, QToolButton, QVBoxLayout, QWidget

from ddim_studio.ui import theme

RAIL_WIDTH = 96


class ModeRail(QFrame):
    """Icon-over-label buttons, one per mode; emits ``modeChanged(index)``."""

    modeChanged = Signal(int)  # noqa: N815

    def __init__(self, modes: list[tuple[str, str, str]], parent: QWidget | None = None) -> None:
        """Args:
        modes: ``(label, icon name, tooltip)`` per mode.
        """
        super().__init__(parent)
        self.setObjectName("ModeRail")
        self.setFixedWidth(RAIL_WIDTH)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 8)
        layout.setSpacing(4)
        mark = QLabel()
        mark.setObjectName("AppMark")
        mark.setPixmap(theme.app_icon().pixmap(40, 40))
        mark.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        mark.setToolTip("DDIM Studio")
        layout.addWidget(mark)
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        self.buttons: list[QToolButton] = []
        for index, (label, icon_name, tip) in enumerate(modes):
            button = QToolButton()
            button.setText(label)
            button.setToolTip(tip)
            button.setCheckable(True)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
            button.setIconSize(QSize(26, 26))
            button.setFixedWidth(RAIL_WIDTH - 10)
            button.setCursor(Qt.CursorShape.PointingHandCursor)
            theme.apply_icon(button, icon_name, active=True)
            self.group.addButton(button, index)
            self.buttons.append(button)
            layout.addWidget(button, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(1)
        self.group.idClicked.connect(self.modeChanged)

    def set_current(self, index: int) -> None:
        """Check the button of mode ``index`` (without emitting)."""
        if 0 <= index < len(self.buttons):
            self.buttons[index].setChecked(True)
