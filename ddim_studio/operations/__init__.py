"""Operations: what both front ends run, Qt-free, over ``core``.

Each operation returns a :class:`~ddim_studio.operations.run.Run`: an iterator of core
``StepResult`` steps (one per model call) whose typed result is ``run.result`` once iterated to
the end; ``run.stage`` tells the phase and chunk of the latest step. The command line drains a run
under a progress bar (``ddim_studio.commands``); the window's worker drains it under an abort flag
and makes previews (``ddim_studio.workers.execution``). To add an operation (e.g. ``edit``), write
one module here with a ``_body`` generator (yield ``Stage`` then steps via ``phase``; return the
result dataclass) and a public function wrapping it in ``Run``.

Saved parameters come from :func:`build_params`, saved pictures go through :func:`save_picture`,
and reconstruction error is :func:`reconstruction_error` (clamped to [−1, 1], on the [0, 1] scale).
"""

from __future__ import annotations

from ddim_studio.operations.encode import EncodeOutput, encode_images
from ddim_studio.operations.interpolate import Endpoint, InterpolateOutput, interpolate, resolve_endpoint
from ddim_studio.operations.metrics import psnr_from_mse, reconstruction_error
from ddim_studio.operations.params import build_params, is_studio
from ddim_studio.operations.run import Run, Stage, run_to_end
from ddim_studio.operations.sample import SampleOutput, decode_latents, sample_seeds
from ddim_studio.operations.saving import save_picture

__all__ = [
    "EncodeOutput",
    "Endpoint",
    "InterpolateOutput",
    "Run",
    "SampleOutput",
    "Stage",
    "build_params",
    "decode_latents",
    "encode_images",
    "interpolate",
    "is_studio",
    "psnr_from_mse",
    "reconstruction_error",
    "resolve_endpoint",
    "run_to_end",
    "sample_seeds",
    "save_picture",
]
