"""Latent health: N(0, I) passes, shrunken, shifted or smooth latents are called out in words."""

from __future__ import annotations

import pytest
import torch

from ddim_studio.core.latent_health import (
    batch_health,
    lag1_autocorrelation,
    latent_health,
    tolerances,
)


def noise(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("seed", range(5))
def test_gaussian_noise_is_healthy(seed: int) -> None:
    health = latent_health(noise(3, 32, 32, seed=seed))
    assert health.status == "gaussian" and health.warning == ""
    assert abs(health.mean) < health.mean_tol and abs(health.std - 1) < health.std_tol
    assert abs(health.autocorr) < health.autocorr_tol
    assert "Looks like Gaussian noise" in health.verdict


def test_a_shrunken_latent_is_far_and_warned_about() -> None:
    health = latent_health(0.52 * noise(3, 32, 32))
    assert health.status == "far"
    assert "std 0.52" in health.verdict
    assert "interpolation" in health.warning and "Variations" in health.warning


def test_a_shifted_latent_is_far() -> None:
    health = latent_health(noise(3, 32, 32) + 0.3)
    assert health.status == "far" and "mean +0.30" in health.verdict


def test_a_smooth_latent_has_a_high_neighbour_correlation() -> None:
    x = noise(3, 33, 33)
    smooth = (x[:, 1:, 1:] + x[:, :-1, 1:] + x[:, 1:, :-1] + x[:, :-1, :-1]) / 2  # std 1, correlated
    health = latent_health(smooth)
    assert 0.4 < health.autocorr < 0.6  # a 2×2 box of white noise: neighbours share half their terms
    assert health.status == "far" and health.warning


def test_tolerances_shrink_with_the_number_of_values() -> None:
    small, big = tolerances(1000, 2000), tolerances(4000, 8000)
    for a, b in zip(small, big, strict=True):
        assert b == pytest.approx(a / 2)


def test_a_small_but_real_deviation_on_a_large_latent_is_slightly_off() -> None:
    health = latent_health(0.97 * noise(4, 256, 256))
    assert health.status == "slightly_off" and health.warning == ""


def test_autocorrelation_of_known_patterns() -> None:
    stripes = torch.tensor([[1.0, -1.0] * 4] * 8)  # alternating columns, constant down each column
    value, pairs = lag1_autocorrelation(stripes)
    assert pairs == 8 * 7 + 7 * 8
    assert value == pytest.approx((-56 + 56) / 112)  # horizontal −1 and vertical +1 cancel
    assert lag1_autocorrelation(torch.ones(4, 4))[0] == 0.0  # constant: no variance, no correlation


def test_batch_health_reads_each_latent() -> None:
    batch = torch.stack([noise(3, 16, 16, seed=1), 0.3 * noise(3, 16, 16, seed=2)])
    statuses = [h.status for h in batch_health(batch)]
    assert statuses == ["gaussian", "far"]


def test_bad_latents_are_refused_in_words() -> None:
    with pytest.raises(ValueError, match="not numbers"):
        latent_health(torch.full((3, 4, 4), float("nan")))
    with pytest.raises(ValueError, match="two rows"):
        latent_health(torch.ones(5))
    with pytest.raises(ValueError, match="batch of latents"):
        batch_health(torch.ones(3, 4, 4))
