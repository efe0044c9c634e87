"""Slerp and lerp between latents."""

from __future__ import annotations

import pytest
import torch

from ddim_studio.core.interpolation import interpolation_path, lerp, slerp


def _pair(d: int = 3 * 32 * 32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(3, 32, 32, generator=g), torch.randn(3, 32, 32, generator=g)


def test_slerp_endpoints_and_norms() -> None:
    a, b = _pair()
    torch.testing.assert_close(slerp(a, b, 0.0), a)
    torch.testing.assert_close(slerp(a, b, 1.0), b, rtol=1e-5, atol=1e-5)
    path = interpolation_path(a, b, 9, "slerp")
    norms = path.flatten(1).norm(dim=1)
    expected = torch.linspace(float(a.norm()), float(b.norm()), 9)
    # orthogonal-ish Gaussian latents of similar norm: slerp stays on the sphere
    assert torch.all((norms - expected).abs() / expected < 0.02)


def test_lerp_shrinks_norm_half_way() -> None:
    a, b = _pair()
    mid = lerp(a, b, 0.5)
    assert float(mid.norm()) < 0.8 * float(a.norm())
    assert float(slerp(a, b, 0.5).norm()) > 0.97 * float(a.norm())


def test_parallel_latents_fall_back_to_lerp() -> None:
    a, _ = _pair()
    b = a * 1.0000001
    out = slerp(a, b, 0.3)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, lerp(a, b, 0.3))


def test_path_shape_and_bad_arguments() -> None:
    a, b = _pair()
    assert interpolation_path(a[None], b[None], 5, "lerp").shape == (5, 3, 32, 32)
    with pytest.raises(ValueError, match="at least 2 frames"):
        interpolation_path(a, b, 1)
    with pytest.raises(ValueError, match="slerp or lerp"):
        interpolation_path(a, b, 3, "cubic")
    with pytest.raises(ValueError, match="same shape"):
        slerp(a, b[:, :16], 0.5)
