"""An edit's results into the gallery, and back: saving with its source and mask, Reuse params.

The Edit controller calls these (as it calls ``restore_tool`` for a restoration); the saved
parameters are ``operations.edit.edit_params``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from ddim_studio.core.imaging import ImageLoadError
from ddim_studio.core.names import DEFAULT_SAMPLER
from ddim_studio.core.store import SOURCE_SUFFIX, SavedItem
from ddim_studio.operations.edit import EditOutput, edit_files, edit_params
from ddim_studio.operations.files import load_image, load_mask_image
from ddim_studio.ui.edit import restore_tool
from ddim_studio.ui.edit.saving import save_with_source
from ddim_studio.workers.jobs import EditJob

if TYPE_CHECKING:
    from ddim_studio.ui.edit.edit_controller import EditController


def save_results(ctl: EditController, job: EditJob, out: EditOutput, painted: np.ndarray) -> int:
    """Save each result in the gallery with the painted source and the mask beside it."""

    def describe(i: int) -> tuple[dict[str, Any], str]:
        params = edit_params(out, i, info=ctl.services.model.info, steps=job.steps, spacing=job.spacing,
                             clip_sample=job.clip_sample, source=ctl.source_name)  # fmt: skip
        return params, f"edit_s{out.seeds[i]}_r{out.strength:g}_{out.start}"

    return save_with_source(ctl, out.images, Image.fromarray(painted), out.mask, describe, "edit")


def restore(ctl: EditController, item: SavedItem, params: dict[str, Any]) -> bool:
    """Reuse params on an edit: its painted source, mask and controls; False if the source is gone."""
    source_path, mask_path = edit_files(item.png)
    if source_path is None:
        ctl.services.notifier.error(
            f"{item.png.name} has lost its painted source ({item.png.stem}{SOURCE_SUFFIX}); "
            "its parameters alone cannot restore the edit."
        )
        return False
    kind = params.get("kind")
    try:
        source = load_image(source_path).image
        ctl.set_source(source, str(params.get("source", source_path.name)))
        if mask_path is not None and params.get("mask", True):
            ctl.view.canvas.set_mask(ctl.fitted_mask(load_mask_image(mask_path).image))
    except (ImageLoadError, ValueError) as exc:
        ctl.services.notifier.error(getattr(exc, "message", str(exc)))
        return False
    if kind == "restore":
        restore_tool.apply_params(ctl, params)
        ctl.update_cost()
    else:
        apply_params(ctl, params)
    what = "restoration" if kind == "restore" else "edit"
    ctl.services.notifier.info(f"Restored the {what} of {item.png.name}: source, mask and controls.")
    return True


def apply_params(ctl: EditController, params: dict[str, Any]) -> None:
    """Set the edit controls from saved parameters (missing ones stay as they are)."""
    v = ctl.view
    v.task_panel.set_choice("edit")
    v.feather.setValue(int(params.get("feather", 0)))
    if "strength" in params:
        v.set_strength(float(params["strength"]))
    if params.get("start") in ("noise", "invert"):
        v.start.setCurrentText(str(params["start"]))
    if "steps" in params:
        v.steps.set_value(int(params["steps"]))
    if "eta" in params:
        v.eta.set_value(float(params["eta"]))
    if "harmonize" in params:
        v.harmonize.setValue(int(params["harmonize"]))
    v.refine.setValue(int(params.get("refine", 0)))
    v.sampler.set_name(str(params.get("sampler", DEFAULT_SAMPLER)))
    if "seed" in params:
        v.seed.set_value(int(params["seed"]), lock=True)
        v.count.setValue(1)
    ctl.update_cost()
