"""Our sampler and inversion against loops over diffusers' DDIMScheduler / DDIMInverseScheduler.

Where the two define the same thing they agree to float32 round-off. They differ by design where
diffusers steps from t to t − T // S instead of to the next listed timestep: ``linspace`` spacing,
and ``trailing`` when S does not divide T (see ``test_diffusers_prev_timestep_differs``); and, for
inversion of v- and x₀-models, where diffusers reads the network output at the current level
instead of at the level the network was called at.
"""

from __future__ import annotations

import pytest
import torch
from diffusers import DDIMInverseScheduler, DDIMScheduler

from ddim_studio.core.noise import ImageNoise
from ddim_studio.core.sampling import invert, iter_sample, sample
from ddim_studio.core.schedule import NoiseSchedule, make_timesteps
from tests.helpers.models import UNetModel, tiny_unet

SEEDS = [3, 11]


def _scheduler_config(
    prediction_type: str, spacing: str, steps_offset: int = 0, train_steps: int = 1000
) -> dict:
    return {
        "num_train_timesteps": train_steps,
        "beta_schedule": "linear",
        "beta_start": 1e-4,
        "beta_end": 0.02,
        "prediction_type": prediction_type,
        "clip_sample": False,
        "set_alpha_to_one": True,
        "steps_offset": steps_offset,
        "timestep_spacing": spacing,
    }


def _model(prediction_type: str, steps_offset: int = 0, train_steps: int = 1000) -> UNetModel:
    config = _scheduler_config(prediction_type, "leading", steps_offset, train_steps)
    return UNetModel(tiny_unet(), NoiseSchedule.from_diffusers_config(config))


def _diffusers_sample(model: UNetModel, config: dict, steps: int, eta: float) -> torch.Tensor:
    sched = DDIMScheduler.from_config(config)
    sched.set_timesteps(steps)
    stream = ImageNoise(SEEDS, model.sample_shape)
    x = stream.draw()
    with torch.no_grad():
        for t in sched.timesteps:
            out = model.unet(x, t).sample
            z = stream.draw() if eta > 0 else None
            x = sched.step(out, t, x, eta=eta, variance_noise=z).prev_sample
    return x


def _ours(model: UNetModel, steps: int, eta: float, spacing: str) -> torch.Tensor:
    stream = ImageNoise(SEEDS, model.sample_shape)
    x_T = stream.draw()
    return sample(model, x_T, steps=steps, eta=eta, spacing=spacing, noise=stream)


def _agrees_with_diffusers(spacing: str, steps: int) -> bool:
    return spacing == "leading" or (spacing == "trailing" and 1000 % steps == 0)


CASES = [(s, sp) for s in (1, 7, 20) for sp in ("leading", "trailing") if _agrees_with_diffusers(sp, s)]


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
@pytest.mark.parametrize(("steps", "spacing"), CASES)
def test_sampler_matches_diffusers(prediction_type: str, eta: float, steps: int, spacing: str) -> None:
    model = _model(prediction_type)
    expected = _diffusers_sample(model, _scheduler_config(prediction_type, spacing), steps, eta)
    ours = _ours(model, steps, eta, spacing)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_sampler_matches_diffusers_all_timesteps(prediction_type: str) -> None:
    """S = T with η = 0.5 (a T = 200 schedule, to keep the test quick): every step equal to diffusers'."""
    model = _model(prediction_type, train_steps=200)
    config = _scheduler_config(prediction_type, "leading", train_steps=200)
    expected = _diffusers_sample(model, config, 200, 0.5)
    torch.testing.assert_close(_ours(model, 200, 0.5, "leading"), expected, rtol=1e-4, atol=1e-4)


def test_sampler_matches_diffusers_with_steps_offset() -> None:
    model = _model("epsilon", steps_offset=1)
    expected = _diffusers_sample(model, _scheduler_config("epsilon", "leading", 1), 13, 0.0)
    torch.testing.assert_close(_ours(model, 13, 0.0, "leading"), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("spacing", "steps"), [("linspace", 10), ("trailing", 7)])
def test_diffusers_prev_timestep_differs(spacing: str, steps: int) -> None:
    """diffusers steps to t − T//S, which is not the next listed timestep for these spacings."""
    seq = make_timesteps(steps, 1000, spacing)
    sched = DDIMScheduler.from_config(_scheduler_config("epsilon", spacing))
    sched.set_timesteps(steps)
    assert [int(t) for t in sched.timesteps] == seq  # same list …
    diffusers_prev = [t - 1000 // steps for t in seq[:-1]]
    assert diffusers_prev != seq[1:]  # … but diffusers jumps elsewhere; we follow the list (paper §4.2)


@pytest.mark.parametrize("steps", [1, 10, 50])
def test_inversion_matches_diffusers_inverse_scheduler(steps: int) -> None:
    model = _model("epsilon")
    x0 = torch.rand(2, *model.sample_shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    inv = DDIMInverseScheduler.from_config(_scheduler_config("epsilon", "leading"))
    inv.set_timesteps(steps)
    x = x0.clone()
    with torch.no_grad():
        for t in inv.timesteps:
            x = inv.step(model.unet(x, t).sample, t, x).prev_sample
    ours = invert(model, x0, steps=steps, spacing="leading")
    torch.testing.assert_close(ours, x, rtol=1e-4, atol=1e-4)


def test_steps_yield_typed_results_in_order() -> None:
    model = _model("epsilon")
    stream = ImageNoise(SEEDS, model.sample_shape)
    results = list(iter_sample(model, stream.draw(), steps=5, spacing="leading"))
    assert [r.index for r in results] == [0, 1, 2, 3, 4]
    assert [r.timestep for r in results] == make_timesteps(5, 1000, "leading")
    assert all(r.total == 5 for r in results)
    with pytest.raises(AttributeError, match="cannot assign to field 'index'"):
        results[0].index = 3  # type: ignore[misc]
