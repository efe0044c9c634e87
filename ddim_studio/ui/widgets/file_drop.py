"""Dropping local files on a widget: which files a drag carries, and the hover look while it does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent, QDropEvent
from PySide6.QtWidgets import QWidget


def local_files(event: QDragEnterEvent | QDropEvent) -> list[Path]:
    """The local files a drag carries (file URLs only)."""
    mime = event.mimeData()
    if mime is None or not mime.hasUrls():
        return []
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]


class FileDropMixin:
    """Accepts drags of local files and emits them with ``filesDropped``; ignores any other drag.

    Put it before the Qt base class. The widget declares ``filesDropped = Signal(list)`` and calls
    ``setAcceptDrops(True)``; ``drop_highlight`` names the widget whose ``hover`` property the style
    sheet lights up while files hover (the widget itself unless overridden).
    """

    filesDropped: Any  # the concrete widget's Signal(list)

    def drop_highlight(self) -> QWidget:
        """The widget that shows the hover state."""
        assert isinstance(self, QWidget)
        return self

    def _set_hover(self, on: bool) -> None:
        target = self.drop_highlight()
        target.setProperty("hover", on)
        target.style().unpolish(target)
        target.style().polish(target)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt API
        if local_files(event):
            event.acceptProposedAction()
            self._set_hover(True)
        else:
            event.ignore()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:  # noqa: N802 - Qt API
        self._set_hover(False)
        super().dragLeaveEvent(event)  # type: ignore[misc]

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt API
        self._set_hover(False)
        files = local_files(event)
        if not files:
            event.ignore()
            return
        event.acceptProposedAction()
        self.filesDropped.emit(files)
