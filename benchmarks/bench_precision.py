"""Does ``fast`` keep the pictures? The measurement behind ``precision=auto`` (core.models.backends).

    python benchmarks/bench_precision.py [--num 1000] [--steps 20] [--batch 50] [--recon 32]

On the shipped model, N samples (seeds 0…N−1, DDIM η = 0) are drawn with torch float32 (the exact
reference) and with OpenVINO fast (bf16) (and torch bf16 autocast: ``--torch-bf16``) on the same x_T; a second
float32 set on other seeds (N…2N−1) gives the estimator's noise floor: the SWD between two
float32 sample sets that differ only by their seeds. ``fast`` keeps the pictures when its SWD
against the reference is within that floor. Then η = 0 reconstruction (encode, decode, S = 50)
of ``--recon`` float32 samples: the RMSE and PSNR of each precision's reconstruction.

Prints markdown; ``os.getloadavg()`` beside the times (the machine may be shared).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ddim_studio.core.models import load_model  # noqa: E402
from ddim_studio.core.models.backends import apply_backend  # noqa: E402
from ddim_studio.core.noise import initial_noise  # noqa: E402
from ddim_studio.core.sampling import reconstruct, sample  # noqa: E402
from ddim_studio.training.metrics import swd  # noqa: E402


def draw(model: object, seeds: range, shape: tuple[int, int, int], steps: int, batch: int) -> torch.Tensor:
    out = []
    for start in range(seeds.start, seeds.stop, batch):
        chunk = list(range(start, min(seeds.stop, start + batch)))
        x_T, _ = initial_noise(chunk, shape)
        with torch.inference_mode():
            out.append(sample(model, x_T, steps=steps, eta=0.0).clamp(-1, 1))
    return torch.cat(out)


def psnr(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """RMSE and PSNR (dB) of pictures in [−1, 1] mapped to [0, 1]."""
    mse = float(((a.clamp(-1, 1) - b.clamp(-1, 1)) / 2).pow(2).mean())
    return math.sqrt(mse), 10 * math.log10(1.0 / max(mse, 1e-20))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--recon", type=int, default=32)
    parser.add_argument("--torch-bf16", action="store_true", help="also torch bf16 autocast")
    args = parser.parse_args()
    exact, info = load_model(None)
    shape = info.sample_shape
    with tempfile.TemporaryDirectory() as cache:
        fast, report = apply_backend(
            exact, backend="openvino", precision="fast", batch=args.batch, cache_dir=Path(cache)
        )
        print(f"OpenVINO: {report.backend}, {report.precision}, {fast.precision_used()}; {report.notes}")
        torch_fast, _ = apply_backend(exact, backend="torch", precision="fast")
        runs = [
            ("float32", exact, range(0, args.num)),
            ("OpenVINO fast (bf16)", fast, range(0, args.num)),
            ("float32, other seeds", exact, range(args.num, 2 * args.num)),
        ]
        if args.torch_bf16:
            runs.append(("torch bf16 autocast", torch_fast, range(0, args.num)))
        ref = torch.empty(0)
        for name, model, seeds in runs:
            start = time.perf_counter()
            images = draw(model, seeds, shape, args.steps, args.batch)
            load = " / ".join(f"{v:.1f}" for v in os.getloadavg())
            print(f"{name}: {time.perf_counter() - start:.0f} s (load {load})", flush=True)
            if name == "float32":
                ref = images
                print(f"\nSWD ×10³, {args.num} samples (DDIM S = {args.steps}, η = 0), same seeds:\n")
                print("| set | SWD mean | per level | max |Δ| pixel | mean |Δ| pixel |")
                print("|---|---|---|---|---|")
                continue
            result = swd(images, ref)
            levels = ", ".join(f"{k} {v:.2f}" for k, v in result.items() if k != "mean")
            delta = (images - ref).abs()
            row = f"| {name} | {result['mean']:.2f} | {levels} | {delta.max():.3f} | {delta.mean():.4f} |"
            print(row, flush=True)
        pictures = ref[: args.recon]
        print(f"\nη = 0 reconstruction (encode + decode, S = 50) of {args.recon} float32 samples:\n")
        print("| precision | RMSE | PSNR (dB) |")
        print("|---|---|---|")
        recon = [("float32", exact), ("OpenVINO fast (bf16)", fast)]
        for name, model in recon + ([("torch bf16", torch_fast)] if args.torch_bf16 else []):
            with torch.inference_mode():
                _, back = reconstruct(model, pictures, steps=50)
            rmse, db = psnr(back, pictures)
            print(f"| {name} | {rmse:.4f} | {db:.1f} |", flush=True)


if __name__ == "__main__":
    main()
