"""Properties of one DDIM step, the η family, seeds and argument checking."""

from __future__ import annotations

import pytest
import torch

from ddim_studio.core.ddim import ddim_inverse_step, ddim_step, sigma, split_output
from ddim_studio.core.noise import ImageNoise, initial_noise, seeds_for
from ddim_studio.core.sampling import generate, iter_sample, sample
from ddim_studio.core.schedule import NoiseSchedule
from tests.helpers.models import UNetModel, tiny_unet

SCHEDULE = NoiseSchedule.linear()


def test_eta_one_is_ddpm_posterior_std() -> None:
    """σ(η = 1) equals √β̃ = √((1 − ᾱ_prev)/(1 − ᾱ_t) · β_t) for adjacent DDPM steps."""
    a = SCHEDULE.alpha_bar.double()
    betas = 1 - a[1:] / a[:-1]
    posterior = ((1 - a[:-1]) / (1 - a[1:]) * betas).sqrt()
    torch.testing.assert_close(sigma(a[1:], a[:-1], 1.0), posterior)


def test_eta_scales_sigma_linearly_and_zero_is_zero() -> None:
    a_t, a_prev = SCHEDULE.alpha_bar[500], SCHEDULE.alpha_bar[400]
    torch.testing.assert_close(sigma(a_t, a_prev, 0.5), 0.5 * sigma(a_t, a_prev, 1.0))
    assert float(sigma(a_t, a_prev, 0.0)) == 0.0


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
def test_split_output_recovers_truth(prediction_type: str) -> None:
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(4, 3, 8, 8, generator=g), torch.randn(4, 3, 8, 8, generator=g)
    a = SCHEDULE.alpha_bar[321]
    x_t = a.sqrt() * x0 + (1 - a).sqrt() * eps
    output = {"epsilon": eps, "sample": x0, "v_prediction": a.sqrt() * eps - (1 - a).sqrt() * x0}[
        prediction_type
    ]
    pred_eps, pred_x0 = split_output(output, x_t, a, prediction_type)
    torch.testing.assert_close(pred_eps, eps, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(pred_x0, x0, rtol=1e-4, atol=1e-4)


def test_inverse_step_undoes_step_for_a_fixed_noise_estimate() -> None:
    g = torch.Generator().manual_seed(1)
    x_t, eps = torch.randn(2, 3, 4, 4, generator=g), torch.randn(2, 3, 4, 4, generator=g)
    a_t, a_prev = SCHEDULE.alpha_bar[600], SCHEDULE.alpha_bar[500]
    x_prev, _ = ddim_step(x_t, eps, a_t, a_prev)
    back, _ = ddim_inverse_step(x_prev, eps, a_prev, a_t)
    torch.testing.assert_close(back, x_t, rtol=1e-4, atol=1e-4)


def test_last_step_lands_on_pred_x0_and_clipping_is_opt_in() -> None:
    x_t = torch.full((1, 3, 2, 2), 5.0)
    eps = torch.zeros_like(x_t)
    x_prev, pred_x0 = ddim_step(x_t, eps, SCHEDULE.alpha_bar[0], 1.0)
    torch.testing.assert_close(x_prev, pred_x0)
    assert float(x_prev.max()) > 1
    clipped, _ = ddim_step(x_t, eps, SCHEDULE.alpha_bar[0], 1.0, clip_sample=True)
    assert float(clipped.max()) == 1.0


@pytest.fixture(scope="module")
def model() -> UNetModel:
    return UNetModel(tiny_unet(), SCHEDULE)


def test_eta_zero_is_deterministic(model: UNetModel) -> None:
    x_T, _ = initial_noise([5], model.sample_shape)
    assert torch.equal(sample(model, x_T, steps=10), sample(model, x_T.clone(), steps=10))


def test_eta_positive_depends_on_the_noise_stream(model: UNetModel) -> None:
    def run(seed_for_steps: int) -> torch.Tensor:
        x_T, _ = initial_noise([5], model.sample_shape)
        return sample(model, x_T, steps=10, eta=1.0, noise=ImageNoise([seed_for_steps], model.sample_shape))

    assert not torch.allclose(run(1), run(2))
    assert torch.equal(run(1), run(1))


def test_image_is_independent_of_batch_size_and_position(model: UNetModel) -> None:
    def last(seeds: list[int]) -> torch.Tensor:
        return list(generate(model, seeds, steps=8, eta=0.7))[-1].x_t

    alone = last([42])[0]
    in_batch = last(seeds_for(40, 4))[2]  # seed 42 at position 2
    shuffled = last([7, 42])[1]
    torch.testing.assert_close(in_batch, alone, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(shuffled, alone, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": 1001}, "between 1 and the model's 1000"),
        ({"steps": 10, "eta": 1.5}, "between 0 .* and 1"),
        ({"steps": 10, "eta": -0.1}, "between 0 .* and 1"),
        ({"steps": 10, "spacing": "cosine"}, "choose one of"),
        ({"steps": 10, "eta": 0.5}, "needs the images' noise streams"),
    ],
)
def test_bad_arguments_say_what_to_do(model: UNetModel, kwargs: dict, message: str) -> None:
    x_T, _ = initial_noise([0], model.sample_shape)
    with pytest.raises(ValueError, match=message):
        next(iter_sample(model, x_T, **kwargs))


def test_wrong_image_size_says_what_size(model: UNetModel) -> None:
    with pytest.raises(ValueError, match=r"\(N, 3, 8, 8\).*resize images to 8×8"):
        next(iter_sample(model, torch.zeros(1, 3, 16, 16), steps=5))


def test_bad_seed_is_refused() -> None:
    with pytest.raises(ValueError, match="seed must be an integer"):
        seeds_for(-1, 2)


def test_sampling_runs_without_autograd(model: UNetModel) -> None:
    x_T, _ = initial_noise([0], model.sample_shape)
    x_T.requires_grad_(True)
    result = next(iter_sample(model, x_T, steps=3))
    assert not result.pred_x0.requires_grad
    assert torch.is_grad_enabled()  # the caller's grad mode is untouched between steps
