"""Coroutines on the qasync loop, and each controller's view of the jobs it started.

A controller runs a flow as a coroutine (``spawn(self._generate(job))``) and awaits its jobs
through a :class:`JobTracker`, which also hands it the step events of exactly those jobs (the
runner broadcasts every job's steps to everyone).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from PySide6.QtCore import QObject, Signal

from ddim_studio.ui.notify import Notifier
from ddim_studio.ui.widgets.eta import pace
from ddim_studio.workers.async_api import AsyncRunner, JobFailed, JobHandle
from ddim_studio.workers.jobs import Job, StepEvent

logger = logging.getLogger("ddim_studio.ui")
_tasks: set[asyncio.Task[Any]] = set()


def spawn(coro: Coroutine[Any, Any, Any], notifier: Notifier | None = None) -> asyncio.Task[Any]:
    """Schedule ``coro`` on the running loop; an unexpected exception is logged and reported."""
    task = asyncio.ensure_future(coro)
    _tasks.add(task)

    def done(t: asyncio.Task[Any]) -> None:
        _tasks.discard(t)
        if t.cancelled():
            return
        exc = t.exception()
        if exc is not None:
            logger.error("a UI task failed", exc_info=exc)
            if notifier is not None:
                notifier.error(f"Something went wrong: {exc}")

    task.add_done_callback(done)
    return task


def running_tasks() -> int:
    """How many spawned coroutines have not finished (tests wait for 0)."""
    return len(_tasks)


def after_tasks(callback: Callable[[], None]) -> None:
    """Call ``callback`` once the coroutines running now have all finished (at once if none runs).

    Coroutines spawned later do not delay it: a flow's end is not the next flow's end.
    """
    pending = {t for t in _tasks if not t.done()}
    if not pending:
        callback()
        return

    def one_done(task: asyncio.Task[Any]) -> None:
        pending.discard(task)
        if not pending:
            callback()

    for task in list(pending):
        task.add_done_callback(one_done)


class JobTracker(QObject):
    """Runs one controller's jobs and filters the runner's step events down to them.

    Signals:
        step(object): a StepEvent of one of this tracker's jobs.
        busyChanged(bool): whether one of its jobs runs or waits.
    """

    step = Signal(StepEvent)
    busyChanged = Signal(bool)  # noqa: N815

    def __init__(self, jobs: AsyncRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self._handles: dict[int, JobHandle] = {}
        jobs.runner.step.connect(self._on_step)

    @property
    def busy(self) -> bool:
        """Whether a job of this tracker has not ended."""
        return bool(self._handles)

    async def run(
        self, job: Job, *, group: str | None = None, on_start: Callable[[int], None] | None = None
    ) -> Any:
        """Submit ``job`` (replacing ``group``'s jobs when given) and return its result.

        Raises:
            JobFailed: the job failed; ``message`` says why in words.
            asyncio.CancelledError: the job was cancelled.
        """
        handle = self.jobs.start(job, group=group)
        was_busy = self.busy
        self._handles[handle.job_id] = handle
        if not was_busy:
            self.busyChanged.emit(True)
        if on_start is not None:
            on_start(handle.job_id)
        try:
            return await handle
        finally:
            self._handles.pop(handle.job_id, None)
            if not self.busy:
                self.busyChanged.emit(False)

    def cancel(self) -> bool:
        """Cancel every unfinished job of this tracker; True if there was one."""
        handles = list(self._handles.values())
        for handle in handles:
            handle.cancel()
        return bool(handles)

    def _on_step(self, event: StepEvent) -> None:
        if event.job_id in self._handles:
            self.step.emit(event)


async def guarded(awaitable: Awaitable[Any], notifier: Notifier, what: str) -> tuple[str, Any]:
    """Await a job; returns ``("ok", result)``, ``("failed", message)`` or ``("cancelled", None)``.

    A failure is reported through ``notifier`` as "<what> failed: <message>".
    """
    try:
        return "ok", await awaitable
    except JobFailed as exc:
        notifier.error(f"{what} failed: {exc.message}")
        return "failed", exc.message
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and getattr(task, "cancelling", lambda: 0)():
            raise  # the flow itself was cancelled: let it end
        return "cancelled", None


_VERBS = {"sample": "Step", "encode": "Encoding step", "decode": "Decoding step", "edit": "Model call"}


def step_progress(event: StepEvent) -> tuple[int, int, str]:
    """(done, total, text) of a step event, e.g. ``Step 12 of 50 · batch 1 of 2 · 3.2 s/step``.

    ``done`` and ``total`` count the whole job's model calls (every batch and phase) when the event
    carries them, else this phase's; the pace is s/step when a step takes a second or more.
    """
    chunks = max(1, int(getattr(event, "chunks", 1)))
    chunk = int(getattr(event, "chunk", 0))
    total = event.total * chunks
    done = chunk * event.total + event.index + 1
    job_total, job_done = int(getattr(event, "job_total", 0)), int(getattr(event, "job_done", 0))
    if job_total > 0 and job_done > 0:
        done, total = job_done, job_total
    text = f"{_VERBS.get(event.phase, 'Step')} {event.index + 1} of {event.total}"
    if chunks > 1:
        text += f" · batch {chunk + 1} of {chunks}"
    elapsed = float(getattr(event, "elapsed_s", 0.0))
    per_step = elapsed / job_done if job_done > 0 and elapsed > 0 else 0.0
    if per_step <= 0 and event.steps_per_second > 0:
        per_step = 1.0 / event.steps_per_second
    if per_step > 0:
        text += f" · {pace(per_step)}"
    return done, total, text
