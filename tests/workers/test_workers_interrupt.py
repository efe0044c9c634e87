"""Cancel in the middle of a model call: a real UNet made slow by sleeps inside its blocks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from ddim_studio.workers import JobRunner, SampleJob
from tests.helpers.slow import SlowUNet, pre_hook_count

TIMEOUT = 60_000  # ms: a hang guard, not a speed limit
SLEEP_S = 0.4  # per resnet; the tiny UNet has 8 of them, so one model call takes more than 3 s


@pytest.fixture
def slow() -> Iterator[SlowUNet]:
    slow = SlowUNet(SLEEP_S)
    yield slow
    slow.make_fast()


def test_cancel_stops_inside_a_slow_model_call_and_removes_its_hooks(
    qtbot, bare_runner: JobRunner, slow: SlowUNet
):
    runner = bare_runner
    assert len(slow.resnets) == 8
    own_pre_hooks = pre_hook_count(slow.unet)  # the test's call_started hook
    runner.set_model(slow.model)
    runner.preview_fps = 0
    job_id = runner.submit(SampleJob(seeds=(1,), steps=5))
    qtbot.waitUntil(slow.call_started.is_set, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: slow.blocks_run >= 2, timeout=TIMEOUT)  # well inside the first call
    assert pre_hook_count(slow.unet) > own_pre_hooks + 20  # the runner's abort checks are in place
    with qtbot.waitSignal(runner.cancelled, timeout=TIMEOUT) as blocker:
        blocks_at_cancel = slow.blocks_run
        assert runner.cancel(job_id)
    assert blocker.args == [job_id]
    assert slow.calls_completed == 0  # the first model call never finished ...
    assert slow.blocks_run <= blocks_at_cancel + 1  # ... and no block started after the cancel
    # (how long a cancel takes, in seconds, is measured by benchmarks/bench_worker.py)
    assert pre_hook_count(slow.unet) == own_pre_hooks  # the abort checks are gone

    slow.make_fast()
    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT) as done:
        runner.submit(SampleJob(seeds=(1,), steps=3))
    assert done.args[1].images.shape == (1, 3, 8, 8)
    assert torch.isfinite(done.args[1].images).all()
    assert pre_hook_count(slow.unet) == 0  # nothing left behind after a normal run either
