"""Write a tiny diffusers LDM (``tests.helpers.ldm``) as an original CompVis ``model.ckpt`` + YAML.

The inverse of the studio's converter, written independently from the CompVis module layout
(``openaimodel.UNetModel``, taming's ``Encoder``/``Decoder``), with an EMA copy whose names have
their dots removed, the raw weights perturbed (so a converter that ignored the EMA would sample
other pictures) and the buffers ``betas``, ``alphas_cumprod`` and (KL) ``scale_factor``.
"""

from __future__ import annotations

from pathlib import Path

import torch
import yaml
from diffusers import UNet2DModel

_RESNET = {
    "norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection",
}  # fmt: skip
_VAE_RESNET = {"conv_shortcut": "nin_shortcut"}
_VAE_ATTN = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def _fuse_qkv(prefix: str, sd: dict[str, torch.Tensor], head: int) -> dict[str, torch.Tensor]:
    """diffusers to_q/to_k/to_v → one Conv1d ``qkv`` in the legacy order (per head: q, k, v)."""
    out = {}
    for param in ("weight", "bias"):
        q, k, v = (sd[f"{prefix}.to_{n}.{param}"] for n in "qkv")
        heads = q.shape[0] // head
        per = [t.reshape(heads, head, *t.shape[1:]) for t in (q, k, v)]
        fused = torch.cat(per, dim=1).reshape(3 * q.shape[0], *q.shape[1:])
        out[param] = fused.unsqueeze(-1) if param == "weight" else fused
    return out


def unet_to_compvis(unet: UNet2DModel, blocks: int, head: int) -> dict[str, torch.Tensor]:
    """A diffusers UNet2DModel's weights in openaimodel names."""
    sd = unet.state_dict()
    slots = blocks + 1
    attn_up = ["Attn" in t for t in unet.config.up_block_types]
    out: dict[str, torch.Tensor] = {}
    top = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
           "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2"}  # fmt: skip
    done_attn = set()
    for key, tensor in sd.items():
        module, _, param = key.rpartition(".")
        parts = module.split(".")
        if module in top:
            out[f"{top[module]}.{param}"] = tensor
            continue
        if parts[0] == "mid_block":
            base = {
                "resnets.0": "middle_block.0",
                "attentions.0": "middle_block.1",
                "resnets.1": "middle_block.2",
            }[".".join(parts[1:3])]
        else:
            b, kind, j = int(parts[1]), parts[2], int(parts[3])
            if parts[0] == "down_blocks":
                idx = 1 + b * slots + (blocks if kind == "downsamplers" else j)
                base = (
                    f"input_blocks.{idx}.0.op"
                    if kind == "downsamplers"
                    else f"input_blocks.{idx}.{int(kind == 'attentions')}"
                )
            else:
                idx = b * slots + (blocks if kind == "upsamplers" else j)
                base = (
                    f"output_blocks.{idx}.{2 if attn_up[b] else 1}.conv"
                    if kind == "upsamplers"
                    else f"output_blocks.{idx}.{int(kind == 'attentions')}"
                )
        rest = ".".join(parts[4:] if parts[0] != "mid_block" else parts[3:])
        if ".attentions." in key:
            prefix = module[: module.index(rest) - 1] if rest else module
            if rest in ("to_q", "to_k", "to_v"):
                if prefix not in done_attn:
                    done_attn.add(prefix)
                    for p, t in _fuse_qkv(prefix, sd, head).items():
                        out[f"{base}.qkv.{p}"] = t
                continue
            name = {"group_norm": "norm", "to_out.0": "proj_out"}[rest]
            out[f"{base}.{name}.{param}"] = (
                tensor.unsqueeze(-1) if name == "proj_out" and param == "weight" else tensor
            )
        elif "samplers" in key:
            out[f"{base}.{param}"] = tensor
        else:
            out[f"{base}.{_RESNET[rest]}.{param}"] = tensor
    return out


