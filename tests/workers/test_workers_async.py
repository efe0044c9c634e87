"""The asyncio façade on a qasync loop: awaitable jobs, step streams, cancellation both ways."""

from __future__ import annotations

import asyncio

import pytest
import qasync
import torch

from ddim_studio.core.interpolation import interpolation_path
from ddim_studio.core.sampling import invert, sample
from ddim_studio.workers import AsyncRunner, EncodeJob, InterpolateJob, JobFailed, SampleJob


async def interpolate_images(  # type: ignore[no-untyped-def]
    runner, image_a, image_b, *, frames=9, method="slerp", steps=50, spacing="uniform", batch_size=8
):
    """Encode two images, then decode the path between their latents (a multi-job flow of the test)."""
    encode = [EncodeJob(img.unsqueeze(0), steps=steps, spacing=spacing) for img in (image_a, image_b)]
    enc_a, enc_b = await asyncio.gather(runner.submit(encode[0]), runner.submit(encode[1]))
    job = InterpolateJob(
        enc_a.x_T[0], enc_b.x_T[0], frames=frames, method=method, steps=steps, spacing=spacing,
        batch_size=batch_size,
    )  # fmt: skip
    return await runner.submit(job), enc_a, enc_b


@pytest.fixture(scope="module")
def loop(qapp):
    """One qasync loop for the module, closed at its end.

    Not one per test: qasync leaves a cancelled timer's Qt timer running, and one that fires after
    its loop was closed crashes the process (asyncio.wait_for's 30 s timeout did, in later tests).
    """
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.set_event_loop(None)
    _drain_timers(loop)
    loop.close()


def _drain_timers(loop) -> None:
    """Kill the Qt timers qasync still holds for cancelled handles, so none fires after close()."""
    timer = getattr(loop, "_timer", None)
    callbacks = getattr(timer, "_SimpleTimer__callbacks", None)
    if timer is None or callbacks is None:
        return
    for timer_id in list(callbacks):
        timer.killTimer(timer_id)
        del callbacks[timer_id]


def _run(loop, coro, timeout=120):  # seconds: a hang guard
    return loop.run_until_complete(asyncio.wait_for(coro, timeout))


def test_encode_then_interpolate_coroutine(loop, runner, recorder, unet_model):
    gen = torch.Generator().manual_seed(5)
    img_a, img_b = (torch.rand(3, 8, 8, generator=gen) * 2 - 1 for _ in range(2))
    runner_async = AsyncRunner(runner)
    result, enc_a, enc_b = _run(
        loop, interpolate_images(runner_async, img_a, img_b, frames=5, steps=4, batch_size=3)
    )
    x_a, x_b = invert(unet_model, img_a[None], steps=4), invert(unet_model, img_b[None], steps=4)
    torch.testing.assert_close(enc_a.x_T, x_a)
    torch.testing.assert_close(enc_b.x_T, x_b)
    path = interpolation_path(x_a[0], x_b[0], 5, "slerp")
    torch.testing.assert_close(result.latents, path)
    expected = torch.cat([sample(unet_model, path[:3], steps=4), sample(unet_model, path[3:], steps=4)])
    torch.testing.assert_close(result.images, expected)
    assert [name for name, _ in recorder.events if name == "started"] == ["started"] * 3
    assert not recorder.off_thread


def test_step_stream_and_result(loop, runner):
    runner_async = AsyncRunner(runner)

    async def flow():
        handle = runner_async.start(SampleJob(seeds=(1, 2), steps=5))
        events = [event async for event in runner_async.steps(handle.job_id)]
        result = await handle
        after = [event async for event in runner_async.steps(handle.job_id)]  # ended: empty at once
        return handle, events, result, after

    handle, events, result, after = _run(loop, flow())
    assert [e.index for e in events] == list(range(5)) and {e.job_id for e in events} == {handle.job_id}
    assert result.images.shape == (2, 3, 8, 8) and handle.done() and after == []


def test_cancelling_the_awaiting_task_cancels_the_job(loop, runner, recorder, counting_model):
    runner_async = AsyncRunner(runner)
    seen = {}

    async def flow():
        task = asyncio.ensure_future(runner_async.submit(SampleJob(seeds=(1,), steps=500)))
        while runner.current_job_id is None:
            await asyncio.sleep(0.005)
        job_id = runner.current_job_id
        async for _event in runner_async.steps(job_id):
            seen["calls"] = counting_model.calls
            task.cancel()
            break
        with pytest.raises(asyncio.CancelledError):
            await task
        while recorder.terminal(job_id) == []:
            await asyncio.sleep(0.005)
        seen["after"] = counting_model.calls
        return job_id, await runner_async.submit(SampleJob(seeds=(2,), steps=2))

    job_id, result = _run(loop, flow())
    assert recorder.terminal(job_id) == ["cancelled"]
    assert seen["after"] - seen["calls"] <= 2  # the step in flight when the task was cancelled, plus one
    assert result.images.shape == (1, 3, 8, 8)


def test_cancel_through_the_runner_raises_cancelled_error(loop, runner):
    runner_async = AsyncRunner(runner)

    async def flow():
        handle = runner_async.start(SampleJob(seeds=(1,), steps=500))
        cancels = []
        async for _event in runner_async.steps(handle.job_id):  # ends once the job has ended
            cancels.append(handle.cancel())
        assert cancels[0] and not any(cancels[1:])  # later events were queued before the cancel
        with pytest.raises(asyncio.CancelledError):
            await handle
        queued = runner_async.start(SampleJob(seeds=(1,), steps=2))
        second = runner_async.start(SampleJob(seeds=(1,), steps=2))
        runner.cancel(second.job_id)  # cancelled while queued
        with pytest.raises(asyncio.CancelledError):
            await second
        return await queued

    assert _run(loop, flow()).images.shape == (1, 3, 8, 8)


def test_failure_raises_job_failed(loop, bare_runner):
    runner_async = AsyncRunner(bare_runner)
    with pytest.raises(JobFailed, match="No model is loaded yet") as info:
        _run(loop, runner_async.submit(SampleJob(seeds=(1,), steps=2)))
    assert info.value.kind == "model" and info.value.message.startswith("No model is loaded yet")
