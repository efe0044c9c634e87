"""Make ``docs/guide.png`` (ILVR guidance) and ``docs/panorama.png`` (extend by panning).

Usage::

    python scripts/guide_figure.py [--out docs] [--steps 50] [--seed 0]

Runs the shipped default model on the CPU (a minute or two). ``guide.png``: one row per factor
N = 4, 8, 16 — the held-out reference, φ_N(reference) (what the results keep) and four guided
results (seeds seed … seed + 3, every step guided), with each row's measured low-pass error and
diversity in its title. ``panorama.png``: a held-out scene extended right 4 × 8 px and up 2 × 8 px
(each step an inpainting with a 2-pixel soft seam and harmonize 2), with the seams' gradient
energy against the picture's own.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from figure_grid import picture_row, stack  # noqa: E402

from ddim_studio.core.extend import extend, interior_energy, seam_energy  # noqa: E402
from ddim_studio.core.guide import guide, low_pass  # noqa: E402
from ddim_studio.core.imaging import tensor_to_uint8  # noqa: E402
from ddim_studio.core.models import load_model  # noqa: E402
from ddim_studio.core.noise import ImageNoise, initial_noise  # noqa: E402
from ddim_studio.core.sampling import sample  # noqa: E402
from ddim_studio.core.scenes import make_scenes, to_model_range  # noqa: E402

HELD_OUT = 10_000  # the scenes' seed the shipped model never saw in training
FACTORS = (4, 8, 16)
RESULTS = 4
HARMONIZE = 2  # RePaint's resampling per step: smoother bands (measured: seam/picture 0.024 vs 0.040)


def guide_figure(model: object, steps: int, seed: int) -> Image.Image:
    """Reference, φ_N(reference) and four results per factor, with measured numbers."""
    reference = torch.from_numpy(to_model_range(make_scenes(1, seed=HELD_OUT, start=3)))
    seeds = list(range(seed, seed + RESULTS))
    free = sample(model, initial_noise(seeds, (3, 32, 32))[0], steps=steps)  # type: ignore[arg-type]
    rows = []
    for n in FACTORS:
        out = guide(model, reference, factor=n, steps=steps, noise=ImageNoise(seeds, (3, 32, 32)))  # type: ignore[arg-type]
        guided = float((low_pass(out, n) - low_pass(reference, n)).pow(2).mean())
        unguided = float((low_pass(free, n) - low_pass(reference, n)).pow(2).mean())
        spread = float((out - out.mean(dim=0, keepdim=True)).pow(2).mean())
        cells = [
            (tensor_to_uint8(reference)[0], "reference"),
            (tensor_to_uint8(low_pass(reference, n))[0], f"φ_{n}(ref)"),
        ]
        cells += [(p, f"seed {s}") for p, s in zip(tensor_to_uint8(out), seeds, strict=True)]
        title = f"N = {n}: low-pass error {guided:.1e} (unguided {unguided:.2f}) · diversity {spread:.4f}"
        rows.append(picture_row(cells, title))
        print(f"N={n}: low-pass MSE guided {guided:.3g} unguided {unguided:.3g}; diversity {spread:.4g}")
    return stack(rows)


def panorama_figure(model: object, steps: int, seed: int) -> Image.Image:
    """A scene walked right and up, with the seam energy measured."""
    start = torch.from_numpy(to_model_range(make_scenes(1, seed=HELD_OUT, start=8)))
    rows = []
    for direction, times in (("right", 4), ("up", 2)):
        _, strip = extend(
            model, start, direction=direction, by=8, times=times, seed=seed, steps=steps, harmonize=HARMONIZE
        )  # type: ignore[arg-type]
        seams = seam_energy(strip, direction, 8, times, 32, 2)
        inside = interior_energy(start, direction)
        title = f"{direction} {times} × 8 px: seam energy {seams:.4f}, the picture's own {inside:.4f}"
        cells = [
            (tensor_to_uint8(start)[0], "start"),
            (tensor_to_uint8(strip)[0], f"panorama {strip.shape[3]}×{strip.shape[2]}"),
        ]
        rows.append(picture_row(cells, title))
        print(f"{direction}: seam energy {seams:.4g}, interior {inside:.4g}, ratio {seams / inside:.3f}")
    return stack(rows)


def main() -> None:
    """Parse the arguments, make both figures, save them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, _ = load_model()
    guide_figure(model, args.steps, args.seed).save(args.out / "guide.png")
    panorama_figure(model, args.steps, args.seed).save(args.out / "panorama.png")
    print(f"wrote {args.out / 'guide.png'} and {args.out / 'panorama.png'}")


if __name__ == "__main__":
    main()
