"""The settings of a training run (no torch here, so the command line can show them cheaply)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TrainConfig:
    """Everything that defines a training run; stored in the state file and the model card."""

    total_steps: int = 7_500
    batch_size: int = 32
    lr: float = 1e-3
    lr_min: float = 2e-5
    warmup_steps: int = 200
    weight_decay: float = 0.0
    ema_max_decay: float = 0.999
    min_snr_gamma: float = 5.0
    prediction_type: str = "v_prediction"
    num_train_timesteps: int = 1000  # T of the DDPM's linear β schedule
    image_size: int = 32
    block_out_channels: tuple[int, ...] = (32, 64, 64)
    layers_per_block: int = 1
    data_seed: int = 0
    seed: int = 0
    threads: int = 0  # 0: let torch decide
    extra: dict[str, Any] = field(default_factory=dict)
