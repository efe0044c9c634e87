"""slerp between nearly opposite latents follows the sphere; only nearly parallel ones fall back to lerp."""

from __future__ import annotations

import torch

from ddim_studio.core.interpolation import interpolation_path, lerp, slerp


def _latent(seed: int) -> torch.Tensor:
    return torch.randn(3, 32, 32, generator=torch.Generator().manual_seed(seed))


def test_nearly_opposite_latents_keep_their_norm() -> None:
    a = _latent(0)
    b = -a + 1e-3 * _latent(1)  # cos θ ≈ −0.9999995
    mid = slerp(a, b, 0.5)
    assert abs(float(mid.norm()) / float(a.norm()) - 1) < 1e-2  # lerp would give a norm near 0
    assert float(lerp(a, b, 0.5).norm()) < 0.1
    path = interpolation_path(a, b, 9, "slerp")
    assert torch.allclose(path[0], a, atol=1e-5) and torch.allclose(path[-1], b, atol=1e-5)
    norms = path.flatten(1).norm(dim=1) / a.norm()
    assert float(norms.min()) > 0.99


def test_exactly_opposite_latents_take_a_half_circle() -> None:
    a = _latent(2)
    path = interpolation_path(a, -a, 5, "slerp")
    assert torch.allclose(path[0], a, atol=1e-5) and torch.allclose(path[-1], -a, atol=1e-5)
    norms = path.flatten(1).norm(dim=1) / a.norm()
    assert torch.allclose(norms, torch.ones(5, dtype=norms.dtype), atol=1e-5)
    cos_mid = float(torch.dot(path[2].flatten(), a.flatten()) / a.norm() ** 2)
    assert abs(cos_mid) < 1e-5  # half way is orthogonal to both ends
    constant = torch.ones(3, 4, 4)
    assert abs(float(slerp(constant, -constant, 0.5).norm()) - float(constant.norm())) < 1e-4


def test_nearly_parallel_latents_fall_back_to_lerp() -> None:
    a = _latent(3)
    b = a + 1e-4 * _latent(4)
    assert torch.equal(slerp(a, b, 0.3), lerp(a, b, 0.3))
