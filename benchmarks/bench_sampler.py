"""Sampler overhead, measured side by side: our DDIM vs bare model calls vs a diffusers loop.

A second row per model and batch does the same for DPM-Solver++(2M) against diffusers'
``DPMSolverMultistepScheduler`` over the same timestep list (timed in the same interleaved runs).

For each model and batch size, the three runs use the same UNet2DModel weights, the same x_T and
the same number of model calls, interleaved over several repetitions; the medians are compared.

    python benchmarks/bench_sampler.py [--steps 50] [--reps 5] [--models default,cifar10]

Prints a markdown table; "overhead" is ours / bare − 1, "vs diffusers" is ours / diffusers.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler, UNet2DModel

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ddim_studio.core.models import DEFAULT_MODEL_DIR  # noqa: E402
from ddim_studio.core.samplers.dpmpp_2m import sample_dpmpp_2m  # noqa: E402
from ddim_studio.core.sampling import sample  # noqa: E402
from ddim_studio.core.schedule import NoiseSchedule, make_timesteps  # noqa: E402


class _Wrapped:
    """A UNet2DModel behind the DiffusionModel protocol (what the loader's adapter does)."""

    def __init__(self, unet: UNet2DModel, schedule: NoiseSchedule) -> None:
        self.unet, self.schedule = unet, schedule
        self.sample_shape = (unet.config.in_channels, unet.config.sample_size, unet.config.sample_size)

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.unet(x_t, t).sample


def cifar10_ddpm_architecture() -> UNet2DModel:
    """The architecture of google/ddpm-cifar10-32 (35.7 M parameters), randomly initialised."""
    torch.manual_seed(0)
    return UNet2DModel(
        sample_size=32,
        block_out_channels=(128, 256, 256, 256),
        layers_per_block=2,
        down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
        norm_eps=1e-6,
        attention_head_dim=None,
        downsample_padding=0,
        flip_sin_to_cos=False,
        freq_shift=1,
    ).eval()


def default_model() -> tuple[UNet2DModel, str]:
    """The shipped default model if present, else a random init of its architecture."""
    folder = DEFAULT_MODEL_DIR
    if (folder / "config.json").exists():
        return UNet2DModel.from_pretrained(folder).eval(), "default (shapes32)"
    from ddim_studio.training.trainer import TrainConfig, build_unet

    torch.manual_seed(0)
    return build_unet(TrainConfig()).eval(), "default architecture (random init)"


def run_bare(unet: UNet2DModel, x_T: torch.Tensor, seq: list[int]) -> None:
    with torch.inference_mode():
        for t in seq:
            _ = unet(x_T, torch.full((x_T.shape[0],), t, dtype=torch.long)).sample


def run_diffusers(unet: UNet2DModel, x_T: torch.Tensor, steps: int) -> None:
    sched = DDIMScheduler(
        num_train_timesteps=1000, beta_schedule="linear", clip_sample=False, set_alpha_to_one=True
    )
    sched.set_timesteps(steps)
    x = x_T
    with torch.inference_mode():
        for t in sched.timesteps:
            x = sched.step(unet(x, t).sample, t, x).prev_sample


def run_diffusers_dpmpp(unet: UNet2DModel, x_T: torch.Tensor, seq: list[int]) -> None:
    sched = DPMSolverMultistepScheduler(
        num_train_timesteps=1000,
        beta_schedule="linear",
        algorithm_type="dpmsolver++",
        solver_order=2,
        lower_order_final=True,
        final_sigmas_type="zero",
    )
    sched.set_timesteps(timesteps=seq)
    x = x_T
    with torch.inference_mode():
        for t in sched.timesteps:
            x = sched.step(unet(x, t).sample, t, x).prev_sample


def median_times(fns: dict[str, Callable[[], None]], reps: int) -> dict[str, float]:
    """Interleave the runs ``reps`` times after one warm-up each; return the median seconds of each."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def bench(unet: UNet2DModel, label: str, batch: int, steps: int, reps: int) -> str:
    model = _Wrapped(unet, NoiseSchedule.linear())
    x_T = torch.randn(batch, *model.sample_shape, generator=torch.Generator().manual_seed(0))
    seq = make_timesteps(steps, 1000, "leading")
    t = median_times(
        {
            "bare": lambda: run_bare(unet, x_T, seq),
            "ours": lambda: sample(model, x_T, steps=steps, spacing="leading"),
            "diffusers": lambda: run_diffusers(unet, x_T, steps),
            "dpmpp": lambda: sample_dpmpp_2m(model, x_T, timesteps=seq),
            "diffusers_dpmpp": lambda: run_diffusers_dpmpp(unet, x_T, seq),
        },
        reps,
    )
    rows = []
    for name, ours, theirs in (("", "ours", "diffusers"), (", DPM-Solver++(2M)", "dpmpp", "diffusers_dpmpp")):
        rows.append(
            f"| {label}{name} | {batch} | {steps} | {t['bare']:.3f} | {t[ours]:.3f} | {t[theirs]:.3f} "
            f"| {t[ours] / t['bare'] - 1:+.1%} | {t[ours] / t[theirs]:.3f} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--cifar-steps", type=int, default=10, help="steps for the 35.7 M-parameter model")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--batches", default="1,16")
    parser.add_argument("--models", default="default,cifar10")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device cpu")
    print(
        "| model | batch | steps | bare calls (s) | ours (s) | diffusers loop (s) "
        "| overhead vs bare | ours / diffusers |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name in args.models.split(","):
        unet, label = (
            default_model()
            if name == "default"
            else (cifar10_ddpm_architecture(), "CIFAR-10 DDPM arch (random init)")
        )
        steps = args.steps if name == "default" else args.cifar_steps
        for batch in (int(b) for b in args.batches.split(",")):
            print(bench(unet, label, batch, steps, args.reps), flush=True)


if __name__ == "__main__":
    main()
