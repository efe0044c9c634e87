"""The Edit view's Paint group: tools, brush, mask softness, mask buttons, undo and zoom.

A mixin of :class:`~ddim_studio.ui.edit.edit_view.EditView`: it builds the widgets as the view's
own attributes (``view.brush_size``, ``view.tool_buttons``…), which the view connects and the
controller reads; it lays out, it wires nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
)

from ddim_studio.ui.widgets.controls import caption

if TYPE_CHECKING:
    from ddim_studio.ui.edit.canvas import EditCanvas

TOOL_LABELS = (
    ("brush", "Brush", "Paint with the colour (B)"),
    ("eraser", "Eraser", "Restore the source under the stroke (E)"),
    ("mask", "Mask", "Mark a region to regenerate (M)"),
    ("unmask", "Keep", "Unmark: keep these pixels (K)"),
    ("eyedropper", "Pick", "Pick the colour under the cursor (I)"),
)


class PaintControls:
    """Builds the Paint group (see the module); ``canvas`` must exist before."""

    canvas: EditCanvas

    def _tool_button(self, text: str, tip: str, checkable: bool = False) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.setCheckable(checkable)
        button.setProperty("preset", True)
        return button

    def _make_tools(self) -> QVBoxLayout:
        column = QVBoxLayout()
        column.setSpacing(6)
        tools = QHBoxLayout()
        tools.setSpacing(4)
        self.tool_group = QButtonGroup(cast(QObject, self))  # the view, a QWidget
        self.tool_buttons: dict[str, QToolButton] = {}
        for name, text, tip in TOOL_LABELS:
            button = self._tool_button(text, tip, checkable=True)
            self.tool_group.addButton(button)
            self.tool_buttons[name] = button
            tools.addWidget(button, 1)
        column.addLayout(tools)
        column.addLayout(self._make_brush())
        column.addLayout(self._make_mask_row())
        column.addLayout(self._make_history())
        return column

    def _make_brush(self) -> QGridLayout:
        brush = QGridLayout()
        brush.setSpacing(6)
        self.color_button = QPushButton("Colour")
        self.color_button.setToolTip("Choose the brush colour")
        self.brush_size = QSpinBox()
        self.brush_size.setRange(1, 64)
        self.brush_size.setValue(self.canvas.brush_size)
        self.brush_size.setSuffix(" px")
        self.brush_size.setToolTip("Brush size in the model's pixels")
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(5, 100)
        self.opacity.setValue(100)
        self.opacity.setToolTip("Brush opacity")
        self.opacity_label = QLabel("100 %")
        self.opacity_label.setProperty("role", "value")
        brush.addWidget(self.color_button, 0, 0)
        brush.addWidget(self.brush_size, 0, 1)
        brush.addWidget(caption("Opacity"), 1, 0)
        row = QHBoxLayout()
        row.addWidget(self.opacity, 1)
        row.addWidget(self.opacity_label)
        brush.addLayout(row, 1, 1)
        self._make_softness(brush, 2)
        return brush

    def _make_softness(self, grid: QGridLayout, row: int) -> None:
        """Mask brush hardness (0 soft … 1 hard) and the mask's feather in pixels."""
        self.hardness = QSlider(Qt.Orientation.Horizontal)
        self.hardness.setRange(0, 100)
        self.hardness.setValue(100)
        self.hardness.setToolTip(
            "Mask brush hardness: 100 % paints a hard edge, lower fades the stroke's rim"
        )
        self.feather = QSpinBox()
        self.feather.setRange(0, 32)
        self.feather.setSuffix(" px")
        self.feather.setToolTip(
            "Feather the mask outward by this many pixels: the result blends into the kept picture "
            "with no seam; pixels farther away stay exactly as they are"
        )
        grid.addWidget(caption("Hardness"), row, 0)
        grid.addWidget(self.hardness, row, 1)
        grid.addWidget(caption("Feather"), row + 1, 0)
        grid.addWidget(self.feather, row + 1, 1)

    def _make_mask_row(self) -> QHBoxLayout:
        mask_row = QHBoxLayout()
        mask_row.setSpacing(4)
        self.show_mask = self._tool_button("Show mask", "Show or hide the mask overlay", checkable=True)
        self.show_mask.setChecked(True)
        self.invert_mask = self._tool_button("Invert", "Swap keep and regenerate")
        self.clear_mask = self._tool_button("Clear", "Remove the mask: the whole picture is edited")
        self.load_mask = self._tool_button("Load…", "Load a mask picture (white = regenerate)")
        for button in (self.show_mask, self.invert_mask, self.clear_mask, self.load_mask):
            mask_row.addWidget(button, 1)
        return mask_row

    def _make_history(self) -> QHBoxLayout:
        history = QHBoxLayout()
        history.setSpacing(4)
        self.undo_button = self._tool_button("Undo", "Undo the last stroke (Ctrl+Z)")
        self.redo_button = self._tool_button("Redo", "Redo (Ctrl+Shift+Z)")
        self.zoom = QComboBox()
        self.zoom.addItems(["Fit", "1×", "2×", "4×", "8×", "16×"])
        self.zoom.setToolTip("Zoom (Ctrl+wheel on the canvas); pixels stay crisp squares")
        history.addWidget(self.undo_button, 1)
        history.addWidget(self.redo_button, 1)
        history.addWidget(self.zoom, 1)
        return history
