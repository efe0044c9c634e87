"""Extend: walk a picture past its frame and stitch a panorama (``core.extend``).

Adds what both front ends need around the core: the checks in words before any model call, one
stage per pan (phase ``edit``: each pan is an inpainting), the saved parameters (``kind``
``extend``, ``direction``, ``by``, ``times``, ``feather``, ``step``) and the saving of every step's
picture (``<stem>-step<r>.png``, the start picture beside each as ``.source.png``) and of the
panorama (``<stem>-panorama.png``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image

from ddim_studio.core import extend as core_extend
from ddim_studio.core.editing import check_edit_sampler, steps_run
from ddim_studio.core.limits import check_finite
from ddim_studio.core.models.protocol import DiffusionModel
from ddim_studio.core.noise import check_seed
from ddim_studio.core.samplers import DEFAULT_SAMPLER
from ddim_studio.core.schedule import make_timesteps
from ddim_studio.core.store import SOURCE_SUFFIX, OutputStore, SavedItem
from ddim_studio.operations.edit import check_harmonize
from ddim_studio.operations.encode import image_batch
from ddim_studio.operations.params import build_params
from ddim_studio.operations.run import Body, Run, Stage
from ddim_studio.operations.sample import LATENT_DTYPE

stitch = core_extend.stitch  # for the window: strips joined into the panorama

if TYPE_CHECKING:
    from ddim_studio.core.models.protocol import ModelInfo

#: Most pans one run may make.
MAX_TIMES = 64


@dataclass(frozen=True)
class ExtendOutput:
    """A walk and its panorama; tensors float32 on the CPU.

    Attributes:
        frames: [the start picture, step 1, …, step R], each (1, 3, H, W) in [−1, 1].
        panorama: (1, 3, H, W + R·k) (or H + R·k for up/down).
        direction, by, times, feather, seed, steps, sampler, harmonize: the settings.
        timesteps: the τ each pan's inpainting visited, noisiest first.
    """

    frames: list[torch.Tensor]
    panorama: torch.Tensor
    direction: str
    by: int
    times: int
    feather: int
    seed: int
    steps: int
    sampler: str
    harmonize: int
    timesteps: list[int]


def check_extend(
    model: DiffusionModel, *, direction: str, by: int, times: int, feather: int, sampler: str, harmonize: int
) -> None:
    """Raise a ValueError (one line, in words) for settings that cannot run."""
    pan = core_extend.Pan.of(direction)
    _, height, width = tuple(model.sample_shape)
    length = height if pan.axis == 2 else width
    core_extend.check_band(by, length, feather)
    core_extend.check_times(times)
    if times > MAX_TIMES:
        raise ValueError(f"Extend makes at most {MAX_TIMES} steps in one run, got {times}.")
    check_edit_sampler(sampler, 0.0, check_harmonize(harmonize))


def _extend_body(
    model: DiffusionModel, picture: torch.Tensor, settings: dict[str, Any]
) -> Body[ExtendOutput]:
    times = settings["times"]
    calls = settings["steps"] * (1 + settings["harmonize"])
    frames = [picture]
    for r in range(times):
        stage = Stage("edit", calls, 1, chunk=r, chunks=times, job_total=calls * times)
        step = core_extend.iter_extend_step(
            model, frames[-1], direction=settings["direction"], by=settings["by"], seed=settings["seed"] + r,
            steps=settings["steps"], feather=settings["feather"], sampler=settings["sampler"],
            harmonize=settings["harmonize"],
        )  # fmt: skip
        frame = yield from _pan(stage, step)
        frames.append(check_finite(frame, "The extended picture"))
    cpu = [f.to("cpu", torch.float32) for f in frames]
    panorama = core_extend.stitch(cpu, settings["direction"], settings["by"])
    seq = make_timesteps(settings["steps"], model.schedule.num_train_timesteps, "uniform")
    return ExtendOutput(cpu, panorama, timesteps=seq, **settings)


def _pan(stage: Stage, step: Any) -> Body[torch.Tensor]:
    """Yield ``stage`` and the pan's steps; return the pan's composited picture."""
    yield stage
    return (yield from step)


def extend_picture(
    model: DiffusionModel,
    picture: torch.Tensor,
    *,
    direction: str,
    by: int,
    times: int = 1,
    seed: int = 0,
    steps: int = 50,
    feather: int = core_extend.DEFAULT_FEATHER,
    sampler: str = DEFAULT_SAMPLER,
    harmonize: int = 0,
    device: torch.device | str = "cpu",
) -> Run[ExtendOutput]:
    """Pan ``picture`` ((1, 3, H, W) in [−1, 1]) R times by k pixels; step r has seed ``seed + r``.

    The settings are checked before the run starts, so a ValueError comes at once.
    """
    x = image_batch(picture, "The picture to extend")
    if x.shape[0] != 1:
        raise ValueError(f"Extend walks one picture at a time, got {x.shape[0]}.")
    check_extend(
        model, direction=direction, by=by, times=times, feather=feather, sampler=sampler, harmonize=harmonize
    )
    check_seed(seed)
    check_seed(seed + times)
    steps_run(steps, 1.0)
    make_timesteps(steps, model.schedule.num_train_timesteps, "uniform")  # bad steps fail here
    settings = {
        "direction": direction, "by": int(by), "times": int(times), "feather": int(feather),
        "seed": int(seed), "steps": int(steps), "sampler": sampler, "harmonize": int(harmonize),
    }  # fmt: skip
    x = x.to(device=torch.device(device), dtype=LATENT_DTYPE)
    return Run(_extend_body(model, x, settings))


def extend_params(
    out: ExtendOutput, step: int | None, *, info: ModelInfo | None, **extra: Any
) -> dict[str, Any]:
    """The saved parameters of step ``step``'s picture (None: the panorama)."""
    return build_params(
        "extend", info=info, steps=out.steps, spacing="uniform", sampler=out.sampler, timesteps=out.timesteps,
        seed=out.seed if step is None else out.seed + step - 1, direction=out.direction, by=out.by,
        times=out.times, feather=out.feather, harmonize=out.harmonize,
        **({"step": step} if step is not None else {"panorama": True}), **extra,
    )  # fmt: skip


def save_extend(
    folder: str | os.PathLike[str],
    out: ExtendOutput,
    *,
    stem: str,
    info: ModelInfo | None,
    pictures: list[Image.Image],
    panorama: Image.Image,
    **extra: Any,
) -> tuple[list[Path], Path]:
    """Write each step's picture (the start beside it) and the panorama; (the steps' files, the panorama).

    ``pictures`` are the frames as pictures ([start, step 1, …]).

    Raises:
        StoreError: a bad name, a full disk, no permission.
    """
    store = OutputStore(folder)
    start = pictures[0]
    files = []
    for r, picture in enumerate(pictures[1:], start=1):
        params = extend_params(out, r, info=info, **extra)
        item = store.save_image(picture, params, stem=f"{stem}-step{r}", extras=[(SOURCE_SUFFIX, start)])
        files.append(item.png)
    pano: SavedItem = store.save_image(
        panorama, extend_params(out, None, info=info, **extra), stem=f"{stem}-panorama"
    )
    return files, pano.png
