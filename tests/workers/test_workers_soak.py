"""A soak: 500 short jobs with cancels and replacements mixed in; memory stays flat."""

from __future__ import annotations

import gc
import os
import time
from collections import Counter

import pytest

from ddim_studio.workers import EncodeJob, SampleJob
from tests.workers.conftest import wait_idle

JOBS = 500
ROUND = 10
MARGIN_MB = 30


def _rss_mb() -> float:
    gc.collect()
    with open("/proc/self/statm") as f:
        resident_pages = int(f.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.soak
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc/self/statm (Linux)")
def test_soak_500_short_jobs_with_cancels(qtbot, qapp, runner):
    import torch

    ends: Counter[int] = Counter()
    outcomes: Counter[str] = Counter()
    steps = Counter()
    runner.finished.connect(lambda job_id, result: (ends.update([job_id]), outcomes.update(["finished"])))
    runner.failed.connect(lambda job_id, message, kind: (ends.update([job_id]), outcomes.update([kind])))
    runner.cancelled.connect(lambda job_id: (ends.update([job_id]), outcomes.update(["cancelled"])))
    runner.step.connect(lambda event: steps.update([event.job_id]))
    runner.replace_debounce_ms = 10  # rounds follow each other quickly: keep the replacements short
    image = torch.zeros(1, 3, 8, 8)
    submitted: list[int] = []
    baseline = None
    start = time.perf_counter()
    for first in range(0, JOBS, ROUND):
        ids = []
        for i in range(first, first + ROUND):
            if i % 10 == 9:
                ids.append(runner.submit(EncodeJob(image, steps=2)))
            elif i % 10 == 8:
                ids.append(runner.replace(SampleJob(seeds=(i,), steps=2), group="soak"))
            else:
                ids.append(runner.submit(SampleJob(seeds=(i, i + 1), steps=2, eta=0.5)))
        runner.cancel(ids[2])  # queued
        if first % 30 == 0:
            qtbot.waitUntil(lambda: runner.current_job_id is not None, timeout=60_000)
            runner.cancel(runner.current_job_id)  # running (or about to)
        wait_idle(qtbot, runner)
        submitted += ids
        if first + ROUND == 50:
            baseline = _rss_mb()
    final = _rss_mb()
    elapsed = time.perf_counter() - start
    assert len(submitted) == JOBS
    assert all(ends[job_id] == 1 for job_id in submitted), "every job ends exactly once"
    assert outcomes["cancelled"] >= JOBS // ROUND and outcomes["finished"] > JOBS // 2
    assert set(outcomes) <= {"finished", "cancelled"}
    assert final - baseline < MARGIN_MB, f"RSS grew from {baseline:.1f} MB to {final:.1f} MB"
    print(f"soak: {JOBS} jobs in {elapsed:.1f} s, RSS {baseline:.1f} -> {final:.1f} MB, {dict(outcomes)}")
