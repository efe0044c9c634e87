"""Write a trained run as a diffusers model folder: config, safetensors weights, scheduler, card."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from ddim_studio.training.trainer import Trainer, machine_description

CARD_TEMPLATE = """# {name}: the DDIM Studio default model

A small DDPM trained by `ddim-studio train` on procedural 32×32 scenes made by
`ddim_studio.core.scenes` (one circle, square or triangle of random colour, size and position over
a random two-colour vertical gradient; fresh scenes every step, never the held-out seed {held_out}).

| | |
|---|---|
| architecture | diffusers `UNet2DModel`, channels {channels}, {layers} ResNet layer(s) per block, {attention}, {params:,} parameters |
| schedule | linear β 1e-4 … 0.02, T = 1000 |
| parameterisation | {prediction_type}, loss weighted by Min-SNR-{gamma} |
| optimiser | AdamW, lr {lr:g} (warm-up {warmup} steps, cosine to {lr_min:g}), batch {batch}, grad-norm clip 1 |
| weights shipped | {weights} |
| updates | {steps:,} of {total_steps:,} planned |
| wall time | {hours:.2f} h on {machine} |

## Metrics
{metrics}

## Limits
{limits}

## Licence
MIT, like the rest of DDIM Studio: these weights were trained by this repository (`ddim-studio
train`) on scenes it draws itself, with no outside data or pretrained weights.
"""


def _unet_config(model: torch.nn.Module) -> dict[str, Any]:
    config: dict[str, Any] = dict(model.config)  # type: ignore[arg-type]
    config["_class_name"] = "UNet2DModel"
    return {k: v for k, v in config.items() if not k.startswith("_") or k == "_class_name"}


def attention_description(model: torch.nn.Module, image_size: int, levels: int) -> str:
    """Where the UNet has self-attention and how many parameters it takes, for the model card.

    diffusers' ``UNet2DModel`` puts one attention layer in its mid-block unless ``add_attention``
    is false (the default model keeps it: 8×8 for 32×32 pictures over three levels).
    """
    counts: dict[str, int] = {}
    for name, param in model.named_parameters():
        if ".attentions." in name:
            block = name.split(".attentions.")[0]
            counts[block] = counts.get(block, 0) + param.numel()
    if not counts:
        return "no attention"
    total = sum(counts.values())
    if set(counts) == {"mid_block"}:
        side = image_size // 2 ** (levels - 1)
        return f"self-attention in the mid-block only (at {side}×{side}, {total:,} parameters)"
    return f"self-attention in {', '.join(sorted(counts))} ({total:,} parameters)"


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def export_model(
    trainer: Trainer,
    out_dir: Path,
    *,
    weights: str = "ema",
    name: str = "shapes32",
    metrics_md: str = "Not measured yet: run `python benchmarks/paper_tables.py`.",
    limits_md: str = "",
) -> Path:
    """Write ``config.json``, ``diffusion_pytorch_model.safetensors``, ``scheduler_config.json``, ``README.md``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    model = trainer.ema if weights == "ema" else trainer.model
    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    tmp = out_dir / "diffusion_pytorch_model.safetensors.tmp"
    save_file(state, str(tmp), metadata={"format": "pt"})
    tmp.chmod(0o644)
    os.replace(tmp, out_dir / "diffusion_pytorch_model.safetensors")
    _atomic_text(out_dir / "config.json", json.dumps(_unet_config(model), indent=2, default=list))
    sched = trainer.schedule.to_diffusers_config()
    _atomic_text(out_dir / "scheduler_config.json", json.dumps(sched, indent=2))
    cfg = trainer.cfg
    card = CARD_TEMPLATE.format(
        name=name,
        held_out=10_000,
        channels=list(cfg.block_out_channels),
        layers=cfg.layers_per_block,
        attention=attention_description(model, cfg.image_size, len(cfg.block_out_channels)),
        params=sum(p.numel() for p in model.parameters()),
        prediction_type=cfg.prediction_type,
        gamma=cfg.min_snr_gamma,
        lr=cfg.lr,
        warmup=cfg.warmup_steps,
        lr_min=cfg.lr_min,
        batch=cfg.batch_size,
        weights=f"EMA (max decay {cfg.ema_max_decay:g})" if weights == "ema" else "raw (not EMA)",
        steps=trainer.step,
        total_steps=cfg.total_steps,
        hours=trainer.wall_s / 3600,
        machine=machine_description(),
        metrics=metrics_md,
        limits=limits_md or "See the README's default-model section.",
    )
    _atomic_text(out_dir / "README.md", card)
    return out_dir
