"""Weight precision on an accelerator: float32 vs bfloat16 vs float16, side by side in one run.

    python benchmarks/bench_dtypes.py [--device cuda] [--steps 50] [--batches 64,256] [--reps 5]

For the shipped default model and the 35.7 M-parameter CIFAR-10 DDPM architecture (random
weights), times our η = 0 sampler with each weight dtype on the same x_T (median of interleaved
repetitions after a warm-up) and prints each time as a ratio to float32 beside the largest
difference of its samples from float32's (the sampler's latents stay float32; the adapter casts).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_sampler import cifar10_ddpm_architecture  # noqa: E402

from ddim_studio.core.models import DEFAULT_MODEL_DIR, load_model  # noqa: E402
from ddim_studio.core.models.loader import DTYPES  # noqa: E402
from ddim_studio.core.sampling import sample  # noqa: E402


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_model(folder: Path, label: str, args: argparse.Namespace) -> list[str]:
    """One table row per batch size for the model in ``folder``."""
    models = {name: load_model(folder, device=args.device, dtype=dtype)[0] for name, dtype in DTYPES.items()}
    device = torch.device(models["float32"].device)  # type: ignore[attr-defined]
    rows = []
    for batch in (int(b) for b in args.batches.split(",")):
        shape = models["float32"].sample_shape
        x_T = torch.randn(batch, *shape, generator=torch.Generator().manual_seed(0)).to(device)
        outputs: dict[str, torch.Tensor] = {}
        times: dict[str, list[float]] = {name: [] for name in models}
        for rep in range(args.reps + 1):
            for name, model in models.items():
                synchronize(device)
                start = time.perf_counter()
                outputs[name] = sample(model, x_T, steps=args.steps)
                synchronize(device)
                if rep:  # the first round warms up
                    times[name].append(time.perf_counter() - start)
        base = statistics.median(times["float32"])
        cells = []
        for name in ("bfloat16", "float16"):
            diff = float((outputs[name] - outputs["float32"]).abs().max())
            ratio = statistics.median(times[name]) / base
            cells.append(f"{ratio:.2f}× (max Δ {diff:.2g})")
        rows.append(f"| {label} | {batch} | {args.steps} | {base:.3f} | " + " | ".join(cells) + " |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batches", default="64,256")
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu"
    print(f"torch {torch.__version__}, device {args.device} ({name})")
    print("| model | batch | steps | float32 (s) | bfloat16 / float32 | float16 / float32 |")
    print("|---|---|---|---|---|---|")
    for row in bench_model(DEFAULT_MODEL_DIR, "default (shapes32)", args):
        print(row, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        cifar10_ddpm_architecture().save_pretrained(tmp)
        for row in bench_model(Path(tmp), "CIFAR-10 DDPM architecture", args):
            print(row, flush=True)


if __name__ == "__main__":
    main()
