"""The sampler against known answers: the authors' outputs and exact denoisers (DDIM_NOTES.md)."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from ddim_studio.core.models import FiniteSetOracle, GaussianOracle, load_ddim_checkpoint
from ddim_studio.core.noise import ImageNoise, initial_noise
from ddim_studio.core.sampling import invert, iter_sample, sample
from ddim_studio.core.schedule import NoiseSchedule
from tests.core.models.conftest import require_fixture

SCHEDULE = NoiseSchedule.linear()


@pytest.fixture(scope="module")
def tiny_reference() -> tuple[object, dict[str, torch.Tensor]]:
    model, _ = load_ddim_checkpoint(
        require_fixture("tiny_model.safetensors"), config=require_fixture("tiny_config.json")
    )
    return model, load_file(str(require_fixture("tiny_reference_outputs.safetensors")))


@pytest.mark.parametrize("name", ["uniform10", "uniform50", "quad10"])
def test_sampler_reproduces_authors_samples(tiny_reference: tuple, name: str) -> None:
    """Our η = 0 sampler on the converted model ends where ``generalized_steps`` ended."""
    model, ref = tiny_reference
    seq = [int(t) for t in ref[f"ddim_{name}_seq"]][::-1]
    steps = list(iter_sample(model, ref["x_T"], timesteps=seq))
    # the first pred_x0 divides by √ᾱ ≈ 0.01: ε's float32 round-off grows a hundredfold there
    torch.testing.assert_close(steps[0].pred_x0, ref[f"ddim_{name}_pred_x0_first"], rtol=1e-4, atol=5e-4)
    torch.testing.assert_close(steps[-1].x_t, ref[f"ddim_{name}_x0"], rtol=1e-4, atol=2e-4)


def test_named_spacings_give_the_authors_sequences(tiny_reference: tuple) -> None:
    from ddim_studio.core.schedule import make_timesteps

    _, ref = tiny_reference
    assert make_timesteps(10, 1000, "uniform")[::-1] == ref["ddim_uniform10_seq"].tolist()
    assert make_timesteps(50, 1000, "uniform")[::-1] == ref["ddim_uniform50_seq"].tolist()
    assert make_timesteps(10, 1000, "quadratic")[::-1] == ref["ddim_quad10_seq"].tolist()


@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_gaussian_data_mean_and_std(eta: float) -> None:
    """With the exact ε* of N(μ, s²I), samples have the target mean and std."""
    mu, s = 0.3, 0.5
    oracle = GaussianOracle(mu, s, (1, 16, 16), SCHEDULE)
    seeds = list(range(64))
    x_T, stream = initial_noise(seeds, oracle.sample_shape, dtype=torch.float64)
    x0 = sample(oracle, x_T, steps=200 if eta == 0 else 1000, eta=eta, noise=stream)
    assert abs(float(x0.mean()) - mu) < 0.01
    assert abs(float(x0.std()) - s) < 0.01


def test_gaussian_ddim_improves_with_steps() -> None:
    oracle = GaussianOracle(0.0, 0.5, (1, 16, 16), SCHEDULE)
    x_T, _ = initial_noise(range(64), oracle.sample_shape, dtype=torch.float64)
    errors = [abs(float(sample(oracle, x_T, steps=s).std()) - 0.5) for s in (2, 10, 100)]
    assert errors[0] > errors[1] > errors[2]


def _finite_set() -> torch.Tensor:
    g = torch.Generator().manual_seed(7)
    return (torch.rand(5, 3, 4, 4, generator=g, dtype=torch.float64) * 2 - 1).clamp(-1, 1)


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_finite_set_samples_land_on_data_points(eta: float) -> None:
    data = _finite_set()
    oracle = FiniteSetOracle(data, SCHEDULE)
    x_T, stream = initial_noise(range(20), oracle.sample_shape, dtype=torch.float64)
    x0 = sample(oracle, x_T, steps=100, eta=eta, noise=stream)
    distances = torch.cdist(x0.flatten(1), data.flatten(1)).min(dim=1).values
    assert float(distances.max()) < 1e-3


def test_encode_decode_error_falls_with_steps() -> None:
    """Encode → decode of Gaussian data with the exact ε*: only the discretisation error remains."""
    oracle = GaussianOracle(0.1, 0.5, (3, 8, 8), SCHEDULE)
    x0 = 0.1 + 0.5 * ImageNoise(range(8), oracle.sample_shape, dtype=torch.float64).draw()
    errors = []
    for steps in (5, 20, 100):
        x_T = invert(oracle, x0, steps=steps)
        errors.append(float(((sample(oracle, x_T, steps=steps) - x0) ** 2).mean()))
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 1e-3


def test_inverted_gaussian_latents_look_like_noise() -> None:
    """Encoding samples of N(μ, s²) gives latents with mean 0 and std 1 (the prior)."""
    oracle = GaussianOracle(0.2, 0.4, (1, 16, 16), SCHEDULE)
    x0 = 0.2 + 0.4 * ImageNoise(range(32), oracle.sample_shape, dtype=torch.float64).draw()
    x_T = invert(oracle, x0, steps=100)
    assert abs(float(x_T.mean())) < 0.02
    assert abs(float(x_T.std()) - 1) < 0.02
