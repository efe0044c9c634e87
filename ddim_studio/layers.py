"""The layers: what the window (``ui/``) may import from ``core/`` directly — types, constants, pure helpers.

Everything else — running a model, reading and writing files, editing, costs — goes through
``operations/`` (what a person asks for, shared with the command line) or ``workers/`` (the
threads). ``tests/operations/test_layers.py`` reads this table and fails on any other
``from ddim_studio.core… import …`` under ``ui/``; the README's layer diagram says the same.

A pure helper computes from its arguments only (no model, no file, no global state beyond a
registry lookup), so the window may call it on the GUI thread.
"""

from __future__ import annotations

#: core module → the names ``ui/`` may import from it, each with why it is allowed (``*``: every name
#: of a module that holds constants only).
ALLOWED: dict[str, dict[str, str]] = {
    "ddim_studio.core.names": {"*": "constants only: every name in it"},
    "ddim_studio.core.store": {
        "SavedItem": "type: a picture of the gallery",
        "StoreError": "type: the store's error, shown in words",
        "LATENT_SUFFIX": "constant",
        "MASK_SUFFIX": "constant",
        "SOURCE_SUFFIX": "constant",
    },
    "ddim_studio.core.models.protocol": {
        "ModelInfo": "type: facts about the loaded model",
        "ModelLoadError": "type: a model that cannot be opened, shown in words",
    },
    "ddim_studio.core.restore": {"Upscale": "pure helper: the upscale operator (a preview of A†y)"},
    "ddim_studio.core.latents": {"LatentLoadError": "type: a latent file's error"},
    "ddim_studio.core.imaging": {
        "ImageLoadError": "type: a picture's error",
        "fit_to_model": "pure helper: centre-crop and resize a picture already in memory",
        "pil_to_tensor": "pure helper: pixels → tensor",
        "tensor_to_pil": "pure helper: tensor → pixels",
        "tensor_to_uint8": "pure helper: tensor → pixels",
    },
    "ddim_studio.core.schedule": {
        "ScheduleError": "type: an impossible schedule, shown in words",
        "make_timesteps": "pure helper: the timesteps the controls would visit",
    },
    "ddim_studio.core.noise": {
        "initial_noise": "pure helper: x_T from seeds (as every operation draws it)",
        "seeds_for": "pure helper: the seeds of a batch",
    },
    "ddim_studio.core.samplers": {
        "get_sampler": "registry lookup: a sampler's declaration",
        "sampler_names": "registry lookup: the registered samplers",
    },
    "ddim_studio.core.saved_params": {
        "bad_fields_message": "pure helper: saved parameters that failed their checks, in words",
        "validate_params": "pure helper: checks saved parameters",
    },
    "ddim_studio.core.latent_health": {"latent_health": "pure helper: statistics of an x_T"},
    "ddim_studio.core.limits": {"estimate_batch_bytes": "pure helper: memory of a batch"},
    "ddim_studio.core.resources": {"resources_dir": "constant: where the icons and style sheets are"},
}


def allowed(module: str, name: str) -> bool:
    """Whether ``ui/`` may write ``from <module> import <name>``."""
    names = ALLOWED.get(module, {})
    return name in names or "*" in names
