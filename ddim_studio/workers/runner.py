"""The job runner: one worker ``QThread`` that owns the model and runs jobs while the window stays live.

Public API (call every method from the thread the runner lives in, the GUI thread)::

    runner = JobRunner(parent=None, *, preview_fps=20.0)
    job_id = runner.submit(job, *, group=None)      # FIFO queue; returns the job id at once
    job_id = runner.replace(job, *, group="default")  # cancel that group's running/queued jobs, submit
    runner.cancel(job_id) -> bool                   # queued: removed; running: stops inside the model call
    runner.cancel_all()
    runner.queued_ids() -> list[int]
    runner.set_model(model, info=None, *, device=None, dtype=None)  # hand over an in-memory model
    runner.shutdown(timeout_ms=5000) -> bool        # cancel everything and join the thread
    runner.current_model_info / device / dtype / current_job_id / is_busy  (read-only)
    runner.preview_fps (default 20; <= 0: no step events) / preview_size (128) / record_frames (True)
    runner.num_threads (0: torch's count when the runner was made, all cores by default) — torch
        threads of the worker, from the next job on
    runner.replace_debounce_ms (default 150): quiet time before the last job of a replace burst starts

Signals, all delivered on the GUI thread (queued connections from the worker), typed where Qt lets a
signal name a Python type (it carries it as ``PyObject``; a union must stay ``object``):
``started(int job_id, str kind)``, ``step(StepEvent)``, ``finished(int job_id, object result)`` with
result a ``jobs.JobResult`` (the job's result type, see :mod:`.jobs`),
``failed(int job_id, str message, str kind)`` with kind in oom/numerical/model/input/error,
``cancelled(int job_id)``, ``model_changed(ModelInfo)``, ``busy_changed(bool)``.

Guarantees:

- Every job ends with exactly one of ``finished`` / ``failed`` / ``cancelled``; ``started`` comes
  first (a job cancelled while queued gets only ``cancelled``, emitted from ``cancel``/``replace``).
- ``started`` is emitted from the event loop, never inside ``submit``, so the caller has the id first.
- Stale results: once a job is cancelled (``cancel``, ``replace``, ``cancel_all``) nothing more of
  it reaches a slot but its ``cancelled``; step events of a job that is not the current one are
  dropped. The exception is a load job whose model was already installed: it still ends ``finished``
  with ``model_changed`` so that the runner's model and ``current_model_info`` never disagree.
- ``set_model`` applies to jobs that start after it (not in queue order); the running job keeps its model.
- The runner survives every job error; an out-of-memory error also frees cached memory.
- It shuts down by itself on ``QCoreApplication.aboutToQuit``.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
import weakref
from dataclasses import dataclass, field

import torch
from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, QTimer, Signal, Slot

from ddim_studio.core.models.interrupt import interruptible
from ddim_studio.core.models.protocol import DiffusionModel, ModelInfo
from ddim_studio.workers.execution import JobContext, ModelSlot, describe_model, execute, infer_placement
from ddim_studio.workers.faults import JobCancelled, classify, release_memory
from ddim_studio.workers.jobs import Job, LoadModelResult, StepEvent, job_kind
from ddim_studio.workers.previews import PreviewSettings

__all__ = ["JobRunner", "StepEvent"]

logger = logging.getLogger("ddim_studio.workers")


@dataclass
class _Task:
    job_id: int
    job: Job
    kind: str
    group: str | None
    token: threading.Event = field(default_factory=threading.Event)
    not_before: float = 0.0  # time.monotonic() before which a debounced replacement waits


@dataclass(frozen=True)
class _Outcome:
    status: str  # "finished", "failed" or "cancelled"
    result: object = None  # a jobs.JobResult when finished
    message: str = ""
    kind: str = ""


class _Worker(QObject):
    """Lives in the runner's thread; runs one task per ``run`` call and reports its outcome."""

    step_ready = Signal(StepEvent)
    done = Signal(int, object)  # (job id, _Outcome)

    def __init__(self, slot: ModelSlot, settings: PreviewSettings) -> None:
        super().__init__()
        self._slot = slot
        self._settings = settings

    @Slot(object)
    def run(self, task: _Task) -> None:
        """Run ``task`` and emit ``done`` with its outcome (never raises)."""
        self.done.emit(task.job_id, self._execute(task))

    def _execute(self, task: _Task) -> _Outcome:
        threads = int(self._settings.num_threads) or int(self._settings.default_threads)
        if threads > 0 and torch.get_num_threads() != threads:
            torch.set_num_threads(threads)  # set where the model runs; 0 restores the runner's default
        ctx = JobContext(task.job_id, task.token, self._settings, self.step_ready.emit, self._slot)
        failure: tuple[str, str] | None = None
        try:
            with interruptible(self._slot.get()[0], task.token.is_set, error=JobCancelled):  # stops mid-call
                return _Outcome("finished", result=execute(ctx, task.job))
        except JobCancelled:
            return _Outcome("cancelled")
        except Exception as exc:  # noqa: BLE001 - the runner survives every job error
            failure = classify(exc, task.job_id, task.kind)
            if exc.__traceback__ is not None:
                traceback.clear_frames(exc.__traceback__)  # drop the frames' tensors now
        assert failure is not None
        kind, message = failure
        if kind == "oom":
            release_memory()
        return _Outcome("failed", message=message, kind=kind)


