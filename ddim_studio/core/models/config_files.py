"""The JSON and YAML that come with a model: parsed and bounded before anything is built from them.

A model's config files are as untrusted as its weights. Two mechanisms turn every way they can be
wrong into a :class:`ModelLoadError` that says what is wrong:

* :func:`parse_text` / :func:`read_config` parse bytes as JSON or YAML. Besides syntax errors
  they catch what the parsers raise on hostile input: ``RecursionError`` from the recursive JSON
  and YAML parsers (``[[[[…]]]]`` 100 000 deep), ``UnicodeDecodeError`` (not UTF-8), ``ValueError``
  (an integer literal beyond Python's 4300-digit limit). Files are read up to
  :data:`MAX_CONFIG_BYTES`; a config is a few kB.
* :func:`check_int` bounds a size read from a config (an int, never a bool or a float), so that a
  ``layers_per_block`` of 10 000 is refused at once instead of building 10 000 blocks.
  :data:`UNET_LIMITS` holds the bounds of a diffusers ``UNet2DModel`` config and
  :func:`check_unet_config` applies them; the original DDIM architecture applies the same bounds
  under its own field names.
"""

from __future__ import annotations

import json
import math
import reprlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml

from ddim_studio.core.limits import MAX_CONFIG_FILE_BYTES, check_regular_file
from ddim_studio.core.models.protocol import ModelLoadError

#: Configs are kilobytes (a scheduler config with 1000 trained betas: ~25 kB).
MAX_CONFIG_BYTES = MAX_CONFIG_FILE_BYTES

#: Bounds on the size fields of a UNet, far above every published DDPM/DDIM model (CIFAR-10,
#: CelebA-HQ, LSUN: 4–6 levels, 2 layers per block, at most 512 channels, 32–256 px) and low
#: enough that building the largest allowed network on the meta device takes about a second.
MAX_SAMPLE_SIZE = 4096
MAX_IMAGE_CHANNELS = 64
MAX_LAYERS_PER_BLOCK = 32
MAX_LEVELS = 8
MAX_CHANNELS = 8192

#: ``UNet2DModel`` config field → (lowest, highest) allowed value.
UNET_LIMITS: dict[str, tuple[int, int]] = {
    "in_channels": (1, MAX_IMAGE_CHANNELS),
    "out_channels": (1, 2 * MAX_IMAGE_CHANNELS),  # twice the input: a learned variance
    "layers_per_block": (1, MAX_LAYERS_PER_BLOCK),
    "norm_num_groups": (1, MAX_CHANNELS),
    "attn_norm_num_groups": (1, MAX_CHANNELS),
    "attention_head_dim": (1, MAX_CHANNELS),
    "time_embedding_dim": (1, 4 * MAX_CHANNELS),  # diffusers' default: 4 × block_out_channels[0]
}
#: Real-valued ``UNet2DModel`` fields → (lowest, highest, whether the lowest is allowed). A string
#: ``norm_eps`` would build and fail only inside the first forward pass; a NaN scale factor would
#: make every picture NaN.
UNET_FLOAT_LIMITS: dict[str, tuple[float, float, bool]] = {
    "norm_eps": (0.0, 1.0, False),
    "mid_block_scale_factor": (0.0, 1e3, False),
    "dropout": (0.0, 1.0, True),
}
#: Fields of :data:`UNET_LIMITS` that may be ``null`` (diffusers then derives the value).
_NULLABLE = frozenset({"attn_norm_num_groups", "attention_head_dim", "time_embedding_dim"})
#: Lists with one entry per resolution level.
_LEVEL_LISTS = ("block_out_channels", "down_block_types", "up_block_types")

_SHOW = reprlib.Repr()
_SHOW.maxlevel, _SHOW.maxstring, _SHOW.maxother, _SHOW.maxlong = 3, 40, 40, 40


def show(value: Any) -> str:
    """A short ``repr`` of a config value for a message (bounded in depth and length)."""
    try:
        return _SHOW.repr(value)
    except ValueError:  # an int too long for repr (YAML reads 0xFFFF… of any length)
        return f"<an {value.bit_length()}-bit integer>" if isinstance(value, int) else "<unprintable>"


