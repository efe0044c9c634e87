"""Is this latent like the N(0, I) noise the model starts from? A readout for encoded x_T.

A latent found by inversion can decode to the right picture and still be unlike a sampled one
(EDITING_NOTES.md, "Latent health"): too small, off-centre, or smooth (neighbouring values
correlated). Three numbers tell: the mean (noise: 0), the standard deviation (noise: 1) and the
lag-1 spatial autocorrelation, horizontal and vertical averaged (noise: 0). For n independent
standard normal values their spread is about 1/√n, 1/√(2n) and 1/√(pairs), so a deviation
beyond ``Z`` of those is real (not chance); one beyond ``FAR`` matters in practice too.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

Z = 5.0  # deviations beyond Z standard errors are not chance (about 1 in 1.7 million)
FAR = 0.1  # …and ones beyond this change how the latent interpolates and varies

WARNING = (
    "This latent is not like the random noise the model starts from, so it behaves differently "
    "from a sampled one. Blending it with another latent (interpolation) assumes noise-like "
    "latents of a typical size: the pictures midway can turn washed-out, blurry or flat. "
    "Variations add fresh random noise to it, which can overwhelm its weaker structure, so they "
    "drift further from the picture than variations of a sampled latent. Refining the "
    "inversion, or encoding with more steps, brings it closer."
)


@dataclass(frozen=True)
class LatentHealth:
    """The three statistics of one latent (or batch), their N(0, I) tolerances and a verdict.

    Attributes:
        mean: mean of all values (noise: 0).
        std: standard deviation (noise: 1).
        autocorr: lag-1 spatial autocorrelation, horizontal and vertical averaged (noise: 0).
        count: number of values.
        mean_tol, std_tol, autocorr_tol: how far N(0, I) of this size strays by chance (Z · s.e.).
        status: ``gaussian``, ``slightly_off`` (a real but small deviation) or ``far``.
        verdict: one plain sentence with the numbers.
        warning: what a far-from-Gaussian latent does to interpolation and variations ("" else).
    """

    mean: float
    std: float
    autocorr: float
    count: int
    mean_tol: float
    std_tol: float
    autocorr_tol: float
    status: str
    verdict: str
    warning: str


def tolerances(count: int, pairs: int) -> tuple[float, float, float]:
    """Z standard errors of the mean, std and autocorrelation of ``count`` N(0, 1) values."""
    return Z / count**0.5, Z / (2 * count) ** 0.5, Z / max(pairs, 1) ** 0.5


def lag1_autocorrelation(x: torch.Tensor) -> tuple[float, int]:
    """Lag-1 autocorrelation over the last two (spatial) axes, and the number of pairs it used.

    Values are centred by their overall mean and scaled by their overall variance; horizontal and
    vertical neighbour pairs are pooled (so the result is their pair-weighted average).
    """
    z = x.to(torch.float64)
    z = z - z.mean()
    var = float(z.pow(2).mean())
    horizontal = z[..., :, 1:] * z[..., :, :-1]
    vertical = z[..., 1:, :] * z[..., :-1, :]
    pairs = horizontal.numel() + vertical.numel()
    if var == 0.0 or pairs == 0:
        return 0.0, pairs
    return float((horizontal.sum() + vertical.sum()) / pairs) / var, pairs


def latent_health(x: torch.Tensor) -> LatentHealth:
    """The health of a latent (C, H, W) or of a batch (N, C, H, W) taken together.

    Raises:
        ValueError: when ``x`` is not at least 2-D with two or more values.
    """
    if x.ndim < 2 or x.numel() < 2:
        raise ValueError("A latent needs at least two rows of values to judge its health.")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("This latent holds values that are not numbers (NaN or infinite).")
    z = x.detach().to("cpu", torch.float64)
    mean, std = float(z.mean()), float(z.std())
    autocorr, pairs = lag1_autocorrelation(z)
    mean_tol, std_tol, ac_tol = tolerances(z.numel(), pairs)
    off = (abs(mean), abs(std - 1.0), abs(autocorr))
    real = [d > tol for d, tol in zip(off, (mean_tol, std_tol, ac_tol), strict=True)]
    far = any(r and d > FAR for r, d in zip(real, off, strict=True))
    status = "far" if far else "slightly_off" if any(real) else "gaussian"
    numbers = f"mean {mean:+.2f}, std {std:.2f}, neighbour correlation {autocorr:+.2f}"
    verdict = {
        "gaussian": f"Looks like Gaussian noise ({numbers}; noise has 0, 1, 0).",
        "slightly_off": f"Close to Gaussian noise, with small differences ({numbers}; noise has 0, 1, 0).",
        "far": f"Far from Gaussian noise ({numbers}; noise has 0, 1, 0).",
    }[status]
    return LatentHealth(
        mean=mean,
        std=std,
        autocorr=autocorr,
        count=z.numel(),
        mean_tol=mean_tol,
        std_tol=std_tol,
        autocorr_tol=ac_tol,
        status=status,
        verdict=verdict,
        warning=WARNING if far else "",
    )


def batch_health(x_T: torch.Tensor) -> list[LatentHealth]:
    """One readout per latent of an (N, C, H, W) batch."""
    if x_T.ndim != 4:
        raise ValueError(f"Expected a batch of latents (N, C, H, W), got shape {tuple(x_T.shape)}.")
    return [latent_health(x) for x in x_T]
