"""The mode registry: every mode of the window (Generate, Encode, Interpolate…) as one entry.

The window builds its views, the mode rail, the View menu's entries and shortcuts, the Export menu,
Ctrl+Enter / Esc / Ctrl+S and the help table from this list; nothing else numbers the modes. To add
a mode, write one package (``ui/<name>/`` with a view and a controller) and one
:func:`register_mode` line at the bottom of this file.

A view factory runs when the window is laid out (Qt only: no torch import); a controller factory
runs when the window attaches its services (it may import torch). The window keeps them as
``window.<name>_view`` and ``window.<name>``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from PySide6.QtWidgets import QWidget

    from ddim_studio.ui.main_window import MainWindow


class ModeController(Protocol):
    """What the window asks of a mode's controller."""

    def run(self) -> None:
        """Ctrl+Enter: start the mode's main action with the current controls."""

    def cancel(self) -> bool:
        """Esc: stop the mode's running job; True if one was running."""

    def save(self) -> None:
        """Ctrl+S: keep the current result in the gallery."""

    def export_dialog(self, kind: str) -> None:
        """File ▸ Export: ask where, then export the result as ``kind`` (one of the spec's exports)."""


@dataclass(frozen=True)
class ModeSpec:
    """One mode of the window.

    Attributes:
        name: identifier (window attributes ``<name>_view`` and ``<name>``; the saved current mode).
        label: the rail's and View menu's text.
        icon: icon name in ``resources/icons``.
        tooltip: the rail button's tooltip.
        shortcut: the key sequence that switches to it, e.g. ``Ctrl+1``.
        run_label: what Ctrl+Enter does there (for the shortcut table), e.g. ``Generate``.
        view: builds the mode's view (Qt only).
        controller: builds its controller for the attached window.
        exports: ``(kind, menu text)`` pairs of the mode's File ▸ Export menu; empty for none.
        export_menu: that menu's title (default ``Export <label>``).
    """

    name: str
    label: str
    icon: str
    tooltip: str
    shortcut: str
    run_label: str
    view: Callable[[], QWidget]
    controller: Callable[[MainWindow, QWidget], ModeController]
    exports: tuple[tuple[str, str], ...] = ()
    export_menu: str = ""


_MODES: list[ModeSpec] = []


def register_mode(spec: ModeSpec) -> ModeSpec:
    """Append ``spec`` (or replace the mode of the same name in place); returns it."""
    for i, existing in enumerate(_MODES):
        if existing.name == spec.name:
            _MODES[i] = spec
            return spec
    _MODES.append(spec)
    return spec


def unregister_mode(name: str) -> None:
    """Remove a mode (tests register throwaway ones); unknown names are ignored."""
    _MODES[:] = [m for m in _MODES if m.name != name]


def modes() -> list[ModeSpec]:
    """The registered modes, in rail order."""
    return list(_MODES)


def mode_names() -> list[str]:
    """The registered mode names, in rail order."""
    return [m.name for m in _MODES]


# ---- built-in modes: a view factory, a controller factory and one registration each ----------------
def _generate_view() -> QWidget:
    from ddim_studio.ui.generate.generate_view import GenerateView

    return GenerateView()


def _generate_controller(window: MainWindow, view: QWidget) -> ModeController:
    from ddim_studio.ui.generate.generate_controller import GenerateController

    return GenerateController(view, window.services, window)  # type: ignore[arg-type]


def _encode_view() -> QWidget:
    from ddim_studio.ui.encode.encode_view import EncodeView

    return EncodeView()


def _encode_controller(window: MainWindow, view: QWidget) -> ModeController:
    from ddim_studio.ui.encode.encode_controller import EncodeController

    selection = window.gallery.selected
    return EncodeController(view, window.services, gallery_selection=selection, parent=window)  # type: ignore[arg-type]


def _interpolate_view() -> QWidget:
    from ddim_studio.ui.interpolate.interpolate_view import InterpolateView

    return InterpolateView()


def _interpolate_controller(window: MainWindow, view: QWidget) -> ModeController:
    from ddim_studio.ui.interpolate.interpolate_controller import InterpolateController

    return InterpolateController(
        view, window.services, gallery_selection=window.gallery.selected, parent=window
    )  # type: ignore[arg-type]


def _edit_view() -> QWidget:
    from ddim_studio.ui.edit.edit_view import EditView

    return EditView()


def _edit_controller(window: MainWindow, view: QWidget) -> ModeController:
    from ddim_studio.ui.edit.edit_controller import EditController, generate_result

    controller = EditController(
        view,  # type: ignore[arg-type]
        window.services,
        gallery_selection=window.gallery.selected,
        generate_result=lambda: generate_result(window.mode_controllers.get("generate")),
        parent=window,
    )
    window.gallery.editItem.connect(lambda item: (window.set_mode("edit"), controller.load_item(item)))
    window.gallery.reuseEdit.connect(
        lambda item, params: (window.set_mode("edit"), controller.restore(item, params))
    )
    generate_view = window.mode_views.get("generate")
    if generate_view is not None and hasattr(generate_view, "editRequested"):
        generate_view.editRequested.connect(
            lambda: controller.from_generate() and window.set_mode("edit")  # type: ignore[func-returns-value]
        )
    return controller


register_mode(
    ModeSpec(
        name="generate",
        label="Generate",
        icon="generate",
        tooltip="Sample new images from seeds (Ctrl+1)",
        shortcut="Ctrl+1",
        run_label="Generate",
        view=_generate_view,
        controller=_generate_controller,
    )
)
register_mode(
    ModeSpec(
        name="encode",
        label="Encode",
        icon="encode",
        tooltip="Invert an image to its latent x_T and back (Ctrl+2)",
        shortcut="Ctrl+2",
        run_label="Encode",
        view=_encode_view,
        controller=_encode_controller,
    )
)
register_mode(
    ModeSpec(
        name="interpolate",
        label="Interpolate",
        icon="interpolate",
        tooltip="Morph between two latents (Ctrl+3)",
        shortcut="Ctrl+3",
        run_label="Run",
        view=_interpolate_view,
        controller=_interpolate_controller,
        exports=(("gif", "Animated GIF…"), ("strip", "PNG Strip…"), ("frames", "Individual Frames…")),
        export_menu="Export Interpolation",
    )
)
register_mode(
    ModeSpec(
        name="edit",
        label="Edit",
        icon="edit",
        tooltip="Paint on a picture or mask a region and let the model re-imagine it (Ctrl+4)",
        shortcut="Ctrl+4",
        run_label="Edit",
        view=_edit_view,
        controller=_edit_controller,
    )
)
