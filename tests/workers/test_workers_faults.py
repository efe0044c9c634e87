"""Out of memory, NaN/Inf and unexpected errors: the right kind and message, and the runner goes on."""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest
import torch

from ddim_studio.core.imaging import ImageLoadError
from ddim_studio.core.latents import LatentLoadError
from ddim_studio.core.limits import NonFiniteError
from ddim_studio.core.noise import initial_noise
from ddim_studio.core.sampling import iter_sample
from ddim_studio.core.schedule import make_timesteps
from ddim_studio.workers import EncodeJob, InterpolateJob, SampleJob
from ddim_studio.workers.faults import NumericalError, classify, is_oom
from ddim_studio.workers.previews import PreviewSettings, PreviewThrottle, StepMonitor
from tests.workers.conftest import FaultyModel

TIMEOUT = 60_000  # ms: a hang guard, not a speed limit
K = 3  # the faulty model call (0-based), i.e. step K + 1 of the run


def _fail_then_succeed(qtbot, runner, recorder, job, fault_kind):
    with qtbot.waitSignal(runner.failed, timeout=TIMEOUT) as failed:
        bad = runner.submit(job)
    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT) as ok:
        good = runner.submit(SampleJob(seeds=(5,), steps=4))
    assert failed.args[0] == bad and failed.args[2] == fault_kind
    assert ok.args[0] == good and torch.isfinite(ok.args[1].images).all()
    assert recorder.terminal(bad) == ["failed"] and recorder.terminal(good) == ["finished"]
    assert not recorder.off_thread
    return failed.args[1]


@pytest.mark.parametrize("fault", ["oom", "oom-runtime"])
def test_out_of_memory_at_step_k(qtbot, runner, recorder, unet_model, fault):
    runner.set_model(FaultyModel(unet_model, K, fault))
    message = _fail_then_succeed(qtbot, runner, recorder, SampleJob(seeds=(1, 2), steps=6), "oom")
    assert "out of memory" in message.lower() and "smaller batch size, float16, or the CPU" in message


@pytest.mark.parametrize("fault", ["nan", "inf"])
def test_non_finite_latents_at_step_k(qtbot, runner, recorder, unet_model, fault):
    runner.set_model(FaultyModel(unet_model, K, fault))
    message = _fail_then_succeed(qtbot, runner, recorder, SampleJob(seeds=(1,), steps=6), "numerical")
    t = make_timesteps(6)[K]
    assert re.search(rf"produced (NaN|Inf) at step {K + 1} of 6 \(t={t}\)", message), (
        message
    )  # ε = ∞ gives NaN
    assert "while sampling" in message


def test_nan_while_encoding_names_the_phase(qtbot, runner, recorder, unet_model):
    runner.set_model(FaultyModel(unet_model, 1, "nan"))
    message = _fail_then_succeed(
        qtbot, runner, recorder, EncodeJob(torch.zeros(1, 3, 8, 8), steps=4), "numerical"
    )
    assert "at step 2 of 4" in message and "while encoding" in message


def test_nan_in_a_later_chunk_names_its_images(qtbot, runner, recorder, unet_model):
    runner.set_model(FaultyModel(unet_model, 3 + 1, "nan"))  # the second call of the second chunk
    job = InterpolateJob(torch.zeros(3, 8, 8), torch.ones(3, 8, 8), frames=4, steps=3, batch_size=2)
    message = _fail_then_succeed(qtbot, runner, recorder, job, "numerical")
    assert "at step 2 of 3" in message and "while decoding images 3–4" in message


def test_unexpected_error_is_reported_and_logged(qtbot, runner, recorder, unet_model, caplog):
    runner.set_model(FaultyModel(unet_model, K, "error"))
    with caplog.at_level(logging.ERROR, logger="ddim_studio.workers"):
        message = _fail_then_succeed(qtbot, runner, recorder, SampleJob(seeds=(1,), steps=6), "error")
    assert "boom inside the model" in message
    records = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert records and records[0].exc_info is not None and records[0].exc_info[0] is KeyError


def test_is_oom():
    assert is_oom(torch.OutOfMemoryError("x")) and is_oom(RuntimeError("CUDA out of memory."))
    assert is_oom(MemoryError()) and not is_oom(RuntimeError("shape mismatch"))


def _monitor(total, sent, *, defer):
    settings = PreviewSettings(preview_fps=1e-3)
    return StepMonitor(
        job_id=1,
        phase="sample",
        total=total,
        emit=sent.append,
        throttle=PreviewThrottle(settings),
        settings=settings,
        defer_checks=defer,
    )


def test_deferred_finiteness_flags_report_the_first_bad_step(unet_model):
    """The accelerator path (flags kept on the device, read at sends and at the end), run on the CPU."""
    faulty = FaultyModel(unet_model, 2, "nan")
    x_T, _ = initial_noise([0], (3, 8, 8))
    sent: list = []
    monitor = _monitor(6, sent, defer=True)
    steps = list(iter_sample(faulty, x_T, steps=6))
    for step in steps:  # no error while steps are only flagged: the throttle sends step 0 only
        monitor.observe(step) if step.index < 5 else None
    assert [e.index for e in sent] == [0]
    with pytest.raises(NumericalError, match=r"NaN at step 3 of 6 \(t=498\)"):
        monitor.finish()
    monitor = _monitor(6, sent, defer=True)
    with pytest.raises(NumericalError, match="at step 3 of 6"):
        for step in steps:  # the last step is sent: its check reads the flags before the preview goes
            monitor.observe(step)
    assert [e.index for e in sent] == [0, 0]
    assert not np.isnan(sent[-1].preview.astype(float)).any()


def test_a_nan_in_a_given_latent_is_a_numerical_failure_in_plain_words(qtbot, runner, recorder):
    """A NaN in an endpoint is refused by the operation before any model call (issue 17)."""
    a = torch.zeros(3, 8, 8)
    a[0, 1, 2] = float("nan")
    job = InterpolateJob(a, torch.ones(3, 8, 8), frames=4, steps=3, batch_size=2)
    message = _fail_then_succeed(qtbot, runner, recorder, job, "numerical")
    assert message.startswith("Endpoint A holds 1 of 192 values that are not numbers (1 NaN, 0 infinite)")
    assert "nothing was saved" in message and "Error" not in message and "_" not in message


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        pytest.param(NonFiniteError("The batch of seeds 3–4 holds 2 of 384 values …"), "numerical", id="nan"),
        pytest.param(ImageLoadError("unsupported", "“a.eps” is a PostScript file …"), "input", id="image"),
        pytest.param(LatentLoadError("corrupt", "“x.safetensors” is damaged …"), "input", id="latent"),
    ],
)
def test_non_finite_and_unopenable_files_map_to_plain_kinds(exc, kind, caplog):
    with caplog.at_level(logging.INFO, logger="ddim_studio.workers"):
        got_kind, message = classify(exc, 7, "encode")
    assert (got_kind, message) == (kind, str(exc))  # the sentence itself, no "The job failed: …"
    assert not any(r.exc_info for r in caplog.records)  # an expected failure: no traceback logged
