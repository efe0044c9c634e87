"""Original CompVis latent diffusion checkpoints (``model.ckpt`` + its YAML), converted on load.

State-dict layout (a Lightning checkpoint's ``state_dict``, or the bare dict):

=========================================  ==============================================
``model.diffusion_model.*``                the UNet (``openaimodel.UNetModel``)
``model_ema.<name without dots>``          its EMA copy (``model_ema.diffusion_modelinput_blocks00weight``);
                                           used when complete, as the authors sample with it
``first_stage_model.*``                    the autoencoder (VQ adds ``quantize.embedding.weight``)
``scale_factor``, ``betas``, ``alphas_cumprod``  buffers: the latent scale, the schedule
=========================================  ==============================================

UNet mapping (as diffusers' ``scripts/convert_ldm_original_checkpoint_to_diffusers.py``):
``time_embed.0/2`` → ``time_embedding.linear_1/2``; ``input_blocks.0.0`` → ``conv_in``;
``input_blocks.i`` (i ≥ 1; level ``(i−1)//(B+1)``, slot ``(i−1)%(B+1)``) ``.0`` → resnet or, in the
last slot, ``.0.op`` → ``downsamplers.0.conv``; ``.1`` → attention; ``middle_block.0/1/2`` → mid
resnet/attention/resnet; ``output_blocks.i`` (up block ``i//(B+1)``) ``.0`` → resnet, ``.1`` → attention
or upsampler, ``.2.conv`` → upsampler; ``out.0/2`` → ``conv_norm_out``/``conv_out``. ResNet:
``in_layers.0/2`` → ``norm1/conv1``, ``emb_layers.1`` → ``time_emb_proj``, ``out_layers.0/3`` →
``norm2/conv2``, ``skip_connection`` → ``conv_shortcut``. Attention: ``norm`` → ``group_norm``; the
fused 1-D ``qkv`` (legacy order: per head q, k, v) split into ``to_q/to_k/to_v``; ``proj_out`` → ``to_out.0``.

The autoencoder's encoder/decoder have the layout of the original DDIM network and reuse its
mapping (:func:`ddim_original.map_original_key`); ``quant_conv``, ``post_quant_conv`` and the VQ
codebook ``quantize.embedding.weight`` keep their names (as diffusers' ``convert_ldm_vae_checkpoint``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ddim_studio.core.models.autoencoder_load import load_autoencoder
from ddim_studio.core.models.ddim_original import map_original_key
from ddim_studio.core.models.diffusers_adapter import (
    build_unet,
    check_placement,
    load_unet_weights,
    place_unet,
)
from ddim_studio.core.models.latent import LatentUNet, choose_scale
from ddim_studio.core.models.ldm_config import LDMConfig, read_ldm_config
from ddim_studio.core.models.ldm_folder import describe_latent
from ddim_studio.core.models.protocol import ModelInfo, ModelLoadError
from ddim_studio.core.models.safe_load import load_checkpoint
from ddim_studio.core.schedule import NoiseSchedule, ScheduleError, make_betas

UNET_PREFIX = "model.diffusion_model."
EMA_PREFIX = "model_ema."
AE_PREFIX = "first_stage_model."
_RESNET = {
    "in_layers.0": "norm1", "in_layers.2": "conv1", "emb_layers.1": "time_emb_proj",
    "out_layers.0": "norm2", "out_layers.3": "conv2", "skip_connection": "conv_shortcut",
}  # fmt: skip
_TOP = {
    "time_embed.0": "time_embedding.linear_1", "time_embed.2": "time_embedding.linear_2",
    "input_blocks.0.0": "conv_in", "out.0": "conv_norm_out", "out.2": "conv_out",
}  # fmt: skip
_MID = {"0": "mid_block.resnets.0", "1": "mid_block.attentions.0", "2": "mid_block.resnets.1"}


def is_ldm_state(state: Mapping[str, Any]) -> bool:
    """Whether a state dict has the CompVis LDM layout."""
    return any(isinstance(k, str) and k.startswith((UNET_PREFIX, AE_PREFIX)) for k in state)


def _resnet(rest: str) -> str:
    module, _, param = rest.rpartition(".")
    return f"{_RESNET[module]}.{param}"


def _attention(prefix: str, rest: str, tensor: torch.Tensor, head: int) -> dict[str, torch.Tensor]:
    module, _, param = rest.rpartition(".")
    if module == "norm":
        return {f"{prefix}.group_norm.{param}": tensor}
    if module == "proj_out":
        return {
            f"{prefix}.to_out.0.{param}": tensor.reshape(tensor.shape[0], -1) if tensor.ndim > 1 else tensor
        }
    if module != "qkv":
        raise KeyError(rest)
    channels = tensor.shape[0] // 3
    heads = max(1, channels // head)
    parts = tensor.reshape(heads, 3 * (channels // heads), *tensor.shape[1:]).split(channels // heads, dim=1)
    shape = (channels, -1) if tensor.ndim > 1 else (channels,)
    return {f"{prefix}.to_{n}.{param}": p.reshape(shape) for n, p in zip("qkv", parts, strict=True)}


def _map_unet_key(key: str, tensor: torch.Tensor, cfg: LDMConfig) -> dict[str, torch.Tensor]:
    module, _, param = key.rpartition(".")
    if module in _TOP:
        return {f"{_TOP[module]}.{param}": tensor}
    parts = key.split(".")
    group, rest = parts[0], ".".join(parts[3:])
    slots = cfg.num_res_blocks + 1
    if group == "middle_block":
        target = _MID[parts[1]]
        if parts[1] == "1":
            return _attention(target, ".".join(parts[2:]), tensor, cfg.head_channels)
        return {f"{target}.{_resnet('.'.join(parts[2:]))}": tensor}
    i, k = int(parts[1]), parts[2]
    if group == "input_blocks":
        level, slot = (i - 1) // slots, (i - 1) % slots
        base = f"down_blocks.{level}"
        if rest.startswith("op."):
            return {f"{base}.downsamplers.0.conv.{param}": tensor}
    elif group == "output_blocks":
        level, slot = i // slots, i % slots
        base = f"up_blocks.{level}"
        if rest.startswith("conv."):
            return {f"{base}.upsamplers.0.conv.{param}": tensor}
    else:
        raise KeyError(key)
    if k == "0":
        return {f"{base}.resnets.{slot}.{_resnet(rest)}": tensor}
    if k == "1":
        return _attention(f"{base}.attentions.{slot}", rest, tensor, cfg.head_channels)
    raise KeyError(key)


def convert_unet(state: Mapping[str, torch.Tensor], cfg: LDMConfig) -> dict[str, torch.Tensor]:
    """openaimodel ``UNetModel`` weights (no prefix) → diffusers ``UNet2DModel`` names.

    Raises:
        ModelLoadError: a key with no counterpart, named.
    """
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        try:
            out.update(_map_unet_key(key, tensor, cfg))
        except (KeyError, ValueError, IndexError):
            raise ModelLoadError(
                f"The checkpoint's UNet has a weight {key!r} that this LDM architecture does not have; "
                "does the YAML belong to the checkpoint?"
            ) from None
    return out


def convert_autoencoder(state: Mapping[str, torch.Tensor], num_levels: int) -> dict[str, torch.Tensor]:
    """CompVis VQ/KL autoencoder weights (no prefix) → diffusers ``VQModel``/``AutoencoderKL`` names.

    Raises:
        ModelLoadError: a key with no counterpart, named.
    """
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        side, _, rest = key.partition(".")
        if side == "loss" or key == "quantize.used":  # training loss modules, codebook remap
            continue
        if side in ("quant_conv", "post_quant_conv") or key == "quantize.embedding.weight":
            out[key] = tensor
            continue
        new = map_original_key(rest, num_levels) if side in ("encoder", "decoder") else None
        if new is None:
            raise ModelLoadError(
                f"The checkpoint's autoencoder has a weight {key!r} that this architecture does not have; "
                "does the YAML belong to the checkpoint?"
            )
        if ".attentions." in new and tensor.ndim == 4:
            tensor = tensor.reshape(tensor.shape[0], tensor.shape[1])
        out[f"{side}.{new}"] = tensor
    return out


def split_state(state: Mapping[str, Any], source: str) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """The UNet weights (EMA when complete) and the autoencoder weights, unprefixed, and notes.

    Raises:
        ModelLoadError: no UNet or autoencoder weights, or an incomplete EMA copy.
    """
    unet = {k[len(UNET_PREFIX) :]: v for k, v in state.items() if k.startswith(UNET_PREFIX)}
    ae = {k[len(AE_PREFIX) :]: v for k, v in state.items() if k.startswith(AE_PREFIX)}
    if not unet or not ae:
        missing = "UNet (model.diffusion_model.*)" if not unet else "autoencoder (first_stage_model.*)"
        raise ModelLoadError(f"'{source}' has no {missing} weights; it is not a complete LDM checkpoint.")
    ema_names = {k: EMA_PREFIX + ("diffusion_model." + k).replace(".", "") for k in unet}
    found = [k for k, name in ema_names.items() if name in state]
    if not found:
        return unet, ae, ["no EMA weights in the checkpoint: the trained weights are used"]
    if len(found) < len(unet):
        raise ModelLoadError(
            f"'{source}' has EMA weights for {len(found)} of the UNet's {len(unet)} tensors; "
            "the file is damaged."
        )
    return {k: state[ema_names[k]] for k in unet}, ae, ["the EMA weights are used (model_ema.*)"]


def _schedule(state: Mapping[str, Any], cfg: LDMConfig) -> tuple[NoiseSchedule, str]:
    kwargs = {
        "prediction_type": cfg.prediction_type,
        "beta_schedule": "scaled_linear",
        "set_alpha_to_one": False,
    }
    betas = state.get("betas")
    try:
        if isinstance(betas, torch.Tensor) and betas.ndim == 1 and betas.is_floating_point():
            return NoiseSchedule.from_betas(
                betas.to(torch.float64), **kwargs
            ), "the schedule is the checkpoint's betas"
        betas = make_betas("scaled_linear", cfg.linear_start, cfg.linear_end, cfg.timesteps)
        return NoiseSchedule.from_betas(betas, **kwargs), "the schedule is the YAML's linear_start/linear_end"
    except (ScheduleError, ValueError) as exc:
        raise ModelLoadError(f"The LDM schedule cannot be used: {exc}") from None


def _state_of(obj: Any, source: str) -> Mapping[str, Any]:
    state = obj.get("state_dict", obj) if isinstance(obj, Mapping) else None
    if not isinstance(state, Mapping) or not is_ldm_state(state):
        raise ModelLoadError(f"'{source}' holds no latent diffusion weights (model.diffusion_model.*).")
    return state


def _checkpoint_scale(state: Mapping[str, Any]) -> float | None:
    value = state.get("scale_factor")
    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.is_floating_point():
        return float(value)
    return None


def load_ldm_checkpoint(
    path: str | Path,
    config: str | Path,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    latent_scale: float | None = None,
) -> tuple[LatentUNet, ModelInfo]:
    """Load an original CompVis LDM checkpoint with its YAML as a :class:`LatentUNet`.

    Raises:
        ModelLoadError: an unsafe or damaged file, a YAML that does not fit it, absurd sizes.
    """
    target = check_placement(device, dtype)
    path = Path(path)
    cfg = read_ldm_config(Path(config))
    state = _state_of(load_checkpoint(path), path.name)
    unet_state, ae_state, notes = split_state(state, path.name)
    unet = build_unet(cfg.unet)
    load_unet_weights(unet, convert_unet(unet_state, cfg), path.name)
    unet = place_unet(unet, device, dtype)
    schedule, schedule_note = _schedule(state, cfg)
    scale = choose_scale(
        cfg.kind,
        config_value=cfg.scale_factor,
        checkpoint_value=_checkpoint_scale(state),
        override=latent_scale,
    )
    latent_hw = (cfg.unet["sample_size"], cfg.unet["sample_size"])
    ae_weights = convert_autoencoder(ae_state, len(cfg.autoencoder["block_out_channels"]))
    ae = load_autoencoder(
        cfg.autoencoder, ae_weights, source=path.name, scale=scale, latent_hw=latent_hw, device=target
    )
    if ae.latent_shape[0] != cfg.unet["in_channels"]:
        raise ModelLoadError(
            f"The UNet samples {cfg.unet['in_channels']} channels but the autoencoder's latents have "
            f"{ae.latent_shape[0]}; the YAML does not describe one model."
        )
    model = LatentUNet(unet, schedule, ae)
    info = ModelInfo(
        name=path.stem, source=str(path), family="ldm-original", sample_shape=model.sample_shape,
        num_parameters=sum(p.numel() for p in unet.parameters()), prediction_type=schedule.prediction_type,
        notes=[*notes, schedule_note], num_train_timesteps=schedule.num_train_timesteps,
        set_alpha_to_one=False,
    )  # fmt: skip
    return model, describe_latent(info, ae)
