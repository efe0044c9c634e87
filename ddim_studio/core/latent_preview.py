"""Live previews of a latent diffusion run without decoding every step.

A VQ-f4 decode costs about three UNet steps, so previews show the predicted x₀ through a linear
latent → RGB map (one 3 × (C + 1) matrix per model, fitted once by least squares against a few real
decodes and kept on the autoencoder), and decode for real only every few seconds while the real
decodes stay within a share of the job's time. The run's own result is always a real decode.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ddim_studio.core.models.latent import Autoencoder

#: Pictures decoded to fit the map, and their side (the decoder is convolutional: small is enough).
FIT_PICTURES = 4
FIT_SIDE = 48
#: Real decodes are spaced at least this far apart …
REAL_DECODE_INTERVAL_S = 3.0
#: … and together stay within this share of the job's time (fitting the map included).
PREVIEW_BUDGET = 0.05


def _fit_pictures(ae: Autoencoder, seed: int) -> torch.Tensor:
    """Smooth random colour fields with some edges: pictures whose latents are in the encoder's range."""
    g = torch.Generator().manual_seed(seed)
    side = min(FIT_SIDE, ae.picture_shape[1]) // ae.factor * ae.factor
    side = max(side, ae.factor)
    coarse = torch.rand(FIT_PICTURES, ae.picture_shape[0], 4, 4, generator=g) * 2 - 1
    fields = F.interpolate(coarse, size=(side, side), mode="bilinear", align_corners=False)
    blocky = F.interpolate(coarse.flip(0), size=(side, side), mode="nearest")
    return torch.where(torch.rand(FIT_PICTURES, 1, 1, 1, generator=g) < 0.5, fields, blocky)


def fit_rgb_map(ae: Autoencoder, seed: int = 0) -> torch.Tensor:
    """The least-squares (C + 1, 3) map from a latent cell (and 1) to the mean colour it decodes to.

    Fitted on the latents of a few synthetic pictures and their real decodes, each decode averaged
    over the cell's f × f pixels.
    """
    pictures = _fit_pictures(ae, seed).to(ae.device)
    latents = ae.encode(pictures)
    t0 = time.perf_counter()
    decoded = ae.decode(latents).clamp(-1, 1)
    # the cost of a real decode, per picture pixel: how the previewer knows one before making it
    ae._decode_s_per_pixel = (time.perf_counter() - t0) / pictures[:, 0].numel()  # type: ignore[attr-defined]
    target = F.avg_pool2d(decoded, ae.factor) if ae.factor > 1 else decoded
    c = latents.shape[1]
    a = torch.cat([latents.permute(0, 2, 3, 1).reshape(-1, c), torch.ones(latents[:, :1].numel(), 1)], 1)
    b = target.permute(0, 2, 3, 1).reshape(-1, target.shape[1])
    return torch.linalg.lstsq(a.double().cpu(), b.double().cpu()).solution.to(torch.float32)


def rgb_map(ae: Autoencoder) -> torch.Tensor:
    """The model's latent → RGB map, fitted on first use and then kept on the autoencoder."""
    cached = getattr(ae, "_rgb_map", None)
    if cached is None:
        cached = fit_rgb_map(ae)
        ae._rgb_map = cached  # type: ignore[attr-defined]
    return cached


def approximate_pictures(ae: Autoencoder, latents: torch.Tensor) -> torch.Tensor:
    """(N, C, h, w) latents → (N, 3, h, w) colours in [−1, 1] through the linear map (cheap)."""
    m = rgb_map(ae).to(device=latents.device, dtype=torch.float32)
    x = latents.to(torch.float32).permute(0, 2, 3, 1)
    rgb = x @ m[:-1] + m[-1]
    return rgb.permute(0, 3, 1, 2).clamp(-1, 1)


class LatentPreviewer:
    """Turns a latent run's predicted x₀ into preview pictures within a time budget.

    Args:
        ae: the model's autoencoder.
        interval_s: the least time between two real decodes.
        budget: the share of the job's time real decodes and the map's fitting may take.
        clock: a monotonic clock (tests pass their own).

    Attributes:
        spent_s: seconds spent on preview work so far (fit, linear maps, real decodes).
        real_decodes: how many real decodes were made.
    """

    def __init__(
        self,
        ae: Autoencoder,
        *,
        interval_s: float = REAL_DECODE_INTERVAL_S,
        budget: float = PREVIEW_BUDGET,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.ae, self.interval_s, self.budget, self._clock = ae, interval_s, budget, clock
        self._start = clock()
        self._last_real = self._start
        self._decode_s_per_pixel = 0.0  # measured by the last real decode (else by the map's fit)
        self.spent_s = 0.0
        self.real_decodes = 0

    def __call__(self, latents: torch.Tensor) -> torch.Tensor:
        """Preview pictures of ``latents``: a real decode when one is due and affordable, else the map."""
        rgb = self.approximate(latents)  # also fits the map on first use (its cost is counted)
        t0 = self._clock()
        pixels = latents.shape[0] * latents.shape[-2] * latents.shape[-1] * self.ae.factor**2
        if not self._real_due(t0, pixels):
            return rgb
        out = self.ae.decode(latents)
        self._decode_s_per_pixel = (self._clock() - t0) / pixels
        self._last_real = t0
        self.real_decodes += 1
        self.spent_s += self._decode_s_per_pixel * pixels
        return out

    def approximate(self, latents: torch.Tensor) -> torch.Tensor:
        """The linear map's pictures of ``latents`` at the picture size (recorded frames, x_t views)."""
        t0 = self._clock()
        rgb = approximate_pictures(self.ae, latents)
        if self.ae.factor > 1:
            rgb = F.interpolate(rgb, scale_factor=self.ae.factor, mode="bilinear", align_corners=False)
        self.spent_s += self._clock() - t0
        return rgb

    def _real_due(self, now: float, pixels: int) -> bool:
        """Whether a real decode is due (an interval has passed) and fits the budget, its cost
        foreseen from the last decode or from the map's fit."""
        if now - self._last_real < self.interval_s:
            return False
        per_pixel = self._decode_s_per_pixel or float(getattr(self.ae, "_decode_s_per_pixel", 0.0))
        return self.spent_s + per_pixel * pixels <= self.budget * (now - self._start)

    def share(self) -> float:
        """Preview time as a share of the time since the previewer was made."""
        return self.spent_s / max(self._clock() - self._start, 1e-9)
