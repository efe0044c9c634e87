"""What the front ends say about the space a model samples in (``--json``, Model Info)."""

from __future__ import annotations

from typing import Any

from ddim_studio.core.models.protocol import ModelInfo


def model_space(info: ModelInfo) -> dict[str, Any]:
    """Pixel or latent, the autoencoder's kind, the latent and picture shapes, the scale and why.

    A pixel model has ``autoencoder``, ``latent_shape`` and ``latent_scale`` set to None.
    """
    latent = getattr(info, "space", "pixel") == "latent"
    return {
        "space": "latent" if latent else "pixel",
        "autoencoder": info.autoencoder if latent else None,
        "latent_shape": list(info.sample_shape) if latent else None,
        "picture_shape": list(info.picture_shape or info.sample_shape),
        "latent_scale": info.latent_scale if latent else None,
        "latent_scale_reason": info.latent_scale_reason if latent else None,
    }


def describe_space(info: ModelInfo) -> str:
    """One line for a terminal: "latent diffusion: VQ autoencoder, latent 3×64×64 → picture …"."""
    if getattr(info, "space", "pixel") != "latent":
        return "pixel model: " + "×".join(str(v) for v in info.sample_shape)
    latent = "×".join(str(v) for v in info.sample_shape)
    picture = "×".join(str(v) for v in info.picture_shape or ())
    kind = str(info.autoencoder).upper()
    return (
        f"latent diffusion: {kind} autoencoder, latent {latent} → picture {picture}, "
        f"scale {info.latent_scale:g} ({info.latent_scale_reason})"
    )


def floor_fields(out: Any, index: int) -> dict[str, float]:
    """An encode's autoencoder round trip for picture ``index`` (``floor_mse``, ``floor_psnr``);
    empty for a pixel model, which has no floor but the numbers' own."""
    if not getattr(out, "floor_mse", None):
        return {}
    return {"floor_mse": out.floor_mse[index], "floor_psnr": out.floor_psnr[index]}
