"""The Model Library dialog's layout: the models, their details, a hub id to check, the download row.

Only widgets and signals here; :class:`~ddim_studio.ui.model_library.controller.ModelLibraryController`
decides what they show and does the work.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

THUMBNAIL_SIDE = 128
COLUMNS = ("Model", "Pictures", "Parameters", "Download", "On disk", "Per step here", "Licence", "Status")


class ModelLibraryView(QDialog):
    """The library's widgets.

    Signals:
        selected(int): the chosen row (-1: none).
        check_requested(str): a hub id typed by hand, to be checked.
        download_requested(), cancel_requested(), delete_requested(), open_requested().
    """

    selected = Signal(int)
    check_requested = Signal(str)
    download_requested = Signal()
    cancel_requested = Signal()
    delete_requested = Signal()
    open_requested = Signal()
    thumbnail_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Model Library")
        self.resize(1120, 620)
        layout = QVBoxLayout(self)
        layout.addWidget(self._build_table(), 1)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextFormat(Qt.TextFormat.RichText)
        self.details.setMinimumHeight(64)
        self.details.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        layout.addLayout(self._build_details_row())
        layout.addLayout(self._build_check_row())
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setObjectName("libraryMessage")
        layout.addWidget(self.message)
        layout.addLayout(self._build_progress_row())
        layout.addLayout(self._build_buttons())

    def _build_table(self) -> QTableWidget:
        table = QTableWidget(0, len(COLUMNS))
        table.setHorizontalHeaderLabels(COLUMNS)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.verticalHeader().setVisible(False)
        header = table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        table.itemSelectionChanged.connect(lambda: self.selected.emit(self.current_row()))
        table.doubleClicked.connect(lambda _index: self.open_requested.emit())
        self.table = table
        return table

    def _build_details_row(self) -> QHBoxLayout:
        """The thumbnail (pictures sampled from the model) beside the selected model's details."""
        row = QHBoxLayout()
        side = QVBoxLayout()
        self.thumbnail = QLabel("no pictures yet")
        self.thumbnail.setFixedSize(THUMBNAIL_SIDE, THUMBNAIL_SIDE)
        self.thumbnail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumbnail.setWordWrap(True)
        self.thumbnail.setObjectName("libraryThumbnail")
        self.thumbnail.setStyleSheet("#libraryThumbnail { border: 1px solid palette(mid); }")
        side.addWidget(self.thumbnail)
        self.thumbnail_button = QPushButton("Make pictures")
        self.thumbnail_button.setToolTip("Sample a few pictures from this model (S = 10) to show here")
        self.thumbnail_button.setAutoDefault(False)
        self.thumbnail_button.clicked.connect(self.thumbnail_requested)
        side.addWidget(self.thumbnail_button)
        row.addLayout(side)
        row.addWidget(self.details, 1)
        return row

    def set_thumbnail(self, path: str | None, text: str, *, can_make: bool) -> None:
        """Show the thumbnail at ``path`` (None: ``text`` instead); ``can_make`` enables the button."""
        pixmap = QPixmap(path) if path else QPixmap()
        if pixmap.isNull():
            self.thumbnail.setPixmap(QPixmap())
            self.thumbnail.setText(text)
        else:
            self.thumbnail.setPixmap(
                pixmap.scaled(
                    THUMBNAIL_SIDE,
                    THUMBNAIL_SIDE,
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                )  # fmt: skip
            )
        self.thumbnail.setToolTip(text if pixmap.isNull() else "Pictures sampled from this model (S = 10)")
        self.thumbnail_button.setEnabled(can_make)

    def _build_check_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(QLabel("Another model on the hub:"))
        self.hub_id = QLineEdit()
        self.hub_id.setPlaceholderText("owner/name, e.g. google/ddpm-cifar10-32")
        self.hub_id.returnPressed.connect(self._check)
        row.addWidget(self.hub_id, 1)
        self.check_button = QPushButton("Check")
        self.check_button.setToolTip(
            "Read the model's settings on the hub (a few kB) and say whether it can run here"
        )
        self.check_button.clicked.connect(self._check)
        row.addWidget(self.check_button)
        return row

    def _build_progress_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        row.addWidget(self.progress, 1)
        self.progress_text = QLabel("")
        self.progress_text.setMinimumWidth(360)
        row.addWidget(self.progress_text)
        return row

    def _build_buttons(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.download_button = QPushButton("Download")
        self.cancel_button = QPushButton("Cancel Download")
        self.delete_button = QPushButton("Delete…")
        self.open_button = QPushButton("Open")
        self.close_button = QPushButton("Close")
        self.download_button.clicked.connect(self.download_requested)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.delete_button.clicked.connect(self.delete_requested)
        self.open_button.clicked.connect(self.open_requested)
        self.close_button.clicked.connect(self.reject)
        for button in (self.download_button, self.cancel_button, self.delete_button, self.open_button,
                       self.close_button, self.check_button):  # fmt: skip
            button.setAutoDefault(False)  # Return in the id field checks it; it never opens a model
        for button in (self.download_button, self.cancel_button, self.delete_button):
            row.addWidget(button)
        row.addStretch(1)
        row.addWidget(self.open_button)
        row.addWidget(self.close_button)
        return row

    def _check(self) -> None:
        text = self.hub_id.text().strip()
        if text:
            self.check_requested.emit(text)

    # ---- what the controller sets -------------------------------------------------------------
    def current_row(self) -> int:
        """The selected row, or -1."""
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else -1

    def set_rows(self, rows: list[tuple[str, ...]], keep: int = -1) -> None:
        """Fill the table with text rows (one cell per column); select ``keep`` if it exists."""
        self.table.setRowCount(len(rows))
        for r, cells in enumerate(rows):
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c > 0:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.table.setItem(r, c, item)
        if 0 <= keep < len(rows):
            self.table.selectRow(keep)

    def set_cell(self, row: int, column: int, text: str) -> None:
        """Change one cell (the estimate once measured)."""
        item = self.table.item(row, column)
        if item is not None:
            item.setText(text)

    def set_step_engine(self, words: str) -> None:
        """Name the backend the per-step column was timed with, e.g. ``OpenVINO, bfloat16 (fast)``."""
        column = COLUMNS.index("Per step here")
        item = self.table.horizontalHeaderItem(column)
        if item is not None:
            short = words.split(",")[0] + (" fast" if "(fast)" in words else "")
            item.setText(f"Per step here ({short})")
            item.setToolTip(f"Estimated seconds per sampling step of one picture, on {words}")

    def set_progress(self, fraction: float | None, text: str) -> None:
        """The bar (None: empty) and the words beside it."""
        self.progress.setValue(0 if fraction is None else int(round(1000 * fraction)))
        self.progress_text.setText(text)

    def set_message(self, text: str, *, error: bool = False) -> None:
        """A line under the details: a refusal or failure in red, news otherwise."""
        self.message.setStyleSheet("color: #e06c6c;" if error else "")
        self.message.setText(text)

    def set_buttons(self, *, download: bool, cancel: bool, delete: bool, open_: bool) -> None:
        """Enable the buttons that apply to the selection and the download state."""
        self.download_button.setEnabled(download)
        self.cancel_button.setEnabled(cancel)
        self.delete_button.setEnabled(delete)
        self.open_button.setEnabled(open_)
