"""Turning what goes wrong in a job into a ``failed(job_id, message, kind)`` a person understands.

=============  =====================================================================
kind           raised by
=============  =====================================================================
``oom``        ``torch.OutOfMemoryError``, a RuntimeError saying "out of memory", MemoryError
``numerical``  :class:`NumericalError` (NaN/Inf in x_t, the step named), ``core.limits.NonFiniteError``
               (NaN/Inf in a batch's result or in its input, checked by the operations)
``model``      ``ModelLoadError`` (also "No model is loaded yet …")
``input``      ``ValueError`` from the core (bad steps, spacing, η, shapes, seeds …), an image or
               latent file that cannot be opened (``ImageLoadError``, ``LatentLoadError``)
``error``      anything else: its message, and the traceback logged with ``logging``
=============  =====================================================================
"""

from __future__ import annotations

import gc
import logging
import re

import torch

from ddim_studio.core.imaging import ImageLoadError
from ddim_studio.core.latents import LatentLoadError
from ddim_studio.core.limits import NonFiniteError
from ddim_studio.core.models.protocol import ModelLoadError

logger = logging.getLogger("ddim_studio.workers")

OOM_HINT = "try a smaller batch size, float16, or the CPU"
NO_MODEL_MESSAGE = "No model is loaded yet; open a model first, or wait until the default model has loaded."
_OOM_TYPES: tuple[type[BaseException], ...] = tuple(
    t for t in (getattr(torch, "OutOfMemoryError", None), getattr(torch.cuda, "OutOfMemoryError", None)) if t
) + (MemoryError,)


# Command-line words in messages shared with the CLI, and what the window offers instead.
_WINDOW_PHRASES = (
    ("open it with --model PATH", "open it with File ▸ Open Model Folder…"),
    ("open a model with --model PATH", "open a model with File ▸ Open Model Folder…"),
    (", --model-config on the command line", ""),
    (
        "allow them with --allow-pickle (they are still opened as tensors only)",
        "the window does not open those; convert them to safetensors first",
    ),
)
# "(imaging.fit_to_model does it)", "LocalEntryNotFoundError: ", "--model PATH"
_CODE_HINT = re.compile(r"\s*\((?:[\w ]*?\b)?[a-z_]+\.[a-z_]+(?:\(\))? does it\)")
_EXCEPTION = re.compile(r"\b(?!Error\b|Exception\b)[A-Z]\w*(?:Error|Exception)\b:?\s*")
_FLAG = re.compile(r"(?<![\w-])--[a-z][\w-]*(?: PATH)?")


def window_words(message: str) -> str:
    """``message`` as the window says it: no command-line flags, function names or exception classes."""
    for cli, window in _WINDOW_PHRASES:
        message = message.replace(cli, window)
    message = _CODE_HINT.sub("", message)
    message = _EXCEPTION.sub("", message)
    message = _FLAG.sub("the matching setting", message)
    message = re.sub(r"\(\s*(?:Got:?\s*)?", "(", message).replace("()", "")
    return re.sub(r"\s{2,}", " ", message).replace("….", "…").strip()


class JobCancelled(Exception):
    """Raised inside the worker when a job's abort flag is seen; never leaves the worker."""


class NumericalError(ArithmeticError):
    """The latents became NaN or Inf; the message names the phase, step and timestep."""


def is_oom(exc: BaseException) -> bool:
    """Whether ``exc`` means the device (or the host) ran out of memory."""
    if isinstance(exc, _OOM_TYPES):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def classify(exc: BaseException, job_id: int, kind: str) -> tuple[str, str]:
    """The error kind and the message to show for an exception raised by job ``job_id`` of ``kind``,
    in the window's words (:func:`window_words`).

    Unexpected exceptions (kind ``error``) are logged with their traceback.
    """
    level, message = _classify(exc, job_id, kind)
    return level, window_words(message)


def _classify(exc: BaseException, job_id: int, kind: str) -> tuple[str, str]:
    if is_oom(exc):
        logger.warning("Job %d (%s) ran out of memory: %s", job_id, kind, exc)
        return "oom", f"Ran out of memory in the {kind} job; {OOM_HINT}."
    if isinstance(exc, (NumericalError, NonFiniteError)):
        logger.warning("Job %d (%s): %s", job_id, kind, exc)
        return "numerical", str(exc)
    if isinstance(exc, ModelLoadError):
        logger.warning("Job %d (%s): %s", job_id, kind, exc)
        return "model", str(exc)
    if isinstance(exc, (ValueError, ImageLoadError, LatentLoadError)):
        logger.info("Job %d (%s) rejected: %s", job_id, kind, exc)
        return "input", str(exc)
    logger.error("Job %d (%s) failed with an unexpected error", job_id, kind, exc_info=exc)
    message = str(exc) or "no reason given"
    return "error", f"The {kind} job failed: {message}"


def release_memory() -> None:
    """Collect garbage and return cached accelerator memory (call after the exception is dropped)."""
    gc.collect()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
    mps = getattr(torch, "mps", None)
    if mps is not None and torch.backends.mps.is_available():
        mps.empty_cache()
