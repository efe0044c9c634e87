"""The exact denoisers: closed forms checked against each other and against known noise."""

from __future__ import annotations

import pytest
import torch

from ddim_studio.core.models import DiffusionModel, FiniteSetOracle, GaussianOracle
from ddim_studio.core.schedule import NoiseSchedule

SCHEDULE = NoiseSchedule.linear()


def _alpha_bar(t: int) -> float:
    return float(SCHEDULE.alpha_bar[t])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_single_point_returns_the_exact_noise(dtype: torch.dtype) -> None:
    generator = torch.Generator().manual_seed(0)
    y = torch.rand(1, 3, 4, 4, generator=generator, dtype=torch.float64) * 2 - 1
    oracle = FiniteSetOracle(y.to(dtype), SCHEDULE)
    assert isinstance(oracle, DiffusionModel) and oracle.sample_shape == (3, 4, 4)
    t = torch.tensor([0, 10, 500, 999])
    eps = torch.randn(4, 3, 4, 4, generator=generator, dtype=torch.float64)
    ab = SCHEDULE.alpha_bar.double()[t].reshape(-1, 1, 1, 1)
    x_t = (ab.sqrt() * y + (1 - ab).sqrt() * eps).to(dtype)
    out = oracle(x_t, t)
    assert out.dtype == dtype
    # float32 inputs carry round-off of x_t, amplified by 1/√(1−ᾱ) at t = 0 (about 100×).
    tol = 1e-9 if dtype == torch.float64 else 2e-4
    torch.testing.assert_close(out.double(), eps, rtol=0, atol=tol)


def test_gaussian_matches_an_independent_posterior_mean() -> None:
    """ε* from E[x0|x_t] = μ + √ᾱ s² (x_t − √ᾱ μ) / (ᾱ s² + 1 − ᾱ), the Gaussian conditioning formula."""
    mu, s = torch.full((1, 2, 2), 0.3, dtype=torch.float64), 0.7
    oracle = GaussianOracle(mu, s, (1, 2, 2), SCHEDULE)
    assert isinstance(oracle, DiffusionModel)
    x_t = torch.randn(5, 1, 2, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    for t in (0, 100, 600, 999):
        ab = _alpha_bar(t)
        posterior_mean = mu + ab**0.5 * s**2 * (x_t - ab**0.5 * mu) / (ab * s**2 + 1 - ab)
        expected = (x_t - ab**0.5 * posterior_mean) / (1 - ab) ** 0.5
        torch.testing.assert_close(oracle(x_t, torch.full((5,), t)), expected, rtol=1e-12, atol=1e-12)


def test_gaussian_agrees_with_many_samples_of_it() -> None:
    """A finite set of 20 000 draws from N(μ, s²) is nearly that Gaussian: the two oracles agree."""
    mu, s = 0.5, 0.3
    data = mu + s * torch.randn(
        20_000, 1, 1, 1, generator=torch.Generator().manual_seed(3), dtype=torch.float64
    )
    finite, gaussian = FiniteSetOracle(data, SCHEDULE), GaussianOracle(mu, s, (1, 1, 1), SCHEDULE)
    z = torch.linspace(-2.0, 2.0, 9, dtype=torch.float64).reshape(9, 1, 1, 1)
    for t in (100, 400, 800):
        ab = _alpha_bar(t)  # x_t within two standard deviations of its marginal N(√ᾱ μ, ᾱ s² + 1 − ᾱ)
        x_t = ab**0.5 * mu + (ab * s**2 + 1 - ab) ** 0.5 * z
        torch.testing.assert_close(
            finite(x_t, torch.tensor(t)), gaussian(x_t, torch.tensor(t)), rtol=0, atol=0.02
        )


def test_point_mass_gaussian_equals_single_point_set() -> None:
    mu = torch.randn(1, 3, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    gaussian, finite = GaussianOracle(mu, 0.0, (1, 3, 3), SCHEDULE), FiniteSetOracle(mu[None], SCHEDULE)
    x_t = torch.randn(3, 1, 3, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    t = torch.tensor([5, 300, 990])
    torch.testing.assert_close(gaussian(x_t, t), finite(x_t, t), rtol=1e-10, atol=1e-10)


def test_finite_set_weights_are_stable_far_from_the_data() -> None:
    data = torch.tensor([-1.0, 1.0], dtype=torch.float64).reshape(2, 1, 1, 1)
    oracle = FiniteSetOracle(data, SCHEDULE)
    x_t = torch.tensor([300.0, -300.0], dtype=torch.float32).reshape(2, 1, 1, 1)
    out = oracle(x_t, torch.tensor([0, 0]))
    assert torch.isfinite(out).all() and out.dtype == torch.float32
    mean = oracle.posterior_mean(x_t, torch.tensor([0, 0]))
    torch.testing.assert_close(mean.flatten(), torch.tensor([1.0, -1.0], dtype=torch.float64))


def test_oracle_info_and_bad_arguments() -> None:
    assert FiniteSetOracle(torch.zeros(3, 1, 2, 2), SCHEDULE).info.family == "oracle"
    assert GaussianOracle(0.0, 1.0, (3, 8, 8), SCHEDULE).info.sample_shape == (3, 8, 8)
    with pytest.raises(ValueError, match=r"data must be \(K, C, H, W\).*got shape \(3, 4\)"):
        FiniteSetOracle(torch.zeros(3, 4), SCHEDULE)
    with pytest.raises(ValueError, match="standard deviation and must be >= 0"):
        GaussianOracle(0.0, -1.0, (1, 1, 1), SCHEDULE)(torch.zeros(1, 1, 1, 1), torch.tensor([0]))
    with pytest.raises(ValueError, match="timesteps"):
        GaussianOracle(0.0, 1.0, (1, 1, 1), SCHEDULE)(torch.zeros(1, 1, 1, 1), torch.tensor([1000]))
