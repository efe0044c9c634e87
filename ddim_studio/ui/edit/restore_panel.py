"""The Edit mode's task choice: re-imagine / inpaint (the edit as before) or restore (DDNM).

Restore tasks: upscale ×N (the picture is taken at the model's size / N), colourise (its grey is
kept) and fill (the mask is filled; DDNM or the Edit mode's replacement). The panel only lays out
and reports its choice; ``restore_tool`` runs it.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QGridLayout, QWidget

from ddim_studio.ui.widgets.controls import caption

#: (task id, label, tooltip); ``edit`` is the Edit mode's own re-imagine / inpaint.
TASKS = (
    ("edit", "Re-imagine / inpaint", "Paint strokes or a mask; the model re-imagines them (SDEdit)."),
    (
        "upscale",
        "Restore: upscale",
        "A small picture made sharp at the model's size; averaged back it is the input.",
    ),
    ("colorize", "Restore: colourise", "A grey picture given colour; its grey stays the input's."),
    ("inpaint", "Restore: fill", "The masked region filled in one sampling run; kept pixels stay the same."),
)
FACTORS = (2, 4, 8)
METHODS = (("ddnm", "DDNM"), ("replace", "Replacement"))


class RestorePanel(QWidget):
    """Task, upscale factor and fill method; ``changed`` when any of them changes."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(2)
        self.task = QComboBox()
        for name, label, tip in TASKS:
            self.task.addItem(label, name)
            self.task.setItemData(self.task.count() - 1, tip, 3)  # Qt.ToolTipRole
        self.task.setToolTip("Edit the picture, or restore it: upscale, colourise or fill (DDNM)")
        self.factor = QComboBox()
        for n in FACTORS:
            self.factor.addItem(f"×{n}", n)
        self.factor.setCurrentIndex(1)
        self.factor.setToolTip("Upscale factor: the input is the model's size divided by it")
        self.method = QComboBox()
        for name, label in METHODS:
            self.method.addItem(label, name)
        self.method.setToolTip(
            "How the hole is filled: DDNM corrects each step's predicted picture (the default, it "
            "completes more often); Replacement is the Edit mode's mask replacement"
        )
        self.note = caption("")
        self.note.setWordWrap(True)
        grid.addWidget(caption("Task"), 0, 0, 1, 2)
        grid.addWidget(self.task, 1, 0, 1, 2)
        grid.addWidget(self.factor, 2, 0)
        grid.addWidget(self.method, 2, 1)
        grid.addWidget(self.note, 3, 0, 1, 2)
        for combo in (self.task, self.factor, self.method):
            combo.currentIndexChanged.connect(lambda *_: self._changed())
        self._changed()

    def _changed(self) -> None:
        task = self.task_name()
        self.factor.setVisible(task == "upscale")
        self.method.setVisible(task == "inpaint")
        self.note.setText(dict((n, t) for n, _, t in TASKS)[task] if self.is_restore() else "")
        self.note.setVisible(self.is_restore())
        self.changed.emit()

    def task_name(self) -> str:
        """``edit``, ``upscale``, ``colorize`` or ``inpaint``."""
        return str(self.task.currentData())

    def is_restore(self) -> bool:
        """Whether a restore task is chosen."""
        return self.task_name() != "edit"

    def factor_value(self) -> int:
        """The upscale factor N."""
        return int(self.factor.currentData())

    def method_name(self) -> str:
        """``ddnm`` or ``replace``."""
        return str(self.method.currentData())

    def set_choice(self, task: str, factor: int | None = None, method: str | None = None) -> None:
        """Choose a task (and factor, method) by name; unknown names are ignored."""
        for combo, value in ((self.task, task), (self.factor, factor), (self.method, method)):
            index = combo.findData(value) if value is not None else -1
            if index >= 0:
                combo.setCurrentIndex(index)
