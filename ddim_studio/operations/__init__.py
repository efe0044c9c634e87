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
from typing import TYPE_CHECKING, Any

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
__all__ = [  # the names of _EXPORTS (tests/operations/test_layers.py checks that they agree)
    "EditOutput",
    "EncodeOutput",
    "Endpoint",
    "InterpolateOutput",
    "Run",
    "SampleOutput",
    "Stage",
    "build_params",
    "check_output_folder",
    "decode_latents",
    "edit_images",
    "encode_images",
    "interpolate",
    "is_studio",
    "latent_reproduces",
    "make_output_folder",
    "psnr_from_mse",
    "reconstruction_error",
    "resolve_endpoint",
    "run_to_end",
    "sample_seeds",
    "save_picture",
    "saved_latent",
]

if TYPE_CHECKING:  # what mypy and editors see: the same names, typed (at run time they load lazily)
    from ddim_studio.operations.edit import EditOutput, edit_images
    from ddim_studio.operations.encode import EncodeOutput, encode_images
    from ddim_studio.operations.interpolation import (
        Endpoint,
        InterpolateOutput,
        interpolate,
        latent_reproduces,
        resolve_endpoint,
        saved_latent,
    )
    from ddim_studio.operations.metrics import psnr_from_mse, reconstruction_error
    from ddim_studio.operations.outputs import check_output_folder, make_output_folder
    from ddim_studio.operations.params import build_params, is_studio
    from ddim_studio.operations.run import Run, Stage, run_to_end
    from ddim_studio.operations.sample import SampleOutput, decode_latents, sample_seeds
    from ddim_studio.operations.saving import save_picture


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ddim_studio.operations' has no attribute {name!r}")
    return getattr(import_module(f"ddim_studio.operations.{module}"), name)
