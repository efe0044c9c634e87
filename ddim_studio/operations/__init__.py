"""Operations: what both front ends run, Qt-free, over ``core``.

Each operation returns a :class:`~ddim_studio.operations.run.Run`: an iterator of core
``StepResult`` steps (one per model call) whose typed result is ``run.result`` once iterated to
the end; ``run.stage`` tells the phase and chunk of the latest step. The command line drains a run
under a progress bar (``ddim_studio.cli``); the window's worker drains it under an abort flag
and makes previews (``ddim_studio.workers.execution``). To add an operation (as ``edit`` was), write
one module here with a ``_body`` generator (yield ``Stage`` then steps via ``phase``; return the
result dataclass) and a public function wrapping it in ``Run``.

Saved parameters come from :func:`build_params`, saved pictures go through :func:`save_picture`,
and reconstruction error is :func:`reconstruction_error` (clamped to [−1, 1], on the [0, 1] scale).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

#: Public name → the module that defines it. Imported on first use, so that the torch-free parts
#: (``operations.params``) can be read before torch is (the window draws itself first).
_EXPORTS = {
    "EditOutput": "edit",
    "edit_images": "edit",
    "EncodeOutput": "encode",
    "encode_images": "encode",
    "Endpoint": "interpolation",
    "InterpolateOutput": "interpolation",
    "interpolate": "interpolation",
    "resolve_endpoint": "interpolation",
    "latent_reproduces": "interpolation",
    "saved_latent": "interpolation",
    "psnr_from_mse": "metrics",
    "reconstruction_error": "metrics",
    "check_output_folder": "outputs",
    "make_output_folder": "outputs",
    "build_params": "params",
    "is_studio": "params",
    "Run": "run",
    "Stage": "run",
    "run_to_end": "run",
    "SampleOutput": "sample",
    "decode_latents": "sample",
    "sample_seeds": "sample",
    "save_picture": "saving",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ddim_studio.operations' has no attribute {name!r}")
    return getattr(import_module(f"ddim_studio.operations.{module}"), name)
