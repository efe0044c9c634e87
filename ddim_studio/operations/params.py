"""The parameters saved with every picture and latent, built in one place for both front ends.

Every saved picture carries ``app`` (``"ddim-studio"``), ``app_version``, ``params_version``,
``kind`` (``sample``, ``variation``, ``encode``, ``decode``, ``interpolate``, ``edit``, ``guide`` or
``extend``), the
model (``model``, ``model_source``, ``prediction_type``, ``size``) and the run's settings
(``sampler``, ``steps``, ``spacing``, ``timesteps``, ``eta``, ``clip_sample``), plus what the kind
adds (``seed``, ``source``, ``mse``, ``psnr``, ``frame``, an edit's ``strength``/``start``/
``harmonize``…). No time stamp: the command line's files are byte-identical when rerun; the window's
library adds ``created`` when it saves.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ddim_studio import __version__
from ddim_studio.core.names import APP, DEFAULT_SAMPLER, PARAMS_VERSION

if TYPE_CHECKING:
    from ddim_studio.core.models.protocol import ModelInfo
KINDS = ("sample", "variation", "encode", "decode", "interpolate", "edit", "restore", "guide", "extend")


def build_params(
    kind: str,
    *,
    info: ModelInfo | None,
    steps: int,
    spacing: str,
    sampler: str = DEFAULT_SAMPLER,
    timesteps: Sequence[int] | None = None,
    eta: float = 0.0,
    clip_sample: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    """The saved parameters of one picture (``extra`` adds or overrides keys, e.g. ``seed``; None = left out).

    Raises:
        ValueError: for an unknown ``kind``.
    """
    if kind not in KINDS:
        raise ValueError(f"Unknown kind of picture {kind!r}; choose one of {', '.join(KINDS)}.")
    params: dict[str, Any] = {
        "app": APP,
        "app_version": __version__,
        "params_version": PARAMS_VERSION,
        "kind": kind,
        "model": info.name if info is not None else "",
        "model_source": info.source if info is not None else "",
        "prediction_type": info.prediction_type if info is not None else "",
        "size": list((info.picture_shape or info.sample_shape)[1:]) if info is not None else None,
        "sampler": sampler,
        "steps": int(steps),
        "spacing": spacing,
        "timesteps": [int(t) for t in timesteps] if timesteps is not None else None,
        "eta": float(eta),
        "clip_sample": bool(clip_sample),
        "backend": info.backend if info is not None else None,  # what ran the calls, and how
        "precision": info.precision if info is not None else None,
    }
    if info is not None and getattr(info, "space", "pixel") == "latent":  # x_T is a latent of this scale
        params["latent_scale"] = info.latent_scale
    params.update(extra)
    # Unknown values are left out, not written as null: readers drop nulls (saved_params), and a
    # saved file must read back as the parameters that were saved.
    return {key: value for key, value in params.items() if value is not None}


def is_studio(params: dict[str, Any] | None) -> bool:
    """True for parameters written by DDIM Studio (either front end, any version)."""
    if not params:
        return False
    return "kind" in params or str(params.get("app", "")).split(" ")[0] == APP
