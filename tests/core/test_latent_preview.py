"""Latent previews: a fitted linear latent → RGB map, real decodes only within the time budget."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ddim_studio.core.latent_preview import LatentPreviewer, approximate_pictures, rgb_map
from ddim_studio.core.models import load_model
from ddim_studio.core.models.latent import autoencoder_of
from ddim_studio.operations.sample import sample_seeds
from ddim_studio.workers.previews import PreviewSettings, PreviewThrottle, StepMonitor
from tests.helpers.ldm import photo, save_ldm_folder, trained_autoencoder


@pytest.fixture(scope="module")
def ldm(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    folder = save_ldm_folder(tmp_path_factory.mktemp("vq") / "ldm", "vq", ae=trained_autoencoder("vq"))
    return load_model(folder)[0]


def test_the_map_beats_a_constant_colour_on_held_out_latents(ldm) -> None:  # type: ignore[no-untyped-def]
    ae = autoencoder_of(ldm)
    pictures = torch.cat([photo(16), photo(16).flip(-1), photo(16).flip(-2)])  # the map never saw these
    latents = ae.encode(pictures)
    truth = F.avg_pool2d(ae.decode(latents).clamp(-1, 1), ae.factor)
    approx = approximate_pictures(ae, latents)
    assert approx.shape == truth.shape
    constant = truth.mean(dim=(0, 2, 3), keepdim=True)
    assert (approx - truth).pow(2).mean() < 0.75 * (constant - truth).pow(2).mean()  # measured: 0.60
    assert rgb_map(ae) is rgb_map(ae)  # fitted once per model


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_real_decodes_only_every_few_seconds_and_within_budget(ldm) -> None:  # type: ignore[no-untyped-def]
    clock = Clock()
    preview = LatentPreviewer(autoencoder_of(ldm), interval_s=3.0, budget=0.05, clock=clock)
    x = torch.randn(1, *ldm.sample_shape)
    seen = []
    for _ in range(200):  # 200 steps of 0.1 s: 20 s of job
        clock.now += 0.1
        out = preview(x)
        assert out.shape == (1, 3, 16, 16)
        seen.append(preview.real_decodes)
    assert 1 <= preview.real_decodes <= 20 / 3  # at most one per interval
    assert seen.index(1) >= 29  # none before the first interval has passed


def test_sample_job_monitor_previews_latents_as_pictures(ldm) -> None:  # type: ignore[no-untyped-def]
    events = []
    settings = PreviewSettings(preview_fps=1000.0, preview_size=64)
    latent = LatentPreviewer(autoencoder_of(ldm))
    monitor = StepMonitor(
        job_id=1, phase="sample", total=5, emit=events.append, throttle=PreviewThrottle(settings),
        settings=settings, record_steps=range(5), latent=latent,
    )  # fmt: skip
    run = sample_seeds(ldm, [0], steps=5)
    for step in run:
        monitor.observe(step)
    assert run.result.images.shape == (1, 3, 16, 16)
    assert events and events[-1].preview.shape == (1, 16, 16, 3)  # pictures, not 8 × 8 latents
    assert monitor.frames().shape == (5, 1, 16, 16, 3)
    assert latent.spent_s > 0


def test_no_real_decode_when_it_would_pass_the_budget(ldm) -> None:  # type: ignore[no-untyped-def]
    clock = Clock()
    ae = autoencoder_of(ldm)
    rgb_map(ae)
    ae._decode_s_per_pixel = 10.0 / (16 * 16)  # as if a decode took 10 s: more than 5 % of a 100 s job
    preview = LatentPreviewer(ae, interval_s=3.0, budget=0.05, clock=clock)
    x = torch.randn(1, *ldm.sample_shape)
    for _ in range(100):
        clock.now += 1.0
        preview(x)
    assert preview.real_decodes == 0
    for _ in range(200):  # once the job has run long enough, one fits
        clock.now += 1.0
        preview(x)
    assert preview.real_decodes >= 1
    del ae._decode_s_per_pixel


def test_a_sample_job_can_decode_unquantized(ldm) -> None:  # type: ignore[no-untyped-def]
    import threading

    from ddim_studio.workers.execution import JobContext, ModelSlot, run_sample
    from ddim_studio.workers.jobs import SampleJob

    slot = ModelSlot()
    slot.put(ldm, None, torch.device("cpu"), torch.float32)  # type: ignore[arg-type]
    ctx = JobContext(1, threading.Event(), PreviewSettings(preview_fps=0), lambda _e: None, slot)
    snapped = run_sample(ctx, SampleJob(seeds=(4,), steps=3))
    raw = run_sample(ctx, SampleJob(seeds=(4,), steps=3, quantize=False))
    assert torch.equal(snapped.x_T, raw.x_T)
    assert (snapped.images - raw.images).abs().max() > 1e-3
