"""One validation of the parameters saved in studio PNGs and latent files, for every reader.

A PNG or a latent file that someone else wrote (or edited) can carry any JSON: ``steps`` as
``"abc"``, ``10**12``, ``1e308`` or ``[3]``, a ``seed`` of ``2**70``, an ``eta`` of ``[1]``. The
window's *Reuse params* / *Reuse seed* / restore-on-drop and the command line's ``decode`` all
read these fields, so they all go through :func:`validate_params`: each known field is checked
for its type and range, a bad one is dropped and named, unknown fields are kept as they are
(they are only shown, never used).

:func:`carried_params` is the other half: the fields of a latent's parameters that may be copied
into the PNG decoded from it (a latent may carry megabytes of metadata; only known fields go on).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from ddim_studio.core.names import MAX_HARMONIZE, MAX_REFINE

# This module must not import torch: the window reads saved parameters before torch is loaded (its
# first frame is drawn without it). The three bounds below are those of ``core.noise.MAX_SEED``,
# ``core.schedule.MAX_TRAIN_TIMESTEPS`` and ``core.schedule.SPACINGS``; a test keeps them equal.
MAX_SEED = 2**63 - 1
MAX_TRAIN_TIMESTEPS = 100_000
SPACINGS = ("uniform", "quadratic", "leading", "trailing", "linspace")

#: Longest text kept in a string field (a model name, a path, a date).
MAX_TEXT = 4096
#: Most frames an interpolation may say it has.
MAX_FRAMES = 10_000


def _int_in(low: int, high: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high


def _number_in(low: float, high: float) -> Callable[[Any], bool]:
    return lambda v: (
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and low <= v <= high
    )


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v)


def _text(v: Any) -> bool:
    return isinstance(v, str) and len(v) <= MAX_TEXT


def _size(v: Any) -> bool:
    return isinstance(v, list) and 2 <= len(v) <= 3 and all(_int_in(1, 1 << 20)(d) for d in v)


def _timesteps(v: Any) -> bool:
    return (
        isinstance(v, list)
        and 1 <= len(v) <= MAX_TRAIN_TIMESTEPS
        and all(_int_in(0, MAX_TRAIN_TIMESTEPS)(t) for t in v)
    )


#: Field → the check its value must pass. Fields not listed are kept unchecked (shown only).
FIELD_CHECKS: dict[str, Callable[[Any], bool]] = {
    "kind": _text,
    "app": _text,
    "model": _text,
    "model_source": _text,
    "prediction_type": _text,
    "source": _text,
    "created": _text,
    "method": lambda v: v in ("slerp", "lerp"),
    "a": _text,
    "b": _text,
    "seed": _int_in(0, MAX_SEED),
    "steps": _int_in(1, MAX_TRAIN_TIMESTEPS),
    "eta": _number_in(0.0, 1.0),
    "spacing": lambda v: v in SPACINGS,
    "clip_sample": lambda v: isinstance(v, bool),
    "timesteps": _timesteps,
    "frame": _int_in(0, MAX_FRAMES - 1),
    "frames": _int_in(1, MAX_FRAMES),
    "lambda": _number_in(-1e6, 1e6),
    "mse": _number,
    "psnr": _number,
    "size": _size,
    "refine": _int_in(0, MAX_REFINE),
    "strength": lambda v: _number_in(0.0, 1.0)(v) and v > 0,
    "start": lambda v: v in ("noise", "invert"),
    "harmonize": _int_in(0, MAX_HARMONIZE),
    "t_start": _int_in(0, MAX_TRAIN_TIMESTEPS),
    "mask": lambda v: isinstance(v, bool),
}


def validate_params(raw: Any) -> tuple[dict[str, Any], list[str]]:
    """Check the known fields of saved parameters.

    Args:
        raw: what a PNG or a latent file holds (anything JSON can give, or None).

    Returns:
        The clean parameters (bad fields removed, unknown fields kept) and the names of the bad
        fields, in the order found. Anything but a mapping gives ``({}, [])`` (no parameters).
    """
    if not isinstance(raw, Mapping):
        return {}, []
    clean: dict[str, Any] = {}
    bad: list[str] = []
    for key, value in raw.items():
        if not isinstance(key, str):
            continue
        check = FIELD_CHECKS.get(key)
        if check is not None and not check(value):
            bad.append(key)
            continue
        clean[key] = value
    return clean, bad


def bad_fields_message(bad: list[str], source: str = "The picture") -> str:
    """One line for the banner: which saved fields were ignored (empty when none)."""
    if not bad:
        return ""
    names = ", ".join(bad[:8]) + (f" and {len(bad) - 8} more" if len(bad) > 8 else "")
    return f"{source} has saved parameters that are not valid and were ignored: {names}."


#: Fields of a latent's parameters carried into the PNG decoded from it.
CARRIED_FIELDS = (
    "kind",
    "seed",
    "steps",
    "eta",
    "spacing",
    "clip_sample",
    "model",
    "source",
    "size",
    "created",
)


def carried_params(latent_params: Any) -> dict[str, Any]:
    """The known, valid fields of a latent's parameters, for the PNG decoded from it."""
    clean, _bad = validate_params(latent_params)
    return {key: clean[key] for key in CARRIED_FIELDS if key in clean}


def utf8_text(text: str) -> str:
    """``text`` with what UTF-8 cannot encode as U+FFFD.

    A file name that is not UTF-8 reaches Python as lone surrogates (``surrogateescape``); its bad
    bytes are replaced, so it can be saved in a PNG chunk, a latent's metadata and a file name.
    """
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        escapes = all(not 0xD800 <= ord(c) <= 0xDFFF or 0xDC80 <= ord(c) <= 0xDCFF for c in text)
        return text.encode("utf-8", "surrogateescape" if escapes else "replace").decode("utf-8", "replace")
