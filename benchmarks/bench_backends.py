"""The model call on the CPU per backend and precision, side by side in one run (issue 28's table).

    python benchmarks/bench_backends.py [--reps 5] [--models shipped,cifar,celeba] [--threads 0]

For each architecture and batch — the shipped shapes32 model (batch 1 and 16), the CIFAR-10 DDPM
architecture (35.7 M parameters, random init, batch 4) and google/ddpm-celebahq-256's architecture
(113.7 M, random init, batch 1) — one ``model(x_t, t)`` call is timed with torch float32, torch
bf16 autocast, OpenVINO fast (bf16 where the CPU has it) and OpenVINO exact (f32). The variants
are interleaved in every repetition (after a warm-up call each) and the medians are printed with
the ratio to torch float32, beside the largest |Δ| of each output from float32's on the same
inputs (timesteps spread over 0…999). OpenVINO's first conversion is timed into an empty cache
folder, and the cached load (a new model object: read the IR, compile with the blob cache) after it.

The machine may be shared: ``os.getloadavg()`` is printed before and after each architecture.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_sampler import cifar10_ddpm_architecture  # noqa: E402
from diffusers import UNet2DModel  # noqa: E402

from ddim_studio.core.models import load_model  # noqa: E402
from ddim_studio.core.models.backends import TorchAutocastUNet, cpu_has_bf16  # noqa: E402
from ddim_studio.core.models.diffusers_adapter import DiffusersUNet  # noqa: E402
from ddim_studio.core.models.openvino_unet import OpenVINOUNet  # noqa: E402
from ddim_studio.core.schedule import NoiseSchedule  # noqa: E402


def celebahq_256_unet() -> UNet2DModel:
    """google/ddpm-celebahq-256's UNet2DModel config (113.7 M parameters), random init."""
    torch.manual_seed(0)
    return UNet2DModel(
        sample_size=256, in_channels=3, out_channels=3,
        block_out_channels=(128, 128, 256, 256, 512, 512), layers_per_block=2,
        down_block_types=("DownBlock2D",) * 4 + ("AttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "AttnUpBlock2D") + ("UpBlock2D",) * 4,
        attention_head_dim=None, downsample_padding=0, flip_sin_to_cos=False, freq_shift=1,
        mid_block_scale_factor=1, norm_eps=1e-6, norm_num_groups=32,
    ).eval()  # fmt: skip


def wrap(unet: UNet2DModel) -> DiffusersUNet:
    size = unet.config.sample_size
    return DiffusersUNet(unet, NoiseSchedule.linear(), (unet.config.in_channels, size, size))


def architectures(names: list[str]) -> list[tuple[str, DiffusersUNet, list[int]]]:
    """(label, model, batches) of the architectures asked for."""
    found = []
    for name in names:
        if name == "shipped":
            model, info = load_model(None)
            found.append((f"shipped shapes32 ({info.num_parameters / 1e6:.1f} M)", model, [1, 16]))
        elif name == "cifar":
            found.append(("CIFAR-10 DDPM architecture (35.7 M)", wrap(cifar10_ddpm_architecture()), [4]))
        elif name == "celeba":
            found.append(("google/ddpm-celebahq-256 architecture (113.7 M)", wrap(celebahq_256_unet()), [1]))
        else:
            raise SystemExit(f"unknown model {name!r}; choose shipped, cifar, celeba")
    return found


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def load_text() -> str:
    return "load " + " / ".join(f"{v:.1f}" for v in os.getloadavg())


def bench(label: str, model: DiffusersUNet, batch: int, reps: int, cache: Path) -> tuple[str, str]:
    """One table row and one conversion-times row."""
    x = torch.randn((batch, *model.sample_shape), generator=torch.Generator().manual_seed(0))
    t = torch.linspace(0, 999, batch).long() if batch > 1 else torch.tensor([500])
    convert_s = timed(lambda: OpenVINOUNet(model, cache_dir=cache, precision="fast").prepare(batch))
    fast: OpenVINOUNet | None = None

    def cached_load() -> None:
        nonlocal fast
        fast = OpenVINOUNet(model, cache_dir=cache, precision="fast")
        fast.prepare(batch)

    cached_s = timed(cached_load)
    exact = OpenVINOUNet(model, cache_dir=cache, precision="exact")
    exact.prepare(batch)
    variants = {
        "torch fp32": model,
        "torch bf16": TorchAutocastUNet(model, "cpu", torch.bfloat16),
        "OpenVINO fast": fast,
        "OpenVINO exact": exact,
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    outputs = {}
    with torch.inference_mode():
        for name, variant in variants.items():
            outputs[name] = variant(x, t)  # warm-up, and the output compared
        for _ in range(reps):
            for name, variant in variants.items():
                times[name].append(timed(lambda v=variant: v(x, t)))
    med = {name: statistics.median(values) for name, values in times.items()}
    ref = med["torch fp32"]

    def cell(name: str) -> str:
        value = med[name]
        text = f"{value * 1000:.1f} ms" if value < 1 else f"{value:.3f} s"
        return text if name == "torch fp32" else f"{text} ({ref / value:.1f}×)"

    deltas = [float((outputs[n] - outputs["torch fp32"]).abs().max()) for n in list(variants)[1:]]
    row = (
        f"| {label} | {batch} | " + " | ".join(cell(n) for n in variants)
        + " | " + " / ".join(f"{d:.3g}" for d in deltas) + f" | {load_text()} |"
    )  # fmt: skip
    conv = f"| {label} | {batch} | {convert_s:.1f} s | {cached_s:.2f} s |"
    return row, conv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--models", default="shipped,cifar,celeba")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    import openvino

    print(
        f"torch {torch.__version__}, OpenVINO {openvino.__version__}, {torch.get_num_threads()} threads, "
        f"bf16 on this CPU: {cpu_has_bf16()}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}"
    )
    rows, conversions = [], []
    for label, model, batch_sizes in architectures(args.models.split(",")):
        for batch in batch_sizes:
            with tempfile.TemporaryDirectory() as cache:
                row, conv = bench(label, model, batch, args.reps, Path(cache))
            print(row, flush=True)
            rows.append(row)
            conversions.append(conv)
    print()
    print(
        "| model | batch | torch fp32 | torch bf16 autocast | OpenVINO fast | OpenVINO exact "
        "| max abs Δ vs fp32 (torch bf16 / OV fast / OV exact) | machine load (1/5/15 min) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print()
    print("| model | batch | first conversion (trace + save + compile) | cached load (read IR + compile) |")
    print("|---|---|---|---|")
    print("\n".join(conversions))


if __name__ == "__main__":
    main()
