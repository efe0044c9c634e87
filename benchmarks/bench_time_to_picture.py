"""Time to 128 DDIM-50-quality pictures, whole process: the studio's default against diffusers' DDIMPipeline.

    python benchmarks/bench_time_to_picture.py [--pairs 3] [--num 128]

Each pair runs, one after the other (the order alternates between pairs), two processes on the
shipped model, each writing its PNGs to a fresh folder:

- ``ddim-studio sample --num 128 --sampler dpmpp-2m --steps 10`` with the default backend and
  precision (OpenVINO fast where installed; a warm-up run first, so the one-time conversion is
  not counted: it is printed separately),
- diffusers' ``DDIMPipeline`` at S = 50, float32, batch 128, η = 0, saving the same PNGs.

Wall-clock seconds of each process (interpreter start to exit) and their ratio per pair are
printed with ``os.getloadavg()``: the machine may be shared, so look at the pairs, not one number.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "resources" / "models" / "shapes32"

DIFFUSERS = """
import sys, torch
from pathlib import Path
from diffusers import DDIMPipeline, DDIMScheduler, UNet2DModel
model, out, num = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
unet = UNet2DModel.from_pretrained(model).eval()
pipe = DDIMPipeline(unet=unet, scheduler=DDIMScheduler.from_pretrained(model))
pipe.set_progress_bar_config(disable=True)
images = pipe(batch_size=num, num_inference_steps=50, eta=0.0,
              generator=torch.Generator().manual_seed(0), output_type="pil").images
out.mkdir(parents=True, exist_ok=True)
for i, image in enumerate(images):
    image.save(out / f"{i:06d}.png")
"""


def studio(out: Path, num: int) -> list[str]:
    return [sys.executable, "-m", "ddim_studio", "sample", "--num", str(num), "--sampler", "dpmpp-2m",
            "--steps", "10", "--out", str(out)]  # fmt: skip


def diffusers(out: Path, num: int) -> list[str]:
    return [sys.executable, "-c", DIFFUSERS, str(MODEL), str(out), str(num)]


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{command[:4]} failed:\n{done.stderr[-2000:]}")
    return seconds


def load() -> str:
    return " / ".join(f"{v:.1f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--num", type=int, default=128)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ttp-"))
    try:
        first = timed(studio(work / "warm-up", args.num))
        print(f"studio warm-up run (with a first conversion if none is cached): {first:.1f} s", flush=True)
        print("\n| pair | studio (s) | diffusers DDIM S=50 (s) | ratio | load (1/5/15 min) |")
        print("|---|---|---|---|---|")
        ratios = []
        for pair in range(args.pairs):
            runs = {"studio": studio, "diffusers": diffusers}
            order = list(runs) if pair % 2 == 0 else list(reversed(runs))
            seconds = {name: timed(runs[name](work / f"{name}-{pair}", args.num)) for name in order}
            ratios.append(seconds["studio"] / seconds["diffusers"])
            print(f"| {pair + 1} | {seconds['studio']:.1f} | {seconds['diffusers']:.1f} | {ratios[-1]:.3f}× "
                  f"| {load()} |", flush=True)  # fmt: skip
        print(f"\nmedian ratio {statistics.median(ratios):.3f}× (range {min(ratios):.3f}–{max(ratios):.3f})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
