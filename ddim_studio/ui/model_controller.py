"""Which model the studio uses: loads it in the worker, remembers it, and describes it for the status bar."""

from __future__ import annotations

import os
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal

from ddim_studio.core.models.protocol import ModelInfo
from ddim_studio.ui.notify import Notifier
from ddim_studio.ui.settings import BACKENDS, DEVICES, DTYPES, PRECISIONS, AppSettings
from ddim_studio.workers.jobs import LoadModelJob, LoadModelResult
from ddim_studio.workers.runner import JobRunner

MODEL_ENV = "DDIM_STUDIO_MODEL"
DEFAULT_T = 1000


def choice(value: object, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices`` (a hand-edited settings file may hold anything), else auto."""
    return str(value) if str(value) in choices else "auto"


def startup_source(explicit: str | None, settings: AppSettings) -> str | None:
    """The model to open at startup: ``explicit``, else ``$DDIM_STUDIO_MODEL``, else the last one opened.

    None means the shipped default model.
    """
    for candidate in (explicit, os.environ.get(MODEL_ENV, "").strip(), settings.get("model/last")):
        if candidate:
            return candidate
    return None


LOAD_FAILED = "The model could not be loaded"


class ModelController(QObject):
    """Loads models through the runner and keeps what the window shows about the current one.

    Signals:
        loading(str): a load started (the source as text).
        ready(object): a model is loaded (its ModelInfo).
        failed(str): a load failed (the message).
    """

    loading = Signal(str)
    ready = Signal(object)
    failed = Signal(str)

    def __init__(
        self, runner: JobRunner, settings: AppSettings, notifier: Notifier, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.runner = runner
        self.settings = settings
        self.notifier = notifier
        self.info: ModelInfo | None = None
        self.source: str | None = None
        self.fallback = False  # the current load is the default model opened after a failed one
        self._pending: dict[int, tuple[str | None, bool, bool]] = {}
        self._queued: Callable[[], None] | None = None  # a run asked for before the model was ready
        runner.finished.connect(self._on_finished)
        runner.failed.connect(self._on_failed)
        runner.cancelled.connect(lambda job_id: self._pending.pop(job_id, None))

    # ---- what is loaded -----------------------------------------------------------------------
    @property
    def is_loaded(self) -> bool:
        """Whether a model is ready."""
        return self.info is not None

    @property
    def is_loading(self) -> bool:
        """Whether a load job has not ended."""
        return bool(self._pending)

    def load_job_ids(self) -> list[int]:
        """Ids of the load jobs that have not ended."""
        return list(self._pending)

    def size(self) -> tuple[int, int]:
        """(H, W) of the model's images (32×32 before one is loaded; a latent model's decoded size)."""
        if self.info is None:
            return 32, 32
        _c, height, width = self.info.picture_shape or self.info.sample_shape
        return int(height), int(width)

    def num_train_timesteps(self) -> int:
        """T of the model (1000 when the model does not say)."""
        value = getattr(self.info, "num_train_timesteps", None) if self.info is not None else None
        return int(value) if isinstance(value, int) and value > 0 else DEFAULT_T

    def steps_offset(self) -> int:
        """diffusers' ``steps_offset`` of the model's scheduler (0 when none is loaded)."""
        return int(getattr(self.info, "steps_offset", 0) or 0) if self.info is not None else 0

    def device_name(self) -> str:
        """Where the model runs, e.g. ``cpu`` or ``cuda``."""
        return self.runner.device.type

    def dtype_name(self) -> str:
        """The weights' dtype, e.g. ``float32``."""
        return str(self.runner.dtype).removeprefix("torch.")

    def status_text(self) -> str:
        """``name · 32×32 · cpu · float32``, or what is happening instead."""
        if self.is_loading:
            return "loading model…"
        if self.info is None:
            return "no model — File ▸ Open Model Folder…"
        height, width = self.size()
        compute = " · OpenVINO" if self.info.backend == "openvino" else ""
        where = f"{self.device_name()}{compute}"
        arithmetic = self.dtype_name()
        if self.info.precision == "fast":  # the arithmetic the calls use, not the weights' dtype
            arithmetic = "bf16 (fast)" if self.device_name() == "cpu" else "fp16 (fast)"
        return f"{self.info.name} · {height}×{width} · {where} · {arithmetic}"

    def run_when_ready(self, run: Callable[[], None], what: str) -> None:
        """Call ``run`` once the model is loaded (at once if it is), saying so; one run waits at most."""
        if self.is_loaded and not self.is_loading:
            run()
            return
        self._queued = run
        self.notifier.info(f"{what} will run when the model is loaded.")

    # ---- loading ------------------------------------------------------------------------------
    def load(self, source: str | None = None, *, remember: bool = True, fallback: bool = False) -> int:
        """Load ``source`` (None: the shipped default) on the configured device and precision.

        Args:
            remember: add it to the recent models and reopen it next time.
            fallback: if it fails, open the shipped default instead.

        Returns:
            The load job's id.
        """
        device = self.settings.get("model/device")
        dtype = self.settings.get("model/dtype")
        job = LoadModelJob(
            source=source,
            device=device if device in DEVICES else "auto",
            dtype=dtype if dtype in DTYPES else "float32",
            backend=choice(self.settings.get("compute/backend"), BACKENDS),
            precision=choice(self.settings.get("compute/precision"), PRECISIONS),
        )
        job_id = self.runner.replace(job, group="model")
        self._pending = {job_id: (source, fallback, remember)}
        self.fallback = False
        self.source = source
        self.loading.emit(source or "default model")
        return job_id

    def reload(self) -> int:
        """Load the current model again (after a device or precision change)."""
        return self.load(self.source, remember=False)

    def _on_finished(self, job_id: int, result: object) -> None:
        if job_id not in self._pending or not isinstance(result, LoadModelResult):
            return
        source, _fallback, remember = self._pending.pop(job_id)
        self.info = result.info
        if remember:
            self.settings.set("model/last", source or "")
            if source:
                self.settings.add_recent_model(source)  # only a model that opened
        self.ready.emit(result.info)
        queued, self._queued = self._queued, None
        if queued is not None:
            QTimer.singleShot(0, queued)

    def _on_failed(self, job_id: int, message: str, kind: str) -> None:
        if job_id not in self._pending:
            return
        source, fallback, _remember = self._pending.pop(job_id)
        self.notifier.error(f"{LOAD_FAILED}: {message}")
        if not (fallback and source is not None) and self._queued is not None:
            self._queued = None
            self.notifier.info("The run that was waiting for the model was dropped.")
        if fallback and source is not None:
            self.notifier.info("Opening the default model instead.")
            self.load(None, remember=False)
            self.fallback = True  # the error stays in view: this load did not open what was asked
            return
        self.failed.emit(message)