class UnparsableText(ValueError):
    """Bytes that are not the JSON/YAML they should be; ``reason`` completes "the file …"."""

    def __init__(self, reason: str, *, too_deep: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.too_deep = too_deep


def parse_text(raw: bytes, fmt: Literal["json", "yaml"] = "json") -> Any:
    """Decode ``raw`` as UTF-8 and parse it as JSON or YAML (``yaml.safe_load``: no Python tags).

    Raises:
        UnparsableText: not UTF-8, a syntax error, nested too deeply, or an integer literal too long
            for Python; never ``RecursionError``, ``UnicodeDecodeError`` or a bare ``ValueError``.
    """
    label = "JSON" if fmt == "json" else "JSON/YAML"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnparsableText(
            f"is not valid {label}: it is not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
    try:
        return json.loads(text) if fmt == "json" else yaml.safe_load(text)
    except RecursionError:
        raise UnparsableText("is nested too deeply", too_deep=True) from None
    except (ValueError, yaml.YAMLError) as exc:  # JSONDecodeError, "Exceeds the limit (4300 digits)"
        detail = " ".join(str(exc).split())
        raise UnparsableText(f"is not valid {label} ({detail[:300]})") from None


def read_config(path: Path, what: str, fmt: Literal["json", "yaml"] = "json") -> dict[str, Any]:
    """Read a config file that must hold a mapping; any failure is a ModelLoadError naming ``what``.

    Args:
        path: the file.
        what: what it is, for messages ("UNet config", "scheduler config", "model config").
        fmt: ``json``, or ``yaml`` (which also reads JSON).

    Raises:
        ModelLoadError: unreadable, larger than :data:`MAX_CONFIG_BYTES`, not UTF-8, not valid,
            nested too deeply, or not a mapping.
    """
    check_regular_file(path, MAX_CONFIG_BYTES, f"a {what}", lambda _kind, msg: ModelLoadError(msg))
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ModelLoadError(f"Cannot read the {what} '{path}': {exc.strerror or exc}.") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ModelLoadError(
            f"The {what} '{path}' is larger than {MAX_CONFIG_BYTES // 1024} kB; a model config is a "
            "few kB, so this is not one."
        )
    try:
        data = parse_text(raw, fmt)
    except UnparsableText as exc:
        ending = " to be a model config" if exc.too_deep else ""
        raise ModelLoadError(f"The {what} '{path}' {exc.reason}{ending}.") from None
    if not isinstance(data, dict):
        kind = "a JSON object" if fmt == "json" else "a mapping of settings"
        raise ModelLoadError(f"The {what} '{path}' is not {kind}.")
    return data


def check_int(value: Any, field: str, low: int, high: int, owner: str = "The UNet config") -> int:
    """``value`` if it is an int (not a bool) in ``[low, high]``; else a ModelLoadError naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ModelLoadError(f"{owner}'s {field} {show(value)} is not an integer from {low} to {high}.")
    return value


def check_float(
    value: Any, field: str, low: float, high: float, low_ok: bool, owner: str = "The UNet config"
) -> float:
    """``value`` if a finite number (not a bool) in its range, else a ModelLoadError naming ``field``."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not (number and (low <= value if low_ok else low < value) and value < high):
        lower = "from" if low_ok else "above"
        raise ModelLoadError(
            f"{owner}'s {field} {show(value)} is not a number {lower} {low:g} and below {high:g}."
        )
    return float(value)


def check_sample_size(value: Any) -> tuple[int, int]:
    """(H, W) from a UNet config's ``sample_size``: an int or a pair of ints, each 1 to 4096."""
    sides = list(value) if isinstance(value, (list, tuple)) and len(value) == 2 else [value, value]
    if all(not isinstance(s, bool) and isinstance(s, int) and 1 <= s <= MAX_SAMPLE_SIZE for s in sides):
        return sides[0], sides[1]
    raise ModelLoadError(
        f"The UNet config's sample_size {show(value)} is not an image size: it needs an integer or "
        f"[H, W], each from 1 to {MAX_SAMPLE_SIZE}."
    )


#: Resolution levels of a ``UNet2DModel`` whose config lists none (diffusers' four default blocks).
DEFAULT_LEVELS = 4


def check_size_fits_levels(config: Mapping[str, Any]) -> None:
    """Refuse a ``sample_size`` the UNet's down and up path cannot take (one ModelLoadError line).

    Every level but the last halves the picture (rounding up) and the up path doubles it back,
    so each side must be a multiple of 2^(levels − 1); any other size fails at the first model
    call with mismatched tensor sizes.
    """
    value = config.get("sample_size")
    height, width = check_sample_size(value)
    listed = config.get("down_block_types") or config.get("block_out_channels")
    levels = len(listed) if isinstance(listed, (list, tuple)) and listed else DEFAULT_LEVELS
    step = 2 ** (levels - 1)
    if height % step or width % step:
        raise ModelLoadError(
            f"The UNet config's sample_size {show(value)} does not fit its {levels} resolution levels: "
            f"each side must be a multiple of {step} ({step}, {2 * step}, {3 * step}, …)."
        )


def check_unet_config(config: Mapping[str, Any]) -> None:
    """Bound every size field of a ``UNet2DModel`` config before the network is built.

    Fields that are absent take diffusers' defaults, which are within the bounds. ``sample_size``
    is required (the studio needs the image size).

    Raises:
        ModelLoadError: a size that is not an integer or is out of bounds, naming the field and value.
    """
    check_sample_size(config.get("sample_size"))
    for field, (low, high) in UNET_LIMITS.items():
        if field in config and not (field in _NULLABLE and config[field] is None):
            check_int(config[field], field, low, high)
    for field, (flow, fhigh, low_ok) in UNET_FLOAT_LIMITS.items():
        if field in config:
            check_float(config[field], field, flow, fhigh, low_ok)
    for field in _LEVEL_LISTS:
        if field not in config:
            continue
        value = config[field]
        if not isinstance(value, (list, tuple)) or not 1 <= len(value) <= MAX_LEVELS:
            raise ModelLoadError(
                f"The UNet config's {field} {show(value)} is not a list of 1 to {MAX_LEVELS} entries "
                "(one per resolution level)."
            )
    for channels in config.get("block_out_channels", ()):
        check_int(channels, "block_out_channels entry", 1, MAX_CHANNELS)
    check_size_fits_levels(config)
