"""The catalogue of unconditional models the studio knows: ``resources/models/catalogue.json``.

Each entry says what a person needs before a download: the hub id, the picture size, whether it
samples in pixel or latent space, its parameters and download size, its prediction type, where it
comes from (paper and authors) and its licence. ``gflops_per_call`` is one forward pass on one
picture (counted once from the entry's architecture, see :func:`count_unet`); with a machine's
measured rate it becomes the seconds one step costs here (:func:`estimated_step_seconds`).

Adding a model is one entry in the JSON file (and an architecture if it is a new one).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ddim_studio.core.resources import resources_dir

__all__ = [
    "CatalogueEntry",
    "CatalogueError",
    "LATENT_MODELS",
    "catalogue_path",
    "count_unet",
    "estimated_step_seconds",
    "find_entry",
    "latent_models_supported",
    "load_catalogue",
]

#: Whether this build drives latent diffusion models (an autoencoder + a UNet): True since the
#: latent-model support landed (``core/models/latent.py``). False makes the library show latent
#: entries as needing it and refuse to download them.
LATENT_MODELS = True


def latent_models_supported() -> bool:
    """Whether this build can sample latent diffusion models (``CompVis/ldm-*``)."""
    return bool(LATENT_MODELS)


class CatalogueError(ValueError):
    """The catalogue file is missing or malformed (a packaging fault, said in words)."""


@dataclass(frozen=True)
class CatalogueEntry:
    """One model of the catalogue.

    Attributes:
        id: the hub id ``owner/name``.
        title: a short name for lists.
        dataset: what it was trained on.
        resolution: the side of its pictures in pixels.
        space: ``pixel`` or ``latent``.
        architecture: the ``UNet2DModel`` config of its network (what the cost is counted on).
        parameters: parameters of everything it downloads (UNet, and autoencoder for latent models).
        download_bytes: about how much it downloads (float32 safetensors).
        gflops_per_call: GFLOP of one UNet call on one picture.
        prediction_type: ``epsilon``, ``v_prediction`` or ``sample``.
        source: paper and authors.
        licence: the licence of the weights (SPDX id).
        notes: oddities worth knowing (legacy configs, a missing scaling factor).
        latent_scale: the latent scale the model was trained with (latent models only).
        thumbnail: a picture file under ``resources/models/`` or None.
    """

    id: str
    title: str
    dataset: str
    resolution: int
    space: str
    architecture: Mapping[str, Any]
    parameters: int
    download_bytes: int
    gflops_per_call: float
    prediction_type: str
    source: str
    licence: str
    notes: tuple[str, ...] = ()
    latent_scale: float | None = None
    thumbnail: Path | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_latent(self) -> bool:
        """Whether it samples in an autoencoder's latent space."""
        return self.space == "latent"

    @property
    def drivable(self) -> bool:
        """Whether this build can open it (latent models need latent-model support)."""
        return not self.is_latent or latent_models_supported()

    def unavailable_reason(self) -> str | None:
        """Why this build cannot open it, in words; None when it can."""
        if self.drivable:
            return None
        return (
            f"{self.id} is a latent diffusion model; this version of the studio cannot sample latent "
            "models yet."
        )


def catalogue_path() -> Path:
    """The shipped catalogue file."""
    return resources_dir() / "models" / "catalogue.json"


def _entry(
    raw: Mapping[str, Any], architectures: Mapping[str, Any], sources: Mapping[str, str]
) -> CatalogueEntry:
    try:
        arch_name = str(raw["architecture"])
        thumb = raw.get("thumbnail")
        return CatalogueEntry(
            id=str(raw["id"]),
            title=str(raw.get("title", raw["id"])),
            dataset=str(raw.get("dataset", "")),
            resolution=int(raw["resolution"]),
            space=str(raw.get("space", "pixel")),
            architecture=dict(architectures[arch_name]),
            parameters=int(raw["parameters"]),
            download_bytes=int(raw["download_bytes"]),
            gflops_per_call=float(raw["gflops_per_call"]),
            prediction_type=str(raw.get("prediction_type", "epsilon")),
            source=str(sources.get(raw["source"], raw["source"])),
            licence=str(raw.get("licence", "unknown")),
            notes=tuple(str(n) for n in raw.get("notes", ())),
            latent_scale=float(raw["latent_scale"]) if raw.get("latent_scale") is not None else None,
            thumbnail=catalogue_path().parent / str(thumb) if thumb else None,
            extra={"architecture_name": arch_name},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CatalogueError(
            f"The model catalogue entry {raw.get('id', '?')!r} is malformed ({exc})."
        ) from None


def load_catalogue(path: Path | None = None) -> list[CatalogueEntry]:
    """The entries of the catalogue file (default: the shipped one), in file order.

    Raises:
        CatalogueError: the file is missing, not JSON, or an entry lacks a field.
    """
    path = path or catalogue_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CatalogueError(f"Cannot read the model catalogue '{path}': {exc}.") from None
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise CatalogueError(f"The model catalogue '{path}' has no list of models.")
    architectures = data.get("architectures", {})
    sources = data.get("sources", {})
    return [_entry(raw, architectures, sources) for raw in data["models"]]


@lru_cache(maxsize=1)
def _shipped() -> tuple[CatalogueEntry, ...]:
    return tuple(load_catalogue())


def find_entry(repo_id: str) -> CatalogueEntry | None:
    """The shipped catalogue's entry for ``repo_id`` (compared without case), or None."""
    wanted = repo_id.strip().lower()
    return next((e for e in _shipped() if e.id.lower() == wanted), None)


def count_unet(architecture: Mapping[str, Any]) -> tuple[int, float]:
    """(parameters, GFLOP of one call on one picture) of a ``UNet2DModel`` config.

    Built on the ``meta`` device (no memory, no weights) and counted with torch's FLOP counter.
    """
    import torch
    from diffusers import UNet2DModel
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        unet = UNet2DModel(**dict(architecture))
    side = int(architecture["sample_size"])
    x = torch.zeros(1, int(architecture.get("in_channels", 3)), side, side, device="meta")
    t = torch.zeros(1, dtype=torch.long, device="meta")
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        unet(x, t)  # type: ignore[operator]
    params = sum(p.numel() for p in unet.parameters())  # type: ignore[attr-defined]
    return params, counter.get_total_flops() / 1e9


def estimated_step_seconds(entry: CatalogueEntry, gflops_per_second: float, batch: int = 1) -> float:
    """Seconds one sampling step of ``entry`` takes on a machine doing ``gflops_per_second``.

    Args:
        entry: the model.
        gflops_per_second: the rate measured on this machine (see ``operations.cost.machine_rate``).
        batch: pictures per step (a CPU's cost grows linearly with it).
    """
    if gflops_per_second <= 0:
        return float("inf")
    return entry.gflops_per_call * max(1, int(batch)) / gflops_per_second
