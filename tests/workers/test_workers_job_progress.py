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
