"""The YAML of an original CompVis latent diffusion checkpoint, read into diffusers configs.

The layout (``configs/latent-diffusion/celebahq-ldm-vq-4.yaml``)::

    model:
      target: ldm.models.diffusion.ddpm.LatentDiffusion
      params:
        linear_start: 0.0015        linear_end: 0.0195     timesteps: 1000
        image_size: 64              channels: 3            parameterization: eps   (or v, x0)
        scale_factor: 1.0           (KL models trained with scale_by_std store it in the checkpoint)
        unet_config:  {params: {image_size, in_channels, out_channels, model_channels,
                       attention_resolutions (downsampling rates), num_res_blocks, channel_mult,
                       num_head_channels | num_heads, use_scale_shift_norm}}
        first_stage_config: {target: ldm.models.autoencoder.VQModelInterface | AutoencoderKL,
                             params: {embed_dim, n_embed (VQ), ddconfig: {z_channels, resolution,
                             in_channels, out_ch, ch, ch_mult, num_res_blocks, attn_resolutions}}}

Every size is bounded (:func:`config_files.check_int`) before anything is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ddim_studio.core.models.autoencoder_load import MAX_CODES
from ddim_studio.core.models.config_files import (
    MAX_CHANNELS,
    MAX_IMAGE_CHANNELS,
    MAX_LAYERS_PER_BLOCK,
    MAX_LEVELS,
    check_float,
    check_int,
    read_config,
    show,
)
from ddim_studio.core.models.protocol import ModelLoadError

OWNER = "The LDM config"
_PARAMETERIZATION = {"eps": "epsilon", "v": "v_prediction", "x0": "sample"}


@dataclass(frozen=True)
class LDMConfig:
    """What an original LDM YAML says, as diffusers configs.

    Attributes:
        unet: a ``UNet2DModel`` config.
        autoencoder: a ``VQModel`` / ``AutoencoderKL`` config (no ``scaling_factor``).
        kind: ``"vq"`` or ``"kl"``.
        head_channels: channels per attention head (to split the fused ``qkv``).
        num_res_blocks: ResNet blocks per level of the UNet.
        linear_start, linear_end, timesteps: the schedule (LDM's "linear" = diffusers' scaled_linear).
        prediction_type: ``epsilon``, ``v_prediction`` or ``sample``.
        scale_factor: the YAML's ``scale_factor`` (None when it has none).
    """

    unet: dict[str, Any]
    autoencoder: dict[str, Any]
    kind: str
    head_channels: int
    num_res_blocks: int
    linear_start: float
    linear_end: float
    timesteps: int
    prediction_type: str
    scale_factor: float | None


def _section(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = data.get(key)
    if not isinstance(value, Mapping):
        raise ModelLoadError(f"{OWNER} has no '{key}' section {where} (is it a latent diffusion YAML?).")
    return value


def _int(params: Mapping[str, Any], key: str, low: int, high: int, default: Any = None) -> int:
    return check_int(params.get(key, default), key, low, high, OWNER)


def _int_list(params: Mapping[str, Any], key: str, high: int, default: Any = None) -> list[int]:
    value = params.get(key, default)
    if not isinstance(value, (list, tuple)) or len(value) > MAX_LEVELS:
        raise ModelLoadError(f"{OWNER}'s {key} {show(value)} is not a list of up to {MAX_LEVELS} integers.")
    return [check_int(v, f"{key} entry", 1, high, OWNER) for v in value]


def is_ldm_config(path: Path) -> bool:
    """Whether the YAML at ``path`` describes a latent diffusion model (has a first_stage_config)."""
    data = read_config(path, "model config", "yaml")
    model = data.get("model")
    params = model.get("params") if isinstance(model, Mapping) else None
    return isinstance(params, Mapping) and "first_stage_config" in params


def _unet_config(unet: Mapping[str, Any], image_size: int) -> tuple[dict[str, Any], int, int]:
    """The diffusers UNet config, the channels per head and num_res_blocks."""
    mult = _int_list(unet, "channel_mult", 64, [1, 2, 4, 8])
    if not mult:
        raise ModelLoadError(f"{OWNER}'s channel_mult is empty.")
    model_channels = _int(unet, "model_channels", 1, MAX_CHANNELS)
    blocks = _int(unet, "num_res_blocks", 1, MAX_LAYERS_PER_BLOCK)
    rates = _int_list(unet, "attention_resolutions", 1 << 12, [])
    channels = [model_channels * m for m in mult]
    check_int(max(channels), "model_channels × channel_mult", 1, MAX_CHANNELS, OWNER)
    head = unet.get("num_head_channels", -1)
    if head == -1:
        heads = _int(unet, "num_heads", 1, 1024, 1)
        if heads != 1 and len({c // heads for c in channels}) > 1:
            raise ModelLoadError(
                f"{OWNER} uses num_heads {heads}: heads of different widths per level cannot be converted."
            )
        head = channels[0] // heads
    head = check_int(head, "num_head_channels", 1, MAX_CHANNELS, OWNER)
    if unet.get("resblock_updown") or unet.get("use_spatial_transformer"):
        raise ModelLoadError(
            f"{OWNER} uses resblock_updown or a spatial transformer; only unconditional LDMs open."
        )
    attn = [2**i in rates for i in range(len(mult))]
    config = {
        "_class_name": "UNet2DModel", "sample_size": image_size,
        "in_channels": _int(unet, "in_channels", 1, MAX_IMAGE_CHANNELS, 3),
        "out_channels": _int(unet, "out_channels", 1, MAX_IMAGE_CHANNELS, 3),
        "block_out_channels": channels, "layers_per_block": blocks,
        "down_block_types": ["AttnDownBlock2D" if a else "DownBlock2D" for a in attn],
        "up_block_types": ["AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attn)],
        "attention_head_dim": head, "norm_num_groups": 32, "norm_eps": 1e-5, "act_fn": "silu",
        "flip_sin_to_cos": True, "freq_shift": 0, "downsample_padding": 1,
        "resnet_time_scale_shift": "scale_shift" if unet.get("use_scale_shift_norm") else "default",
    }  # fmt: skip
    return config, head, blocks


def _autoencoder_config(first: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    target = str(first.get("target", ""))
    kind = "vq" if "VQ" in target else "kl" if "AutoencoderKL" in target else ""
    if not kind:
        raise ModelLoadError(f"{OWNER}'s first stage {show(target)} is neither a VQ nor a KL autoencoder.")
    params = _section(first, "params", "in first_stage_config")
    dd = _section(params, "ddconfig", "in first_stage_config.params")
    mult = _int_list(dd, "ch_mult", 64, [1, 2, 4])
    ch = _int(dd, "ch", 1, MAX_CHANNELS)
    resolution = _int(dd, "resolution", 1, 4096, 256)
    attn = set(_int_list(dd, "attn_resolutions", 4096, []))
    with_attn = [resolution // 2**i in attn for i in range(len(mult))]
    config: dict[str, Any] = {
        "_class_name": "VQModel" if kind == "vq" else "AutoencoderKL",
        "in_channels": _int(dd, "in_channels", 1, MAX_IMAGE_CHANNELS, 3),
        "out_channels": _int(dd, "out_ch", 1, MAX_IMAGE_CHANNELS, 3),
        "block_out_channels": [ch * m for m in mult],
        "layers_per_block": _int(dd, "num_res_blocks", 1, 8),
        "down_block_types": ["AttnDownEncoderBlock2D" if a else "DownEncoderBlock2D" for a in with_attn],
        "up_block_types": ["AttnUpDecoderBlock2D" if a else "UpDecoderBlock2D" for a in reversed(with_attn)],
        "latent_channels": _int(dd, "z_channels", 1, MAX_IMAGE_CHANNELS),
        "sample_size": resolution, "norm_num_groups": 32,
    }  # fmt: skip
    embed = _int(params, "embed_dim", 1, MAX_IMAGE_CHANNELS)
    if kind == "vq":
        config["num_vq_embeddings"] = _int(params, "n_embed", 1, MAX_CODES)
        config["vq_embed_dim"] = embed
    elif embed != config["latent_channels"]:
        raise ModelLoadError(
            f"{OWNER}: a KL autoencoder with embed_dim {embed} ≠ z_channels cannot be converted."
        )
    return config, kind


def read_ldm_config(path: Path) -> LDMConfig:
    """Read an original LDM YAML.

    Raises:
        ModelLoadError: unreadable, not an LDM config, a size out of bounds, an unsupported choice.
    """
    data = read_config(path, "model config", "yaml")
    params = _section(_section(data, "model", "at its top"), "params", "under model")
    unet = _section(_section(params, "unet_config", "under model.params"), "params", "in unet_config")
    image_size = _int(unet, "image_size", 1, 4096, params.get("image_size"))
    unet_cfg, head, blocks = _unet_config(unet, image_size)
    ae_cfg, kind = _autoencoder_config(_section(params, "first_stage_config", "under model.params"))
    parameterization = params.get("parameterization", "eps")
    if parameterization not in _PARAMETERIZATION:
        raise ModelLoadError(f"{OWNER}'s parameterization {show(parameterization)} is not eps, v or x0.")
    scale = params.get("scale_factor")
    return LDMConfig(
        unet=unet_cfg, autoencoder=ae_cfg, kind=kind, head_channels=head, num_res_blocks=blocks,
        linear_start=check_float(params.get("linear_start", 1e-4), "linear_start", 0, 1, False, OWNER),
        linear_end=check_float(params.get("linear_end", 2e-2), "linear_end", 0, 1, False, OWNER),
        timesteps=_int(params, "timesteps", 1, 100_000, 1000),
        prediction_type=_PARAMETERIZATION[parameterization],
        scale_factor=None if scale is None else check_float(scale, "scale_factor", 0, 1e6, False, OWNER),
    )  # fmt: skip
