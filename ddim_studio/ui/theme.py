"""Themes: the style sheets and palettes of the dark and light looks, and themed SVG icons.

Icons in ``resources/icons`` are drawn with ``stroke="currentColor"``; :func:`icon` replaces that
colour with the current theme's icon colour and renders the SVG at several sizes, so one set of
files serves both themes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from PySide6.QtCore import QByteArray, QObject, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication

from ddim_studio.core.resources import resources_dir

RESOURCES = resources_dir()
ICON_DIR = RESOURCES / "icons"
STYLE_DIR = RESOURCES / "style"
THEMES = ("dark", "light")
DEFAULT_THEME = "dark"
_ICON_SIZES = (16, 20, 24, 32, 48)


@dataclass(frozen=True)
class Colors:
    """The few colours code needs besides the style sheet (palette, icons, painted widgets)."""

    window: str
    base: str
    alt_base: str
    text: str
    muted: str
    accent: str
    accent_text: str
    icon: str
    icon_active: str
    surface: str
    border: str
    danger: str


COLORS = {
    "dark": Colors(
        window="#17181c",
        base="#2a2d34",
        alt_base="#202228",
        text="#e4e6eb",
        muted="#9aa1ad",
        accent="#7aa2f7",
        accent_text="#0f1115",
        icon="#c9ced8",
        icon_active="#7aa2f7",
        surface="#101114",
        border="#2a2d34",
        danger="#f7768e",
    ),
    "light": Colors(
        window="#eceef2",
        base="#ffffff",
        alt_base="#f5f6f8",
        text="#1d2230",
        muted="#5b6473",
        accent="#3d6ee0",
        accent_text="#ffffff",
        icon="#3b4252",
        icon_active="#3d6ee0",
        surface="#e6e8ec",
        border="#dadde3",
        danger="#c93b54",
    ),
}

_current = DEFAULT_THEME


def current_theme() -> str:
    """The name of the theme in use (``dark`` or ``light``)."""
    return _current


def colors(theme: str | None = None) -> Colors:
    """The colours of ``theme`` (default: the current one)."""
    return COLORS.get(theme or _current, COLORS[DEFAULT_THEME])


def style_sheet(theme: str) -> str:
    """The Qt style sheet text of ``theme``."""
    name = theme if theme in THEMES else DEFAULT_THEME
    return (STYLE_DIR / f"{name}.qss").read_text(encoding="utf-8")


def palette(theme: str) -> QPalette:
    """A Fusion palette matching ``theme`` (for everything the style sheet leaves to the style)."""
    c = colors(theme)
    pal = QPalette()
    roles = {
        QPalette.ColorRole.Window: c.window,
        QPalette.ColorRole.WindowText: c.text,
        QPalette.ColorRole.Base: c.base,
        QPalette.ColorRole.AlternateBase: c.alt_base,
        QPalette.ColorRole.Text: c.text,
        QPalette.ColorRole.Button: c.base,
        QPalette.ColorRole.ButtonText: c.text,
        QPalette.ColorRole.ToolTipBase: c.base,
        QPalette.ColorRole.ToolTipText: c.text,
        QPalette.ColorRole.Highlight: c.accent,
        QPalette.ColorRole.HighlightedText: c.accent_text,
        QPalette.ColorRole.PlaceholderText: c.muted,
        QPalette.ColorRole.Link: c.accent,
    }
    for role, value in roles.items():
        pal.setColor(role, QColor(value))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText, QPalette.ColorRole.ButtonText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor(c.muted))
    return pal


def apply_theme(app: QApplication, theme: str) -> str:
    """Apply ``theme`` (unknown names fall back to dark) to the whole application; returns its name."""
    global _current
    name = theme if theme in THEMES else DEFAULT_THEME
    _current = name
    app.setStyle("Fusion")
    app.setPalette(palette(name))
    app.setStyleSheet(style_sheet(name))
    return name


@lru_cache(maxsize=256)
def _svg_bytes(name: str, color: str) -> bytes:
    path = ICON_DIR / f"{name}.svg"
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    return text.replace("currentColor", color).encode("utf-8")


def svg_pixmap(name: str, size: int, color: str | None = None) -> QPixmap:
    """The icon ``name`` rendered at ``size`` × ``size`` px in ``color`` (default: theme icon colour)."""
    data = _svg_bytes(name, color or colors().icon)
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    renderer = QSvgRenderer(QByteArray(data))
    if renderer.isValid():
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter, QRectF(0, 0, size, size))
        painter.end()
    return pixmap


def icon(name: str, *, active: bool = False, on_accent: bool = False) -> QIcon:
    """A themed icon; ``active`` draws the checked state in the accent colour, ``on_accent`` draws it
    for an accent-coloured (primary) button."""
    c = colors()
    normal = c.accent_text if on_accent else c.icon
    result = QIcon()
    for size in _ICON_SIZES:
        result.addPixmap(svg_pixmap(name, size, normal), QIcon.Mode.Normal, QIcon.State.Off)
        result.addPixmap(svg_pixmap(name, size, c.muted), QIcon.Mode.Disabled, QIcon.State.Off)
        on = c.icon_active if active else normal
        result.addPixmap(svg_pixmap(name, size, on), QIcon.Mode.Normal, QIcon.State.On)
    return result


def app_icon() -> QIcon:
    """The application icon (drawn in its own colours)."""
    path = ICON_DIR / "app.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()


def apply_icon(target: QObject, name: str, *, active: bool = False, on_accent: bool = False) -> None:
    """Give a button or action the themed icon ``name`` and remember it for :func:`refresh_icons`."""
    target.setProperty("iconName", name)
    target.setProperty("iconActive", active)
    target.setProperty("iconOnAccent", on_accent)
    target.setIcon(icon(name, active=active, on_accent=on_accent))  # type: ignore[attr-defined]


def refresh_icons(root: QObject) -> None:
    """Re-render the icons of every button and action under ``root`` in the current theme's colours."""
    for obj in [root, *root.findChildren(QObject)]:
        name = obj.property("iconName")
        if name and hasattr(obj, "setIcon"):
            obj.setIcon(
                icon(
                    str(name),
                    active=bool(obj.property("iconActive")),
                    on_accent=bool(obj.property("iconOnAccent")),
                )
            )
