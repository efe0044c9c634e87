"""Tiny model repositories in the real hub layouts, for the loopback hub (``hub_server.py``).

Each builder writes one repository under ``root/<owner>/<name>`` with real (small, random) diffusers
weights in safetensors, as the hub serves them:

* :func:`google_layout`: ``config.json`` + weights + ``scheduler_config.json`` at the root
  (the ``google/ddpm-*`` layout), optionally the legacy ``GaussianDDPMScheduler`` config;
* :func:`pipeline_layout`: ``model_index.json`` + ``unet/`` + ``scheduler/`` (a ``DDPMPipeline``);
* refusals: a score-SDE (``ScoreSdeVePipeline``), a consistency model, a text-to-image pipeline,
  a conditional UNet, pickle-only weights, and a latent (``LDMPipeline``) model.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from diffusers import UNet2DModel

DDPM_SCHEDULER = {
    "_class_name": "DDPMScheduler", "_diffusers_version": "0.1.1", "beta_start": 0.0001,
    "beta_end": 0.02, "beta_schedule": "linear", "num_train_timesteps": 1000,
    "variance_type": "fixed_large", "clip_sample": True,
}  # fmt: skip
#: The scheduler config of early ``google/ddpm-cifar10-32`` revisions: another class, ``timesteps``.
LEGACY_SCHEDULER = {
    "_class_name": "GaussianDDPMScheduler", "_diffusers_version": "0.0.4", "beta_start": 0.0001,
    "beta_end": 0.02, "beta_schedule": "linear", "timesteps": 1000, "variance_type": "fixed_large",
    "clip_predicted_image": True,
}  # fmt: skip


def small_unet(seed: int = 0, width: int = 32, size: int = 16) -> UNet2DModel:
    """A random UNet2DModel of about ``width``² × 1000 parameters (width 32: ~1 MB of weights)."""
    torch.manual_seed(seed)
    return UNet2DModel(
        sample_size=size, in_channels=3, out_channels=3, block_out_channels=(width, 2 * width),
        layers_per_block=1, down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"), norm_num_groups=8,
    ).eval()  # fmt: skip


def _write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2), encoding="utf-8")


def _save_unet(folder: Path, unet: UNet2DModel) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    unet.save_pretrained(folder, safe_serialization=True)


def google_layout(root: Path, repo_id: str, *, legacy: bool = False, width: int = 32, seed: int = 0) -> Path:
    """``config.json`` + weights + ``scheduler_config.json`` at the repository root."""
    repo = root / repo_id
    _save_unet(repo, small_unet(seed, width))
    _write_json(repo / "scheduler_config.json", LEGACY_SCHEDULER if legacy else DDPM_SCHEDULER)
    (repo / "README.md").write_text(f"# {repo_id}\nA tiny test model.\n", encoding="utf-8")
    return repo


def pipeline_layout(root: Path, repo_id: str, *, width: int = 32, seed: int = 0) -> Path:
    """A ``DDPMPipeline`` folder: ``model_index.json``, ``unet/``, ``scheduler/``."""
    repo = root / repo_id
    _write_json(repo / "model_index.json", {"_class_name": "DDPMPipeline", "_diffusers_version": "0.21.0",
                                            "scheduler": ["diffusers", "DDPMScheduler"],
                                            "unet": ["diffusers", "UNet2DModel"]})  # fmt: skip
    _save_unet(repo / "unet", small_unet(seed, width))
    _write_json(repo / "scheduler" / "scheduler_config.json", DDPM_SCHEDULER)
    return repo


def _with_pipeline(
    root: Path, repo_id: str, pipeline: str, scheduler: dict, unet_config: dict | None
) -> Path:
    """A pipeline repository whose weights are real bytes (the test asserts they are never fetched)."""
    repo = pipeline_layout(root, repo_id)
    index = json.loads((repo / "model_index.json").read_text())
    index["_class_name"] = pipeline
    index["scheduler"] = ["diffusers", scheduler["_class_name"]]
    _write_json(repo / "model_index.json", index)
    _write_json(repo / "scheduler" / "scheduler_config.json", scheduler)
    if unet_config is not None:
        config = json.loads((repo / "unet" / "config.json").read_text())
        config.update(unet_config)
        _write_json(repo / "unet" / "config.json", config)
    return repo


def score_sde(root: Path, repo_id: str) -> Path:
    """A ``ScoreSdeVePipeline`` (NCSN++: Fourier time embedding, VE scheduler)."""
    return _with_pipeline(root, repo_id, "ScoreSdeVePipeline",
                          {"_class_name": "ScoreSdeVeScheduler", "num_train_timesteps": 2000,
                           "sigma_min": 0.01, "sigma_max": 348.0},
                          {"time_embedding_type": "fourier"})  # fmt: skip


def consistency(root: Path, repo_id: str) -> Path:
    """A ``ConsistencyModelPipeline`` with its ``CMStochasticIterativeScheduler``."""
    return _with_pipeline(root, repo_id, "ConsistencyModelPipeline",
                          {"_class_name": "CMStochasticIterativeScheduler", "num_train_timesteps": 40,
                           "sigma_min": 0.002, "sigma_max": 80.0}, None)  # fmt: skip


def text_to_image(root: Path, repo_id: str) -> Path:
    """A ``StableDiffusionPipeline``-shaped repository (text encoder, tokenizer, conditional UNet)."""
    repo = _with_pipeline(root, repo_id, "StableDiffusionPipeline",
                          dict(DDPM_SCHEDULER, _class_name="PNDMScheduler"),
                          {"_class_name": "UNet2DConditionModel"})  # fmt: skip
    index = json.loads((repo / "model_index.json").read_text())
    index.update(text_encoder=["transformers", "CLIPTextModel"], tokenizer=["transformers", "CLIPTokenizer"])
    _write_json(repo / "model_index.json", index)
    return repo


def conditional_unet(root: Path, repo_id: str) -> Path:
    """A bare UNet folder whose config is a ``UNet2DConditionModel``."""
    repo = google_layout(root, repo_id)
    config = json.loads((repo / "config.json").read_text())
    config["_class_name"] = "UNet2DConditionModel"
    _write_json(repo / "config.json", config)
    return repo


def pickle_only(root: Path, repo_id: str) -> Path:
    """The google layout with ``diffusion_pytorch_model.bin`` instead of safetensors."""
    repo = google_layout(root, repo_id)
    weights = repo / "diffusion_pytorch_model.safetensors"
    from safetensors.torch import load_file

    torch.save(load_file(weights), repo / "diffusion_pytorch_model.bin")  # a real pickled state dict
    weights.unlink()
    return repo


def latent(root: Path, repo_id: str) -> Path:
    """An ``LDMPipeline`` with a ``vqvae/`` whose config has no ``scaling_factor`` (as CompVis')."""
    repo = _with_pipeline(
        root, repo_id, "LDMPipeline", dict(DDPM_SCHEDULER, _class_name="DDIMScheduler"), None
    )
    index = json.loads((repo / "model_index.json").read_text())
    index["vqvae"] = ["diffusers", "VQModel"]
    _write_json(repo / "model_index.json", index)
    _write_json(repo / "vqvae" / "config.json", {"_class_name": "VQModel", "latent_channels": 3,
                                                 "num_vq_embeddings": 8192})  # fmt: skip
    (repo / "vqvae" / "diffusion_pytorch_model.safetensors").write_bytes(b"\0" * 1024)
    return repo
