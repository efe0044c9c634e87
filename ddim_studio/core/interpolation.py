"""Interpolation between latents: slerp as in the DDIM paper, lerp for comparison.

x(λ) = sin((1−λ)θ)/sin θ · x_a + sin(λθ)/sin θ · x_b with θ = arccos(⟨x_a, x_b⟩ / (‖x_a‖‖x_b‖)).
Gaussian latents in high dimension are nearly orthogonal with norm ≈ √d; slerp keeps that norm,
lerp shrinks it (by ≈ 1/√2 half way), which decodes to washed-out images.
"""

from __future__ import annotations

import torch

METHODS = ("slerp", "lerp")
PARALLEL_DOT = 0.9995  # above this cos θ slerp is numerically unstable: fall back to lerp
ANTIPARALLEL_SIN = 1e-6  # below this sin θ (θ ≈ π) the arc is not defined by a and b alone


def lerp(x_a: torch.Tensor, x_b: torch.Tensor, lam: float | torch.Tensor) -> torch.Tensor:
    """(1 − λ) x_a + λ x_b."""
    return x_a + (x_b - x_a) * lam


def slerp(x_a: torch.Tensor, x_b: torch.Tensor, lam: float | torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of two latents of the same shape (lerp when nearly parallel)."""
    if x_a.shape != x_b.shape:
        raise ValueError(
            f"Latents to interpolate must have the same shape, got {tuple(x_a.shape)} and {tuple(x_b.shape)}."
        )
    a64, b64 = x_a.double().flatten(), x_b.double().flatten()
    denom = a64.norm() * b64.norm()
    if float(denom) == 0.0:
        return lerp(x_a, x_b, lam)
    dot = max(-1.0, min(1.0, float(torch.dot(a64, b64) / denom)))
    if dot > PARALLEL_DOT:  # nearly the same direction: the chord is the arc
        return lerp(x_a, x_b, lam)
    theta = torch.arccos(torch.tensor(dot, dtype=torch.float64))
    lam64 = torch.as_tensor(lam, dtype=torch.float64)
    if float(torch.sin(theta)) < ANTIPARALLEL_SIN:
        return _half_circle(x_a, x_b, lam64, theta)
    w_a = torch.sin((1 - lam64) * theta) / torch.sin(theta)
    w_b = torch.sin(lam64 * theta) / torch.sin(theta)
    return (w_a * x_a.double() + w_b * x_b.double()).to(x_a.dtype)


def _half_circle(
    x_a: torch.Tensor, x_b: torch.Tensor, lam: torch.Tensor, theta: torch.Tensor
) -> torch.Tensor:
    """Opposite latents: every half great circle joins them; take the one towards b's part off a's axis.

    When b has no such part (exactly −a), a fixed direction orthogonal to a is used. The norm goes
    linearly from ‖a‖ to ‖b‖, so the path never passes near the origin.
    """
    a64, b64 = x_a.double().flatten(), x_b.double().flatten()
    a_hat = a64 / a64.norm()
    perp = b64 - torch.dot(b64, a_hat) * a_hat
    if float(perp.norm()) <= 1e-9 * float(b64.norm()):
        perp = torch.roll(a_hat, 1) - torch.dot(torch.roll(a_hat, 1), a_hat) * a_hat
        if float(perp.norm()) <= 1e-9:  # a is constant across entries: alternate signs instead
            perp = torch.ones_like(a_hat)
            perp[1::2] = -1
            perp = perp - torch.dot(perp, a_hat) * a_hat
    p_hat = perp / perp.norm()
    radius = (1 - lam) * a64.norm() + lam * b64.norm()
    path = radius * (torch.cos(lam * theta) * a_hat + torch.sin(lam * theta) * p_hat)
    return path.reshape(x_a.shape).to(x_a.dtype)


def interpolation_path(
    x_a: torch.Tensor, x_b: torch.Tensor, frames: int, method: str = "slerp"
) -> torch.Tensor:
    """``frames`` latents from x_a to x_b inclusive, stacked as (frames, C, H, W) for one batched decode.

    ``x_a`` and ``x_b`` are single latents, shaped (C, H, W) or (1, C, H, W).
    """
    if frames < 2:
        raise ValueError(f"An interpolation needs at least 2 frames, got {frames}.")
    if method not in METHODS:
        raise ValueError(f"Unknown interpolation method {method!r}; choose slerp or lerp.")
    a, b = (x.squeeze(0) if x.ndim == 4 and x.shape[0] == 1 else x for x in (x_a, x_b))
    if a.ndim != 3 or b.ndim != 3:
        raise ValueError("interpolation_path takes two single latents shaped (C, H, W) or (1, C, H, W).")
    fn = slerp if method == "slerp" else lerp
    return torch.stack([fn(a, b, i / (frames - 1)) for i in range(frames)])
