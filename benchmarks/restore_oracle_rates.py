"""How often DDNM restores the exact data point on the finite-set oracle (README, "Restore").

The exact ε* of 6 random 8×8 pictures; for data points 0, 1 and 2, y = A x_k and 64 seeds at
S = 25; a result counts when it is within 0.01 of x_k everywhere (chance is 1 in 6). Settings:
DDIM with DDNM's noise rule (η = 0 and 1), DDIM recomputing ε from the corrected x̂₀ (the ODE
rule), and DPM-Solver++(2M). Run: ``python benchmarks/restore_oracle_rates.py``.
"""

from __future__ import annotations

import torch

from ddim_studio.core.models import FiniteSetOracle
from ddim_studio.core.noise import ImageNoise
from ddim_studio.core.restore import make_degradation, restore
from ddim_studio.core.schedule import NoiseSchedule

SHAPE = (3, 8, 8)
SETTINGS = {
    "DDIM, DDNM rule, η = 0": {},
    "DDIM, DDNM rule, η = 1": {"eta": 1.0},
    "DDIM, ODE rule, η = 0": {"noise_rule": "ddim"},
    "DPM-Solver++(2M)": {"sampler": "dpmpp-2m"},
}


def main() -> None:
    torch.set_num_threads(1)
    data = torch.rand(6, *SHAPE, generator=torch.Generator().manual_seed(0)) * 1.6 - 0.8
    model = FiniteSetOracle(data, NoiseSchedule.linear())
    half = torch.zeros(1, 1, 8, 8)
    half[..., 4:] = 1.0
    tasks = [("upscale", 2, None), ("upscale", 4, None), ("colorize", 4, None), ("inpaint", 4, half),
             ("upscale+colorize", 2, None)]  # fmt: skip
    print("| task | " + " | ".join(SETTINGS) + " |")
    print("|---|" + "---:|" * len(SETTINGS))
    for task, factor, mask in tasks:
        deg = make_degradation(task, factor=factor, mask=mask)
        cells = []
        for kwargs in SETTINGS.values():
            hits = 0
            for k in range(3):
                target = data[k : k + 1]
                y = target if task == "inpaint" else deg.apply(target)
                out = restore(model, y, task=task, factor=factor, mask=mask, steps=25,
                              noise=ImageNoise(range(64), SHAPE), **kwargs)  # fmt: skip
                hits += int(((out - target).abs().amax(dim=(1, 2, 3)) < 1e-2).sum())
            cells.append(f"{hits / 192:.2f}")
        name = f"{task} ×{factor}" if "upscale" in task else task
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
