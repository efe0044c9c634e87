"""Original DDIM checkpoints (ermongroup/ddim ``ckpt.pth``, pytorch_diffusion ``model-*.ckpt``).

The checkpoint is converted, key by key, into a diffusers ``UNet2DModel`` built from the
architecture (see :mod:`ddim_config`), then wrapped like any diffusers model. The mapping
(original → diffusers), with ``L`` levels:

=====================================  ===============================================
``temb.dense.0`` / ``temb.dense.1``    ``time_embedding.linear_1`` / ``linear_2``
``conv_in``, ``conv_out``              same names
``norm_out``                           ``conv_norm_out``
``down.i.block.b.*``                   ``down_blocks.i.resnets.b.*``
``down.i.attn.b.*``                    ``down_blocks.i.attentions.b.*``
``down.i.downsample.conv``             ``down_blocks.i.downsamplers.0.conv``
``mid.block_1`` / ``attn_1`` / ``block_2``  ``mid_block.resnets.0`` / ``attentions.0`` / ``resnets.1``
``up.i.*`` (``i`` = 0 is full size)     ``up_blocks.(L-1-i).*`` (``0`` is the smallest)
``up.i.upsample.conv``                 ``up_blocks.(L-1-i).upsamplers.0.conv``
ResNet ``temb_proj``, ``nin_shortcut``  ``time_emb_proj``, ``conv_shortcut``
attention ``norm, q, k, v, proj_out``  ``group_norm, to_q, to_k, to_v, to_out.0`` (1×1 conv → Linear)
=====================================  ===============================================
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ddim_studio.core.models.ddim_config import (
    DEFAULT_SCHEDULE_NOTE,
    DDIMArchitecture,
    infer_architecture,
    read_ddim_config,
)
from ddim_studio.core.models.diffusers_adapter import (
    DiffusersUNet,
    build_unet,
    check_placement,
    load_unet_weights,
    place_unet,
)
from ddim_studio.core.models.protocol import ModelInfo, ModelLoadError
from ddim_studio.core.models.safe_load import load_checkpoint
from ddim_studio.core.schedule import NoiseSchedule

_TOP = {
    "conv_in": "conv_in",
    "conv_out": "conv_out",
    "norm_out": "conv_norm_out",
    "temb.dense.0": "time_embedding.linear_1",
    "temb.dense.1": "time_embedding.linear_2",
}
_RESNET = {
    "norm1": "norm1",
    "conv1": "conv1",
    "temb_proj": "time_emb_proj",
    "norm2": "norm2",
    "conv2": "conv2",
    "nin_shortcut": "conv_shortcut",
}
_ATTENTION = {"norm": "group_norm", "q": "to_q", "k": "to_k", "v": "to_v", "proj_out": "to_out.0"}
_MID = {"block_1": "resnets.0", "attn_1": "attentions.0", "block_2": "resnets.1"}
_IGNORED = ("logvar",)  # the learned per-timestep log-variance of model.type 'bayesian'
_DIFFUSERS_PREFIXES = ("down_blocks.", "up_blocks.", "mid_block.", "time_embedding.")


def _map_inner(kind: str, rest: list[str]) -> str:
    """Map ``block.b.<layer>`` / ``attn.b.<layer>`` / ``downsample.conv`` / ``upsample.conv``."""
    if kind == "block":
        return f"resnets.{int(rest[0])}.{_RESNET[rest[1]]}"
    if kind == "attn":
        return f"attentions.{int(rest[0])}.{_ATTENTION[rest[1]]}"
    if kind in ("downsample", "upsample") and rest == ["conv"]:
        return f"{kind}rs.0.conv"
    raise KeyError(kind)


def map_original_key(key: str, num_levels: int) -> str | None:
    """The diffusers name of one original parameter, or None when the key is not one the model has.

    Args:
        key: an original key such as ``up.1.attn.0.q.weight`` (without ``module.``).
        num_levels: ``len(ch_mult)``, needed to reverse the up path.
    """
    module, _, param = key.rpartition(".")
    parts = module.split(".")
    try:
        if module in _TOP:
            return f"{_TOP[module]}.{param}"
        if parts[0] == "mid" and len(parts) == 3:
            layers = _ATTENTION if parts[1] == "attn_1" else _RESNET
            return f"mid_block.{_MID[parts[1]]}.{layers[parts[2]]}.{param}"
        if parts[0] in ("down", "up") and len(parts) >= 4:
            level = int(parts[1])
            if not 0 <= level < num_levels:
                return None
            index = level if parts[0] == "down" else num_levels - 1 - level
            inner = _map_inner(parts[2], parts[3:])
            return f"{parts[0]}_blocks.{index}.{inner}.{param}"
    except (KeyError, ValueError, IndexError):
        return None
    return None


def convert_state_dict(state: Mapping[str, torch.Tensor], num_levels: int) -> dict[str, torch.Tensor]:
    """Rename an original state dict to diffusers ``UNet2DModel`` keys (1×1 attention convs → Linear).

    Raises:
        ModelLoadError: a key with no diffusers counterpart, named.
    """
    converted: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        if key in _IGNORED:
            continue
        new_key = map_original_key(key, num_levels)
        if new_key is None:
            raise ModelLoadError(
                f"The checkpoint has a weight {key!r} that an original DDIM model with "
                f"{num_levels} levels does not have; is it a DDIM/DDPM checkpoint of this architecture?"
            )
        if ".attentions." in new_key and tensor.ndim == 4 and tuple(tensor.shape[2:]) == (1, 1):
            tensor = tensor.reshape(tensor.shape[0], tensor.shape[1])
        converted[new_key] = tensor
    return converted


def _strip_module(state: Mapping[str, Any]) -> dict[str, Any]:
    """Drop the ``module.`` prefix ``nn.DataParallel`` adds to every key."""
    return {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in state.items()}


def _looks_like_weights(obj: Any) -> bool:
    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
        and any(k.endswith("conv_in.weight") for k in obj)
    )


def extract_state_dict(obj: Any, source: str) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Find the model weights in what a checkpoint holds.

    A state dict is used as is. In a list (ermongroup saves ``[model, optimizer, epoch, step,
    ema]``) the last entry that looks like model weights is used: the EMA weights. In a dict of
    dicts, entries whose key names the EMA come first. ``module.`` prefixes are removed.

    Returns:
        The state dict and notes about the choice.

    Raises:
        ModelLoadError: nothing in the checkpoint looks like the weights of a DDIM UNet.
    """
    if _looks_like_weights(obj):
        return _strip_module(obj), []
    if isinstance(obj, (list, tuple)):
        for index in range(len(obj) - 1, -1, -1):
            if _looks_like_weights(obj[index]):
                note = f"used entry {index} of the checkpoint's {len(obj)} (the last weights: the EMA)"
                return _strip_module(obj[index]), [note]
    if isinstance(obj, Mapping):
        keys = sorted(obj, key=lambda k: 0 if "ema" in str(k).lower() else 1)
        for key in keys:
            if _looks_like_weights(obj[key]):
                return _strip_module(obj[key]), [f"used the checkpoint's {key!r} weights"]
    raise ModelLoadError(
        f"'{source}' holds no model weights the studio recognises (a state dict with conv_in.weight, "
        "or a list/dict containing one)."
    )


