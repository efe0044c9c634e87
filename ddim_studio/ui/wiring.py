"""Connecting the window's views to the engine: services, controllers and cross-mode routes.

Everything here imports torch (through the workers and the core), so the main window imports this
module only after it is drawn (:meth:`MainWindow.attach`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from ddim_studio.ui.context import Services
from ddim_studio.ui.gallery.gallery_controller import GalleryController
from ddim_studio.ui.gallery.library import Library
from ddim_studio.ui.model_controller import LOAD_FAILED, ModelController, startup_source
from ddim_studio.ui.notify import Notifier
from ddim_studio.ui.settings import AppSettings
from ddim_studio.ui.widgets.controls import ProgressRow
from ddim_studio.workers.async_api import AsyncRunner
from ddim_studio.workers.runner import JobRunner

if TYPE_CHECKING:
    from ddim_studio.ui.main_window import MainWindow


def make_services(settings: AppSettings, parent: QObject, runner: JobRunner | None = None) -> Services:
    """Create the runner, its async façade, the library and the model controller."""
    notifier = Notifier(parent)
    runner = runner or JobRunner(parent, preview_fps=float(settings.get("preview_fps")))
    library = Library(settings.output_dir(), notifier, parent)
    model = ModelController(runner, settings, notifier, parent)
    return Services(
        runner=runner,
        jobs=AsyncRunner(runner),
        settings=settings,
        notifier=notifier,
        library=library,
        model=model,
    )


def attach(window: MainWindow, runner: JobRunner | None, model_source: str | None) -> None:
    """Give ``window`` its services and controllers, and connect everything."""
    s = window.services = make_services(window.settings, window, runner)
    window.model_source = startup_source(model_source, window.settings)
    window.gallery = GalleryController(window.gallery_view, s.library, s.settings, s.notifier, window)
    for spec in window.mode_specs:  # the mode registry: one controller per mode
        controller = spec.controller(window, window.mode_views[spec.name])
        window.mode_controllers[spec.name] = controller
        setattr(window, spec.name, controller)
    route(window)
    from ddim_studio.ui import model_advice  # cost estimates, big-model defaults, clip_sample banner

    model_advice.attach(window)


def route(w: MainWindow) -> None:
    """Requests that cross modes, and what the window shows about the engine."""
    s = w.services
    w.gallery.reuseParams.connect(
        lambda params: (w.generate.apply_params(params), w.reuse_compute(params), w.set_mode("generate"))
    )
    w.gallery.reuseSeed.connect(lambda seed: (w.generate.apply_seed(seed), w.set_mode("generate")))
    w.gallery.encodeItem.connect(lambda item: (w.set_mode("encode"), w.encode.load_item(item)))
    w.gallery.interpolateItem.connect(
        lambda item, slot: (w.set_mode("interpolate"), w.interpolate.fill_from_item(item, slot))
    )
    w.encode.sendToInterpolate.connect(
        lambda content, slot: (w.interpolate.set_slot(slot, content), w.set_mode("interpolate"))
    )
    s.notifier.message.connect(w.show_message)
    s.model.loading.connect(lambda _src: w.update_model_label())
    s.model.ready.connect(lambda _info: w.update_model_label())
    s.model.failed.connect(lambda _msg: w.update_model_label())
    rows = [getattr(v, "progress", None) for v in w.mode_views.values()]
    rows = [row for row in rows if isinstance(row, ProgressRow)]
    s.model.loading.connect(lambda _src: [row.model_loading(True) for row in rows])  # not "Ready" yet
    s.model.ready.connect(lambda _info: clear_load_error(w))
    for signal in (s.model.ready, s.model.failed):
        signal.connect(lambda *_: [row.model_loading(s.model.is_loading) for row in rows])
    s.runner.busy_changed.connect(lambda busy: w.busy_label.setText("● working" if busy else ""))
    s.settings.changed.connect(w.setting_changed)


def clear_load_error(w: MainWindow) -> None:
    """A model opened as asked: an earlier "could not be loaded" banner is out of date."""
    if not w.services.model.fallback and w.banner.message().startswith(LOAD_FAILED):
        w.banner.dismiss()
