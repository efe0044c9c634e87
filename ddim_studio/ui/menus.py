"""The menu bar: File, Model, View, Help. Actions call back into the main window's handlers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMenu

from ddim_studio.ui import theme
from ddim_studio.ui.settings import DTYPES

if TYPE_CHECKING:
    from ddim_studio.ui.main_window import MainWindow
    from ddim_studio.ui.modes import ModeSpec


def shortcut_rows(specs: list[ModeSpec]) -> list[tuple[str, str]]:
    """(keys, what they do) for Help ▸ Keyboard Shortcuts, with the modes of ``specs``."""
    return [
        ("Ctrl+Enter", " / ".join(m.run_label for m in specs) + " in the current mode"),
        ("Esc", "Cancel the running job"),
        ("Ctrl+S", "Save the current result to the gallery"),
        ("Ctrl+Shift+S", "Save the selected gallery picture as…"),
        ("Ctrl+O", "Open an image in Encode"),
        *[(m.shortcut, f"Switch to {m.label}") for m in specs],
        ("Ctrl+G", "Show or hide the gallery"),
        ("Arrow keys", "Move through the gallery"),
        ("Delete", "Move the selected gallery picture to the trash"),
        ("Ctrl+Z", "Undo: Edit's last stroke, or put the last deleted gallery picture back"),
        ("Ctrl+Shift+Z", "Redo Edit's last undone stroke"),
        ("B / E / M / K / I", "Edit's tools: brush, eraser, mask, unmask, eyedropper (canvas focused)"),
        ("Ctrl+,", "Settings"),
        ("F1", "This list of keyboard shortcuts"),
        ("Ctrl+Q", "Quit"),
    ]


@dataclass
class Menus:
    """The actions other code needs to reach."""

    recent: QMenu
    device_group: QActionGroup
    dtype_group: QActionGroup
    theme_group: QActionGroup
    modes: list[QAction] = field(default_factory=list)
    save: QAction | None = None


def _action(
    menu: QMenu,
    text: str,
    slot: object,
    shortcut: str | QKeySequence | None = None,
    icon_name: str | None = None,
    tip: str = "",
) -> QAction:
    action = menu.addAction(text)
    action.triggered.connect(slot)  # type: ignore[arg-type]
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    if icon_name:
        theme.apply_icon(action, icon_name)
    if tip:
        action.setStatusTip(tip)
    return action


def _file_menu(w: MainWindow, bar_menu: QMenu) -> tuple[QMenu, QAction]:
    _action(
        bar_menu,
        "Open Model Folder…",
        w.open_model_folder,
        None,
        "model",
        "Open a diffusers UNet2DModel folder",
    )
    _action(
        bar_menu,
        "Open Checkpoint…",
        w.open_checkpoint,
        None,
        None,
        "Open an original DDIM checkpoint (.ckpt, .pth, .safetensors)",
    )
    _action(
        bar_menu,
        "Open from Hugging Face Hub…",
        w.open_hub_model,
        None,
        None,
        "Download a diffusers model by its id, e.g. google/ddpm-cifar10-32",
    )
    recent = bar_menu.addMenu("Recent Models")
    recent.aboutToShow.connect(w.rebuild_recent_menu)
    bar_menu.addSeparator()
    _action(bar_menu, "Open Image…", w.open_image, QKeySequence.StandardKey.Open, "image")
    save = _action(bar_menu, "Save to Gallery", w.save_current, QKeySequence.StandardKey.Save, "save")
    _action(bar_menu, "Save Selected As…", w.save_selected_as, "Ctrl+Shift+S")
    for spec in w.mode_specs:
        if spec.exports:
            export = bar_menu.addMenu(spec.export_menu or f"Export {spec.label}")
            for kind, text in spec.exports:
                _action(export, text, lambda _=False, n=spec.name, k=kind: w.export_result(n, k))
    _action(bar_menu, "Open Output Folder", w.open_output_folder, None, "folder")
    bar_menu.addSeparator()
    _action(bar_menu, "Settings…", w.show_settings, "Ctrl+,", "settings")
    bar_menu.addSeparator()
    _action(bar_menu, "Quit", w.close, QKeySequence.StandardKey.Quit)
    return recent, save


DEVICE_LABELS = {
    "auto": "Automatic (CUDA, then MPS, then CPU)",
    "cpu": "CPU",
    "cuda": "CUDA GPU",
    "mps": "Apple MPS",
}


def probe_devices(group: QActionGroup) -> None:
    """Enable only the devices this machine has (asked when the menu opens: torch loads late)."""
    import torch

    mps = getattr(torch.backends, "mps", None)
    available = {"cuda": torch.cuda.is_available(), "mps": bool(mps) and mps.is_available()}
    for action in group.actions():
        action.setEnabled(available.get(action.data(), True))


def _choices(menu: QMenu, w: MainWindow, names: dict[str, str], current: str, slot: object) -> QActionGroup:
    group = QActionGroup(w)
    for name, label in names.items():
        action = _action(menu, label, lambda _=False, n=name: slot(n))  # type: ignore[operator]
        action.setCheckable(True)
        action.setChecked(name == current)
        action.setData(name)
        group.addAction(action)
    return group


def _model_menu(w: MainWindow, menu: QMenu) -> tuple[QActionGroup, QActionGroup]:
    _action(menu, "Library…", w.open_model_library, None, "model", "Known models: download, delete, open")
    _action(
        menu, "Open Model Folder…", w.open_model_folder, None, "model", "Open a diffusers UNet2DModel folder"
    )
    _action(menu, "Open Checkpoint…", w.open_checkpoint, None, None, "Open an original DDIM checkpoint")
    _action(
        menu, "Open from Hugging Face Hub…", w.open_hub_model, None, None, "Download a diffusers model by id"
    )
    menu.addSeparator()
    device_menu = menu.addMenu("Device")
    devices = _choices(device_menu, w, DEVICE_LABELS, w.settings.get("model/device"), w.set_device)
    device_menu.aboutToShow.connect(lambda: probe_devices(devices))
    precision_menu = menu.addMenu("Precision")
    dtypes = _choices(precision_menu, w, {n: n for n in DTYPES}, w.settings.get("model/dtype"), w.set_dtype)
    menu.addSeparator()
    _action(menu, "Reload Model", w.reload_model, None, "refresh")
    _action(menu, "Model Info…", w.show_model_info, None, "info")
    return devices, dtypes


def _view_menu(w: MainWindow, menu: QMenu) -> tuple[list[QAction], QActionGroup]:
    modes = [
        _action(menu, spec.label, lambda _=False, n=spec.name: w.set_mode(n), spec.shortcut, spec.icon)
        for spec in w.mode_specs
    ]
    menu.addSeparator()
    gallery = w.gallery_dock.toggleViewAction()
    gallery.setText("Gallery")
    gallery.setShortcut(QKeySequence("Ctrl+G"))
    menu.addAction(gallery)
    theme_menu = menu.addMenu("Theme")
    themes = QActionGroup(w)
    for name in theme.THEMES:
        action = _action(theme_menu, name.capitalize(), lambda _=False, n=name: w.set_theme(n))
        action.setCheckable(True)
        action.setChecked(name == w.settings.get("theme"))
        themes.addAction(action)
    return modes, themes


def build_menus(w: MainWindow) -> Menus:
    """Create the menu bar of ``w``."""
    bar = w.menuBar()
    recent, save = _file_menu(w, bar.addMenu("&File"))
    devices, dtypes = _model_menu(w, bar.addMenu("&Model"))
    modes, themes = _view_menu(w, bar.addMenu("&View"))
    help_menu = bar.addMenu("&Help")
    _action(
        help_menu, "Keyboard Shortcuts", w.show_shortcuts, QKeySequence.StandardKey.HelpContents, "keyboard"
    )
    _action(help_menu, "About DDIM Studio", w.show_about, None, "info")
    return Menus(
        recent=recent, device_group=devices, dtype_group=dtypes, theme_group=themes, modes=modes, save=save
    )
