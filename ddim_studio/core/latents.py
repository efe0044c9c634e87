"""Latent files: the starting noise x_T of a picture, with the parameters that made it.

A latent file is a `safetensors <https://huggingface.co/docs/safetensors>`_ file holding exactly
one tensor, ``x_T``, of shape ``(C, H, W)`` or ``(N, C, H, W)``, stored as float32. The parameters
are JSON under the ``ddim_studio`` key of the file's string metadata. Files written by other tools
with float16/bfloat16/float64 ``x_T`` are accepted and cast to float32; integer tensors are not.

:func:`load_latent` reads and checks the header itself before safetensors parses it, so anything
wrong (missing file, truncated data, oversized header, wrong name, dtype or rank) comes out as one
:class:`LatentLoadError` with a readable message.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any, BinaryIO

import safetensors.torch
import torch

from ddim_studio.core.atomic import atomic_write
from ddim_studio.core.imaging import params_to_json
from ddim_studio.core.limits import MAX_LATENT_ABS, MAX_LATENT_FILE_BYTES, check_finite, check_regular_file
from ddim_studio.core.saved_params import validate_params

TENSOR_NAME = "x_T"
PARAMS_KEY = "ddim_studio"
MAX_HEADER_BYTES = 16 * 1024 * 1024
MAX_LATENT_BYTES = MAX_LATENT_FILE_BYTES
_FLOAT_DTYPES = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8}
_KINDS = ("missing", "corrupt", "unsupported", "too_large")

LatentSource = str | os.PathLike[str] | bytes | bytearray | memoryview


class LatentLoadError(Exception):
    """A latent file that cannot be used; ``str(error)`` says why.

    Attributes:
        kind: ``missing``, ``corrupt``, ``unsupported`` or ``too_large``.
        message: the same text as ``str(error)``.
    """

    def __init__(self, kind: str, message: str) -> None:
        if kind not in _KINDS:
            raise ValueError(f"LatentLoadError kind must be one of {_KINDS}, got {kind!r}.")
        super().__init__(message)
        self.kind = kind
        self.message = message


def _check_tensor(x_T: torch.Tensor) -> torch.Tensor:
    """``x_T`` as a contiguous float32 CPU tensor, or ValueError for a wrong dtype or rank."""
    if not isinstance(x_T, torch.Tensor) or not x_T.is_floating_point():
        kind = getattr(x_T, "dtype", type(x_T).__name__)
        raise ValueError(f"x_T must be a floating-point tensor, got {kind}.")
    if x_T.ndim not in (3, 4):
        raise ValueError(f"x_T must have shape (C, H, W) or (N, C, H, W), got {tuple(x_T.shape)}.")
    check_finite(x_T, "The latent x_T")  # a NaN latent would be a file no reader accepts
    return x_T.detach().to("cpu", torch.float32).contiguous().clone()


def encode_latent(x_T: torch.Tensor, params: dict[str, Any]) -> bytes:
    """The bytes of a latent file for ``x_T`` (cast to float32) and ``params``.

    Raises:
        ValueError: if ``x_T`` is not a floating-point tensor of rank 3 or 4.
    """
    x = _check_tensor(x_T)
    data = x.numpy().tobytes()
    # The header is written here, keys sorted, because safetensors' writer orders metadata by a
    # hash map: two runs would write the same latent into different bytes.
    header = {
        "__metadata__": {"format": "pt", PARAMS_KEY: params_to_json(params)},
        TENSOR_NAME: {"dtype": "F32", "shape": list(x.shape), "data_offsets": [0, len(data)]},
    }
    text = json.dumps(header, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)  # safetensors aligns the data to 8 bytes with spaces
    return struct.pack("<Q", len(text)) + text + data


def is_latent_path(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a latent file (``.safetensors`` in any case: ``X.SAFETENSORS`` too)."""
    return Path(os.fspath(path)).suffix.lower() == ".safetensors"


def save_latent(path: str | os.PathLike[str], x_T: torch.Tensor, params: dict[str, Any]) -> Path:
    """Atomically write a latent file; a taken name becomes ``name-1.safetensors``…, never overwritten.

    Returns:
        The path actually written.

    Raises:
        ValueError: if ``x_T`` is not a floating-point tensor of rank 3 or 4.
        StoreError: when the file cannot be written (nothing is left behind).
    """
    blob = encode_latent(x_T, params)

    def write(fh: BinaryIO) -> None:
        fh.write(blob)

    return atomic_write(path, write)


