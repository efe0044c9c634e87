"""Train the default model: a small diffusers ``UNet2DModel`` as a DDPM on procedural scenes.

Recipe (chosen by the trials in ``docs/TRAINING.md``: plain ε-loss fails on 2 CPU cores,
v-prediction with Min-SNR weighting works): v-prediction, loss weight min(SNR, 5) / (SNR + 1)
(Hang et al. 2023), AdamW with linear warm-up and cosine decay, EMA with warm-up, fresh scenes
every step (the generator is cheap, so the network never sees the same image twice), fixed seeds.

The run is resumable: ``state.pt`` in the work folder holds model, EMA, optimiser and step and is
replaced atomically every few minutes; ``export`` writes the diffusers folder that the app loads.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import cast

import torch
from torch import nn

from ddim_studio.core.scenes import make_scenes, to_model_range
from ddim_studio.core.schedule import NoiseSchedule
from ddim_studio.training.config import TrainConfig
from ddim_studio.training.data import Prefetcher, StepInputs, step_inputs

STATE_FILE = "state.pt"
HELD_OUT_SEED = 10_000  # scenes of this seed are never trained on


def build_unet(cfg: TrainConfig) -> nn.Module:
    """The default model's architecture: a ResNet U-Net with self-attention in its mid-block only.

    ``UNet2DModel``'s ``add_attention`` is left at its default (true): the mid-block, at the lowest
    resolution (8×8 for the 32×32 default), has one attention layer (16,768 of the default model's
    1,063,651 parameters); the down and up blocks have none.
    """
    from diffusers import UNet2DModel

    n = len(cfg.block_out_channels)
    unet = UNet2DModel(
        sample_size=cfg.image_size,
        in_channels=3,
        out_channels=3,
        block_out_channels=tuple(cfg.block_out_channels),
        layers_per_block=cfg.layers_per_block,
        down_block_types=("DownBlock2D",) * n,
        up_block_types=("UpBlock2D",) * n,
        norm_num_groups=8,
    )
    return cast(nn.Module, unet)  # diffusers' ModelMixin is an nn.Module that mypy cannot see


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up to ``lr``, then cosine decay to ``lr_min`` at ``total_steps``."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.total_steps - cfg.warmup_steps))
    return cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * progress))


def ema_decay_at(step: int, cfg: TrainConfig) -> float:
    """EMA decay with warm-up, (1 + n) / (10 + n) capped at ``ema_max_decay``."""
    return min(cfg.ema_max_decay, (1 + step) / (10 + step))


def training_target(
    x0: torch.Tensor, noise: torch.Tensor, alpha_bar_t: torch.Tensor, prediction_type: str
) -> torch.Tensor:
    """What the network learns to output for x_t = √ᾱ x0 + √(1−ᾱ) ε."""
    if prediction_type == "epsilon":
        return noise
    if prediction_type == "sample":
        return x0
    return alpha_bar_t.sqrt() * noise - (1 - alpha_bar_t).sqrt() * x0


def loss_weight(alpha_bar_t: torch.Tensor, cfg: TrainConfig) -> torch.Tensor:
    """Min-SNR-γ weights expressed for the chosen target (all equal ε-MSE weighting min(SNR, γ))."""
    snr = alpha_bar_t / (1 - alpha_bar_t)
    clipped = torch.clamp(snr, max=cfg.min_snr_gamma)
    if cfg.prediction_type == "epsilon":
        return clipped / snr
    if cfg.prediction_type == "sample":
        return clipped
    return clipped / (snr + 1)


class Trainer:
    """Holds one run's model, EMA, optimiser and step; ``run`` trains, ``save``/``load`` resume."""

    def __init__(self, cfg: TrainConfig, workdir: Path, device: torch.device | None = None) -> None:
        self.cfg = cfg
        self.workdir = workdir
        self.device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
        torch.manual_seed(cfg.seed)
        self.model = build_unet(cfg).to(self.device)
        self.ema = build_unet(cfg).to(self.device)
        self.ema.load_state_dict(self.model.state_dict())
        self.ema.requires_grad_(False)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.schedule = NoiseSchedule.linear(cfg.num_train_timesteps, prediction_type=cfg.prediction_type)
        self.alpha_bar = self.schedule.alpha_bar.to(self.device, torch.float32)
        self.step = 0
        self.wall_s = 0.0
        self.history: list[dict[str, float]] = []

    # -- persistence -------------------------------------------------------------------------
    def save(self) -> Path:
        """Write ``state.pt`` atomically (a temporary file renamed over the old one)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        state = {
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "opt": self.opt.state_dict(),
            "step": self.step,
            "wall_s": self.wall_s,
            "history": json.dumps(self.history),
            "config": json.dumps(asdict(self.cfg)),
        }
        path = self.workdir / STATE_FILE
        tmp = path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)
        return path

    def load(self) -> bool:
        """Resume from ``state.pt`` if it exists (loaded with ``weights_only=True``)."""
        path = self.workdir / STATE_FILE
        if not path.exists():
            return False
        state = torch.load(path, map_location=self.device, weights_only=True)
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.opt.load_state_dict(state["opt"])
        self.step = int(state["step"])
        self.wall_s = float(state["wall_s"])
        self.history = json.loads(state["history"])
        return True

    # -- training ----------------------------------------------------------------------------
    def loss(self, inputs: StepInputs, model: nn.Module) -> torch.Tensor:
        """Weighted diffusion loss of ``model`` on one step's clean images, timesteps and noise."""
        x0, t, noise = (torch.as_tensor(a).to(self.device, non_blocking=True) for a in inputs)
        n = x0.shape[0]
        a = self.alpha_bar[t].view(n, 1, 1, 1)
        x_t = a.sqrt() * x0 + (1 - a).sqrt() * noise
        out = model(x_t, t).sample
        target = training_target(x0, noise, a, self.cfg.prediction_type)
        per_image = ((out - target) ** 2).mean(dim=(1, 2, 3))
        return (loss_weight(a.view(n), self.cfg) * per_image).mean()

    def train_step(self, inputs: StepInputs | None = None) -> torch.Tensor:
        """One optimiser update and EMA update (on ``step_inputs`` of this step); returns the loss.

        The loss stays a tensor so that a GPU is not waited for at every step: ``float()`` it only
        when it is shown.
        """
        if inputs is None:
            inputs = step_inputs(self.cfg, self.step)
        for group in self.opt.param_groups:
            group["lr"] = lr_at(self.step, self.cfg)
        loss = self.loss(inputs, self.model)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        decay = ema_decay_at(self.step, self.cfg)
        with torch.no_grad():
            torch._foreach_lerp_(list(self.ema.parameters()), list(self.model.parameters()), 1 - decay)
        self.step += 1
        return loss.detach()

    @torch.no_grad()
    def evaluate(self, count: int = 256) -> dict[str, float]:
        """Held-out x0 MSE at several noise levels, for the raw and the EMA weights."""
        x0 = torch.from_numpy(to_model_range(make_scenes(count, HELD_OUT_SEED, self.cfg.image_size))).to(
            self.device
        )
        result: dict[str, float] = {"step": float(self.step)}
        for name, model in (("raw", self.model), ("ema", self.ema)):
            model.eval()
            for t_val in (100, 500, 800, 950):
                gen = torch.Generator().manual_seed(t_val)
                noise = torch.randn(x0.shape, generator=gen).to(self.device)
                a = self.alpha_bar[t_val]
                x_t = a.sqrt() * x0 + (1 - a).sqrt() * noise
                t = torch.full((count,), t_val, device=self.device, dtype=torch.long)
                out = model(x_t, t).sample
                pred_x0 = pred_x0_from_output(out, x_t, a, self.cfg.prediction_type)
                result[f"{name}_x0mse_t{t_val}"] = float(((pred_x0.clamp(-1, 1) - x0) ** 2).mean())
            model.train()
        return result

    def run(
        self,
        until_step: int,
        checkpoint_every_s: float = 300.0,
        on_progress: Callable[[int, torch.Tensor, float], None] | None = None,
        eval_every: int = 1000,
        data_workers: int = 0,
    ) -> None:
        """Train until ``until_step`` updates (never past ``cfg.total_steps``), checkpointing as it goes.

        A checkpoint is written every ``checkpoint_every_s`` seconds and at the end.
        ``data_workers`` > 0 makes each step's scenes and noise in that many processes ahead of the
        GPU; the batches are the same as in-process ones (they depend on the seeds and step only).
        """
        last_save = time.monotonic()
        self.model.train()
        with Prefetcher(self.cfg, self.step, until_step, data_workers) as batches:
            while self.step < min(until_step, self.cfg.total_steps):
                start = time.monotonic()
                loss = self.train_step(batches.get(self.step))
                self.wall_s += time.monotonic() - start
                if on_progress is not None:
                    on_progress(self.step, loss, lr_at(self.step, self.cfg))
                if self.step % eval_every == 0:
                    self.history.append(self.evaluate())
                if time.monotonic() - last_save > checkpoint_every_s:
                    self.save()
                    last_save = time.monotonic()
        self.save()


def pred_x0_from_output(
    out: torch.Tensor, x_t: torch.Tensor, alpha_bar_t: torch.Tensor, prediction_type: str
) -> torch.Tensor:
    """x0 implied by a network output for the given parameterisation."""
    if prediction_type == "epsilon":
        return (x_t - (1 - alpha_bar_t).sqrt() * out) / alpha_bar_t.sqrt()
    if prediction_type == "sample":
        return out
    return alpha_bar_t.sqrt() * x_t - (1 - alpha_bar_t).sqrt() * out


def machine_description() -> str:
    """A one-line description of the machine, for the model card."""
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} (CUDA)"
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"
