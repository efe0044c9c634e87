"""A latent diffusion step against a pixel step at 256 px, the decode's cost and the preview's cost.

    python benchmarks/bench_ldm.py [--device cpu] [--reps 3] [--threads 0] [--steps 50]

Random weights, the real architectures:

* LDM: the ``CompVis/ldm-celebahq-256`` UNet (model_channels 224, channel_mult 1, 2, 3, 4, two
  ResNet blocks a level, attention at the latent's 32/16/8, 32 channels a head) on its 3 × 64 × 64
  latent, with its VQ-f4 autoencoder (128/256/512 channels, 8192 codes);
* pixel: the ``google/ddpm-celebahq-256`` UNet (128, 128, 256, 256, 512, 512 channels, attention at
  16 × 16) on 3 × 256 × 256.

Prints seconds per UNet call of each (median of ``--reps`` after a warm-up) and their ratio, the
cost of one quantized decode (in LDM steps), the one-off fit of the preview map, the linear
preview's cost per step, and the share of a simulated ``--steps`` job that the studio's previewer
spends (the linear map every step, real decodes every 3 s within 5 %). The machine may be shared:
the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ddim_studio.core.latent_preview import LatentPreviewer, approximate_pictures, rgb_map  # noqa: E402
from ddim_studio.core.models.latent import Autoencoder, LatentScale  # noqa: E402

LDM_UNET = {
    "sample_size": 64, "in_channels": 3, "out_channels": 3, "block_out_channels": [224, 448, 672, 896],
    "layers_per_block": 2, "attention_head_dim": 32, "norm_num_groups": 32,
    "down_block_types": ["DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"],
    "up_block_types": ["AttnUpBlock2D", "AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"],
}  # fmt: skip
VQ_F4 = {
    "in_channels": 3, "out_channels": 3, "latent_channels": 3, "num_vq_embeddings": 8192, "vq_embed_dim": 3,
    "block_out_channels": [128, 256, 512], "layers_per_block": 2, "sample_size": 256, "norm_num_groups": 32,
    "down_block_types": ["DownEncoderBlock2D"] * 3, "up_block_types": ["UpDecoderBlock2D"] * 3,
}  # fmt: skip
PIXEL_UNET = {
    "sample_size": 256, "in_channels": 3, "out_channels": 3, "layers_per_block": 2,
    "block_out_channels": [128, 128, 256, 256, 512, 512],
    "down_block_types": ["DownBlock2D"] * 4 + ["AttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "AttnUpBlock2D"] + ["UpBlock2D"] * 4,
}  # fmt: skip


def timed(fn: Callable[[], object], reps: int, device: torch.device) -> float:
    """Median seconds of ``fn`` over ``reps`` runs after one warm-up."""
    times = []
    for rep in range(reps + 1):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        with torch.no_grad():
            fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if rep:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    from diffusers import UNet2DModel, VQModel

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--steps", type=int, default=30, help="steps of the simulated preview job")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"load average before: {os.getloadavg()}; torch threads {torch.get_num_threads()}; device {device}")
    torch.manual_seed(0)
    ldm = UNet2DModel(**LDM_UNET).eval().to(device)
    pixel = UNet2DModel(**PIXEL_UNET).eval().to(device)
    vq = VQModel(**VQ_F4).eval().to(device)
    ae = Autoencoder(vq, "vq", LatentScale(1.0, "benchmark"), (3, 256, 256), (3, 64, 64))
    z = torch.randn(1, 3, 64, 64, device=device)
    x = torch.randn(1, 3, 256, 256, device=device)
    t = torch.tensor([500], device=device)
    params = {
        name: sum(p.numel() for p in m.parameters()) / 1e6 for name, m in (("ldm", ldm), ("pixel", pixel))
    }
    ldm_s = timed(lambda: ldm(z, t), args.reps, device)
    pixel_s = timed(lambda: pixel(x, t), args.reps, device)
    decode_s = timed(lambda: ae.decode(z), args.reps, device)
    t0 = time.perf_counter()
    rgb_map(ae)
    fit_s = time.perf_counter() - t0
    linear_s = timed(lambda: approximate_pictures(ae, z), max(args.reps, 10), device)
    print(f"LDM UNet ({params['ldm']:.1f} M params) on 3×64×64:     {ldm_s:.3f} s per step")
    print(f"pixel UNet ({params['pixel']:.1f} M params) on 3×256×256: {pixel_s:.3f} s per step")
    print(f"pixel / LDM step time: {pixel_s / ldm_s:.2f}×")
    print(f"VQ-f4 decode (quantized) to 256×256: {decode_s:.3f} s = {decode_s / ldm_s:.2f} LDM steps")
    print(f"preview map fit (once per model): {fit_s:.3f} s = {fit_s / ldm_s:.2f} LDM steps")
    print(f"linear preview per step: {linear_s * 1e3:.2f} ms = {100 * linear_s / ldm_s:.3f} % of an LDM step")
    simulate_job(ldm, ae, z, t, args.steps)
    print(f"load average after: {os.getloadavg()}")


def simulate_job(
    unet: torch.nn.Module, ae: Autoencoder, z: torch.Tensor, t: torch.Tensor, steps: int
) -> None:
    """``steps`` real UNet calls with a preview of each (as the worker sends them): the preview's share."""
    ae._rgb_map = None  # type: ignore[attr-defined]  # a model's first job: the map's fit counts
    previewer = LatentPreviewer(ae)
    start = time.perf_counter()
    with torch.no_grad():
        for _ in range(steps):
            out = unet(z, t).sample
            previewer(out)
    total = time.perf_counter() - start
    print(
        f"simulated {steps}-step job: {total:.1f} s, previews {previewer.spent_s:.2f} s = "
        f"{100 * previewer.spent_s / total:.2f} % of the job "
        f"({previewer.real_decodes} real decodes; budget 5 %)"
    )


if __name__ == "__main__":
    main()
