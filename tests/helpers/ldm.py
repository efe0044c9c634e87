"""Tiny random latent diffusion models saved in the real formats (diffusers folder, CompVis ckpt).

Sizes are those diffusers' own tests used (LATENT_NOTES.md): a 2-level VQ-f2 / KL-f2 autoencoder
with 32/64 channels on 16 × 16 pictures, and a 2-level UNet with attention (2 heads of 32 channels,
so the converter's head split is exercised) on the 8 × 8 latent. GroupNorm uses 32 groups as the
CompVis code does.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDIMScheduler, UNet2DModel, VQModel

PICTURE = 16
LATENT = 8
SCHEDULER = {
    "beta_start": 0.0015, "beta_end": 0.0195, "beta_schedule": "scaled_linear", "num_train_timesteps": 1000,
    "clip_sample": False, "set_alpha_to_one": False, "steps_offset": 0,
}  # fmt: skip


def tiny_ldm_unet(channels: int, seed: int = 0) -> UNet2DModel:
    """A seeded random UNet on the 8 × 8 latent (attention on the second level and in the middle)."""
    torch.manual_seed(seed)
    unet = UNet2DModel(
        sample_size=LATENT, in_channels=channels, out_channels=channels, block_out_channels=(32, 64),
        layers_per_block=1, down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"), attention_head_dim=32, norm_num_groups=32,
    )  # fmt: skip
    _spread(unet, seed)
    return unet.eval()


def tiny_autoencoder(kind: str, seed: int = 1, scaling_factor: float = 1.0) -> VQModel | AutoencoderKL:
    """A seeded random VQ (3 latent channels, 64 codes) or KL (4 channels) autoencoder, factor 2."""
    torch.manual_seed(seed)
    common = {
        "block_out_channels": [32, 64], "in_channels": 3, "out_channels": 3, "layers_per_block": 1,
        "down_block_types": ["DownEncoderBlock2D"] * 2, "up_block_types": ["UpDecoderBlock2D"] * 2,
        "sample_size": PICTURE, "scaling_factor": scaling_factor, "norm_num_groups": 32,
    }  # fmt: skip
    if kind == "vq":
        ae = VQModel(latent_channels=3, num_vq_embeddings=64, vq_embed_dim=3, **common)
    else:
        ae = AutoencoderKL(latent_channels=4, **common)
    _spread(ae, seed)
    return ae.eval()


def _spread(module: torch.nn.Module, seed: int) -> None:
    """Perturb every parameter (GroupNorm affine and zero-initialised convs included) so that no
    layer is an identity and a wrong mapping of any weight changes the output."""
    g = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))


def save_ldm_folder(
    folder: Path, kind: str = "vq", *, prediction_type: str = "epsilon", scaling_factor: float | None = 1.0,
    pipeline: str = "LDMPipeline", seed: int = 0, ae: VQModel | AutoencoderKL | None = None,
) -> Path:  # fmt: skip
    """Write a diffusers LDM pipeline folder; ``scaling_factor=None`` leaves it out of the config."""
    if ae is None:
        ae = tiny_autoencoder(kind, seed + 1, 1.0 if scaling_factor is None else scaling_factor)
    unet = tiny_ldm_unet(3 if kind == "vq" else 4, seed)
    ae.save_pretrained(folder / "vqvae", safe_serialization=True)
    if scaling_factor is None:
        path = folder / "vqvae" / "config.json"
        config = json.loads(path.read_text())
        del config["scaling_factor"]
        path.write_text(json.dumps(config))
    unet.save_pretrained(folder / "unet", safe_serialization=True)
    DDIMScheduler(prediction_type=prediction_type, **SCHEDULER).save_pretrained(folder / "scheduler")
    ae_class = "VQModel" if kind == "vq" else "AutoencoderKL"
    index = {
        "_class_name": pipeline, "vqvae": ["diffusers", ae_class], "unet": ["diffusers", "UNet2DModel"],
        "scheduler": ["diffusers", "DDIMScheduler"],
    }  # fmt: skip
    (folder / "model_index.json").write_text(json.dumps(index))
    return folder


def train_autoencoder(ae: VQModel | AutoencoderKL, photo: torch.Tensor, steps: int = 60) -> None:
    """Teach a tiny autoencoder to reconstruct 16 × 16 crops of ``photo`` (1, 3, H, W) for a few seconds,
    so that its round trip is a meaningful floor; a VQ codebook is then drawn from encoded crops."""
    g = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(ae.parameters(), lr=2e-3)
    side = photo.shape[-1] - PICTURE

    def crops(n: int) -> torch.Tensor:
        at = torch.randint(0, side + 1, (n, 2), generator=g)
        return torch.cat([photo[..., y : y + PICTURE, x : x + PICTURE] for y, x in at.tolist()])

    ae.train()
    for _ in range(steps):
        x = crops(8)
        if isinstance(ae, VQModel):
            out = ae.decode(ae.encode(x).latents, force_not_quantize=True).sample
        else:
            out = ae.decode(ae.encode(x).latent_dist.mean).sample
        loss = torch.nn.functional.mse_loss(out, x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    ae.eval()
    if isinstance(ae, VQModel):
        with torch.no_grad():
            z = ae.encode(crops(16)).latents.permute(0, 2, 3, 1).reshape(-1, ae.config.vq_embed_dim)
            pick = torch.randperm(z.shape[0], generator=g)[: ae.config.num_vq_embeddings]
            ae.quantize.embedding.weight.copy_(z[pick])


PHOTO = Path(__file__).parents[1] / "fixtures" / "photos" / "board.png"


def photo(size: int = 16) -> torch.Tensor:
    """The real photograph of the fixtures, fitted to ``size``: (1, 3, size, size) in [−1, 1]."""
    from PIL import Image

    from ddim_studio.core.imaging import fit_to_model, pil_to_tensor

    return pil_to_tensor(fit_to_model(Image.open(PHOTO), size))


@functools.lru_cache(maxsize=2)
def _trained(kind: str) -> VQModel | AutoencoderKL:
    ae = tiny_autoencoder(kind, 1)
    train_autoencoder(ae, photo(64))
    return ae


def trained_autoencoder(kind: str) -> VQModel | AutoencoderKL:
    """A copy of the tiny autoencoder trained on the photograph (trained once per test process)."""
    return copy.deepcopy(_trained(kind))
