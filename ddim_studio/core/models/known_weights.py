"""Weights loaded and checked before: open them again without building the torch network.

A full load of a diffusers UNet imports diffusers (which imports ``torch._dynamo``: 1.5–3.5 s
here), builds the network and checks every weight. A model whose converted form is kept on disk
(OpenVINO's IR) needs none of that to run. So once a full load has checked a weights file, a
small record keyed by the file's *fingerprint* — its resolved path, size, times and inode, its
first and last MiB, the config and the dtype — remembers what that load found (the parameter count). While the
record stands, the next load defers building the torch network until something asks for it (the
torch backend, a conversion, a weights hash). A file changed in any way has another fingerprint
and is loaded and checked in full again; a record that cannot be read or written only means the
full load, never an error.

The sinusoidal timestep embedding a UNet feeds its first layer is computed here from the config
(:func:`positional_embedding`, diffusers' ``get_timestep_embedding``), so a converted network can
run without the torch one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ddim_studio.core.resources import cache_dir

__all__ = ["fingerprint", "recall", "remember", "positional_embedding", "embedding_size"]

#: Bumped when what a record means changes, so older records are not trusted.
RECORD_VERSION = 1
#: Records kept; past this the least recently used go (a record is 40 bytes, a file retrained in a
#: loop leaves one per version).
MAX_RECORDS = 500
#: UNet2DModel's defaults for the config keys the embedding reads (diffusers 0.2x–0.4x).
_DEFAULTS: dict[str, Any] = {
    "time_embedding_type": "positional",
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "block_out_channels": (224, 448, 672, 896),
}


def records_root() -> Path:
    """Where the records live: ``<cache>/known-weights``."""
    return cache_dir("known-weights")


#: Bytes read from each end of the weights file into its fingerprint (a file rewritten within the
#: file system's timestamp granularity keeps its size and time; its bytes differ).
SAMPLE_BYTES = 1 << 20


def fingerprint(weights: Path, config: Mapping[str, Any], dtype: torch.dtype) -> str | None:
    """A hash of the weights file's path, size, times and inode, its first and last MiB, the config
    and the dtype. None when the file cannot be read (then nothing is deferred)."""
    try:
        path = Path(weights).resolve()
        with open(path, "rb") as handle:
            stat = os.fstat(handle.fileno())
            head = handle.read(SAMPLE_BYTES)
            handle.seek(max(0, stat.st_size - SAMPLE_BYTES))
            tail = handle.read(SAMPLE_BYTES)
    except OSError:
        return None
    identity = [
        RECORD_VERSION, str(path), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino,
        str(dtype), dict(config),
    ]  # fmt: skip
    digest = hashlib.blake2b(json.dumps(identity, sort_keys=True, default=str).encode(), digest_size=16)
    digest.update(head)
    digest.update(tail)
    return digest.hexdigest()


def recall(key: str | None) -> dict[str, Any] | None:
    """The record of a checked load for fingerprint ``key`` (``num_parameters``), or None."""
    if not key:
        return None
    path = records_root() / f"{key}.json"
    try:
        record = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("version") != RECORD_VERSION:
        return None
    count = record.get("num_parameters")
    if not isinstance(count, int) or isinstance(count, bool) or count <= 0:
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # used now: the last to be pruned
    return record


def remember(key: str | None, num_parameters: int) -> None:
    """Record that the weights with fingerprint ``key`` loaded and passed every check."""
    if not key:
        return
    root = records_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".record-", dir=root)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"version": RECORD_VERSION, "num_parameters": int(num_parameters)}, handle)
        os.replace(temp, root / f"{key}.json")
    except OSError:  # a full disk or a read-only cache: the next load is a full one, that is all
        return
    _prune(root)


def _prune(root: Path) -> None:
    """Keep the :data:`MAX_RECORDS` most recently used records (best effort)."""
    records = []
    for path in root.glob("*.json"):
        with contextlib.suppress(OSError):
            records.append((path.stat().st_mtime, path))
    records.sort()
    for _used, path in records[: max(0, len(records) - MAX_RECORDS)]:
        with contextlib.suppress(OSError):
            path.unlink()


def _setting(config: Mapping[str, Any], key: str) -> Any:
    return config.get(key, _DEFAULTS[key])


def embedding_size(config: Mapping[str, Any]) -> int | None:
    """Width of the positional timestep embedding (``block_out_channels[0]``); None for other kinds."""
    if _setting(config, "time_embedding_type") != "positional":
        return None
    channels = _setting(config, "block_out_channels")
    try:
        return int(channels[0])
    except (TypeError, ValueError, IndexError):
        return None


def positional_embedding(config: Mapping[str, Any], t: torch.Tensor) -> torch.Tensor | None:
    """``unet.time_proj(t)`` of a UNet2DModel with a positional embedding, in float32; else None.

    The same arithmetic as diffusers' ``get_timestep_embedding`` (scale 1, max period 10⁴).
    """
    dim = embedding_size(config)
    if dim is None:
        return None
    half = dim // 2
    shift = float(_setting(config, "freq_shift"))
    exponent = -math.log(10000) * torch.arange(0, half, dtype=torch.float32) / (half - shift)
    emb = t.reshape(-1)[:, None].float() * torch.exp(exponent)[None, :]
    emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=-1)
    if bool(_setting(config, "flip_sin_to_cos")):
        emb = torch.cat([emb[:, half:], emb[:, :half]], dim=-1)
    if dim % 2 == 1:
        emb = torch.nn.functional.pad(emb, (0, 1, 0, 0))
    return emb
