"""``set_alpha_to_one: false`` is honoured as diffusers does: the clean end of a run is ᾱ_0, not 1."""

from __future__ import annotations

import pytest
import torch
from diffusers import DDIMInverseScheduler, DDIMScheduler

from ddim_studio.core.noise import ImageNoise
from ddim_studio.core.sampling import invert, sample
from ddim_studio.core.schedule import NoiseSchedule
from tests.helpers.models import UNetModel, tiny_unet

SEEDS = [3, 11]


def _config(set_alpha_to_one: bool) -> dict:
    return {
        "num_train_timesteps": 1000,
        "beta_schedule": "linear",
        "beta_start": 1e-4,
        "beta_end": 0.02,
        "prediction_type": "epsilon",
        "clip_sample": False,
        "set_alpha_to_one": set_alpha_to_one,
        "steps_offset": 1,
        "timestep_spacing": "leading",
    }


def _diffusers(model: UNetModel, config: dict, steps: int, eta: float) -> torch.Tensor:
    sched = DDIMScheduler.from_config(config)
    sched.set_timesteps(steps)
    stream = ImageNoise(SEEDS, model.sample_shape)
    x = stream.draw()
    with torch.no_grad():
        for t in sched.timesteps:
            z = stream.draw() if eta > 0 else None
            x = sched.step(model.unet(x, t).sample, t, x, eta=eta, variance_noise=z).prev_sample
    return x


@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_sampler_matches_diffusers_with_set_alpha_to_one_false(eta: float) -> None:
    config = _config(False)
    schedule = NoiseSchedule.from_diffusers_config(config)
    assert not schedule.set_alpha_to_one
    assert schedule.final_alpha_bar == pytest.approx(float(schedule.alpha_bar[0]))
    model = UNetModel(tiny_unet(), schedule)
    stream = ImageNoise(SEEDS, model.sample_shape)
    ours = sample(model, stream.draw(), steps=10, eta=eta, spacing="leading", noise=stream)
    expected = _diffusers(model, config, 10, eta)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-4)
    # the setting matters: with ᾱ = 1 at the end the result differs
    one = UNetModel(tiny_unet(), NoiseSchedule.from_diffusers_config(_config(True)))
    stream = ImageNoise(SEEDS, model.sample_shape)
    other = sample(one, stream.draw(), steps=10, eta=eta, spacing="leading", noise=stream)
    assert not torch.allclose(other, expected, rtol=1e-4, atol=1e-4)


def test_inversion_matches_diffusers_with_set_alpha_to_one_false() -> None:
    config = _config(False)
    model = UNetModel(tiny_unet(), NoiseSchedule.from_diffusers_config(config))
    x0 = torch.rand(2, *model.sample_shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    inv = DDIMInverseScheduler.from_config(config)
    inv.set_timesteps(10)
    x = x0.clone()
    with torch.no_grad():
        for t in inv.timesteps:
            x = inv.step(model.unet(x, t).sample, t, x).prev_sample
    torch.testing.assert_close(invert(model, x0, steps=10, spacing="leading"), x, rtol=1e-4, atol=1e-4)


def test_the_setting_round_trips_through_the_config() -> None:
    schedule = NoiseSchedule.from_diffusers_config(_config(False))
    assert schedule.to_diffusers_config()["set_alpha_to_one"] is False
    assert NoiseSchedule.from_diffusers_config({}).set_alpha_to_one  # diffusers' default: true


def _diffusers_dpmpp(model: UNetModel, config: dict, timesteps: list[int], final: str) -> torch.Tensor:
    from diffusers import DPMSolverMultistepScheduler

    sched = DPMSolverMultistepScheduler(
        num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02,
        algorithm_type="dpmsolver++", solver_order=2, lower_order_final=True, final_sigmas_type=final,
    )  # fmt: skip
    sched.set_timesteps(timesteps=timesteps)
    x = ImageNoise(SEEDS, model.sample_shape).draw()
    with torch.no_grad():
        for t in sched.timesteps:
            x = sched.step(model.unet(x, t).sample, t, x).prev_sample
    return x


@pytest.mark.parametrize("steps", [3, 14, 15, 16, 50])
def test_dpmpp_2m_with_set_alpha_to_one_false_is_diffusers_sigma_min(steps: int) -> None:
    """Issue 26: ending at ᾱ_0 is diffusers' ``final_sigmas_type="sigma_min"``, whose last step is second
    order from S = 15 on (``lower_order_final`` applies below 15)."""
    from ddim_studio.core.samplers.dpmpp_2m import sample_dpmpp_2m
    from ddim_studio.core.schedule import make_timesteps

    config = _config(False)
    model = UNetModel(tiny_unet(), NoiseSchedule.from_diffusers_config(config))
    seq = make_timesteps(steps, 1000, "trailing", 0)
    ours = sample_dpmpp_2m(model, ImageNoise(SEEDS, model.sample_shape).draw(), timesteps=seq)
    expected = _diffusers_dpmpp(model, config, seq, "sigma_min")
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=2e-4)
    zero = _diffusers_dpmpp(model, config, seq, "zero")  # the other mode ends elsewhere: the test can fail
    assert float((zero - expected).abs().max()) > 1e-3
