"""The studio's bounds on input, in one place, and the checks every file reader shares.

Every reader of a file a person can name (image, latent, config, checkpoint) first calls
:func:`check_regular_file`: a FIFO (``mkfifo``) would block the reader forever, ``/dev/zero`` would
feed it without end, a folder cannot be read at all. Each is refused *before it is opened*, by
``os.stat``, with one line. The size of a regular file is known then, so a file over the reader's
bound is refused without reading it either.

:func:`estimate_batch_bytes` says how much memory one batch of samples needs, and
:func:`check_sample_memory` refuses a model whose x_T alone would exceed :data:`MAX_SAMPLE_BYTES`
(a 215 kB config with ``in_channels 64, sample_size 4096`` asks for 4 GiB per picture, and every
step keeps several such tensors).
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from ddim_studio.core.names import MAX_HARMONIZE  # noqa: F401 - the edit bound, re-exported here

#: Images: a 64-megapixel PNG or TIFF can be a few hundred MB; nothing a person drops is larger.
MAX_IMAGE_FILE_BYTES = 512 * 1024**2
#: Latent files (x_T of many pictures in one file): 1 GiB.
MAX_LATENT_FILE_BYTES = 1024**3
#: Config files (JSON/YAML): a scheduler config with 1000 trained betas is ~25 kB.
MAX_CONFIG_FILE_BYTES = 1024**2
#: Checkpoints: the largest published pixel-space DDPM/DDIM UNets are a few GB.
MAX_CHECKPOINT_FILE_BYTES = 16 * 1024**3
#: x_T of one picture (C × H × W float32). 3 × 1024 × 1024 is 12 MiB; 256 MiB leaves room for
#: 4-channel 4096² pictures and refuses 64 × 4096² (4 GiB) at load.
MAX_SAMPLE_BYTES = 256 * 1024**2
#: Memory one batch may ask for (see :func:`estimate_batch_bytes`).
MAX_BATCH_BYTES = 8 * 1024**3
#: How many tensors of x_T's size a sampling step keeps alive at once: x_t, the model output,
#: pred_x0, pred_eps, the next x_t, the noise of η > 0, and the UNet's activations, which for the
#: studio's UNets are about 24 × the input (measured on the shipped model and on a CIFAR-10 config).
BATCH_TENSOR_FACTOR = 32

_WHAT_IS_IT = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind_of(mode: int) -> str:
    for test, words in _WHAT_IS_IT:
        if test(mode):
            return words
    return "not a regular file"


def check_regular_file(
    path: str | os.PathLike[str],
    max_bytes: int,
    what: str,
    error: Callable[[str, str], Exception],
) -> int:
    """Refuse anything but a regular file of at most ``max_bytes``, without opening it.

    Args:
        path: the file (symbolic links are followed, so a link to a FIFO is refused too).
        max_bytes: the largest size accepted.
        what: what the file should be, for messages ("an image", "a latent file"…).
        error: builds the exception from a kind (``missing``, ``unsupported``, ``too_large``)
            and a one-line message.

    Returns:
        The file's size in bytes.

    Raises:
        Whatever ``error`` returns: missing, unreadable, not a regular file, or too large.
    """
    label = f"“{Path(os.fspath(path)).name or os.fspath(path)}”"
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise error("missing", f"{label} does not exist (any more).") from None
    except OSError as exc:
        raise error("missing", f"{label} could not be read: {exc.strerror or exc}.") from None
    if not stat.S_ISREG(st.st_mode):
        raise error("unsupported", f"{label} is {_kind_of(st.st_mode)}, not {what}; choose a file.")
    if st.st_size > max_bytes:
        raise error(
            "too_large",
            f"{label} is {st.st_size:,} bytes, more than the {max_bytes:,} DDIM Studio reads as {what}.",
        )
    return st.st_size


def _dtype_size(dtype: torch.dtype | str) -> int:
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    assert isinstance(dtype, torch.dtype)
    return torch.empty((), dtype=dtype).element_size()


def estimate_batch_bytes(model_or_shape: Any, batch: int, dtype: torch.dtype | str = torch.float32) -> int:
    """Memory one sampling/inversion step needs for a batch, in bytes (an upper estimate).

    Args:
        model_or_shape: a model with ``sample_shape`` (C, H, W), or that shape itself.
        batch: pictures per batch.
        dtype: the dtype the model runs in.

    Returns:
        ``batch × C × H × W × itemsize ×`` :data:`BATCH_TENSOR_FACTOR`.
    """
    shape: Sequence[int] = getattr(model_or_shape, "sample_shape", model_or_shape)
    return int(batch) * math.prod(int(d) for d in shape) * _dtype_size(dtype) * BATCH_TENSOR_FACTOR


def largest_batch(
    model_or_shape: Any, dtype: torch.dtype | str = torch.float32, limit: int = MAX_BATCH_BYTES
) -> int:
    """The largest batch whose estimate stays within ``limit`` (0 when even one picture does not)."""
    return limit // max(1, estimate_batch_bytes(model_or_shape, 1, dtype))


def check_batch_memory(
    model_or_shape: Any, batch: int, dtype: torch.dtype | str = torch.float32, limit: int = MAX_BATCH_BYTES
) -> int:
    """Refuse a batch whose estimate exceeds ``limit``, naming the figure and a batch size that fits.

    Returns:
        The estimate in bytes.

    Raises:
        ValueError: the batch would need more than ``limit``.
    """
    need = estimate_batch_bytes(model_or_shape, batch, dtype)
    if need > limit:
        fits = largest_batch(model_or_shape, dtype, limit)
        hint = f"use a batch size of {fits} or less" if fits else "this model's pictures are too large"
        raise ValueError(
            f"A batch of {batch} needs about {_gib(need)} of memory, more than the {_gib(limit)} "
            f"allowed; {hint}."
        )
    return need


def check_sample_memory(sample_shape: Sequence[int], error: Callable[[str], Exception]) -> None:
    """Refuse a model whose x_T of one picture (float32) exceeds :data:`MAX_SAMPLE_BYTES`."""
    need = math.prod(int(d) for d in sample_shape) * 4
    if need > MAX_SAMPLE_BYTES:
        shape = "×".join(str(int(d)) for d in sample_shape)
        raise error(
            f"One picture of this model ({shape}) needs {_gib(need)} for its starting noise x_T alone, "
            f"more than the {_gib(MAX_SAMPLE_BYTES)} DDIM Studio allows; it cannot be sampled here."
        )


def _gib(n: int) -> str:
    return f"{n / 1024**3:.1f} GiB" if n >= 1024**3 else f"{n / 1024**2:.0f} MiB"


def check_finite(x: torch.Tensor, what: str) -> torch.Tensor:
    """``x`` unchanged when every value is finite; else a ValueError saying what went wrong.

    The operations layer calls this on each batch's output, so that a model or a schedule that
    produces NaN/Inf is reported instead of written as a grey picture.

    Raises:
        NonFiniteError: ``x`` holds NaN or ±Inf (the message counts them).
    """
    if x.is_floating_point() or x.is_complex():
        bad = ~torch.isfinite(x)
        count = int(bad.sum())
        if count:
            nans = int(torch.isnan(x).sum())
            raise NonFiniteError(
                f"{what} holds {count:,} of {x.numel():,} values that are not numbers "
                f"({nans:,} NaN, {count - nans:,} infinite); nothing was saved. The model or its "
                "schedule is broken, or the input was."
            )
    return x


class NonFiniteError(ValueError):
    """A result or an input with NaN or Inf values; the message says where."""


#: Largest |value| accepted in a loaded latent: x_T is standard normal (|x| < 7 in 10¹¹ draws) and
#: an inverted picture's x_T stays within a few tens.
MAX_LATENT_ABS = 1000.0
