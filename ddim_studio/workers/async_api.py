"""An asyncio façade over :class:`~ddim_studio.workers.runner.JobRunner` for qasync event loops.

Multi-step flows are coroutines instead of chains of callbacks::

    runner_async = AsyncRunner(runner)          # the loop is qasync.QEventLoop(app)
    result = await runner_async.submit(job)     # the result, or JobFailed(message, kind), or CancelledError
    handle = runner_async.start(job)            # JobHandle: .job_id, .cancel(), awaitable like submit
    async for event in runner_async.steps(handle.job_id):   # StepEvents until the job ends
        show(event.preview)
    result = await handle

Cancelling the task that awaits a job cancels the job. A job cancelled through the runner (by
``cancel``, ``replace`` or shutdown) raises ``asyncio.CancelledError`` in its awaiter. Everything
runs on the GUI thread, which is the event loop's thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Generator
from typing import Any

from ddim_studio.workers.jobs import Job, StepEvent
from ddim_studio.workers.runner import JobRunner

__all__ = ["AsyncRunner", "JobFailed", "JobHandle"]

_END = object()


class JobFailed(Exception):
    """A job ended with ``failed``; ``kind`` is oom, numerical, model, input or error."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


class JobHandle:
    """A submitted job: its id, and awaitable for its result (awaiting raises like ``submit``)."""

    def __init__(self, runner: JobRunner, job_id: int, future: asyncio.Future[Any]) -> None:
        self.job_id = job_id
        self._runner = runner
        self._future = future

    def cancel(self) -> bool:
        """Cancel the job (its awaiters get CancelledError once it has stopped)."""
        return self._runner.cancel(self.job_id)

    def done(self) -> bool:
        """Whether the job has ended."""
        return self._future.done()

    def __await__(self) -> Generator[Any, None, Any]:
        return self._future.__await__()


class _StepStream:
    """Async iterator over one job's StepEvents; registered when created, so no event is missed."""

    def __init__(self, owner: AsyncRunner, job_id: int, alive: bool) -> None:
        self._owner = owner
        self._job_id = job_id
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        if alive:
            owner._streams.setdefault(job_id, []).append(self._queue)
        else:
            self._queue.put_nowait(_END)

    def __aiter__(self) -> _StepStream:
        return self

    async def __anext__(self) -> StepEvent:
        item = await self._queue.get()
        if item is _END:
            raise StopAsyncIteration
        return item  # type: ignore[return-value]


class AsyncRunner:
    """Wraps a JobRunner: jobs as awaitables, step events as async iterators."""

    def __init__(self, runner: JobRunner) -> None:
        self.runner = runner
        self._futures: dict[int, asyncio.Future[Any]] = {}
        self._streams: dict[int, list[asyncio.Queue[object]]] = {}
        runner.step.connect(self._on_step)
        runner.finished.connect(self._on_finished)
        runner.failed.connect(self._on_failed)
        runner.cancelled.connect(self._on_cancelled)

    def start(self, job: Job, *, group: str | None = None) -> JobHandle:
        """Submit ``job`` (with ``group``: replace that group's jobs) and return its handle at once."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if group is None:
            job_id = self.runner.submit(job)
        else:
            job_id = self.runner.replace(job, group=group)
        self._futures[job_id] = future
        future.add_done_callback(lambda f: self._on_future_done(job_id, f))
        return JobHandle(self.runner, job_id, future)

    async def submit(self, job: Job, *, group: str | None = None) -> Any:
        """Run ``job`` and return its result.

        Raises:
            JobFailed: the job failed (message and kind as in ``JobRunner.failed``).
            asyncio.CancelledError: the job was cancelled, or this coroutine's task was.
        """
        return await self.start(job, group=group)

    def steps(self, job_id: int) -> AsyncIterator[StepEvent]:
        """The job's StepEvents as they arrive; ends when the job ends (at once if it already has)."""
        alive = job_id == self.runner.current_job_id or job_id in self.runner.queued_ids()
        return _StepStream(self, job_id, alive)

    def _on_future_done(self, job_id: int, future: asyncio.Future[Any]) -> None:
        self._futures.pop(job_id, None)
        if future.cancelled():
            self.runner.cancel(job_id)  # the awaiting task was cancelled; no-op if the job has ended

    def _on_step(self, event: StepEvent) -> None:
        for queue in self._streams.get(event.job_id, ()):
            queue.put_nowait(event)

    def _end(self, job_id: int) -> asyncio.Future[Any] | None:
        for queue in self._streams.pop(job_id, ()):
            queue.put_nowait(_END)
        future = self._futures.pop(job_id, None)
        return None if future is None or future.done() else future

    def _on_finished(self, job_id: int, result: object) -> None:
        future = self._end(job_id)
        if future is not None:
            future.set_result(result)

    def _on_failed(self, job_id: int, message: str, kind: str) -> None:
        future = self._end(job_id)
        if future is not None:
            future.set_exception(JobFailed(message, kind))

    def _on_cancelled(self, job_id: int) -> None:
        future = self._end(job_id)
        if future is not None:
            future.cancel()
