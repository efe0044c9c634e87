"""Step events count the whole job: every batch and phase, with the job's elapsed time; a load
times one model call; the worker computes with the configured thread count."""

from __future__ import annotations

import torch

from ddim_studio.workers import EncodeJob, InterpolateJob, LoadModelJob, SampleJob
from tests.workers.conftest import wait_idle


def events_of(qtbot, runner, job) -> list:  # type: ignore[no-untyped-def]
    seen: list = []
    runner.step.connect(seen.append)
    job_id = runner.submit(job)
    wait_idle(qtbot, runner)
    runner.step.disconnect(seen.append)
    return [e for e in seen if e.job_id == job_id]


def test_sample_events_count_every_batch(qtbot, runner) -> None:  # type: ignore[no-untyped-def]
    events = events_of(qtbot, runner, SampleJob(seeds=(1, 2, 3), steps=4, batch_size=2))
    assert [e.job_done for e in events] == list(range(1, 9))  # 2 batches × 4 steps, every step sent
    assert {e.job_total for e in events} == {8}
    elapsed = [e.elapsed_s for e in events]
    assert elapsed == sorted(elapsed) and elapsed[0] > 0


def test_encode_and_interpolate_events_span_their_phases(qtbot, runner) -> None:  # type: ignore[no-untyped-def]
    events = events_of(qtbot, runner, EncodeJob(torch.zeros(1, 3, 8, 8), steps=3))
    assert [(e.phase, e.job_done) for e in events][2:4] == [("encode", 3), ("decode", 4)]
    assert {e.job_total for e in events} == {6}
    image = torch.zeros(3, 8, 8)
    job = InterpolateJob(
        image, image + 0.5, frames=3, steps=2, batch_size=2, a_is_image=True, b_is_image=True
    )
    events = events_of(qtbot, runner, job)
    assert {e.job_total for e in events} == {2 + 2 * 2}  # ends encoded once (S), 2 batches of frames
    assert events[-1].job_done == 6


def test_load_measures_one_call_and_threads_apply(qtbot, bare_runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers.models import tiny_unet

    tiny_unet(seed=1).save_pretrained(tmp_path)
    bare_runner.num_threads = 1
    with qtbot.waitSignal(bare_runner.finished, timeout=60_000) as done:
        bare_runner.submit(LoadModelJob(str(tmp_path), device="cpu"))
    assert done.args[1].seconds_per_call > 0
    with qtbot.waitSignal(bare_runner.finished, timeout=60_000) as done:
        bare_runner.submit(LoadModelJob(str(tmp_path), device="cpu", probe=False))
    assert done.args[1].seconds_per_call == 0.0
    assert bare_runner.num_threads == 1
    bare_runner.num_threads = 0  # back to the count the runner started with, for the tests that follow
    with qtbot.waitSignal(bare_runner.finished, timeout=60_000) as done:
        bare_runner.submit(LoadModelJob(str(tmp_path), device="cpu", probe=False))
    assert torch.get_num_threads() >= 1


def test_events_count_a_refined_steps_network_calls(qtbot, runner) -> None:  # type: ignore[no-untyped-def]
    """job_done counts steps; job_calls counts network calls, so the estimates' clock paces calls.

    Found in the window: after a refined Encode (each inversion step up to 2 + K calls) the next
    estimate read "≈ 6 s" for a run of 1.6 s — steps were taken for calls.
    """
    seen: list = []
    runner.step.connect(seen.append)
    picture = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with qtbot.waitSignal(runner.finished, timeout=60_000) as done:
        job_id = runner.submit(EncodeJob(picture, steps=3, refine=2))
    wait_idle(qtbot, runner)
    runner.step.disconnect(seen.append)
    events = [e for e in seen if e.job_id == job_id]
    result = done.args[1]
    assert result.calls > 3  # the refinement made calls beyond one per step
    assert events[-1].job_done == 6  # 3 inversion steps and 3 decode steps
    assert events[-1].job_calls == result.calls + 3  # every call: the inversion's and the decode's
    calls = [e.job_calls for e in events]
    assert calls == sorted(calls)
    assert all(c >= e.job_done for c, e in zip(calls, events, strict=True))
