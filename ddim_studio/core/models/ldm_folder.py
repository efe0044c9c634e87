"""Opening a diffusers latent diffusion folder: ``model_index.json`` naming ``LDMPipeline``.

Layout (``CompVis/ldm-celebahq-256``; older revisions name the pipeline
``LatentDiffusionUncondPipeline``)::

    model_index.json     {"_class_name": "LDMPipeline", "vqvae": [...], "unet": [...], "scheduler": [...]}
    vqvae/config.json    VQModel (or an AutoencoderKL placed in that slot by community uploads)
    vqvae/diffusion_pytorch_model.safetensors (or .bin, read with the tensors-only loader)
    unet/…, scheduler/…  as for a pixel pipeline

Only the components are used; the studio owns the loop (diffusers' ``LDMPipeline`` is deprecated
and samples garbage on ldm-celebahq-256 because of the missing ``scaling_factor``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ddim_studio.core.models.autoencoder_load import autoencoder_kind, latent_channels, load_autoencoder
from ddim_studio.core.models.diffusers_adapter import (
    WEIGHT_NAMES,
    check_placement,
    load_diffusers_folder,
    read_json,
)
from ddim_studio.core.models.latent import Autoencoder, LatentUNet, choose_scale
from ddim_studio.core.models.protocol import ModelInfo, ModelLoadError
from ddim_studio.core.models.safe_load import load_checkpoint

LDM_PIPELINES = ("LDMPipeline", "LatentDiffusionUncondPipeline")
#: Where the autoencoder lives in a pipeline folder: ``vqvae`` (diffusers), ``vae`` (some uploads).
AUTOENCODER_SLOTS = ("vqvae", "vae")


def is_ldm_folder(folder: Path) -> bool:
    """Whether ``folder`` has a ``model_index.json`` naming an unconditional LDM pipeline."""
    index = folder / "model_index.json"
    if not index.is_file():
        return False
    return read_json(index, "pipeline index").get("_class_name") in LDM_PIPELINES


def _autoencoder_dir(folder: Path) -> Path:
    for slot in AUTOENCODER_SLOTS:
        if (folder / slot / "config.json").is_file():
            return folder / slot
    raise ModelLoadError(
        f"'{folder.name}' is a latent diffusion pipeline but has no vqvae/config.json; the autoencoder "
        "is missing, so its pictures cannot be decoded."
    )


def _weights(directory: Path) -> Path:
    for name in WEIGHT_NAMES:
        if (directory / name).is_file():
            return directory / name
    raise ModelLoadError(f"No autoencoder weights in '{directory}': looked for {', '.join(WEIGHT_NAMES)}.")


def describe_latent(info: ModelInfo, ae: Autoencoder) -> ModelInfo:
    """Fill the latent fields of ``info`` from the autoencoder (pixel/latent, kind, shapes, scale)."""
    info.space = "latent"
    info.autoencoder = ae.kind
    info.picture_shape = tuple(ae.picture_shape)  # type: ignore[assignment]
    info.latent_scale = ae.scale.value
    info.latent_scale_reason = ae.scale.reason
    info.num_parameters += sum(p.numel() for p in ae.module.parameters())
    return info


def check_latent_channels(unet_shape: tuple[int, ...], ae_config: dict[str, Any]) -> None:
    """The UNet must sample latents with the autoencoder's channels."""
    channels = latent_channels(ae_config)
    if unet_shape[0] != channels:
        raise ModelLoadError(
            f"The UNet samples {unet_shape[0]} channels but the autoencoder's latents have {channels}; "
            "the two do not belong together."
        )


def load_ldm_folder(
    folder: str | Path,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    name: str | None = None,
    latent_scale: float | None = None,
) -> tuple[LatentUNet, ModelInfo]:
    """Load a diffusers LDM pipeline folder as a :class:`LatentUNet`.

    Args:
        folder: the pipeline folder (``model_index.json``, ``vqvae/``, ``unet/``, ``scheduler/``).
        device: where the model runs; the UNet takes ``dtype``, the autoencoder float32.
        dtype: the UNet's weight dtype.
        name: the name shown (default: the folder's name).
        latent_scale: overrides the scale the rules choose (``latent.choose_scale``).

    Raises:
        ModelLoadError: anything that keeps the model from loading, in one line.
    """
    target = check_placement(device, dtype)
    folder = Path(folder)
    ae_dir = _autoencoder_dir(folder)
    ae_config = read_json(ae_dir / "config.json", "autoencoder config")
    kind = autoencoder_kind(ae_config)
    unet_model, info = load_diffusers_folder(folder, device=device, dtype=dtype, name=name)
    check_latent_channels(unet_model.sample_shape, ae_config)
    scale = choose_scale(kind, config_value=ae_config.get("scaling_factor"), override=latent_scale)
    weights = _weights(ae_dir)
    ae = load_autoencoder(
        ae_config, load_checkpoint(weights), source=f"{ae_dir.name}/{weights.name}", scale=scale,
        latent_hw=unet_model.sample_shape[1:], device=target,
    )  # fmt: skip
    model = LatentUNet(unet_model.unet, unet_model.schedule, ae)
    info.family = "diffusers-ldm"
    return model, describe_latent(info, ae)
