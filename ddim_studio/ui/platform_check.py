"""Before the window opens on Linux: are the X11 (xcb) libraries Qt's xcb plugin needs installed?

Without them Qt prints "Could not load the Qt platform plugin xcb" and aborts the process with a
core dump. :func:`missing_xcb_libraries` tries to load each library the plugin links against
(``ctypes.CDLL`` of the exact soname, so ``LD_LIBRARY_PATH`` counts); :func:`install_hint` turns
the missing ones into the apt and dnf packages to install. Nothing here imports Qt.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Mapping
from typing import NamedTuple

__all__ = ["XCB_LIBRARIES", "XcbLibrary", "check_window_platform", "install_hint", "missing_xcb_libraries"]


class XcbLibrary(NamedTuple):
    """One library of Qt's xcb plugin and the packages that ship it."""

    soname: str
    apt: str  # Debian, Ubuntu
    dnf: str  # Fedora, RHEL


#: What ``libqxcb.so`` / ``libQt6XcbQpa.so.6`` of PySide6 6.x link against (``ldd``), beyond libc and Qt.
XCB_LIBRARIES: tuple[XcbLibrary, ...] = (
    XcbLibrary("libxcb-cursor.so.0", "libxcb-cursor0", "xcb-util-cursor"),
    XcbLibrary("libxcb-icccm.so.4", "libxcb-icccm4", "xcb-util-wm"),
    XcbLibrary("libxcb-keysyms.so.1", "libxcb-keysyms1", "xcb-util-keysyms"),
    XcbLibrary("libxcb-image.so.0", "libxcb-image0", "xcb-util-image"),
    XcbLibrary("libxcb-render-util.so.0", "libxcb-render-util0", "xcb-util-renderutil"),
    XcbLibrary("libxcb-util.so.1", "libxcb-util1", "xcb-util"),
    XcbLibrary("libxkbcommon-x11.so.0", "libxkbcommon-x11-0", "libxkbcommon-x11"),
    XcbLibrary("libxcb-xkb.so.1", "libxcb-xkb1", "libxcb"),
    XcbLibrary("libxcb-randr.so.0", "libxcb-randr0", "libxcb"),
    XcbLibrary("libxcb-shape.so.0", "libxcb-shape0", "libxcb"),
    XcbLibrary("libxcb-xfixes.so.0", "libxcb-xfixes0", "libxcb"),
    XcbLibrary("libxcb-sync.so.1", "libxcb-sync1", "libxcb"),
    XcbLibrary("libxcb-shm.so.0", "libxcb-shm0", "libxcb"),
    XcbLibrary("libX11-xcb.so.1", "libx11-xcb1", "libX11-xcb"),
)


def _loadable(soname: str) -> bool:
    """Whether the dynamic loader finds and loads ``soname``."""
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def missing_xcb_libraries(loadable: Callable[[str], bool] | None = None) -> list[XcbLibrary]:
    """The xcb plugin's libraries that cannot be loaded (``loadable`` defaults to ``ctypes.CDLL``)."""
    check = loadable or _loadable
    return [lib for lib in XCB_LIBRARIES if not check(lib.soname)]


def uses_xcb(environ: Mapping[str, str] | None = None, platform: str | None = None) -> bool:
    """Whether Qt will try its xcb plugin: on Linux with ``QT_QPA_PLATFORM`` unset or ``xcb``.

    A Wayland session with ``QT_QPA_PLATFORM`` unset opens the window through Wayland, so it
    does not need the xcb libraries.
    """
    env = os.environ if environ is None else environ
    if not (platform or sys.platform).startswith("linux"):
        return False
    requested = env.get("QT_QPA_PLATFORM", "").strip().lower()
    if requested:
        return requested.split(":")[0].split(";")[0] == "xcb"
    return not (env.get("WAYLAND_DISPLAY") and env.get("XDG_SESSION_TYPE", "").lower() == "wayland")


def _unique(names: list[str]) -> str:
    return " ".join(dict.fromkeys(names))


def install_hint(missing: list[XcbLibrary]) -> str:
    """What to tell a user whose system lacks ``missing``: the libraries and the install commands."""
    return (
        "DDIM Studio cannot open its window: the X11 libraries Qt needs are not installed "
        f"({', '.join(lib.soname for lib in missing)}).\n"
        "Install them, then start it again:\n"
        f"  Debian/Ubuntu:  sudo apt install {_unique([lib.apt for lib in missing])}\n"
        f"  Fedora/RHEL:    sudo dnf install {_unique([lib.dnf for lib in missing])}\n"
        "The command line (ddim-studio sample …) works without them."
    )


def check_window_platform(
    environ: Mapping[str, str] | None = None, loadable: Callable[[str], bool] | None = None
) -> str | None:
    """None when the window can open; else the message to print before exiting (see :func:`install_hint`)."""
    if not uses_xcb(environ):
        return None
    missing = missing_xcb_libraries(loadable)
    return install_hint(missing) if missing else None
