"""What can fill an interpolation slot, as handed between modes (Encode → Interpolate, gallery → both)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch


@dataclass
class SlotContent:
    """One end of an interpolation.

    Attributes:
        kind: ``latent`` (x_T known), ``image`` (to be encoded first) or ``seed`` (x_T drawn from it).
        label: a few words for the slot ("seed 42", "cat.png", "gallery: s42_S50").
        thumb: (H, W, 3) uint8 picture shown in the slot.
        latent: x_T (C, H, W) when known.
        image: the picture (3, H, W) in [−1, 1] when it must be encoded first.
        params: parameters carried along (steps, spacing, seed…).
    """

    kind: str
    label: str
    thumb: np.ndarray
    latent: torch.Tensor | None = None
    image: torch.Tensor | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        """Whether x_T is known (no encoding needed)."""
        return self.latent is not None
