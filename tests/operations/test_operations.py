"""The operations layer: typed results, the same pictures as the core, one parameter set, one metric."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from PIL import Image

from ddim_studio.core.imaging import read_params, tensor_to_pil
from ddim_studio.core.latents import save_latent
from ddim_studio.core.noise import initial_noise
from ddim_studio.core.sampling import generate, invert, sample
from ddim_studio.core.schedule import NoiseSchedule
from ddim_studio.operations import (
    Stage,
    build_params,
    decode_latents,
    encode_images,
    interpolate,
    is_studio,
    latent_reproduces,
    reconstruction_error,
    resolve_endpoint,
    run_to_end,
    sample_seeds,
    save_picture,
)
from ddim_studio.operations.run import Run
from tests.helpers.models import UNetModel, tiny_unet

STEPS = 4


@pytest.fixture(scope="module")
def model() -> UNetModel:
    return UNetModel(tiny_unet(seed=2), NoiseSchedule.linear())


def test_a_run_yields_steps_and_returns_its_result(model: UNetModel) -> None:
    run = sample_seeds(model, [1, 2, 3], steps=STEPS, batch_size=2)
    with pytest.raises(RuntimeError, match="has not finished yet"):
        _ = run.result
    stages: list[Stage] = []
    steps = 0
    for _step in run:
        steps += 1
        if not stages or stages[-1] is not run.stage:
            assert run.stage is not None
            stages.append(run.stage)
    assert steps == 2 * STEPS  # two chunks of S model calls
    assert [(s.phase, s.batch_offset, s.chunk, s.chunks, s.count) for s in stages] == [
        ("sample", 0, 0, 2, 3),
        ("sample", 2, 1, 2, 3),
    ]
    out = run.result
    assert out.seeds == (1, 2, 3) and out.sampler == "ddim" and len(out.timesteps) == STEPS
    reference = sample(model, initial_noise([1, 2, 3], model.sample_shape)[0], steps=STEPS)
    assert torch.allclose(out.images, reference, atol=1e-5)  # batching does not change a seed's picture


def test_sampling_with_eta_matches_the_core_and_decoding_a_seeds_latent_reproduces_it(
    model: UNetModel,
) -> None:
    out = run_to_end(sample_seeds(model, [4, 9], steps=STEPS, eta=0.5, batch_size=1))
    core = list(generate(model, [4, 9], steps=STEPS, eta=0.5))[-1].x_t
    assert torch.allclose(out.images, core, atol=1e-5)
    again = run_to_end(decode_latents(model, out.x_T, seeds=[4, 9], steps=STEPS, eta=0.5, batch_size=1))
    assert torch.equal(again.images, out.images)


def test_encode_returns_latents_reconstruction_and_the_shared_metric(model: UNetModel) -> None:
    torch.manual_seed(0)
    images = torch.rand(2, 3, 8, 8) * 2 - 1
    run = encode_images(model, images, steps=STEPS)
    phases = []
    for _ in run:
        if run.stage is not None and (not phases or phases[-1] != run.stage.phase):
            phases.append(run.stage.phase)
    out = run.result
    assert phases == ["encode", "decode"]
    assert torch.allclose(out.x_T, invert(model, images, steps=STEPS), atol=1e-5)
    assert (out.mse, out.psnr) == reconstruction_error(images, out.reconstruction)


def test_reconstruction_error_is_clamped_on_the_unit_scale() -> None:
    original = torch.zeros(1, 3, 2, 2)
    assert reconstruction_error(original, torch.full((1, 3, 2, 2), 5.0)) == (
        [0.25],
        [pytest.approx(6.0206, abs=1e-4)],
    )
    mse, psnr = reconstruction_error(original, original)
    assert mse == [0.0] and psnr == [math.inf]
    with pytest.raises(ValueError, match="shapes"):
        reconstruction_error(original, torch.zeros(1, 3, 4, 4))


def test_build_params_has_every_key_and_is_studio() -> None:
    params = build_params("sample", info=None, steps=5, spacing="uniform", timesteps=[9, 5, 1], seed=3)
    for key in ("app", "app_version", "params_version", "kind", "model", "sampler", "steps", "spacing",
                "timesteps", "eta", "clip_sample", "seed"):  # fmt: skip
        assert key in params, key
    assert params["app"] == "ddim-studio" and params["sampler"] == "ddim" and is_studio(params)
    assert is_studio({"app": "ddim-studio 0.1.0", "model": "m"})  # files of older command lines
    assert not is_studio({"Software": "other"}) and not is_studio(None)
    with pytest.raises(ValueError, match="kind"):
        build_params("painting", info=None, steps=5, spacing="uniform")


def test_save_picture_writes_png_and_latent_never_overwriting(tmp_path: Path) -> None:
    image = Image.new("RGB", (8, 8), (10, 20, 30))
    params = build_params("sample", info=None, steps=3, spacing="uniform", seed=1)
    first = save_picture(tmp_path, image, params, stem="pic", latent=torch.zeros(3, 8, 8))
    second = save_picture(tmp_path, image, params, stem="pic")
    assert first.png.name == "pic.png" and first.latent is not None and first.latent.name == "pic.safetensors"
    assert second.png.name == "pic-1.png" and second.latent is None
    assert read_params(first.png) == params


def test_endpoints_from_a_seed_a_latent_file_a_gallery_picture_and_an_image(
    model: UNetModel, tmp_path: Path
) -> None:
    shape = model.sample_shape
    seed_latent = initial_noise([7], shape)[0][0]
    assert torch.equal(resolve_endpoint("seed:7", shape).value, seed_latent)
    file = save_latent(tmp_path / "x.safetensors", seed_latent * 2, {})
    assert torch.equal(resolve_endpoint(file, shape).value, seed_latent * 2)
    params = build_params("sample", info=None, steps=3, spacing="uniform", seed=7)
    picture = Image.new("RGB", (8, 8), (200, 10, 10))
    with_latent = save_picture(tmp_path, picture, params, stem="g", latent=seed_latent * 3)
    end = resolve_endpoint(with_latent.png, shape)
    assert not end.is_image and torch.equal(end.value, seed_latent * 3)
    seed_only = save_picture(tmp_path, picture, params, stem="s")
    assert torch.equal(resolve_endpoint(seed_only.png, shape).value, seed_latent)
    plain = tmp_path / "plain.png"
    picture.save(plain)
    end = resolve_endpoint(plain, shape)
    assert end.is_image and tuple(end.value.shape) == (3, 8, 8)
    with pytest.raises(ValueError, match="seed"):
        resolve_endpoint("seed:x", shape)


def test_interpolate_encodes_picture_ends_then_decodes_the_path(model: UNetModel) -> None:
    shape = model.sample_shape
    a = resolve_endpoint("seed:1", shape)
    image = torch.rand(3, 8, 8) * 2 - 1
    from ddim_studio.operations import Endpoint

    run: Run = interpolate(model, a, Endpoint(image, True, "img"), frames=5, steps=STEPS, batch_size=2)
    phases = []
    for _ in run:
        assert run.stage is not None
        phases.append((run.stage.phase, run.stage.chunk))
    out = run.result
    assert phases[0] == ("encode", 0) and phases[-1] == ("decode", 2)
    assert tuple(out.images.shape) == (5, 3, 8, 8) and torch.equal(out.latents[0], a.value)
    assert torch.allclose(out.latents[-1], invert(model, image[None], steps=STEPS)[0], atol=1e-5)
    assert torch.allclose(out.images[:1], sample(model, a.value[None], steps=STEPS), atol=1e-5)
    assert tensor_to_pil(out.images[0]).size == (8, 8)


def test_closing_a_run_stops_its_model_calls(model: UNetModel) -> None:
    calls = []
    real = model.unet.forward

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(*args, **kwargs)

    model.unet.forward = counting  # type: ignore[method-assign]
    try:
        run = sample_seeds(model, [1], steps=10)
        next(run)
        next(run)
        run.close()
        assert len(calls) == 2 and not run.done
    finally:
        model.unet.forward = real  # type: ignore[method-assign]


def test_gallery_picture_is_encoded_unless_its_latent_reproduces_it(model: UNetModel, tmp_path: Path) -> None:
    shape = model.sample_shape
    picture = Image.new("RGB", (8, 8), (200, 10, 10))
    made = dict(info=None, steps=3, spacing="uniform", timesteps=[666, 333, 0], seed=7)
    exact = save_picture(
        tmp_path, picture, build_params("sample", **made), stem="e", latent=torch.ones(shape)
    )
    noisy = save_picture(
        tmp_path, picture, build_params("sample", eta=0.5, **made), stem="n", latent=torch.ones(shape)
    )
    end = resolve_endpoint(exact.png, shape, timesteps=[666, 333, 0])
    assert not end.is_image and end.how == "saved latent" and torch.equal(end.value, torch.ones(shape))
    for spec, timesteps in ((noisy.png, [666, 333, 0]), (exact.png, [800, 400, 0])):
        end = resolve_endpoint(spec, shape, timesteps=timesteps)
        assert end.is_image and end.how == "encoded from the picture"
    assert latent_reproduces({"eta": 0.0, "timesteps": [5, 1]}, [5, 1])
    assert not latent_reproduces({"eta": 0.0, "timesteps": [5, 1], "clip_sample": True}, [5, 1])
