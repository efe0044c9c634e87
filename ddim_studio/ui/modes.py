"""The mode registry: every mode of the window (Generate, Encode, Interpolate…) as one entry.

The window builds its views, the mode rail, the View menu's entries and shortcuts, the Export menu,
Ctrl+Enter / Esc / Ctrl+S, the help table, the cost estimate next to each Run button, the defaults
for a large model and the requests that cross modes from this list; nothing else names the modes.
To add a mode, write one package (``ui/<name>/`` with a view and a controller) and one
:func:`register_mode` line at the bottom of this file (the built-in ones are in
:mod:`ddim_studio.ui.builtin_modes`, imported at the end).

A view factory runs when the window is laid out (Qt only: no torch import); a controller factory
runs when the window attaches its services (it may import torch). The window keeps them as
``window.<name>_view`` and ``window.<name>``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from PySide6.QtWidgets import QWidget

    from ddim_studio.ui.main_window import MainWindow


#: What a Run would cost: (model calls, pictures per call) of each part of it; the window times each
#: part with the model's measured pace for that batch size (``operations.cost.CostModel``).
Plan = list[tuple[int, int]]


def chunked(count: int, chunk: int, calls_per_chunk: int) -> Plan:
    """``count`` pictures in chunks of at most ``chunk`` (full ones, the rest), ``calls_per_chunk`` each."""
    full, rest = divmod(max(0, int(count)), max(1, int(chunk)))
    parts = [(full * calls_per_chunk, chunk)] if full else []
    return parts + ([(calls_per_chunk, rest)] if rest else [])


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
        run_signal: the view's signal that asks for a run (a press before the window is attached
            is queued until the model is loaded); empty for none.
        run_button: the view's Run button attribute; the cost estimate is shown under it.
        plan: ``plan(controller) -> Plan | None``: the parts (model calls, pictures per call) that
            a Run would make now, from the mode's own controller (None: unknown, no estimate shown).
        job_kind: the kind of job its Run starts (``workers/jobs.py``); estimates are refined by
            runs of the same kind only. Defaults to the mode's name.
        routes: ``routes(window, controller)``: connects the requests that reach this mode from
            elsewhere (gallery ▸ Reuse…, another mode's "Send to…"); other modes may be absent.
        suggest: ``suggest(controller, steps, batch)``: apply the defaults suggested for a large
            model (steps S, pictures per batch at most).
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
    run_signal: str = ""
    run_button: str = ""
    plan: Callable[[Any], Plan | None] | None = None
    job_kind: str = ""
    routes: Callable[[MainWindow, Any], None] | None = None
    suggest: Callable[[Any, int, int], None] | None = None


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


# The built-in modes register themselves (Generate, Encode, Interpolate, Edit, in rail order).
from ddim_studio.ui import builtin_modes  # noqa: E402, F401
