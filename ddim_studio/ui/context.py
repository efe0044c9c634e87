"""The few shared objects a mode's controller is given (never the main window)."""

from __future__ import annotations

from dataclasses import dataclass

from ddim_studio.ui.gallery.library import Library
from ddim_studio.ui.model_controller import ModelController
from ddim_studio.ui.notify import Notifier
from ddim_studio.ui.settings import AppSettings
from ddim_studio.workers.async_api import AsyncRunner
from ddim_studio.workers.loader import Loader
from ddim_studio.workers.runner import JobRunner


@dataclass
class Services:
    """What controllers share.

    Attributes:
        runner: the job runner (owns the model and the worker thread).
        jobs: the asyncio façade over ``runner``.
        settings: persistent settings.
        notifier: where messages for the person go.
        library: the output folder behind the gallery.
        model: the current model and its loading.
        loader: the small thread that decodes pictures off the GUI thread (newest per key wins).
    """

    runner: JobRunner
    jobs: AsyncRunner
    settings: AppSettings
    notifier: Notifier
    library: Library
    model: ModelController
    loader: Loader
