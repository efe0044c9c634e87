"""Cancelling, reordering and replacing jobs: within one model call, no stale events, last wins."""

from __future__ import annotations

import time

import torch

from ddim_studio.core.sampling import generate
from ddim_studio.workers import SampleJob
from tests.workers.conftest import wait_idle

TIMEOUT = 60_000  # ms: a hang guard, not a speed limit


def _last(steps):
    """The last step of a core iterator."""
    return list(steps)[-1]


def test_cancel_mid_job_stops_within_one_model_call(qtbot, qapp, runner, recorder, counting_model):
    state: dict[str, int] = {}

    def on_step(event):
        if "calls" not in state and event.index >= 2:
            state["calls"] = counting_model.calls
            state["steps_seen"] = len(recorder.names(job_id))
            assert runner.cancel(job_id)
            assert not runner.cancel(job_id)  # a second cancel changes nothing

    runner.step.connect(on_step)
    with qtbot.waitSignal(runner.cancelled, timeout=TIMEOUT) as blocker:
        job_id = runner.submit(SampleJob(seeds=(1, 2), steps=500))
    assert blocker.args == [job_id]
    assert counting_model.calls - state["calls"] <= 1
    names = recorder.names(job_id)
    assert names[-1] == "cancelled" and "finished" not in names
    assert len(names) == state["steps_seen"] + 1  # no step reached a slot after the cancel
    # the next job runs normally
    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT) as done:
        runner.submit(SampleJob(seeds=(4,), steps=3))
    torch.testing.assert_close(done.args[1].images, _last(generate(counting_model, [4], steps=3)).x_t)
    assert recorder.terminal(job_id) == ["cancelled"] and not recorder.off_thread


def test_queue_is_fifo_and_queued_jobs_can_be_cancelled(qtbot, runner, recorder):
    runner.preview_fps = 0
    first = runner.submit(SampleJob(seeds=(1,), steps=30))
    second = runner.submit(SampleJob(seeds=(2,), steps=2))
    third = runner.submit(SampleJob(seeds=(3,), steps=2))
    fourth = runner.submit(SampleJob(seeds=(4,), steps=2))
    assert runner.queued_ids() == [first, second, third, fourth]
    assert runner.cancel(second) and runner.queued_ids() == [first, third, fourth]
    assert recorder.names(second) == ["cancelled"]  # a queued job never starts
    wait_idle(qtbot, runner)
    started = [args[0] for name, args in recorder.events if name == "started"]
    assert started == [first, third, fourth]
    for job_id in (first, third, fourth):
        assert recorder.terminal(job_id) == ["finished"]
    busy = [args[0] for name, args in recorder.events if name == "busy_changed"]
    assert busy == [True, False]


def test_burst_of_replacements_runs_at_most_two_jobs_and_the_last_wins(
    qtbot, qapp, runner, recorder, unet_model
):
    latest = {"id": None}
    stale: list[int] = []
    runner.step.connect(lambda e: stale.append(e.job_id) if e.job_id != latest["id"] else None)
    other = runner.submit(SampleJob(seeds=(999,), steps=2))  # another group: untouched by replace
    for i in range(200):  # a slider drag: the event loop runs between requests
        latest["id"] = runner.replace(SampleJob(seeds=(i,), steps=20), group="slider")
        qapp.processEvents()
        time.sleep(0.002)
    # (that replace never blocks the GUI thread is measured by benchmarks/bench_refusals.py)
    wait_idle(qtbot, runner)
    slider_started = [a[0] for n, a in recorder.events if n == "started" and a[0] != other]
    assert 1 <= len(slider_started) <= 2
    assert slider_started[-1] == latest["id"]
    finished = [a for n, a in recorder.events if n == "finished"]
    assert [a[0] for a in finished] == [other, latest["id"]]
    expected = _last(generate(unet_model, [199], steps=20)).x_t
    torch.testing.assert_close(finished[-1][1].images, expected)
    assert stale == [] or set(stale) == {other}
    # every job ended exactly once
    for job_id in range(other, latest["id"] + 1):
        assert len(recorder.terminal(job_id)) == 1, job_id
    assert not recorder.off_thread


def test_replace_cancels_only_its_group(qtbot, runner, recorder):
    runner.preview_fps = 0
    a = runner.replace(SampleJob(seeds=(1,), steps=20), group="a")
    b = runner.replace(SampleJob(seeds=(2,), steps=2), group="b")
    a2 = runner.replace(SampleJob(seeds=(3,), steps=2), group="a")
    wait_idle(qtbot, runner)
    assert recorder.terminal(a) == ["cancelled"]
    assert recorder.terminal(b) == ["finished"] and recorder.terminal(a2) == ["finished"]


def test_cancel_all_and_unknown_ids(qtbot, runner, recorder):
    ids = [runner.submit(SampleJob(seeds=(i,), steps=50)) for i in range(4)]
    with qtbot.waitSignal(runner.started, timeout=TIMEOUT):
        pass
    runner.cancel_all()
    wait_idle(qtbot, runner)
    assert all(recorder.terminal(i) == ["cancelled"] for i in ids)
    assert not runner.cancel(12345) and runner.queued_ids() == []
