"""What can fill an interpolation slot, as handed between modes (Encode → Interpolate, gallery → both)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ddim_studio.operations.interpolation import latent_reproduces


@dataclass
class SlotContent:
    """One end of an interpolation.

    Attributes:
        kind: ``latent`` (x_T known), ``image`` (to be encoded first) or ``seed`` (x_T drawn from it).
        label: a few words for the slot ("seed 42", "cat.png", "gallery: s42_S50").
        thumb: (H, W, 3) uint8 picture shown in the slot.
        latent: x_T (C, H, W) when known.
        image: the picture (3, H, W) in [−1, 1] when it must be encoded first.
        params: parameters carried along (steps, spacing, seed…); for a picture that also holds a
            latent, how that latent was made (its ``timesteps``, ``eta``…).
        how: what the slot's x_T is, in words ("saved latent", "encoded from the picture"…).
        path: the file it came from (to fill the slot again for another model).
        model: the name of the model it was made for.
    """

    kind: str
    label: str
    thumb: np.ndarray
    latent: torch.Tensor | None = None
    image: torch.Tensor | None = None
    params: dict[str, Any] = field(default_factory=dict)
    how: str = ""
    path: Path | None = None
    model: str = ""

    def fits(self, timesteps: Sequence[int], model: str | None = None) -> bool:
        """Whether x_T is known and, for a picture, decodes back to it with these ``timesteps`` (η = 0)
        on ``model`` (a model name; None: not checked)."""
        if self.latent is None:
            return False
        return self.image is None or latent_reproduces(self.params, timesteps, model=model)

    @property
    def ready(self) -> bool:
        """Whether x_T is known (no encoding needed)."""
        return self.latent is not None
