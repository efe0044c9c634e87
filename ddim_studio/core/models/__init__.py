"""Models behind one interface: ``output = model(x_t, t)`` (see :mod:`protocol`).

:func:`load_model` opens diffusers folders, hub ids and original DDIM checkpoints; the oracles
are exact denoisers for tests; :mod:`safe_load` reads tensor files without running their code.
"""

from __future__ import annotations

from ddim_studio.core.models.ddim_config import DDIMArchitecture, infer_architecture, read_ddim_config
from ddim_studio.core.models.ddim_original import convert_state_dict, load_ddim_checkpoint, map_original_key
from ddim_studio.core.models.diffusers_adapter import DiffusersUNet, load_diffusers_folder, resolve_device
from ddim_studio.core.models.hub import download_from_hub, hub_allow_patterns, looks_like_hub_id
from ddim_studio.core.models.loader import DEFAULT_MODEL_DIR, load_model
from ddim_studio.core.models.oracles import FiniteSetOracle, GaussianOracle
from ddim_studio.core.models.protocol import DiffusionModel, ModelInfo, ModelLoadError
from ddim_studio.core.models.safe_load import load_checkpoint, load_pickle_checkpoint, load_safetensors

__all__ = [
    "DEFAULT_MODEL_DIR",
    "DDIMArchitecture",
    "DiffusersUNet",
    "DiffusionModel",
    "FiniteSetOracle",
    "GaussianOracle",
    "ModelInfo",
    "ModelLoadError",
    "convert_state_dict",
    "download_from_hub",
    "hub_allow_patterns",
    "infer_architecture",
    "load_checkpoint",
    "load_ddim_checkpoint",
    "load_diffusers_folder",
    "load_model",
    "load_pickle_checkpoint",
    "load_safetensors",
    "looks_like_hub_id",
    "map_original_key",
    "read_ddim_config",
    "resolve_device",
]
