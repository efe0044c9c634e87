"""The parameters saved in studio PNGs: how they are named, shown and read back.

Every saved picture carries a JSON object (see ``core.imaging.png_info``) with at least ``kind``
(``sample``, ``variation``, ``encode`` or ``interpolate``) and the settings that made it.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

from ddim_studio.core.saved_params import bad_fields_message, validate_params
from ddim_studio.operations.params import is_studio as operations_is_studio  # torch-free

#: The window's seed fields are 32-bit (QSpinBox); larger seeds are valid on the command line only.
MAX_UI_SEED = 2**31 - 1

KIND_NAMES = {
    "sample": "Generated",
    "variation": "Variation",
    "encode": "Reconstruction",
    "interpolate": "Interpolation frame",
    "decode": "Decoded latent",
    "edit": "Edit",
    "restore": "Restoration",
}

_LABELS = (
    ("kind", "Kind"),
    ("seed", "Seed"),
    ("steps", "Steps S"),
    ("eta", "η"),
    ("sampler", "Sampler"),
    ("spacing", "Spacing"),
    ("refine", "Refine"),
    ("clip_sample", "Clip x₀"),
    ("source", "Source"),
    ("mse", "MSE"),
    ("psnr", "PSNR"),
    ("frame", "Frame"),
    ("lambda", "λ"),
    ("method", "Method"),
    ("a", "Slot A"),
    ("b", "Slot B"),
    ("model", "Model"),
    ("size", "Size"),
    ("created", "Created"),
)


def format_value(key: str, value: Any) -> str:
    """A parameter value as text for people."""
    if key == "kind":
        return KIND_NAMES.get(str(value), str(value))
    if key == "eta" and isinstance(value, (int, float)):
        return f"{value:.2f}"
    if key == "mse" and isinstance(value, (int, float)):
        return f"{value:.5f}"
    if key == "psnr" and isinstance(value, (int, float)):
        return "∞ dB" if math.isinf(value) else f"{value:.2f} dB"
    if key == "lambda" and isinstance(value, (int, float)):
        return f"{value:.3f}"
    if key == "created" and isinstance(value, str):
        return value.replace("T", " ")[:16]
    if key == "size" and isinstance(value, (list, tuple)):
        return "×".join(str(v) for v in value)
    if key == "frame" and isinstance(value, int):
        return str(value + 1)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def rows(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, text) pairs of the parameters worth showing, in a stable order."""
    out = []
    for key, label in _LABELS:
        if key in ("clip_sample", "refine") and not params.get(key):
            continue  # only worth a line when it was on
        if key in params and params[key] not in (None, ""):
            text = format_value(key, params[key])
            if key == "frame" and "frames" in params:
                text = f"{text} of {params['frames']}"
            out.append((label, text))
    return out


def details_html(params: Mapping[str, Any], extra: list[tuple[str, str]] | None = None) -> str:
    """The parameters as a small two-column HTML table (keys muted)."""
    lines = []
    for label, text in rows(params) + list(extra or []):
        lines.append(
            f"<tr><td style='padding:2px 12px 2px 0; opacity:0.65'>{html.escape(label)}</td>"
            f"<td style='padding:2px 0'>{html.escape(text)}</td></tr>"
        )
    if not lines:
        return "<i>No DDIM Studio parameters in this picture.</i>"
    return "<table cellspacing='0'>" + "".join(lines) + "</table>"


def short_label(params: Mapping[str, Any]) -> str:
    """A few words under a thumbnail: ``seed 42`` or ``frame 3/9``; what differs between pictures stays in
    view when the gallery elides the middle."""
    kind = params.get("kind")
    if kind == "interpolate" and isinstance(params.get("frame"), int):
        return f"frame {params['frame'] + 1}/{params.get('frames', '?')}"
    if kind == "encode":
        psnr = params.get("psnr")
        return f"recon · {psnr:.1f} dB" if isinstance(psnr, (int, float)) and math.isfinite(psnr) else "recon"
    if kind == "variation" and isinstance(params.get("eta"), (int, float)):
        noise = params.get("noise_seed")  # what tells variations of one picture apart, last (kept by "…")
        return f"var · η {params['eta']:.2f}" + (f" · {noise}" if isinstance(noise, int) else "")
    if "seed" in params:
        return f"seed {params['seed']}"
    return "picture"


def is_studio(params: Mapping[str, Any] | None) -> bool:
    """True for parameters written by DDIM Studio (the window or the command line, any version)."""
    return operations_is_studio(dict(params) if params else None)


def checked_params(
    params: Mapping[str, Any] | None, bad: Sequence[str] = ()
) -> tuple[dict[str, Any], list[str]]:
    """Saved parameters as the window may use them, and the names of the fields it must ignore.

    Every reader's check (:func:`core.saved_params.validate_params`) plus the window's own range:
    a seed the 32-bit seed fields cannot show. ``bad`` are fields already dropped by a core reader.
    """
    clean, found = validate_params(params)
    names = list(dict.fromkeys([*bad, *found]))
    seed = clean.get("seed")
    if isinstance(seed, int) and seed > MAX_UI_SEED:
        del clean["seed"]
        names.append("seed")
    return clean, names


def bad_fields_note(bad: Sequence[str], source: str) -> str:
    """The banner's sentence naming the ignored fields of ``source`` (empty when none)."""
    return bad_fields_message(list(bad), f"“{source}”")
