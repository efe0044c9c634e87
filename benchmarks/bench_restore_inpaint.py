"""DDNM inpainting against the Edit mode's mask replacement, at equal model calls (README, "Restore").

1. Exact oracle: the finite-set ε* of 6 random 8×8 pictures; half of a data point kept (the right
   half filled); completion = the result within 0.01 of that data point everywhere; 64 seeds for
   each of the 6 data points, S = 25, η = 0 and 1.
2. Shipped model: 8 held-out scenes with a 14×14 hole, S = 20 (20 model calls either way), seeds
   0–7: the seam energy (``core.masks.seam_energy``, a 6-pixel zone) with the hard mask and with
   3- and 6-pixel feathers, and the kept pixels (where the mask is 0) compared with the source bit for bit.

Run: ``python benchmarks/bench_restore_inpaint.py`` (about 2 minutes on a 2-core CPU).
"""

from __future__ import annotations

import torch

from ddim_studio.core.masks import feather_mask, seam_energy
from ddim_studio.core.models import FiniteSetOracle, load_model
from ddim_studio.core.noise import ImageNoise
from ddim_studio.core.restore import restore
from ddim_studio.core.scenes import make_scenes, to_model_range
from ddim_studio.core.schedule import NoiseSchedule

METHODS = ("ddnm", "replace")


def oracle_rates(eta: float) -> dict[str, float]:
    """Completion rate per method over 6 data points × 64 seeds."""
    shape = (3, 8, 8)
    data = torch.rand(6, *shape, generator=torch.Generator().manual_seed(0)) * 1.6 - 0.8
    model = FiniteSetOracle(data, NoiseSchedule.linear())
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 4:] = 1.0
    rates = {}
    for method in METHODS:
        hits = 0
        for k in range(6):
            out = restore(model, data[k : k + 1], task="inpaint", mask=mask, steps=25, eta=eta,
                          method=method, noise=ImageNoise(range(64), shape))  # fmt: skip
            hits += int(((out - data[k : k + 1]).abs().amax(dim=(1, 2, 3)) < 1e-2).sum())
        rates[method] = hits / (6 * 64)
    return rates


def shipped_seams() -> dict[tuple[str, int], tuple[float, bool]]:
    """(mean seam energy, kept pixels bit-exact) per (method, feather) on the shipped model."""
    model, _ = load_model()
    source = torch.from_numpy(to_model_range(make_scenes(8, seed=10_000)))
    hard = torch.zeros(1, 1, 32, 32)
    hard[..., 9:23, 9:23] = 1.0
    found = {}
    for method in METHODS:
        for feather in (0, 3, 6):
            mask = feather_mask(hard, feather)
            out = torch.cat([
                restore(model, source[i : i + 1], task="inpaint", mask=hard, steps=20, method=method,
                        feather=feather, noise=ImageNoise([i], (3, 32, 32)))
                for i in range(8)
            ])  # fmt: skip
            kept = (mask == 0).expand_as(out)
            found[(method, feather)] = (
                float(seam_energy(out, hard).mean()),
                torch.equal(out[kept], source[kept]),
            )
    found[("source", 0)] = (float(seam_energy(source, hard).mean()), True)
    return found


def main() -> None:
    torch.set_num_threads(1)
    print("| finite-set oracle, half kept (6 points × 64 seeds, S = 25) | DDNM | replacement |")
    print("|---|---:|---:|")
    for eta in (0.0, 1.0):
        rates = oracle_rates(eta)
        print(f"| completion rate, η = {eta:g} | {rates['ddnm']:.3f} | {rates['replace']:.3f} |")
    seams = shipped_seams()
    print("\n| shipped model, 8 scenes, 14×14 hole, S = 20 | seam energy | kept pixels bit-exact |")
    print("|---|---:|---|")
    for (method, feather), (energy, exact) in seams.items():
        label = "the source itself" if method == "source" else f"{method}, feather {feather} px"
        print(f"| {label} | {energy:.4f} | {'yes' if exact else 'NO'} |")


if __name__ == "__main__":
    main()