def vae_to_compvis(sd: dict[str, torch.Tensor], levels: int) -> dict[str, torch.Tensor]:
    """A diffusers VQModel/AutoencoderKL's weights in taming/ldm names."""
    out: dict[str, torch.Tensor] = {}
    for key, tensor in sd.items():
        side, _, rest = key.partition(".")
        if side not in ("encoder", "decoder"):
            out[key] = tensor
            continue
        module, _, param = rest.rpartition(".")
        p = module.split(".")
        if module in ("conv_in", "conv_out"):
            new = module
        elif module == "conv_norm_out":
            new = "norm_out"
        elif p[0] == "mid_block":
            if p[1] == "attentions":
                name = _VAE_ATTN[".".join(p[3:])]
                new = f"mid.attn_1.{name}"
                tensor = (
                    tensor.reshape(*tensor.shape, 1, 1) if param == "weight" and name != "norm" else tensor
                )
            else:
                new = f"mid.block_{int(p[2]) + 1}.{_VAE_RESNET.get(p[3], p[3])}"
        else:
            level = int(p[1]) if p[0] == "down_blocks" else levels - 1 - int(p[1])
            name = "down" if p[0] == "down_blocks" else "up"
            if p[2] in ("downsamplers", "upsamplers"):
                new = f"{name}.{level}.{p[2][:-2]}.conv"
            else:
                new = f"{name}.{level}.block.{p[3]}.{_VAE_RESNET.get(p[4], p[4])}"
        out[f"{side}.{new}.{param}"] = tensor
    return out


def write_compvis(
    folder: Path, unet: UNet2DModel, ae: torch.nn.Module, kind: str, *, prediction: str = "eps"
) -> tuple[Path, Path]:
    """Write ``model.ckpt`` and ``config.yaml``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    blocks, head = unet.config.layers_per_block, unet.config.attention_head_dim
    channels = list(unet.config.block_out_channels)
    ucfg = unet_to_compvis(unet, blocks, head)
    state: dict[str, torch.Tensor] = {}
    g = torch.Generator().manual_seed(7)
    for k, v in ucfg.items():
        state[f"model.diffusion_model.{k}"] = v + 0.1 * torch.randn(v.shape, generator=g)  # not the EMA
        state["model_ema." + f"diffusion_model.{k}".replace(".", "")] = v.clone()
    state["model_ema.decay"] = torch.tensor(0.9999)
    state["model_ema.num_updates"] = torch.tensor(1000, dtype=torch.int32)
    for k, v in vae_to_compvis(ae.state_dict(), len(ae.config.block_out_channels)).items():
        state[f"first_stage_model.{k}"] = v.clone()
    betas = torch.linspace(0.0015**0.5, 0.0195**0.5, 1000, dtype=torch.float64) ** 2
    state["betas"] = betas.to(torch.float32)
    state["alphas_cumprod"] = torch.cumprod(1 - betas, 0).to(torch.float32)
    if kind == "kl":
        state["scale_factor"] = torch.tensor(1.0)  # scale_by_std: the buffer wins over the YAML
    path = folder / "model.ckpt"
    torch.save({"state_dict": state, "global_step": 1000, "epoch": 3}, path)
    ae_cfg = ae.config
    ddconfig = {
        "double_z": kind == "kl", "z_channels": ae_cfg.latent_channels, "resolution": ae_cfg.sample_size,
        "in_channels": 3, "out_ch": 3, "ch": ae_cfg.block_out_channels[0],
        "ch_mult": [c // ae_cfg.block_out_channels[0] for c in ae_cfg.block_out_channels],
        "num_res_blocks": ae_cfg.layers_per_block, "attn_resolutions": [], "dropout": 0.0,
    }  # fmt: skip
    first = {
        "embed_dim": ae_cfg.latent_channels,
        "ddconfig": ddconfig,
        "lossconfig": {"target": "torch.nn.Identity"},
    }
    if kind == "vq":
        first.update(n_embed=ae_cfg.num_vq_embeddings, embed_dim=ae_cfg.vq_embed_dim)
    attention = [2**i for i, t in enumerate(unet.config.down_block_types) if "Attn" in t]
    first_class = "VQModelInterface" if kind == "vq" else "AutoencoderKL"
    config = {
        "model": {
            "target": "ldm.models.diffusion.ddpm.LatentDiffusion",
            "params": {
                "linear_start": 0.0015, "linear_end": 0.0195, "timesteps": 1000,
                "image_size": unet.config.sample_size,
                "channels": unet.config.in_channels, "parameterization": prediction,
                "scale_factor": 0.5 if kind == "kl" else 1.0,
                "unet_config": {"target": "ldm.modules.diffusionmodules.openaimodel.UNetModel", "params": {
                    "image_size": unet.config.sample_size, "in_channels": unet.config.in_channels,
                    "out_channels": unet.config.out_channels, "model_channels": channels[0],
                    "attention_resolutions": attention, "num_res_blocks": blocks,
                    "channel_mult": [c // channels[0] for c in channels], "num_head_channels": head,
                }},
                "first_stage_config": {
                    "target": f"ldm.models.autoencoder.{first_class}",
                    "params": first,
                },
                "cond_stage_config": "__is_unconditional__",
            },
        }
    }  # fmt: skip
    yaml_path = folder / "config.yaml"
    yaml_path.write_text(yaml.safe_dump(config))
    return path, yaml_path
