"""Signal order for every job kind, previews before finished, results equal to the core's."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
import torch

from ddim_studio.core.imaging import tensor_to_uint8
from ddim_studio.core.interpolation import interpolation_path
from ddim_studio.core.noise import initial_noise
from ddim_studio.core.sampling import generate, invert, iter_sample, reconstruct, sample
from ddim_studio.core.schedule import make_timesteps
from ddim_studio.workers import (
    EncodeJob,
    EncodeResult,
    InterpolateJob,
    InterpolateResult,
    LoadModelJob,
    LoadModelResult,
    SampleJob,
    SampleResult,
)
from ddim_studio.workers.previews import RECORD_BUDGET_BYTES, displayable, scrubber_steps
from tests.helpers.models import tiny_unet

TIMEOUT = 60_000  # ms: a hang guard, not a speed limit


def _strict(runner, steps: int, *, extra=()):
    """The exact signal sequence of a job whose every step is sent."""
    return [runner.started, *([runner.step] * steps), *extra, runner.finished]


def _last(core_iter):
    """The last step of a core iterator."""
    return list(core_iter)[-1]


def test_sample_job_signal_order_and_result(qtbot, runner, recorder, unet_model, counting_model):
    job = SampleJob(seeds=(3, 4, 5), steps=6, eta=0.5, batch_size=2)
    with qtbot.waitSignals(_strict(runner, 12), order="strict", timeout=TIMEOUT):
        job_id = runner.submit(job)
    signals = recorder.for_job(job_id)
    result = signals[-1][1][1]
    assert isinstance(result, SampleResult)
    assert signals[0] == ("started", (job_id, "sample"))
    # the core, chunk by chunk as the job runs (image of seed s is the same in any batch anyway)
    expected = torch.cat(
        [_last(generate(unet_model, seeds, steps=6, eta=0.5)).x_t for seeds in ([3, 4], [5])]
    )
    torch.testing.assert_close(result.images, expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(result.x_T, initial_noise([3, 4, 5], (3, 8, 8))[0])
    assert result.seeds == (3, 4, 5) and result.timesteps == make_timesteps(6)
    assert result.frames.shape == (6, 3, 8, 8, 3) and result.frames.dtype == np.uint8
    assert result.frame_steps == list(range(6))
    # the recorded frames are the core's pred_x0 as the shared uint8 conversion makes them
    x_T, noise = initial_noise([5], (3, 8, 8))
    steps = list(iter_sample(unet_model, x_T, steps=6, eta=0.5, noise=noise))
    for k, step in enumerate(steps):
        np.testing.assert_array_equal(result.frames[k, 2:], tensor_to_uint8(step.pred_x0))
    events = [args[0] for _, args in signals[1:-1]]
    assert [(e.phase, e.index, e.batch_offset, e.chunk) for e in events[:7]] == [
        *[("sample", i, 0, 0) for i in range(6)],
        ("sample", 0, 2, 1),
    ]
    assert all(e.total == 6 and e.chunks == 2 and e.steps_per_second > 0 for e in events)
    assert events[-1].preview.shape == (1, 8, 8, 3) and events[-1].preview_xt.dtype == np.uint8
    np.testing.assert_array_equal(events[-1].preview, result.frames[-1, 2:])
    assert not recorder.off_thread
    assert threading.main_thread().name not in counting_model.threads  # the model ran in the worker


def test_sample_job_with_explicit_latents_matches_seeded_run(qtbot, runner, unet_model):
    x_T, _ = initial_noise([7, 8], (3, 8, 8))
    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT) as seeded:
        runner.submit(SampleJob(seeds=(7, 8), steps=4, eta=1.0))
    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT) as explicit:
        runner.submit(SampleJob(seeds=(7, 8), steps=4, eta=1.0, x_T=x_T))
    torch.testing.assert_close(explicit.args[1].images, seeded.args[1].images, rtol=0, atol=0)
    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT) as plain:
        runner.submit(SampleJob(seeds=(), steps=4, x_T=x_T[1]))
    torch.testing.assert_close(plain.args[1].images, sample(unet_model, x_T[1:], steps=4))


def test_encode_job_signal_order_and_result(qtbot, runner, recorder, unet_model):
    images = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with qtbot.waitSignals(_strict(runner, 10), order="strict", timeout=TIMEOUT):
        job_id = runner.submit(EncodeJob(images, steps=5))
    signals = recorder.for_job(job_id)
    result = signals[-1][1][1]
    assert isinstance(result, EncodeResult)
    phases = [args[0].phase for _, args in signals[1:-1]]
    assert phases == ["encode"] * 5 + ["decode"] * 5
    x_T, rec = reconstruct(unet_model, images, steps=5)
    torch.testing.assert_close(result.x_T, x_T)
    torch.testing.assert_close(result.reconstruction, rec)
    mse = (((rec.clamp(-1, 1) - images) / 2) ** 2).flatten(1).mean(1)
    assert result.mse == pytest.approx(mse.tolist(), rel=1e-5)
    assert result.psnr == pytest.approx([10 * math.log10(1 / m) for m in mse.tolist()], rel=1e-5)
    assert result.timesteps == sorted(result.timesteps, reverse=True) and len(result.timesteps) == 5
    assert not recorder.off_thread


@pytest.mark.parametrize("images", [False, True])
def test_interpolate_job_signal_order_and_result(qtbot, runner, recorder, unet_model, images):
    gen = torch.Generator().manual_seed(2)
    a, b = torch.randn(3, 8, 8, generator=gen), torch.randn(3, 8, 8, generator=gen)
    if images:
        a, b = a.clamp(-1, 1), b.clamp(-1, 1)
    job = InterpolateJob(
        a, b, frames=5, method="slerp", steps=3, batch_size=2, a_is_image=images, b_is_image=images
    )
    steps = (3 if images else 0) + 3 * 3
    with qtbot.waitSignals(_strict(runner, steps), order="strict", timeout=TIMEOUT):
        job_id = runner.submit(job)
    signals = recorder.for_job(job_id)
    result = signals[-1][1][1]
    assert isinstance(result, InterpolateResult) and result.method == "slerp"
    events = [args[0] for _, args in signals[1:-1]]
    decode = [(e.batch_offset, e.preview.shape[0]) for e in events if e.phase == "decode" and e.index == 2]
    assert decode == [(0, 2), (2, 2), (4, 1)]
    ends = invert(unet_model, torch.stack([a, b]), steps=3) if images else torch.stack([a, b])
    path = interpolation_path(ends[0], ends[1], 5, "slerp")
    torch.testing.assert_close(result.latents, path)
    expected = torch.cat([sample(unet_model, path[lo : lo + 2], steps=3) for lo in (0, 2, 4)])
    torch.testing.assert_close(result.images, expected)
    assert not recorder.off_thread


def test_load_model_job(qtbot, bare_runner, qapp, tmp_path):
    tiny_unet(seed=3).save_pretrained(tmp_path / "tiny")
    runner = bare_runner
    signals = [runner.started, runner.model_changed, runner.finished]
    results = []
    runner.finished.connect(lambda job_id, result: results.append(result))
    with qtbot.waitSignals(signals, order="strict", timeout=TIMEOUT):
        runner.submit(LoadModelJob(str(tmp_path / "tiny"), device="auto", dtype="float32"))
    result = results[-1]
    assert isinstance(result, LoadModelResult) and result.info.family == "diffusers"
    assert runner.current_model_info is result.info
    assert runner.device == torch.device("cpu") and runner.dtype == torch.float32
    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT):
        runner.submit(SampleJob(seeds=(1,), steps=2))


def test_no_model_fails_with_kind_model(qtbot, bare_runner):
    with qtbot.waitSignal(bare_runner.failed, timeout=TIMEOUT) as b:
        bare_runner.submit(SampleJob(seeds=(1,), steps=2))
    _, message, kind = b.args
    assert kind == "model" and message.startswith("No model is loaded yet")


def test_bad_model_path_and_bad_input(qtbot, runner, tmp_path):
    with qtbot.waitSignal(runner.failed, timeout=TIMEOUT) as bad_model:
        runner.submit(LoadModelJob(str(tmp_path / "nowhere")))
    assert bad_model.args[2] == "model" and "does not exist" in bad_model.args[1]
    assert runner.current_model_info is not None  # the old model stays
    for job in (
        SampleJob(seeds=(1,), steps=0),
        SampleJob(seeds=(1,), spacing="fancy"),
        SampleJob(seeds=(1,), eta=2.0),
        SampleJob(seeds=(1,), batch_size=0),
        LoadModelJob(dtype="int8"),
        EncodeJob(torch.zeros(1, 3, 4, 4)),
    ):
        with qtbot.waitSignal(runner.failed, timeout=TIMEOUT) as bad_input:
            runner.submit(job)
        assert bad_input.args[2] == "input", (job, bad_input.args)
    with pytest.raises(TypeError, match="Not a job: str; submit a SampleJob"):
        runner.submit("not a job")  # type: ignore[arg-type]


def test_previews_are_throttled_and_last_step_always_sent(qtbot, runner):
    runner.preview_fps = 1e-3  # one preview per 1000 s: only the first and each phase's last step
    job = EncodeJob(torch.zeros(1, 3, 8, 8), steps=8)
    seen = []
    runner.step.connect(lambda e: seen.append((e.phase, e.index)))
    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT):
        runner.submit(job)
    assert seen == [("encode", 0), ("encode", 7), ("decode", 7)]
    runner.preview_fps = 0  # none at all
    seen.clear()
    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT) as done:
        runner.submit(SampleJob(seeds=(1,), steps=4))
    assert seen == [] and done.args[1].frames.shape[0] == 4  # the scrubber still records every step


def test_large_previews_are_downscaled():
    x = torch.rand(2, 3, 300, 200) * 2 - 1
    small = displayable(x, 128)
    assert small.shape == (2, 3, 128, 85)
    np.testing.assert_array_equal(tensor_to_uint8(small)[0], tensor_to_uint8(small[:1])[0])


def test_scrubber_keeps_at_most_250_evenly_spaced_frames(qtbot, runner):
    runner.preview_fps = 20
    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT) as done:
        runner.submit(SampleJob(seeds=(1,), steps=300))
    result = done.args[1]
    assert result.frames.shape == (250, 1, 8, 8, 3) and len(result.frame_steps) == 250
    assert result.frame_steps[0] == 0 and result.frame_steps[-1] == 299
    gaps = np.diff(result.frame_steps)
    assert gaps.min() >= 1 and gaps.max() <= 2
    runner.record_frames = False
    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT) as done:
        runner.submit(SampleJob(seeds=(1, 2), steps=3))
    assert done.args[1].frames.shape == (0, 2, 8, 8, 3) and done.args[1].frame_steps == []


def test_scrubber_budget_limits_frames_of_big_jobs():
    steps = scrubber_steps(250, images=64, height=256, width=256, max_side=128)
    assert 2 <= len(steps) < 250 and steps[0] == 0 and steps[-1] == 249
    assert len(steps) * 64 * 128 * 128 * 3 <= RECORD_BUDGET_BYTES
    assert scrubber_steps(50, images=8, height=32, width=32, max_side=128) == list(range(50))
