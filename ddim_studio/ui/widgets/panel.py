"""The scrolling column of grouped controls on the left of every mode."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLayout,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from ddim_studio.ui.widgets.controls import ElidedLabel

PANEL_WIDTH = 320


class ControlPanel(QWidget):
    """A fixed-width column: grouped controls that scroll, and a footer that never scrolls away.

    Widgets added after :meth:`add_stretch` (the Run button and what goes with it) go into the
    footer below the scrolling part, so they stay reachable in a short window.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ControlPanel")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setFixedWidth(PANEL_WIDTH)
        self.scroll_area = QScrollArea()
        self.scroll_area.setObjectName("ControlPanelScroll")
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        body = QWidget()
        body.setObjectName("ControlPanelBody")
        self.column = QVBoxLayout(body)
        self.column.setContentsMargins(12, 6, 12, 12)
        self.column.setSpacing(10)
        self.scroll_area.setWidget(body)
        self.footer = QVBoxLayout()
        self.footer.setContentsMargins(12, 6, 12, 12)
        self.footer.setSpacing(6)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(self.scroll_area, 1)
        outer.addLayout(self.footer)
        self._in_footer = False

    def add_group(self, title: str, layout: QLayout | None = None) -> QGroupBox:
        """Append a titled group (with a form layout unless ``layout`` is given)."""
        group = QGroupBox(title.upper())
        group.setLayout(layout or form())
        self.column.addWidget(group)
        return group

    def add_widget(self, widget: QWidget, stretch: int = 0) -> None:
        """Append a widget outside any group (into the footer once :meth:`add_stretch` was called)."""
        (self.footer if self._in_footer else self.column).addWidget(widget, stretch)

    def add_stretch(self) -> None:
        """Push what follows to the bottom: into the footer, which stays in view."""
        self.column.addStretch(1)
        self._in_footer = True


def form() -> QFormLayout:
    """A form layout with labels on top of wide fields, spaced for the panel."""
    layout = QFormLayout()
    layout.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)
    layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    layout.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
    layout.setContentsMargins(0, 4, 0, 0)
    layout.setVerticalSpacing(6)
    layout.setHorizontalSpacing(8)
    return layout


def mode_main(
    title: str, summary: str, spacing: int = 10
) -> tuple[QWidget, QVBoxLayout, QHBoxLayout, ElidedLabel]:
    """The main area of a mode: a padded column whose header row holds a title and an elided summary.

    Returns the area, its column, the header row (for extra buttons) and the summary label.
    """
    main = QWidget()
    column = QVBoxLayout(main)
    column.setContentsMargins(18, 14, 18, 14)
    column.setSpacing(spacing)
    header = QHBoxLayout()
    heading_label = QLabel(title)
    heading_label.setProperty("role", "title")
    summary_label = ElidedLabel(summary)
    header.addWidget(heading_label)
    header.addWidget(summary_label, 1, Qt.AlignmentFlag.AlignBottom)
    return main, column, header, summary_label
