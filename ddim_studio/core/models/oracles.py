"""Exact noise predictors for data whose distribution is known: tests without trained weights.

For data ``x_0 ~ p`` and ``x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε``, the noise predictor with the least
squared error is ``ε*(x_t, t) = (x_t − √ᾱ_t E[x_0 | x_t]) / √(1−ᾱ_t)``. Two data distributions
give it in closed form (DDIM_NOTES.md, last section):

* Gaussian data ``N(μ, s² I)``: ``ε* = √(1−ᾱ) (x_t − √ᾱ μ) / (ᾱ s² + 1 − ᾱ)``.
* A finite set ``{y_k}``: ``E[x_0 | x_t] = Σ_k w_k y_k`` with
  ``w = softmax_k(−‖x_t − √ᾱ y_k‖² / (2(1 − ᾱ)))``.

Both follow the :class:`DiffusionModel` protocol (``prediction_type`` epsilon) and compute in
float64 on ``x_t``'s device, returning ``x_t``'s dtype.
"""

from __future__ import annotations

import torch

from ddim_studio.core.models.protocol import ModelInfo
from ddim_studio.core.schedule import NoiseSchedule


def _alpha_bar(schedule: NoiseSchedule, t: torch.Tensor, x_t: torch.Tensor) -> torch.Tensor:
    """ᾱ_t as float64 on ``x_t``'s device, shaped (N, 1, 1, 1) for broadcasting."""
    n = x_t.shape[0]
    t = torch.as_tensor(t)
    t = t.reshape(1).expand(n) if t.ndim == 0 else t.reshape(n)
    index = t.detach().to(device="cpu", dtype=torch.long)
    if int(index.min()) < 0 or int(index.max()) >= schedule.num_train_timesteps:
        raise ValueError(f"timesteps must lie in [0, {schedule.num_train_timesteps}), got {index.tolist()}")
    alpha_bar = schedule.alpha_bar.to(torch.float64)[index]
    return alpha_bar.to(x_t.device).reshape(n, *([1] * (x_t.ndim - 1)))


def _oracle_info(name: str, sample_shape: tuple[int, int, int], schedule: NoiseSchedule) -> ModelInfo:
    """The ModelInfo of an exact ε-predictor."""
    return ModelInfo(
        name=name,
        source="oracle",
        family="oracle",
        sample_shape=sample_shape,
        num_parameters=0,
        prediction_type="epsilon",
        num_train_timesteps=schedule.num_train_timesteps,
    )


class GaussianOracle:
    """The exact ε-predictor for data ``N(μ, s² I)``.

    Attributes:
        mu: the data mean, a scalar or a tensor broadcastable to ``sample_shape`` (float64).
        s: the data standard deviation (a scalar > 0, or 0 for a point mass).
        schedule: the noise schedule.
        sample_shape: (C, H, W).
    """

    def __init__(
        self,
        mu: float | torch.Tensor,
        s: float,
        sample_shape: tuple[int, int, int],
        schedule: NoiseSchedule,
    ) -> None:
        if s < 0:
            raise ValueError(f"s is a standard deviation and must be >= 0, got {s}")
        self.mu = torch.as_tensor(mu, dtype=torch.float64)
        self.s = float(s)
        channels, height, width = (int(d) for d in sample_shape)
        self.sample_shape = (channels, height, width)
        self.schedule = schedule

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """ε*(x_t, t) = √(1−ᾱ) (x_t − √ᾱ μ) / (ᾱ s² + 1 − ᾱ)."""
        alpha_bar = _alpha_bar(self.schedule, t, x_t)
        x = x_t.to(torch.float64)
        mu = self.mu.to(x.device)
        eps = (1 - alpha_bar).sqrt() * (x - alpha_bar.sqrt() * mu) / (alpha_bar * self.s**2 + 1 - alpha_bar)
        return eps.to(x_t.dtype)

    @property
    def info(self) -> ModelInfo:
        """A description for the UI and CLI."""
        return _oracle_info(f"Gaussian oracle (s = {self.s:g})", self.sample_shape, self.schedule)


class FiniteSetOracle:
    """The exact ε-predictor for data drawn uniformly from a finite set of samples.

    Attributes:
        data: the K samples, (K, C, H, W), kept in float64.
        schedule: the noise schedule.
        sample_shape: (C, H, W).
    """

    def __init__(self, data: torch.Tensor, schedule: NoiseSchedule) -> None:
        if data.ndim != 4 or data.shape[0] < 1:
            raise ValueError(f"data must be (K, C, H, W) with K >= 1, got shape {tuple(data.shape)}")
        self.data = data.detach().to(torch.float64)
        self.schedule = schedule
        self.sample_shape = (int(data.shape[1]), int(data.shape[2]), int(data.shape[3]))
        self._flat = self.data.reshape(self.data.shape[0], -1)
        self._sq_norms = (self._flat**2).sum(dim=1)

    def posterior_mean(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """E[x_0 | x_t] in float64, (N, C, H, W)."""
        alpha_bar = _alpha_bar(self.schedule, t, x_t).reshape(-1, 1)
        x = x_t.to(torch.float64).reshape(x_t.shape[0], -1)
        flat, sq_norms = self._flat.to(x.device), self._sq_norms.to(x.device)
        # ‖x − √ᾱ y‖² = ‖x‖² − 2√ᾱ x·y + ᾱ‖y‖², without an (N, K, D) intermediate.
        dist2 = (x**2).sum(dim=1, keepdim=True) - 2 * alpha_bar.sqrt() * (x @ flat.T) + alpha_bar * sq_norms
        logits = -dist2 / (2 * (1 - alpha_bar))
        weights = torch.exp(logits - torch.logsumexp(logits, dim=1, keepdim=True))
        return (weights @ flat).reshape(x_t.shape)

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """ε*(x_t, t) = (x_t − √ᾱ E[x_0 | x_t]) / √(1 − ᾱ)."""
        alpha_bar = _alpha_bar(self.schedule, t, x_t)
        x = x_t.to(torch.float64)
        eps = (x - alpha_bar.sqrt() * self.posterior_mean(x_t, t)) / (1 - alpha_bar).sqrt()
        return eps.to(x_t.dtype)

    @property
    def info(self) -> ModelInfo:
        """A description for the UI and CLI."""
        name = f"Finite-set oracle ({self.data.shape[0]} samples)"
        return _oracle_info(name, self.sample_shape, self.schedule)
