"""Refined inversion through the operations layer: encode and interpolate pass ``refine`` on."""

from __future__ import annotations

import pytest
import torch

from ddim_studio.core.inversion import inversion_calls
from ddim_studio.core.sampling import invert
from ddim_studio.core.schedule import NoiseSchedule
from ddim_studio.operations import Endpoint, encode_images, interpolate, resolve_endpoint, run_to_end
from tests.helpers.models import UNetModel, tiny_unet

STEPS = 4


@pytest.fixture(scope="module")
def model() -> UNetModel:
    return UNetModel(tiny_unet(seed=2), NoiseSchedule.linear())


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    torch.manual_seed(0)
    return torch.rand(2, 3, 8, 8) * 2 - 1


def test_encode_refines_and_reports_the_calls_it_used(model: UNetModel, images: torch.Tensor) -> None:
    plain = run_to_end(encode_images(model, images, steps=STEPS))
    assert (plain.refine, plain.calls) == (0, STEPS)  # one batched call a step
    refined = run_to_end(encode_images(model, images, steps=STEPS, refine=3))
    assert refined.refine == 3
    assert STEPS < refined.calls <= inversion_calls(STEPS, 3)
    assert torch.allclose(refined.x_T, invert(model, images, steps=STEPS, refine=3), atol=1e-5)
    assert not torch.allclose(refined.x_T, plain.x_T, atol=1e-4)  # the refinement moved x_T
    assert sum(refined.mse) < sum(plain.mse)  # …towards a better reconstruction


def test_encode_refuses_a_bad_refine_in_words(model: UNetModel, images: torch.Tensor) -> None:
    with pytest.raises(ValueError, match="refine must be a whole number"):
        run_to_end(encode_images(model, images, steps=STEPS, refine=-1))


def test_interpolate_refines_its_picture_ends(model: UNetModel, images: torch.Tensor) -> None:
    a = resolve_endpoint("seed:1", model.sample_shape)
    b = Endpoint(images[0], True, "img")
    out = run_to_end(interpolate(model, a, b, frames=3, steps=STEPS, refine=2))
    assert torch.allclose(out.latents[-1], invert(model, images[:1], steps=STEPS, refine=2)[0], atol=1e-5)
    plain = run_to_end(interpolate(model, a, b, frames=3, steps=STEPS))
    assert not torch.allclose(out.latents[-1], plain.latents[-1], atol=1e-4)
