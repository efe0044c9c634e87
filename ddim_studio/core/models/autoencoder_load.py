"""Building an LDM's autoencoder (diffusers ``VQModel`` / ``AutoencoderKL``) from its config, safely.

The config is bounded field by field before anything is built (a ``layers_per_block`` of 10 000 or a
codebook of 10⁹ entries is refused in one line); the module is built on the ``meta`` device and the
weights go in strictly (every key, every shape, finite), as for the UNet.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import torch

from ddim_studio.core.models.config_files import MAX_CHANNELS, MAX_IMAGE_CHANNELS, MAX_LEVELS, check_int, show
from ddim_studio.core.models.diffusers_adapter import load_unet_weights
from ddim_studio.core.models.latent import Autoencoder, LatentScale
from ddim_studio.core.models.protocol import ModelLoadError

#: diffusers class name → the studio's autoencoder kind.
AUTOENCODER_CLASSES = {"VQModel": "vq", "AutoencoderKL": "kl"}
#: The largest codebook accepted (CompVis VQ-f4: 8192; VQ-f16 of taming: 16384).
MAX_CODES = 1 << 20
OWNER = "The autoencoder config"
#: The largest decoded picture side accepted (the largest public unconditional LDMs: 256 px).
MAX_PICTURE_SIDE = 4096
_LIMITS: dict[str, tuple[int, int]] = {
    "in_channels": (1, MAX_IMAGE_CHANNELS),
    "out_channels": (1, MAX_IMAGE_CHANNELS),
    "latent_channels": (1, MAX_IMAGE_CHANNELS),
    "layers_per_block": (1, 8),
    "norm_num_groups": (1, MAX_CHANNELS),
    "num_vq_embeddings": (1, MAX_CODES),
    "vq_embed_dim": (1, MAX_IMAGE_CHANNELS),
    "sample_size": (1, 4096),
}


def autoencoder_kind(config: Mapping[str, Any]) -> str:
    """``"vq"`` or ``"kl"`` from the config's ``_class_name``; a ModelLoadError for anything else."""
    name = config.get("_class_name")
    if name not in AUTOENCODER_CLASSES:
        raise ModelLoadError(
            f"{OWNER} describes a {show(name)}; an LDM's autoencoder must be a VQModel or an AutoencoderKL."
        )
    return AUTOENCODER_CLASSES[name]


def check_autoencoder_config(config: Mapping[str, Any]) -> None:
    """Bound every size field before the network is built (absent fields take diffusers' defaults).

    Raises:
        ModelLoadError: a size that is not an integer or is out of bounds, naming field and value.
    """
    for field, (low, high) in _LIMITS.items():
        if config.get(field) is not None:
            check_int(config[field], field, low, high, OWNER)
    for field in ("block_out_channels", "down_block_types", "up_block_types"):
        value = config.get(field)
        if value is not None and (not isinstance(value, (list, tuple)) or not 1 <= len(value) <= MAX_LEVELS):
            raise ModelLoadError(
                f"{OWNER}'s {field} {show(value)} is not a list of 1 to {MAX_LEVELS} entries."
            )
    for channels in config.get("block_out_channels") or ():
        check_int(channels, "block_out_channels entry", 1, MAX_CHANNELS, OWNER)
    groups = config.get("norm_num_groups", 32)
    for channels in config.get("block_out_channels") or (64,):
        if channels % groups:
            raise ModelLoadError(
                f"{OWNER}'s block_out_channels entry {channels} is not a multiple of "
                f"norm_num_groups {groups}."
            )


def latent_channels(config: Mapping[str, Any]) -> int:
    """Channels of the latents the UNet samples: ``vq_embed_dim`` of a VQ model, else ``latent_channels``."""
    kind = autoencoder_kind(config)
    default = 3 if kind == "vq" else 4
    channels = config.get("latent_channels") or default
    if kind == "vq" and config.get("vq_embed_dim"):
        channels = config["vq_embed_dim"]
    return int(channels)


def num_levels(config: Mapping[str, Any]) -> int:
    """Resolution levels of the encoder (each but the last halves the picture side)."""
    return len(config.get("block_out_channels") or (64,))


def build_autoencoder_module(config: Mapping[str, Any]) -> Any:
    """A ``VQModel`` or ``AutoencoderKL`` built from ``config`` on the ``meta`` device.

    Raises:
        ModelLoadError: another class, a size out of bounds, or values diffusers cannot build.
    """
    from diffusers import AutoencoderKL, VQModel

    kind = autoencoder_kind(config)
    check_autoencoder_config(config)
    cls = VQModel if kind == "vq" else AutoencoderKL
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    known = {key: value for key, value in config.items() if key in accepted}
    try:
        with torch.device("meta"):
            return cls.from_config(known)
    except Exception as exc:  # ValueError for unknown blocks, TypeError for bad values
        raise ModelLoadError(f"Cannot build the autoencoder from its config: {str(exc)[:200]}") from None


def load_autoencoder(
    config: Mapping[str, Any],
    state_dict: Mapping[str, Any],
    *,
    source: str,
    scale: LatentScale,
    latent_hw: tuple[int, int],
    device: torch.device,
) -> Autoencoder:
    """Build the autoencoder, load its weights strictly and wrap it.

    Args:
        config: the diffusers autoencoder config.
        state_dict: its weights (diffusers names).
        source: the weight file's name, for messages.
        scale: the latent scale (see ``latent.choose_scale``).
        latent_hw: (h, w) of the UNet's samples: the picture is ``2^(levels−1)`` times larger.
        device: where it runs (always float32).

    Raises:
        ModelLoadError: a bad config, weights that do not fit it, or latents whose channels differ
            from the UNet's.
    """
    factor = 2 ** (num_levels(config) - 1)
    side = max(latent_hw) * factor
    if side > MAX_PICTURE_SIDE:
        raise ModelLoadError(
            f"This model's latents of {latent_hw[1]}×{latent_hw[0]} decode to pictures of "
            f"{latent_hw[1] * factor}×{latent_hw[0] * factor}, more than the {MAX_PICTURE_SIDE} pixels a "
            "side DDIM Studio allows."
        )
    module = build_autoencoder_module(config)
    if not isinstance(state_dict, Mapping):
        raise ModelLoadError(f"'{source}' does not hold a state dict.")
    load_unet_weights(module, state_dict, source)  # strict keys and shapes, finite values
    try:
        module = torch.nn.Module.to(module, device=device, dtype=torch.float32).eval()
    except (RuntimeError, AssertionError) as exc:
        raise ModelLoadError(f"Cannot move the autoencoder to {device}: {exc}") from None
    kind = autoencoder_kind(config)
    channels = int(config.get("in_channels", 3))
    picture = (channels, latent_hw[0] * factor, latent_hw[1] * factor)
    return Autoencoder(module, kind, scale, picture, (latent_channels(config), *latent_hw))
