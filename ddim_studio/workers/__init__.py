"""Background work: the only place where threads meet the core (QtCore only, no widgets).

- :mod:`.jobs`: job and result dataclasses, :class:`StepEvent`.
- :mod:`.runner`: :class:`JobRunner`, the QThread runner with its queue, signals and previews.
- :mod:`.async_api`: :class:`AsyncRunner`, ``await``-able jobs for qasync event loops.
- :mod:`.execution`, :mod:`.previews`, :mod:`.faults`: how a job runs (no Qt), its previews, its errors.
"""

from __future__ import annotations

from ddim_studio.workers.async_api import AsyncRunner, JobFailed, JobHandle
from ddim_studio.workers.jobs import (
    EditJob,
    EncodeJob,
    EncodeResult,
    InterpolateJob,
    InterpolateResult,
    Job,
    LoadModelJob,
    LoadModelResult,
    RestoreJob,
    SampleJob,
    SampleResult,
    StepEvent,
    job_kind,
)
from ddim_studio.workers.runner import JobRunner

__all__ = [
    "AsyncRunner",
    "EditJob",
    "EncodeJob",
    "EncodeResult",
    "InterpolateJob",
    "InterpolateResult",
    "Job",
    "JobFailed",
    "JobHandle",
    "JobRunner",
    "LoadModelJob",
    "LoadModelResult",
    "RestoreJob",
    "SampleJob",
    "SampleResult",
    "StepEvent",
    "job_kind",
]
