"""One entry point that opens any model the studio knows: :func:`load_model`.

=========================================  ==============================================
source                                     opened as
=========================================  ==============================================
``None``                                   the shipped default model (:data:`DEFAULT_MODEL_DIR`)
a folder                                   diffusers UNet folder or pipeline folder
a ``.safetensors/.ckpt/.pth/.bin/.pt``     original DDIM checkpoint, converted
``owner/name`` that is not a path          diffusers folder from the Hugging Face hub
=========================================  ==============================================
"""

from __future__ import annotations

from pathlib import Path

import torch

from ddim_studio.core.limits import MAX_CHECKPOINT_FILE_BYTES, check_regular_file
from ddim_studio.core.models.ddim_original import load_ddim_checkpoint
from ddim_studio.core.models.diffusers_adapter import (
    WEIGHT_NAMES,
    check_placement,
    find_unet_dir,
    load_diffusers_folder,
    resolve_device,
)
from ddim_studio.core.models.hub import download_from_hub, looks_like_hub_id, missing_weights_hint
from ddim_studio.core.models.ldm_config import is_ldm_config
from ddim_studio.core.models.ldm_folder import is_ldm_folder, load_ldm_folder
from ddim_studio.core.models.ldm_original import load_ldm_checkpoint
from ddim_studio.core.models.protocol import DiffusionModel, ModelInfo, ModelLoadError
from ddim_studio.core.models.safe_load import PICKLE_SUFFIXES, SAFETENSORS_SUFFIXES
from ddim_studio.core.names import DTYPE_NAMES
from ddim_studio.core.resources import resources_dir

__all__ = ["DEFAULT_MODEL_DIR", "load_model", "resolve_device"]

#: The model shipped with the studio, opened when no model is named.
DEFAULT_MODEL_DIR = resources_dir() / "models" / "shapes32"
#: The precisions the UI and the command line offer, by name.
DTYPES = {name: getattr(torch, name) for name in DTYPE_NAMES}
_CHECKPOINT_SUFFIXES = SAFETENSORS_SUFFIXES + PICKLE_SUFFIXES


def _load_from_hub(
    repo_id: str, *, device: str | torch.device, dtype: torch.dtype, allow_pickle: bool,
    latent_scale: float | None = None,
) -> tuple[DiffusionModel, ModelInfo]:  # fmt: skip
    folder = download_from_hub(repo_id, allow_pickle=allow_pickle)
    if is_ldm_folder(folder):
        model, info = load_ldm_folder(
            folder, device=device, dtype=dtype, name=repo_id, latent_scale=latent_scale
        )
        info.source = repo_id
        info.notes.append(f"from the Hugging Face hub, cached in {folder}")
        return model, info
    unet_dir = find_unet_dir(folder)
    if not (unet_dir / "config.json").is_file():
        raise ModelLoadError(
            f"The hub repository '{repo_id}' has no config.json at its root or in unet/; it is not a "
            "diffusers UNet2DModel repository."
        )
    if not any((unet_dir / name).is_file() for name in WEIGHT_NAMES):
        raise ModelLoadError(f"Downloaded '{repo_id}', but {missing_weights_hint(allow_pickle)}.")
    unet_model, info = load_diffusers_folder(folder, device=device, dtype=dtype, name=repo_id)
    info.source = repo_id
    info.notes.append(f"from the Hugging Face hub, cached in {folder}")
    return unet_model, info


def _load_file(
    path: Path,
    *,
    config: Path | None,
    resolution: int | None,
    device: str | torch.device,
    dtype: torch.dtype,
    latent_scale: float | None = None,
) -> tuple[DiffusionModel, ModelInfo]:
    if path.suffix.lower() not in _CHECKPOINT_SUFFIXES:
        raise ModelLoadError(
            f"'{path.name}' is not a model file; open a diffusers model folder or a checkpoint "
            f"({', '.join(_CHECKPOINT_SUFFIXES)})."
        )
    if config is not None and is_ldm_config(config):  # a CompVis latent diffusion model.ckpt + YAML
        return load_ldm_checkpoint(path, config, device=device, dtype=dtype, latent_scale=latent_scale)
    return load_ddim_checkpoint(path, config=config, resolution=resolution, device=device, dtype=dtype)


def load_model(
    source: str | Path | None = None,
    *,
    config: str | Path | None = None,
    resolution: int | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    allow_pickle: bool = False,
    latent_scale: float | None = None,
) -> tuple[DiffusionModel, ModelInfo]:
    """Open a model for sampling.

    Args:
        source: a diffusers folder, an original DDIM checkpoint file, a hub id ``owner/name``, or
            None for the shipped default model.
        config: the original DDIM config (YAML or flat JSON) of a checkpoint file; diffusers
            folders carry their own ``config.json``.
        resolution: the image size of an original checkpoint opened without a config.
        device: ``"cpu"``, ``"cuda"``, ``"mps"``… or ``"auto"`` (cuda, then mps, then cpu).
        dtype: the weight dtype (a floating torch dtype).
        allow_pickle: also download pickled ``.bin`` weights from the hub. Local ``.bin``/``.ckpt``
            files are always read, with the tensors-only loader.
        latent_scale: a latent diffusion model's scale, overriding the one its files give
            (``core/models/latent.py``: ``choose_scale``); ignored by pixel models.

    Returns:
        The model (a :class:`DiffusionModel`) and its :class:`ModelInfo`.

    Raises:
        ModelLoadError: anything that keeps the model from loading; the message says what to do.
    """
    check_placement(device, dtype)
    if source is None:
        if not DEFAULT_MODEL_DIR.is_dir():
            raise ModelLoadError(
                f"The default model is missing: expected a model folder at '{DEFAULT_MODEL_DIR}'. "
                "Reinstall the studio or open a model with --model PATH."
            )
        source = DEFAULT_MODEL_DIR
    path = Path(source).expanduser()
    if path.is_dir():
        if config is not None:
            raise ModelLoadError(
                "--model-config is for original DDIM checkpoint files; a diffusers folder carries its "
                "own config.json."
            )
        if is_ldm_folder(path):
            return load_ldm_folder(path, device=device, dtype=dtype, latent_scale=latent_scale)
        return load_diffusers_folder(path, device=device, dtype=dtype)
    if path.exists():  # a FIFO or a device: refused by its type, never opened
        check_regular_file(
            path, MAX_CHECKPOINT_FILE_BYTES, "a model file", lambda _k, msg: ModelLoadError(msg)
        )
    if path.is_file():
        config_path = Path(config).expanduser() if config is not None else None
        return _load_file(
            path,
            config=config_path,
            resolution=resolution,
            device=device,
            dtype=dtype,
            latent_scale=latent_scale,
        )
    if isinstance(source, str) and looks_like_hub_id(source):
        return _load_from_hub(
            source, device=device, dtype=dtype, allow_pickle=allow_pickle, latent_scale=latent_scale
        )
    raise ModelLoadError(
        f"'{source}' does not exist: give a model folder, a checkpoint file, or a Hugging Face hub id "
        "such as google/ddpm-cifar10-32."
    )
