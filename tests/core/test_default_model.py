"""The shipped default model makes scenes, not noise: 50-step DDIM samples are near the data."""

from __future__ import annotations

import json

import pytest
import torch

from ddim_studio.core.models import DEFAULT_MODEL_DIR, DiffusersUNet, load_model
from ddim_studio.core.noise import initial_noise
from ddim_studio.core.sampling import sample
from ddim_studio.core.scenes import make_scenes, to_model_range
from ddim_studio.training.metrics import swd

COUNT = 48


def test_model_folder_is_complete_and_honest() -> None:
    names = {p.name for p in DEFAULT_MODEL_DIR.iterdir()}
    wanted = {"config.json", "diffusion_pytorch_model.safetensors", "scheduler_config.json", "README.md"}
    assert wanted <= names
    scheduler = json.loads((DEFAULT_MODEL_DIR / "scheduler_config.json").read_text())
    assert scheduler["clip_sample"] is False and scheduler["prediction_type"] == "v_prediction"
    assert scheduler["beta_schedule"] == "linear" and scheduler["num_train_timesteps"] == 1000
    size = sum(p.stat().st_size for p in DEFAULT_MODEL_DIR.iterdir())
    assert size < 15 * 2**20


@pytest.mark.timeout(900)  # a hang guard: 176 s with two busy processes beside the suite
def test_samples_are_much_closer_to_the_data_than_an_untrained_model() -> None:
    model, _ = load_model()
    assert isinstance(model, DiffusersUNet)
    untrained = DiffusersUNet(
        type(model.unet).from_config(model.unet.config).eval(), model.schedule, model.sample_shape
    )
    x_T, _ = initial_noise(range(COUNT), model.sample_shape)
    real = torch.from_numpy(to_model_range(make_scenes(COUNT * 4, seed=10_000)))
    trained_swd = swd(sample(model, x_T, steps=50), real)["mean"]
    untrained_swd = swd(sample(untrained, x_T, steps=50), real)["mean"]
    floor = swd(torch.from_numpy(to_model_range(make_scenes(COUNT, seed=10_001))), real)["mean"]
    assert trained_swd < untrained_swd / 3, (trained_swd, untrained_swd)
    assert trained_swd < 4 * floor, (trained_swd, floor)


def test_samples_have_a_shape_on_a_smooth_background() -> None:
    """Each sample's centre of contrast stands out from its rows' mean colour (a shape is there)."""
    model, _ = load_model()
    x_T, _ = initial_noise(range(8), model.sample_shape)
    x0 = sample(model, x_T, steps=50)
    row_mean = x0.mean(dim=3, keepdim=True)  # the gradient background varies by row only
    deviation = (x0 - row_mean).abs().amax(dim=(1, 2, 3))
    assert float(deviation.min()) > 0.3  # every image has something that is not background
    assert float(x0.abs().amax()) < 1.5  # and nothing blown out far beyond the data range