class _Lifeline:
    """Holds the thread and worker; stops them on shutdown, or if the runner is dropped without one."""

    def __init__(self, thread: QThread, worker: _Worker) -> None:
        self.thread = thread
        self.worker = worker
        self.token: threading.Event | None = None  # the running job's abort flag

    def stop(self, timeout_ms: int = 5000) -> bool:
        """Abort the running job, end the thread's event loop and wait for it."""
        if self.token is not None:
            self.token.set()
        self.thread.quit()
        return bool(self.thread.wait(int(timeout_ms)))


class JobRunner(QObject):
    """Queues jobs and runs them one at a time in a worker thread; see the module docstring."""

    started = Signal(int, str)
    step = Signal(StepEvent)
    finished = Signal(int, object)  # (job id, JobResult)
    failed = Signal(int, str, str)
    cancelled = Signal(int)
    model_changed = Signal(ModelInfo)
    busy_changed = Signal(bool)
    _dispatch = Signal(object)  # a _Task, to the worker thread

    def __init__(self, parent: QObject | None = None, *, preview_fps: float = 20.0) -> None:
        super().__init__(parent)
        self._settings = PreviewSettings(
            preview_fps=float(preview_fps), default_threads=torch.get_num_threads()
        )
        self._slot = ModelSlot()
        self._queue: list[_Task] = []
        self._running: _Task | None = None
        self._next_id = 1
        self._busy = False
        self._closed = False
        self._info: ModelInfo | None = None
        self._device = torch.device("cpu")
        self._dtype = torch.float32
        self._debounce_s = 0.15
        self._group_last: dict[str, float] = {}
        self._pump_timer = QTimer(self)
        self._pump_timer.setSingleShot(True)
        self._pump_timer.setInterval(0)
        self._pump_timer.timeout.connect(self._pump)
        self._thread = QThread()
        self._thread.setObjectName("ddim-studio-worker")
        self._worker = _Worker(self._slot, self._settings)
        self._worker.moveToThread(self._thread)
        self._dispatch.connect(self._worker.run, Qt.ConnectionType.QueuedConnection)
        self._worker.step_ready.connect(self._on_step, Qt.ConnectionType.QueuedConnection)
        self._worker.done.connect(self._on_done, Qt.ConnectionType.QueuedConnection)
        self._lifeline = _Lifeline(self._thread, self._worker)
        self._finalizer = weakref.finalize(self, self._lifeline.stop)
        self._thread.start()
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    # ----------------------------------------------------------------- properties
    @property
    def current_model_info(self) -> ModelInfo | None:
        """The loaded model's description, or None before a model is loaded."""
        return self._info

    @property
    def device(self) -> torch.device:
        """Where the loaded model runs (CPU before a model is loaded)."""
        return self._device

    @property
    def dtype(self) -> torch.dtype:
        """The loaded model's weight dtype."""
        return self._dtype

    @property
    def current_job_id(self) -> int | None:
        """The id of the running job, or None."""
        return self._running.job_id if self._running is not None else None

    @property
    def is_busy(self) -> bool:
        """Whether a job runs or waits."""
        return self._busy

    @property
    def preview_fps(self) -> float:
        """Most previews per second (default 20); 0 or less sends no step events."""
        return self._settings.preview_fps

    @preview_fps.setter
    def preview_fps(self, value: float) -> None:
        self._settings.preview_fps = float(value)

    @property
    def preview_size(self) -> int:
        """Longest side of previews and recorded frames in pixels (default 128)."""
        return self._settings.preview_size

    @preview_size.setter
    def preview_size(self, value: int) -> None:
        self._settings.preview_size = max(1, int(value))

    @property
    def num_threads(self) -> int:
        """Torch threads of the worker (0: torch's count when the runner was made); from the next job on."""
        return self._settings.num_threads

    @num_threads.setter
    def num_threads(self, value: int) -> None:
        self._settings.num_threads = max(0, int(value))

    @property
    def replace_debounce_ms(self) -> float:
        """Quiet time a burst of ``replace`` calls of a group needs before its last job starts (150)."""
        return self._debounce_s * 1000.0

    @replace_debounce_ms.setter
    def replace_debounce_ms(self, value: float) -> None:
        self._debounce_s = max(0.0, float(value)) / 1000.0

    @property
    def record_frames(self) -> bool:
        """Whether sample jobs record every step's pred_x0 for the scrubber (default True)."""
        return self._settings.record_frames

    @record_frames.setter
    def record_frames(self, value: bool) -> None:
        self._settings.record_frames = bool(value)

    # ----------------------------------------------------------------- queue
    def submit(self, job: Job, *, group: str | None = None) -> int:
        """Queue ``job`` (FIFO) and return its id; ``started`` follows from the event loop.

        ``group`` only matters to a later ``replace`` of that group.

        Raises:
            TypeError: ``job`` is not a job.
            RuntimeError: the runner has been shut down.
        """
        return self._enqueue(job, group, 0.0).job_id

    def replace(self, job: Job, *, group: str = "default") -> int:
        """Cancel the running and queued jobs of ``group``, then submit ``job`` in that group.

        A replace that follows another one of its group within ``replace_debounce_ms`` waits until
        the group has been quiet that long, so a burst runs at most two jobs: the first (cancelled at
        the second request) and the last.
        """
        job_kind(job)
        now = time.monotonic()
        last = self._group_last.get(group)
        self._group_last[group] = now
        for task in [t for t in self._queue if t.group == group]:
            self._drop_queued(task)
        if self._running is not None and self._running.group == group:
            self._running.token.set()
        hold = last is not None and now - last < self._debounce_s
        return self._enqueue(job, group, now + self._debounce_s if hold else 0.0).job_id

    def cancel(self, job_id: int) -> bool:
        """Cancel a queued or running job; False if it is neither (or already cancelled)."""
        running = self._running
        if running is not None and running.job_id == job_id:
            was_set = running.token.is_set()
            running.token.set()
            return not was_set
        for task in self._queue:
            if task.job_id == job_id:
                self._drop_queued(task)
                return True
        return False

    def cancel_all(self) -> None:
        """Cancel the running job and every queued one."""
        if self._running is not None:
            self._running.token.set()
        for task in list(self._queue):
            self._drop_queued(task)

    def queued_ids(self) -> list[int]:
        """Ids of the waiting jobs in the order they will run (the running job is not included)."""
        return [task.job_id for task in self._queue]

    def set_model(
        self,
        model: DiffusionModel,
        info: ModelInfo | None = None,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        """Use an in-memory model for the jobs that start from now on; emits ``model_changed``."""
        found_device, found_dtype = infer_placement(model)
        placed = LoadModelResult(
            info if info is not None else describe_model(model),
            torch.device(device if device is not None else found_device),
            dtype if dtype is not None else found_dtype,
        )
        self._slot.put(model, placed.info, placed.device, placed.dtype)
        self._apply_model(placed)

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Cancel all jobs, stop the worker thread and wait for it; False if it did not stop in time."""
        if self._closed:
            return True
        self._closed = True
        self._pump_timer.stop()
        self.cancel_all()
        stopped = self._lifeline.stop(timeout_ms)
        if stopped:
            self._finalizer.detach()
        else:
            logger.warning(
                "The worker thread did not stop within %d ms; a model call is still running.", timeout_ms
            )
        task, self._running = self._running, None
        if task is not None:
            self.cancelled.emit(task.job_id)
        self._set_busy(False)
        return stopped

    # ----------------------------------------------------------------- internals
    def _enqueue(self, job: Job, group: str | None, not_before: float) -> _Task:
        kind = job_kind(job)
        if self._closed:
            raise RuntimeError("The job runner has been shut down; create a new one.")
        task = _Task(self._next_id, job, kind, group, not_before=not_before)
        self._next_id += 1
        self._queue.append(task)
        if self._running is None:
            self._pump_timer.start(0)
        return task

    def _drop_queued(self, task: _Task) -> None:
        self._queue.remove(task)
        task.token.set()
        self.cancelled.emit(task.job_id)

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)

    def _apply_model(self, result: LoadModelResult) -> None:
        self._info, self._device, self._dtype = result.info, result.device, result.dtype
        self.model_changed.emit(result.info)

    @Slot()
    def _pump(self) -> None:
        if self._running is not None or self._closed:
            return
        if not self._queue:
            self._set_busy(False)
            return
        self._set_busy(True)
        now = time.monotonic()
        task = next((t for t in self._queue if t.not_before <= now), None)
        if task is None:  # only debounced replacements wait: come back when the first may start
            wait_s = min(t.not_before for t in self._queue) - now
            self._pump_timer.start(max(1, int(wait_s * 1000) + 1))
            return
        self._queue.remove(task)
        self._running = task
        self._lifeline.token = task.token
        self.started.emit(task.job_id, task.kind)
        self._dispatch.emit(task)

    @Slot(object)
    def _on_step(self, event: StepEvent) -> None:
        task = self._running
        if task is None or task.job_id != event.job_id or task.token.is_set():
            return  # stale: the job was cancelled, replaced or has ended
        self.step.emit(event)

    @Slot(int, object)
    def _on_done(self, job_id: int, outcome: _Outcome) -> None:
        task = self._running
        if task is None or task.job_id != job_id:
            return  # already settled by shutdown
        self._running = None
        if outcome.status == "finished" and isinstance(outcome.result, LoadModelResult):
            self._apply_model(outcome.result)  # the model is installed: report it even if cancelled late
            self.finished.emit(job_id, outcome.result)
        elif outcome.status == "cancelled" or task.token.is_set():
            self.cancelled.emit(job_id)
        elif outcome.status == "finished":
            self.finished.emit(job_id, outcome.result)
        else:
            self.failed.emit(job_id, outcome.message, outcome.kind)
        self._pump()
