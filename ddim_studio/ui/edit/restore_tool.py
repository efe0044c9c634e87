"""Restore as a tool of the Edit mode: the job from the canvas, the before picture, saving, Reuse params.

The Edit controller calls these when the task panel (``restore_panel``) says *restore*; the math is
``core.restore`` (DDNM) behind ``operations.restore``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from ddim_studio.core.imaging import fit_to_model, tensor_to_uint8
from ddim_studio.core.noise import seeds_for
from ddim_studio.core.restore import Upscale
from ddim_studio.operations.restore import RestoreOutput, restore_params
from ddim_studio.ui.edit.saving import save_with_source
from ddim_studio.workers.jobs import RestoreJob

if TYPE_CHECKING:
    from ddim_studio.ui.edit.edit_controller import EditController

CHUNK = 8


def _tensor(pixels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(pixels.astype(np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None].contiguous()


def restore_input(ctl: EditController) -> tuple[np.ndarray, torch.Tensor | None, list[str]]:
    """(the input picture (h, w, 3) uint8 at the task's size, the fill mask or None, notes)."""
    view, canvas = ctl.view, ctl.view.canvas
    if canvas.painted is None:
        raise ValueError("Drop or open a picture to restore first.")
    task = view.task_panel.task_name()
    height, width = ctl.services.model.size()
    notes: list[str] = []
    if task == "upscale":
        n = view.task_panel.factor_value()
        size = (width // n, height // n)
        original = ctl.original if ctl.original is not None else Image.fromarray(canvas.painted)
        picture = original.convert("RGB")
        if picture.size != size:
            notes.append(
                f"The picture was {picture.width}×{picture.height}; it was resized to {size[0]}×{size[1]}."
            )
            picture = fit_to_model(picture, size)
        return np.asarray(picture, np.uint8), None, notes
    if task == "colorize":
        return canvas.painted.copy(), None, notes
    pixels = canvas.mask_pixels()
    if pixels is None or not pixels.any():
        raise ValueError("Paint the region to fill with the Mask tool first.")
    mask = torch.from_numpy(pixels.astype(np.float32) / 255.0)[None, None]
    return canvas.painted.copy(), mask, notes


def make_restore_job(ctl: EditController) -> tuple[RestoreJob, np.ndarray, list[str]]:
    """The job, the before picture at the model's size (blocky, grey or masked) and notes."""
    v = ctl.view
    picture, mask, notes = restore_input(ctl)
    count = v.count.value()
    ddim = v.sampler.supports_eta()
    job = RestoreJob(
        _tensor(picture), tuple(seeds_for(v.seed.for_run(), count)), task=v.task_panel.task_name(),
        factor=v.task_panel.factor_value(), mask=mask, steps=v.steps.value(),
        eta=v.eta.value() if ddim else 0.0, sampler=v.sampler.name(), method=v.task_panel.method_name(),
        batch_size=min(CHUNK, count), feather=v.feather.value() if mask is not None else 0,
    )  # fmt: skip
    return job, before_picture(job), notes


def before_picture(job: RestoreJob) -> np.ndarray:
    """The model's input drawn at its size: upscaled with square pixels, the grey, or the hole."""
    x = job.picture
    if job.task == "upscale":
        x = Upscale(job.factor).pinv(x)
    elif job.task == "colorize":
        x = x.mean(dim=1, keepdim=True).expand(-1, 3, -1, -1)
    elif job.mask is not None:
        x = x * (1 - job.mask)
    return tensor_to_uint8(x)[0]


def summary(out: RestoreOutput) -> str:
    """The line above the canvas after a run."""
    what = {"upscale": f"upscale ×{out.factor}", "colorize": "colourise", "inpaint": f"fill ({out.method})"}
    return (
        f"{what.get(out.task, out.task)} · {out.calls} model calls · consistency error "
        f"{max(out.consistency) * 255:.2g}/255"
    )


def save_results(ctl: EditController, job: RestoreJob, out: RestoreOutput) -> int:
    """Save the results in the gallery with the input (and mask) beside each."""

    def describe(i: int) -> tuple[dict[str, Any], str]:
        params = restore_params(out, i, info=ctl.services.model.info, clip_sample=job.clip_sample,
                                source=ctl.source_name)  # fmt: skip
        return params, f"restore_{out.task}_s{out.seeds[i]}"

    source = Image.fromarray(tensor_to_uint8(job.picture)[0])
    return save_with_source(ctl, out.images, source, out.mask, describe, "restored picture")


def apply_params(ctl: EditController, params: dict[str, Any]) -> None:
    """Set the task, its options and the run controls from a restore's saved parameters."""
    v = ctl.view
    v.task_panel.set_choice(str(params.get("task", "upscale")), params.get("factor"), params.get("method"))
    v.feather.setValue(int(params.get("feather", 0)))
    if "steps" in params:
        v.steps.set_value(int(params["steps"]))
    if "eta" in params:
        v.eta.set_value(float(params["eta"]))
    v.sampler.set_name(str(params.get("sampler", "ddim")))
    if "seed" in params:
        v.seed.set_value(int(params["seed"]), lock=True)
        v.count.setValue(1)
