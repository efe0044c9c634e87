"""Whether the studio can drive a repository, decided from its small JSON files before any weights.

:func:`check_repository` reads a repository's ``model_index.json`` (a pipeline), its UNet
``config.json`` and its scheduler config, and either says what the model is (pixel or latent,
where its files are) or raises :class:`UnsupportedModel` naming what it is in plain words: a
score-SDE or consistency model, a conditional UNet, a text-to-image pipeline. The hub download
calls it after fetching those few kB and before the weights.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ddim_studio.core.models.config_files import check_unet_config, show
from ddim_studio.core.models.protocol import ModelLoadError
from ddim_studio.core.schedule import NoiseSchedule, ScheduleError

#: Pipelines of unconditional pixel-space DDPM/DDIM models (the components the studio drives).
PIXEL_PIPELINES = frozenset({"DDPMPipeline", "DDIMPipeline", "PNDMPipeline"})
#: Pipelines of unconditional latent diffusion models (a UNet over an autoencoder's latent).
LATENT_PIPELINES = frozenset({"LDMPipeline", "LatentDiffusionUncondPipeline"})
#: Schedulers over the same discrete DDPM noise levels (the studio reads only their betas).
DISCRETE_SCHEDULERS = frozenset(
    {
        "DDPMScheduler", "DDIMScheduler", "PNDMScheduler", "GaussianDDPMScheduler", "DDIMInverseScheduler",
        "DPMSolverMultistepScheduler", "EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler",
        "LMSDiscreteScheduler", "HeunDiscreteScheduler", "UniPCMultistepScheduler",
    }
)  # fmt: skip

_SCORE_SDE = "a score-based model with variance-exploding noise (it needs a predictor-corrector sampler)"
_CONSISTENCY = "a consistency model (it maps noise to a picture in one or two jumps, not DDIM steps)"
_TEXT = "a text-to-image model (it needs a prompt and a text encoder)"
#: What refused pipelines and schedulers are, for the message.
KNOWN_REFUSALS = {
    "ScoreSdeVePipeline": _SCORE_SDE,
    "KarrasVePipeline": _SCORE_SDE,
    "ScoreSdeVeScheduler": _SCORE_SDE,
    "KarrasVeScheduler": _SCORE_SDE,
    "ScoreSdeVpScheduler": "a continuous-time score model (noise levels, not DDPM timesteps)",
    "ConsistencyModelPipeline": _CONSISTENCY,
    "CMStochasticIterativeScheduler": _CONSISTENCY,
    "LDMTextToImagePipeline": _TEXT,
    "DiTPipeline": "a class-conditional transformer (it needs a class label)",
    "DanceDiffusionPipeline": "an audio model",
    "AudioDiffusionPipeline": "an audio model",
    "UNet2DConditionModel": "a conditional UNet (it needs a text or image condition)",
    "UNet1DModel": "a one-dimensional (audio) network",
}
_WHAT_STUDIO_DRIVES = "the studio drives unconditional DDPM/DDIM image models"


class UnsupportedModel(ModelLoadError):
    """A repository the studio cannot drive; the message names what it is."""


@dataclass
class RepoVerdict:
    """What a repository is, once its configs passed.

    Attributes:
        kind: ``pixel`` or ``latent``.
        unet_prefix: where the UNet's files are: ``""`` (root) or ``"unet/"``.
        pipeline: the ``model_index.json`` class, or None for a bare UNet folder.
        notes: oddities found (a legacy scheduler config, a missing scaling factor).
    """

    kind: str
    unet_prefix: str
    pipeline: str | None = None
    notes: list[str] = field(default_factory=list)


def _refuse(repo_id: str, name: str, fallback: str) -> UnsupportedModel:
    what = KNOWN_REFUSALS.get(name)
    if what is None and ("StableDiffusion" in name or "Text" in name or "Img2Img" in name):
        what = _TEXT
    described = fallback if what is None else f"a {name}, {what}"
    return UnsupportedModel(f"{repo_id} is {described}; {_WHAT_STUDIO_DRIVES}, so it was not downloaded.")


def check_pipeline(repo_id: str, model_index: Mapping[str, Any]) -> tuple[str, str]:
    """(pipeline class, ``pixel``/``latent``) of a ``model_index.json``; refuses what cannot be driven."""
    name = model_index.get("_class_name")
    if not isinstance(name, str):
        raise UnsupportedModel(f"{repo_id}'s model_index.json does not name its pipeline.")
    name = name[:100]
    if any(key in model_index for key in ("text_encoder", "tokenizer", "bert")):
        raise _refuse(repo_id, name, _TEXT)
    if "transformer" in model_index:
        raise _refuse(repo_id, name, KNOWN_REFUSALS["DiTPipeline"])
    if name in PIXEL_PIPELINES:
        return name, "pixel"
    if name in LATENT_PIPELINES:
        return name, "latent"
    raise _refuse(repo_id, name, f"a {name}, which the studio cannot drive")


def check_unet(repo_id: str, config: Mapping[str, Any]) -> None:
    """Refuse a UNet config the studio cannot drive: another class, a conditional or score-SDE network.

    Raises:
        UnsupportedModel: naming what it is.
        ModelLoadError: a size field out of bounds (the loader's own checks, run early).
    """
    name = config.get("_class_name", "UNet2DModel")
    name = name[:100] if isinstance(name, str) else show(name)
    if name != "UNet2DModel":
        raise _refuse(repo_id, name, f"a {name}, not a UNet2DModel")
    if config.get("num_class_embeds") or config.get("class_embed_type"):
        raise UnsupportedModel(
            f"{repo_id} is a class-conditional UNet (it needs a class label); {_WHAT_STUDIO_DRIVES}, "
            "so it was not downloaded."
        )
    if config.get("time_embedding_type") == "fourier":
        raise UnsupportedModel(
            f"{repo_id} is {_SCORE_SDE} (a UNet with Fourier noise-level embedding); {_WHAT_STUDIO_DRIVES}, "
            "so it was not downloaded."
        )
    check_unet_config(config)


def check_scheduler(repo_id: str, config: Mapping[str, Any]) -> list[str]:
    """Refuse a scheduler of another kind of model; check the schedule builds. Returns notes."""
    name = config.get("_class_name", "DDPMScheduler")
    name = name[:100] if isinstance(name, str) else show(name)
    if name not in DISCRETE_SCHEDULERS:
        raise _refuse(repo_id, name, f"a model with a {name} scheduler, which the studio cannot drive")
    try:
        NoiseSchedule.from_diffusers_config(config)
    except (ScheduleError, TypeError, ValueError, OverflowError) as exc:
        raise ModelLoadError(f"{repo_id}'s scheduler config cannot be used: {exc}") from None
    if "timesteps" in config and "num_train_timesteps" not in config:
        return [f"legacy {name} config: its 'timesteps' ({config['timesteps']}) read as num_train_timesteps"]
    return []


def autoencoder_scale(
    config: Mapping[str, Any], trained_scale: float | None = None
) -> tuple[float, str | None]:
    """The latent scale of an autoencoder config, and a note when the config does not give it.

    CompVis' VQ-f4 models were trained with scale 1.0 but their hub configs have no
    ``scaling_factor``; diffusers then assumes Stable Diffusion's 0.18215 and samples noise.

    Args:
        config: the autoencoder's ``config.json``.
        trained_scale: the scale the catalogue knows for this model (None: 1.0 for ``VQModel``).
    """
    value = config.get("scaling_factor")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value), None
    scale = trained_scale if trained_scale is not None else 1.0
    return (
        scale,
        f"the autoencoder config has no scaling_factor; the scale it was trained with, {scale:g}, is used",
    )


def check_repository(
    repo_id: str,
    files: set[str],
    read: Any,
    *,
    allow_pickle: bool = False,
) -> RepoVerdict:
    """Decide from a repository's file list and small configs whether the studio can drive it.

    Args:
        repo_id: ``owner/name`` (for messages).
        files: the repository's file names (``unet/config.json``…).
        read: ``read(name) -> dict`` returning a parsed JSON file of the repository.
        allow_pickle: accept pickled ``.bin`` weights when there are no safetensors (the
            ``--allow-pickle`` hub loader; the library never downloads them).

    Raises:
        UnsupportedModel: a pipeline, UNet or scheduler the studio cannot drive, or no safetensors weights.
    """
    verdict = RepoVerdict(kind="pixel", unet_prefix="")
    if "model_index.json" in files:
        verdict.pipeline, verdict.kind = check_pipeline(repo_id, read("model_index.json"))
    verdict.unet_prefix = "unet/" if "unet/config.json" in files else ""
    if f"{verdict.unet_prefix}config.json" not in files:
        raise UnsupportedModel(
            f"{repo_id} has no config.json at its root or in unet/; it is not a diffusers model repository."
        )
    check_unet(repo_id, read(f"{verdict.unet_prefix}config.json"))
    pickled = allow_pickle and f"{verdict.unet_prefix}diffusion_pytorch_model.bin" in files
    if f"{verdict.unet_prefix}diffusion_pytorch_model.safetensors" not in files and not pickled:
        raise UnsupportedModel(
            f"{repo_id} has no safetensors weights (diffusion_pytorch_model.safetensors); the studio "
            "downloads only safetensors, never pickled weights."
        )
    for name in ("scheduler/scheduler_config.json", "scheduler_config.json"):
        if name in files:
            verdict.notes += check_scheduler(repo_id, read(name))
            break
    if verdict.kind == "latent":
        vae = next((p for p in ("vqvae/", "vae/") if f"{p}config.json" in files), None)
        if vae is None or f"{vae}diffusion_pytorch_model.safetensors" not in files:
            raise UnsupportedModel(f"{repo_id} is a latent model without safetensors autoencoder weights.")
        _scale, note = autoencoder_scale(read(f"{vae}config.json"))
        if note:
            verdict.notes.append(note)
    return verdict
