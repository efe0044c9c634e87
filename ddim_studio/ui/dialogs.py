"""Every modal question the studio asks, in one module (so tests can answer them).

Controllers call these functions instead of ``QMessageBox``/``QFileDialog`` directly; a test
replaces them with ``monkeypatch.setattr(dialogs, "ask", ...)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox, QPushButton, QWidget

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.bmp *.gif *.tif *.tiff);;All files (*)"
LATENT_FILTER = "Latents (*.safetensors);;All files (*)"
#: Encode's "Open an image or latent": the first (default) filter shows both kinds.
IMAGE_OR_LATENT_FILTER = (
    "Images and latents (*.png *.jpg *.jpeg *.webp *.bmp *.gif *.tif *.tiff *.safetensors);;"
    + IMAGE_FILTER.replace(";;All", ";;Latents (*.safetensors);;All")
)
CHECKPOINT_FILTER = "Checkpoints (*.safetensors *.ckpt *.pth *.pt *.bin);;All files (*)"


def ask(
    parent: QWidget | None,
    title: str,
    text: str,
    choices: Sequence[tuple[str, str]],
    *,
    default: str | None = None,
    informative: str = "",
) -> str | None:
    """Ask a question with several answers; returns the key of the chosen answer, None for cancel.

    Args:
        choices: ``(key, button label)`` pairs; a ``"cancel"`` key gets the reject role.
    """
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle(title)
    box.setText(text)
    if informative:
        box.setInformativeText(informative)
    buttons: dict[QPushButton, str] = {}
    for key, label in choices:
        role = QMessageBox.ButtonRole.RejectRole if key == "cancel" else QMessageBox.ButtonRole.AcceptRole
        button = box.addButton(label, role)
        buttons[button] = key
        if key == default:
            box.setDefaultButton(button)
    box.exec()
    key = buttons.get(box.clickedButton())  # type: ignore[arg-type]
    return None if key in (None, "cancel") else key


def confirm(parent: QWidget | None, title: str, text: str, *, ok: str = "OK") -> bool:
    """A yes/cancel question; True when confirmed."""
    return ask(parent, title, text, [(("ok"), ok), ("cancel", "Cancel")], default="ok") == "ok"


def open_file(parent: QWidget | None, title: str, file_filter: str, start: str = "") -> Path | None:
    """A file chosen to open, or None."""
    path, _ = QFileDialog.getOpenFileName(parent, title, start, file_filter)
    return Path(path) if path else None


def save_file(parent: QWidget | None, title: str, file_filter: str, start: str = "") -> Path | None:
    """A file name chosen to save to, or None."""
    path, _ = QFileDialog.getSaveFileName(parent, title, start, file_filter)
    return Path(path) if path else None


def choose_folder(parent: QWidget | None, title: str, start: str = "") -> Path | None:
    """A folder, or None."""
    path = QFileDialog.getExistingDirectory(parent, title, start)
    return Path(path) if path else None


def text_dialog(
    parent: QWidget | None, title: str, label: str, text: str = "", *, chars: int = 0
) -> QInputDialog:
    """A dialog asking for one line of text, wide enough for ``chars`` characters."""
    dialog = QInputDialog(parent)
    dialog.setInputMode(QInputDialog.InputMode.TextInput)
    dialog.setWindowTitle(title)
    dialog.setLabelText(label)
    dialog.setTextValue(text)
    if chars:
        dialog.setMinimumWidth(dialog.fontMetrics().horizontalAdvance("m" * chars) + 40)
    return dialog


def text_input(
    parent: QWidget | None, title: str, label: str, text: str = "", *, chars: int = 0
) -> str | None:
    """A line of text (the field fits ``chars`` characters), or None."""
    dialog = text_dialog(parent, title, label, text, chars=chars)
    ok = dialog.exec() == QInputDialog.DialogCode.Accepted
    value = dialog.textValue().strip()
    return value if ok and value else None
