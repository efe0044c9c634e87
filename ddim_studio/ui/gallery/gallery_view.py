"""The gallery panel: thumbnails (newest first), the selected item's parameters, and its actions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QItemSelectionModel, QSize, Qt, Signal
from PySide6.QtGui import QImage, QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListView,
    QMenu,
    QPushButton,
    QScrollArea,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ddim_studio.ui import params as params_text
from ddim_studio.ui import theme
from ddim_studio.ui.gallery.gallery_model import THUMB_SIZE, GalleryModel, ItemRole
from ddim_studio.ui.widgets.controls import ElidedLabel, caption, heading
from ddim_studio.ui.widgets.image_view import PixelCanvas

if TYPE_CHECKING:
    from ddim_studio.core.store import SavedItem


class GalleryView(QWidget):
    """Layout of the gallery; every action is a signal carrying the selected :class:`SavedItem`."""

    selectionChanged = Signal(object)  # noqa: N815 - SavedItem or None
    reuseParams = Signal(object)  # noqa: N815
    reuseSeed = Signal(object)  # noqa: N815
    encodeRequested = Signal(object)  # noqa: N815
    editRequested = Signal(object)  # noqa: N815
    interpolateRequested = Signal(object, str)  # noqa: N815 - item, "A" or "B"
    openFolderRequested = Signal(object)  # noqa: N815
    deleteRequested = Signal(object)  # noqa: N815
    refreshRequested = Signal()  # noqa: N815
    undoDeleteRequested = Signal()  # noqa: N815 - Ctrl+Z while the gallery has the focus

    def __init__(self, model: GalleryModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("GalleryPanel")
        self.model = model
        self.list = self._make_list()
        header = self._make_header()
        details = self._make_details()
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.list)
        splitter.addWidget(details)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 10)
        layout.setSpacing(8)
        layout.addLayout(header)
        layout.addWidget(splitter, 1)
        self.delete_shortcut = QShortcut(QKeySequence(QKeySequence.StandardKey.Delete), self.list)
        self.delete_shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.delete_shortcut.activated.connect(self._emit_delete)
        self.list.selectionModel().currentChanged.connect(lambda *_: self._selection_changed())
        self.list.selectionModel().selectionChanged.connect(lambda *_: self._selection_changed())
        model.modelReset.connect(self._update_count)
        model.rowsInserted.connect(self._update_count)
        model.rowsRemoved.connect(self._update_count)
        self._selection_changed()

    # ---- construction -------------------------------------------------------------------------
    def _make_list(self) -> QListView:
        view = QListView()
        view.setModel(self.model)
        view.setViewMode(QListView.ViewMode.IconMode)
        view.setMovement(QListView.Movement.Static)
        view.setResizeMode(QListView.ResizeMode.Adjust)
        view.setUniformItemSizes(True)
        view.setIconSize(QSize(THUMB_SIZE, THUMB_SIZE))
        view.setGridSize(QSize(THUMB_SIZE + 16, THUMB_SIZE + 30))
        view.setSpacing(2)
        view.setWordWrap(False)
        view.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # "seed 13…4567": random seeds stay distinct
        view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        view.setDragEnabled(True)
        view.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        view.setDefaultDropAction(Qt.DropAction.CopyAction)
        view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        view.setToolTip("")
        return view

    def _make_header(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(6)
        title = QLabel("Gallery")
        title.setProperty("role", "title")
        self.count_label = caption("")
        self.refresh_button = self._tool("refresh", "Rescan the output folder")
        self.refresh_button.clicked.connect(self.refreshRequested)
        self.folder_button = self._tool("folder", "Open the output folder in the file manager")
        self.folder_button.clicked.connect(lambda: self.openFolderRequested.emit(None))
        row.addWidget(title)
        row.addWidget(self.count_label, 1, Qt.AlignmentFlag.AlignBottom)
        row.addWidget(self.refresh_button)
        row.addWidget(self.folder_button)
        return row

    def _tool(self, icon_name: str, tip: str) -> QToolButton:
        button = QToolButton()
        button.setProperty("flat", True)
        theme.apply_icon(button, icon_name)
        button.setToolTip(tip)
        return button

    def _make_details(self) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.setSpacing(8)
        top = QHBoxLayout()
        top.setSpacing(10)
        self.preview = PixelCanvas("No picture selected")
        self.preview.setFixedSize(112, 112)
        self.details = QLabel()
        self.details.setTextFormat(Qt.TextFormat.RichText)
        self.details.setWordWrap(True)
        self.details.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.file_label = ElidedLabel("")
        info_col = QVBoxLayout()
        info_col.addWidget(self.file_label)
        scroll = QScrollArea()
        scroll.setWidget(self.details)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        info_col.addWidget(scroll, 1)
        top.addWidget(self.preview, 0, Qt.AlignmentFlag.AlignTop)
        top.addLayout(info_col, 1)
        layout.addWidget(heading("Selected"))
        layout.addLayout(top, 1)
        layout.addLayout(self._make_actions())
        return box

    def _make_actions(self) -> QGridLayout:
        grid = QGridLayout()
        grid.setSpacing(6)
        self.reuse_params_button = self._action(
            "Reuse params", "reuse", self.reuseParams, "Set Generate's controls to this picture's parameters"
        )
        self.reuse_seed_button = self._action(
            "Reuse seed", "seed", self.reuseSeed, "Use this picture's seed in Generate (and lock it)"
        )
        self.encode_button = self._action(
            "Encode", "encode", self.encodeRequested, "Open this picture in Encode"
        )
        self.edit_button = self._action("Edit", "edit", self.editRequested, "Paint on this picture in Edit")
        self.interpolate_button = QPushButton("Interpolate")
        theme.apply_icon(self.interpolate_button, "interpolate")
        self.interpolate_button.setToolTip("Use this picture as slot A or B of an interpolation")
        menu = QMenu(self.interpolate_button)
        menu.addAction("As slot A", lambda: self._emit_interpolate("A"))
        menu.addAction("As slot B", lambda: self._emit_interpolate("B"))
        self.interpolate_button.setMenu(menu)
        self.show_button = self._action(
            "Show file", "folder", self.openFolderRequested, "Show this picture in the file manager"
        )
        self.delete_button = self._action(
            "Delete", "trash", self.deleteRequested, "Move this picture and its latent to the trash (Delete)"
        )
        self.delete_button.setProperty("danger", True)
        buttons = [
            self.reuse_params_button,
            self.reuse_seed_button,
            self.encode_button,
            self.edit_button,
            self.interpolate_button,
            self.show_button,
            self.delete_button,
        ]
        for index, button in enumerate(buttons):
            grid.addWidget(button, index // 2, index % 2)
        self.action_buttons = buttons
        return grid

    def _action(self, text: str, icon_name: str, signal: Signal, tip: str) -> QPushButton:
        button = QPushButton(text)
        theme.apply_icon(button, icon_name)
        button.setToolTip(tip)
        button.clicked.connect(lambda: self._emit(signal))
        return button

    # ---- state --------------------------------------------------------------------------------
    def current_item(self) -> SavedItem | None:
        """The selected item, or None."""
        index = self.list.currentIndex()
        selected = index.isValid() and self.list.selectionModel().isSelected(index)
        return index.data(ItemRole) if selected else None  # Ctrl+click can unselect the current one

    def select_row(self, row: int) -> None:
        """Select a row (and scroll to it)."""
        index = self.model.index(row, 0)
        if index.isValid():
            flags = QItemSelectionModel.SelectionFlag.ClearAndSelect
            self.list.selectionModel().setCurrentIndex(index, flags)
            self.list.scrollTo(index)

    def show_item(self, item: SavedItem | None) -> None:
        """Fill the detail area for ``item``."""
        for button in self.action_buttons:
            button.setEnabled(item is not None)
        if item is None:
            self.preview.set_image(None)
            self.file_label.setText("")
            self.details.setText("<span style='opacity:0.6'>Select a picture to see how it was made.</span>")
            return
        has_seed = "seed" in item.params or "seed" in item.bad_fields  # a bad one is named on click
        self.reuse_seed_button.setEnabled(has_seed)
        self.reuse_params_button.setEnabled(item.params.get("kind") in ("sample", "edit", "restore"))
        self.preview.set_image(QImage(str(item.png)))
        self.file_label.setText(item.png.name)
        latent = ("Latent", "saved" if item.latent else "none")
        self.details.setText(params_text.details_html(item.params, [latent]))

    def _update_count(self, *args: object) -> None:
        n = self.model.rowCount()
        self.count_label.setText(f"{n} picture{'s' if n != 1 else ''}")

    def _selection_changed(self) -> None:
        item = self.current_item()
        if item is not None and item is getattr(self, "_shown", None):
            return  # the current row and its selection changed together: shown once
        self._shown = item
        self.show_item(item)
        self.selectionChanged.emit(item)

    def _emit(self, signal: Signal) -> None:
        item = self.current_item()
        if item is not None:
            signal.emit(item)  # type: ignore[attr-defined]

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt API
        """Ctrl+Z in the gallery (the list or its buttons) puts the last deleted picture back."""
        if event.matches(QKeySequence.StandardKey.Undo):
            self.undoDeleteRequested.emit()
            event.accept()
            return
        super().keyPressEvent(event)

    def _emit_delete(self) -> None:
        self._emit(self.deleteRequested)

    def _emit_interpolate(self, slot: str) -> None:
        item = self.current_item()
        if item is not None:
            self.interpolateRequested.emit(item, slot)