def _read(source: LatentSource) -> tuple[bytes, str]:
    """The file's bytes and a label for messages."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), "The latent data"
    path = Path(os.fspath(source))
    label = f"“{path.name}”"
    check_regular_file(path, MAX_LATENT_BYTES, "a latent file", LatentLoadError)
    try:
        with open(path, "rb") as fh:
            return fh.read(MAX_LATENT_BYTES + 1), label
    except FileNotFoundError as exc:
        raise LatentLoadError("missing", f"{label} does not exist (any more).") from exc
    except OSError as exc:
        raise LatentLoadError("missing", f"{label} could not be read: {exc.strerror or exc}.") from exc


def _parse_header(data: bytes, label: str) -> tuple[dict[str, Any], dict[str, Any], int]:
    """Check the safetensors header; return the ``x_T`` entry, the metadata and the data start."""
    corrupt = f"{label} is not a complete latent (.safetensors) file"
    if len(data) < 8:
        raise LatentLoadError("corrupt", f"{corrupt}: it is only {len(data)} bytes long.")
    (size,) = struct.unpack("<Q", data[:8])
    if size > MAX_HEADER_BYTES:
        raise LatentLoadError("corrupt", f"{corrupt}: its header claims {size:,} bytes.")
    if 8 + size > len(data):
        raise LatentLoadError("corrupt", f"{corrupt}: it is truncated.")
    try:
        header = json.loads(data[8 : 8 + size].decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise LatentLoadError("corrupt", f"{corrupt}: its header is not valid JSON.") from exc
    if not isinstance(header, dict):
        raise LatentLoadError("corrupt", f"{corrupt}: its header is not a JSON object.")
    metadata = header.pop("__metadata__", None)
    names = sorted(str(k) for k in header)
    if names != [TENSOR_NAME]:
        raise LatentLoadError(
            "unsupported", f"{label} must hold exactly one tensor named {TENSOR_NAME!r}; it holds {names}."
        )
    entry = header[TENSOR_NAME]
    if not isinstance(entry, dict):
        raise LatentLoadError("corrupt", f"{corrupt}: the {TENSOR_NAME} entry is malformed.")
    return entry, metadata if isinstance(metadata, dict) else {}, 8 + size


def _check_entry(entry: dict[str, Any], data_len: int, label: str) -> None:
    """Check dtype, shape and byte range of the ``x_T`` entry against the data that follows."""
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in _FLOAT_DTYPES:
        raise LatentLoadError(
            "unsupported", f"{label} stores x_T as {dtype}; only floating-point latents can be used."
        )
    if not (isinstance(shape, list) and len(shape) in (3, 4)) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape
    ):
        raise LatentLoadError(
            "unsupported", f"{label}: x_T must have shape (C, H, W) or (N, C, H, W), not {shape}."
        )
    if not (
        isinstance(offsets, list)
        and len(offsets) == 2
        and all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
    ):
        raise LatentLoadError("corrupt", f"{label} is damaged: the x_T entry has no valid data range.")
    count = 1
    for d in shape:
        count *= d
    begin, end = offsets
    if begin != 0 or end != count * _FLOAT_DTYPES[dtype] or end > data_len:
        raise LatentLoadError("corrupt", f"{label} is damaged or truncated: x_T's data does not fit.")


def _params(metadata: dict[str, Any], bad_fields: list[str] | None) -> dict[str, Any]:
    """The checked parameters from the metadata; empty when missing or unreadable (the tensor still loads).

    Fields that fail :func:`saved_params.validate_params` are dropped and their names added to
    ``bad_fields``.
    """
    text = metadata.get(PARAMS_KEY)
    if not isinstance(text, str):
        return {}
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    clean, bad = validate_params(value)
    if bad_fields is not None:
        bad_fields.extend(bad)
    return clean


def _check_values(x_T: torch.Tensor, label: str) -> None:
    """Refuse NaN, ±Inf and magnitudes no starting noise has (checked before any cast to float32)."""
    finite = torch.isfinite(x_T)
    if not bool(finite.all()):
        count = int((~finite).sum())
        raise LatentLoadError(
            "unsupported",
            f"{label} holds {count:,} values that are not numbers (NaN or infinite); it cannot be decoded.",
        )
    peak = float(x_T.abs().max()) if x_T.numel() else 0.0
    if peak > MAX_LATENT_ABS:
        raise LatentLoadError(
            "unsupported",
            f"{label} holds a value of {peak:.3g}; starting noise lies within ±{MAX_LATENT_ABS:g}, so this "
            "is not a latent DDIM Studio can decode.",
        )


def load_latent(
    source: LatentSource, bad_fields: list[str] | None = None
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Read a latent file.

    Args:
        source: a path (a regular file; FIFOs, devices and folders are refused unopened) or the
            file's bytes.
        bad_fields: when given, the names of saved parameters that failed validation are added.

    Returns:
        ``x_T`` as a float32 CPU tensor of shape ``(C, H, W)`` or ``(N, C, H, W)``, bit-exact for
        float32 files, and the stored parameters, checked (empty when the file has none).
        Every value is finite and within ±:data:`limits.MAX_LATENT_ABS`.

    Raises:
        LatentLoadError: for anything wrong with the file; never anything else.
    """
    data, label = _read(source)
    entry, metadata, start = _parse_header(data, label)
    _check_entry(entry, len(data) - start, label)
    try:
        x_T = safetensors.torch.load(data)[TENSOR_NAME]
    except Exception as exc:
        raise LatentLoadError("corrupt", f"{label} is damaged and cannot be read ({exc}).") from exc
    _check_values(x_T, label)
    return x_T.to(torch.float32).contiguous(), _params(metadata, bad_fields)
