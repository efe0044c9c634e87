"""Fixtures of the worker tests: a runner with a tiny real UNet, model wrappers that count or fail."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import torch
from PySide6.QtCore import QCoreApplication, QThread

from ddim_studio.core.schedule import NoiseSchedule
from ddim_studio.workers import JobRunner
from tests.helpers.models import UNetModel, tiny_unet


class CountingModel:
    """A real model that counts its calls (thread-safe enough: only the worker calls it)."""

    def __init__(self, inner: UNetModel) -> None:
        self.inner = inner
        self.schedule = inner.schedule
        self.sample_shape = inner.sample_shape
        self.calls = 0
        self.threads: set[str] = set()

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.threads.add(threading.current_thread().name)
        return self.inner(x_t, t)


class FaultyModel(CountingModel):
    """Fault injection around a real model: at call ``fail_at`` (0-based) raise OOM, NaN, Inf or an error."""

    def __init__(self, inner: UNetModel, fail_at: int, fault: str) -> None:
        super().__init__(inner)
        self.fail_at = fail_at
        self.fault = fault

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        index = self.calls
        out = super().__call__(x_t, t)
        if index != self.fail_at:
            return out
        if self.fault == "oom":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if self.fault == "oom-runtime":
            raise RuntimeError("MPS backend out of memory (MPS allocated: 1 GB)")
        if self.fault == "nan":
            return out * float("nan")
        if self.fault == "inf":
            return out + float("inf")
        raise KeyError("boom inside the model")


@pytest.fixture(scope="session")
def unet_model() -> UNetModel:
    """The tiny real UNet (8×8 RGB) behind the protocol, linear schedule."""
    return UNetModel(tiny_unet(seed=0), NoiseSchedule.linear())


@pytest.fixture
def counting_model(unet_model: UNetModel) -> CountingModel:
    return CountingModel(unet_model)


@pytest.fixture
def bare_runner(qapp: QCoreApplication) -> Iterator[JobRunner]:
    """A runner with no model; shut down after the test."""
    runner = JobRunner()
    yield runner
    assert runner.shutdown(60_000)  # ms: a hang guard


@pytest.fixture
def runner(bare_runner: JobRunner, counting_model: CountingModel) -> JobRunner:
    """A runner with the counting tiny model; every step is sent (deterministic step signals)."""
    bare_runner.set_model(counting_model)
    bare_runner.preview_fps = 1e9
    return bare_runner


def wait_idle(qtbot, runner: JobRunner, timeout: int = 60_000) -> None:
    """Process events until the runner has no running and no queued job."""
    qtbot.waitUntil(lambda: not runner.is_busy and not runner.queued_ids(), timeout=timeout)


class SlotRecorder:
    """Connects to every public signal; records (name, args) and whether each slot ran on the GUI thread."""

    NAMES = ("started", "step", "finished", "failed", "cancelled", "model_changed", "busy_changed")

    def __init__(self, runner: JobRunner, app: QCoreApplication) -> None:
        self.app = app
        self.events: list[tuple[str, tuple]] = []
        self.off_thread: list[str] = []
        for name in self.NAMES:
            getattr(runner, name).connect(self._make(name))

    def _make(self, name: str):
        def slot(*args: object) -> None:
            if QThread.currentThread() is not self.app.thread() or threading.current_thread() is not (
                threading.main_thread()
            ):
                self.off_thread.append(name)
            self.events.append((name, args))

        return slot

    def names(self, job_id: int | None = None) -> list[str]:
        out = []
        for name, args in self.events:
            ident = args[0].job_id if name == "step" else args[0] if args else None
            if job_id is None or (name not in ("model_changed", "busy_changed") and ident == job_id):
                out.append(name)
        return out

    def for_job(self, job_id: int) -> list[tuple[str, tuple]]:
        """(name, args) of the job's started/step/terminal signals, in order."""
        out = []
        for name, args in self.events:
            if name in ("model_changed", "busy_changed"):
                continue
            if (args[0].job_id if name == "step" else args[0]) == job_id:
                out.append((name, args))
        return out

    def terminal(self, job_id: int) -> list[str]:
        return [n for n in self.names(job_id) if n in ("finished", "failed", "cancelled")]


@pytest.fixture
def recorder(runner: JobRunner, qapp: QCoreApplication) -> SlotRecorder:
    return SlotRecorder(runner, qapp)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "soak: long-running stability test (still part of the normal suite)")
