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


class ControlPanel(QScrollArea):
    """A fixed-width, vertically scrolling column; add groups with :meth:`add_group`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ControlPanel")
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setFixedWidth(PANEL_WIDTH)
        body = QWidget()
        body.setObjectName("ControlPanelBody")
        self.column = QVBoxLayout(body)
        self.column.setContentsMargins(12, 6, 12, 12)
        self.column.setSpacing(10)
        self.setWidget(body)

    def add_group(self, title: str, layout: QLayout | None = None) -> QGroupBox:
        """Append a titled group (with a form layout unless ``layout`` is given)."""
        group = QGroupBox(title.upper())
        group.setLayout(layout or form())
        self.column.addWidget(group)
        return group

    def add_widget(self, widget: QWidget, stretch: int = 0) -> None:
        """Append a widget outside any group."""
        self.column.addWidget(widget, stretch)

    def add_stretch(self) -> None:
        """Push what follows to the bottom."""
        self.column.addStretch(1)


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