def _architecture(
    state: Mapping[str, torch.Tensor], config: Path | None, resolution: int | None
) -> tuple[DDIMArchitecture, NoiseSchedule, list[str]]:
    if config is not None:
        return read_ddim_config(config, resolution)
    arch = infer_architecture(state, resolution)
    notes = ["architecture read from the weight shapes", DEFAULT_SCHEDULE_NOTE]
    return arch, NoiseSchedule.linear(), notes


def load_ddim_checkpoint(
    path: str | Path,
    *,
    config: str | Path | None = None,
    resolution: int | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> tuple[DiffusersUNet, ModelInfo]:
    """Load an original DDIM/DDPM checkpoint as a :class:`DiffusionModel`.

    Args:
        path: ``ckpt.pth``, ``model-*.ckpt`` or the same weights as ``.safetensors``.
        config: the original YAML config or a flat JSON/YAML mapping; without it the architecture
            is read from the weights (then ``resolution`` is required).
        resolution: the image size (used when the config lacks one or there is no config).
        device: where the model runs (``"auto"`` picks cuda, mps or cpu).
        dtype: the weight dtype.

    Returns:
        The converted model (a diffusers ``UNet2DModel`` inside) and its description.

    Raises:
        ModelLoadError: unsafe or unreadable file, diffusers-named weights, an architecture that
            cannot be determined, or weights that do not fit the architecture.
    """
    check_placement(device, dtype)
    path = Path(path)
    state, notes = extract_state_dict(load_checkpoint(path), path.name)
    if any(k.startswith(("model.diffusion_model.", "first_stage_model.")) for k in state):
        raise ModelLoadError(
            f"'{path.name}' is a latent diffusion (CompVis LDM) checkpoint; open it together with the "
            "YAML config file it came with."
        )
    if any(k.startswith(_DIFFUSERS_PREFIXES) for k in state):
        raise ModelLoadError(
            f"'{path.name}' holds diffusers UNet2DModel weights, not an original DDIM checkpoint; "
            "open the folder that holds it together with its config.json instead."
        )
    arch, schedule, config_notes = _architecture(state, Path(config) if config else None, resolution)
    if arch.out_ch not in (arch.in_channels, 2 * arch.in_channels):
        raise ModelLoadError(
            f"The model outputs {arch.out_ch} channels for {arch.in_channels} input channels; the studio "
            "needs a noise predictor."
        )
    unet = build_unet(arch.to_diffusers_config())
    load_unet_weights(unet, convert_state_dict(state, arch.num_levels), path.name)
    unet = place_unet(unet, device, dtype)
    sample_shape = (arch.in_channels, arch.resolution, arch.resolution)
    info = ModelInfo(
        name=path.stem,
        source=str(path),
        family="ddim-original",
        sample_shape=sample_shape,
        num_parameters=sum(p.numel() for p in unet.parameters()),
        prediction_type=schedule.prediction_type,
        notes=notes + config_notes,
        num_train_timesteps=schedule.num_train_timesteps,
    )
    return DiffusersUNet(unet, schedule, sample_shape), info
