"""What an edit costs next to a full sample of the same S, measured in the same run.

For each edit (strength, start, mask, harmonize) on the shipped model, the model calls are counted
by wrapping the model, and the time is the median of interleaved repetitions next to a full
``sample`` of the same S and batch (the reference).

    python benchmarks/bench_edit.py [--steps 50] [--batch 8] [--reps 5] [--device cpu]

Prints a markdown table: calls and time of each run, and both as a ratio to the full sample.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ddim_studio.core.editing import edit  # noqa: E402
from ddim_studio.core.models import load_model  # noqa: E402
from ddim_studio.core.noise import ImageNoise, initial_noise  # noqa: E402
from ddim_studio.core.sampling import sample  # noqa: E402
from ddim_studio.core.scenes import make_scenes, to_model_range  # noqa: E402

#: (label, keyword arguments of ``edit``); "mask" is replaced by the real mask.
EDITS: list[tuple[str, dict[str, object]]] = [
    ("SDEdit, strength 0.25", {"strength": 0.25}),
    ("SDEdit, strength 0.5", {"strength": 0.5}),
    ("SDEdit, strength 0.8", {"strength": 0.8}),
    ("inpaint, strength 1", {"strength": 1.0, "mask": True}),
    ("inpaint, strength 1, harmonize 2", {"strength": 1.0, "mask": True, "harmonize": 2}),
    ("inpaint, strength 0.5, invert start", {"strength": 0.5, "mask": True, "start": "invert"}),
]


class Counted:
    """The model with a call counter (same protocol attributes)."""

    def __init__(self, model: object) -> None:
        self.model, self.calls = model, 0
        self.schedule = model.schedule  # type: ignore[attr-defined]
        self.sample_shape = model.sample_shape  # type: ignore[attr-defined]

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.model(x_t, t)  # type: ignore[operator]


def median_times(fns: dict[str, Callable[[], None]], reps: int, sync: Callable[[], None]) -> dict[str, float]:
    """Interleave the runs ``reps`` times after one warm-up each; the median seconds of each."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        fn()
    for _ in range(reps):
        for name, fn in fns.items():
            sync()
            start = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    model, info = load_model(device=device)
    counted = Counted(model)
    shape = tuple(model.sample_shape)
    seeds = list(range(args.batch))
    source = torch.from_numpy(to_model_range(make_scenes(args.batch, seed=10_000))).to(device)
    mask = torch.zeros(1, 1, shape[1], shape[2], device=device)
    mask[..., shape[1] // 4 : 3 * shape[1] // 4, shape[2] // 4 : 3 * shape[2] // 4] = 1.0

    def full() -> None:
        x_T, _ = initial_noise(seeds, shape, device)  # type: ignore[arg-type]
        sample(counted, x_T, steps=args.steps)  # type: ignore[arg-type]

    def runner(kwargs: dict[str, object]) -> Callable[[], None]:
        real = {**kwargs, "mask": mask} if kwargs.get("mask") else kwargs

        def run() -> None:
            noise = ImageNoise(seeds, shape, device)
            edit(counted, source, steps=args.steps, noise=noise, **real)  # type: ignore[arg-type]

        return run

    fns = {"full sample": full} | {label: runner(kw) for label, kw in EDITS}
    calls = {}
    for name, fn in fns.items():
        counted.calls = 0
        fn()
        calls[name] = counted.calls
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times = median_times(fns, args.reps, sync)
    ref_calls, ref_time = calls["full sample"], times["full sample"]
    print(f"{info.name} on {device}, batch {args.batch}, S = {args.steps}, median of {args.reps}\n")
    print("| run | model calls | time (s) | calls / full | time / full |")
    print("|---|---:|---:|---:|---:|")
    for name in fns:
        print(
            f"| {name} | {calls[name]} | {times[name]:.3f} | "
            f"{calls[name] / ref_calls:.2f} | {times[name] / ref_time:.2f} |"
        )


if __name__ == "__main__":
    main()
