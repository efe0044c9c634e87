"""The model wrapped once as a denoiser: (x_t, t) → (pred_x0, pred_eps), whatever it predicts.

k-diffusion wraps every model family into one ``model(x, sigma) → denoised`` call
(``external.py``); here a :class:`Denoiser` wraps a :class:`DiffusionModel` (ε-, v- or
x₀-prediction, pixel or latent) so that no sampler converts a network output itself. The
timestep tensors of a run are made once per timestep and reused, so a call creates no host tensor
after the first.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ddim_studio.core.ddim import split_output
from ddim_studio.core.models.protocol import DiffusionModel


@dataclass(frozen=True)
class Prediction:
    """The network's estimate at (x_t, t): the clean picture and the noise that reach x_t."""

    pred_x0: torch.Tensor
    pred_eps: torch.Tensor


class Denoiser:
    """A DiffusionModel as a function (x_t, t) → :class:`Prediction`.

    Args:
        model: the network behind the DiffusionModel protocol.
        clip_sample: clip pred_x0 to [−1, 1] (pred_eps stays the network's, as diffusers' DDIM
            does without ``use_clipped_model_output``).
    """

    def __init__(self, model: DiffusionModel, *, clip_sample: bool = False) -> None:
        self.model = model
        self.clip_sample = clip_sample
        self.prediction_type = model.schedule.prediction_type
        self._alpha_bar = model.schedule.alpha_bar
        self._t_cache: dict[tuple[int, int, torch.device], torch.Tensor] = {}

    def alpha_bar(self, t: int) -> float:
        """ᾱ_t of the model's training schedule, as a Python float."""
        return float(self._alpha_bar[t])

    def timestep_batch(self, t: int, like: torch.Tensor) -> torch.Tensor:
        """The (N,) long tensor of timestep ``t`` on ``like``'s device (cached per t, N, device)."""
        key = (int(t), int(like.shape[0]), like.device)
        batch = self._t_cache.get(key)
        if batch is None:
            batch = torch.full((like.shape[0],), int(t), dtype=torch.long).to(like.device)
            self._t_cache[key] = batch
        return batch

    def __call__(self, x_t: torch.Tensor, t: int, alpha_bar_t: float | None = None) -> Prediction:
        """Call the network once at (x_t, t) and return its (pred_x0, pred_eps).

        ``alpha_bar_t`` defaults to the schedule's ᾱ at t (a sampler passes the value it read).
        """
        level = self.alpha_bar(t) if alpha_bar_t is None else alpha_bar_t
        output = self.model(x_t, self.timestep_batch(t, x_t)).to(x_t.dtype)
        pred_eps, pred_x0 = split_output(output, x_t, level, self.prediction_type)
        if self.clip_sample:
            pred_x0 = pred_x0.clamp(-1.0, 1.0)
        return Prediction(pred_x0, pred_eps)
