"""The library's seconds per step against the real call, per backend.

    python benchmarks/bench_library_estimates.py [--calls 3]

For each backend the library can time (torch float32, and the default ``auto``: OpenVINO fast on
a bf16 CPU), the reference UNet's rate is measured as Model ▸ Library… does
(``operations.cost.backend_rate``), each catalogue architecture below gets its estimate (its GFLOP
per call over that rate), and the same architecture, built with random weights, is called on the
same backend: the median of ``--calls`` timed batch-1 calls after a warm-up. Prints markdown with
the ratio estimate / real (1.00 is exact) and ``os.getloadavg()``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

IDS = ("google/ddpm-cifar10-32", "google/ddpm-celebahq-256")


def timed_call(architecture: dict, backend: str, precision: str, calls: int) -> float:
    """Median seconds of a batch-1 call of ``architecture`` (random init) on the backend."""
    import torch
    from diffusers import UNet2DModel

    from ddim_studio.core.models.backends import apply_backend
    from ddim_studio.core.models.diffusers_adapter import DiffusersUNet
    from ddim_studio.core.schedule import NoiseSchedule
    from ddim_studio.operations.cost import measure_call

    torch.manual_seed(0)
    unet = UNet2DModel(**architecture).eval()
    size = architecture["sample_size"]
    shape = (architecture.get("in_channels", 3), size, size)
    model, _ = apply_backend(
        DiffusersUNet(unet, NoiseSchedule.linear(), shape), backend=backend, precision=precision
    )
    measure_call(model)
    return statistics.median(measure_call(model).seconds for _ in range(calls))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("DDIM_STUDIO_CACHE_DIR", tempfile.mkdtemp(prefix="ddim-bench-library-"))
    from ddim_studio.core.catalogue import estimated_step_seconds, load_catalogue
    from ddim_studio.operations.cost import backend_rate

    entries = {e.id: e for e in load_catalogue()}
    print(f"load average {os.getloadavg()} on {os.cpu_count()} CPUs\n")
    print("| backend (as the library names it) | reference rate (GFLOP/s) | model | estimate s/step |"
          " real s/call | estimate / real |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for backend, precision in (("torch", "exact"), ("auto", "auto")):
        start = time.perf_counter()
        rate, words = backend_rate("cpu", backend, precision)
        timing = time.perf_counter() - start
        for repo_id in IDS:
            entry = entries[repo_id]
            estimate = estimated_step_seconds(entry, rate)
            real = timed_call(dict(entry.architecture), backend, precision, args.calls)
            print(f"| {words} | {rate:.1f} (timed in {timing:.1f} s) | {repo_id} | {estimate:.3f} |"
                  f" {real:.3f} | {estimate / real:.2f} |", flush=True)  # fmt: skip
    print(f"\nload average {os.getloadavg()}")


if __name__ == "__main__":
    main()
