"""Generate ▸ Guide's controller: the reference, its coarse picture, guide jobs, gallery and Reuse params.

The sampler, steps, η, seed and batch come from Generate's own controls; the guide adds the
reference, the factor N and "until". Results are saved to the gallery with their parameters
(``kind`` ``guide``) and the reference beside them, so *Reuse params* restores all of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from PySide6.QtCore import QObject

from ddim_studio.core.imaging import (
    ImageLoadError,
    fit_to_model,
    pil_to_tensor,
    tensor_to_pil,
    tensor_to_uint8,
)
from ddim_studio.core.noise import seeds_for
from ddim_studio.core.store import SOURCE_SUFFIX, SavedItem
from ddim_studio.operations.files import beside, load_image
from ddim_studio.operations.guide import GuideOutput, coarse_picture, guide_params, valid_factors
from ddim_studio.ui.context import Services
from ddim_studio.ui.generate.generate_view import GenerateParams
from ddim_studio.ui.generate.guide_panel import GuidePanel
from ddim_studio.ui.qt_image import to_qimage
from ddim_studio.ui.source_loading import PictureSource
from ddim_studio.ui.tasks import JobTracker, guarded, spawn, step_progress
from ddim_studio.workers.jobs import GuideJob, StepEvent

CHUNK = 8


class GuideController(PictureSource, QObject):
    """Wires the Guide panel to picture loading, guide jobs and the gallery.

    Args:
        panel: the Guide card.
        services: the window's services.
        params: Generate's current control values (sampler, steps, η, seed, batch).
        gallery_selection: the gallery's selected item.
    """

    def __init__(
        self,
        panel: GuidePanel,
        services: Services,
        params: Callable[[], GenerateParams],
        gallery_selection: Callable[[], SavedItem | None] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.panel, self.services, self.params = panel, services, params
        self.gallery_selection = gallery_selection or (lambda: None)
        self.tracker = JobTracker(services.jobs, self)
        self.reference: Image.Image | None = None  # fitted to the model's size
        self.reference_name = ""
        self.result: GuideOutput | None = None
        self._task: asyncio.Task[Any] | None = None
        panel.filesDropped.connect(self.load_paths)
        panel.fromGalleryRequested.connect(lambda: self.load_item(self.gallery_selection()))
        panel.guideRequested.connect(self.guide)
        panel.cancelRequested.connect(self.cancel)
        panel.factorChanged.connect(lambda _n: self.update_coarse())
        self.tracker.step.connect(self._on_step)
        self.tracker.busyChanged.connect(panel.set_busy)
        services.model.ready.connect(lambda _info: self.on_model_ready())

    def on_model_ready(self) -> None:
        """Offer the factors that divide the model's size (1 only copies the reference: left out)."""
        factors = [n for n in valid_factors(self.services.model.size()) if n > 1] or [1]
        self.panel.set_factors(factors)
        if self.reference is not None:
            self.set_reference(self.reference, self.reference_name)

    # ---- the reference ------------------------------------------------------------------------
    def load_path(self, path: Path) -> bool:
        """Use a picture file as the reference (cropped and resized to the model); False on failure."""
        try:
            loaded = load_image(path)
        except ImageLoadError as exc:
            self.services.notifier.error(exc.message)
            return False
        for warning in loaded.warnings:
            self.services.notifier.warning(f"{path.name}: {warning}")
        self.set_reference(loaded.image, path.name)
        return True

    def set_reference(self, image: Image.Image, name: str) -> None:
        """Fit ``image`` to the model and show it with its coarse picture."""
        height, width = self.services.model.size()
        self.reference = fit_to_model(image, (width, height))
        self.reference_name = name
        self.update_coarse()

    def reference_tensor(self) -> torch.Tensor | None:
        """The reference as (1, 3, H, W) in [−1, 1], or None."""
        return None if self.reference is None else pil_to_tensor(self.reference)

    def update_coarse(self) -> None:
        """Show φ_N(reference) for the selected N beside the reference."""
        y = self.reference_tensor()
        if y is None:
            self.panel.set_reference(None, None)
            return
        try:
            coarse = coarse_picture(y, self.panel.factor_value())
        except ValueError as exc:  # a factor that does not divide this model's size
            self.services.notifier.error(str(exc))
            return
        self.panel.set_reference(
            to_qimage(tensor_to_uint8(y)[0]), to_qimage(tensor_to_uint8(coarse)[0]), self.reference_name
        )

    # ---- running ------------------------------------------------------------------------------
    def make_job(self) -> GuideJob | None:
        """The guide job for the current controls, or None (said in words) without a reference."""
        y = self.reference_tensor()
        if y is None:
            self.services.notifier.info(
                "Drop a reference picture on the Guide panel, or pick one from the gallery."
            )
            return None
        p = self.params()
        return GuideJob(
            reference=y, seeds=tuple(seeds_for(p.seed, p.batch)), factor=self.panel.factor_value(),
            until=self.panel.until_value(), steps=p.steps, eta=p.eta, spacing=p.spacing,
            batch_size=min(CHUNK, p.batch), clip_sample=p.clip_sample, sampler=p.sampler,
        )  # fmt: skip

    def guide(self) -> None:
        """Run a guide job with the current controls."""
        if not self.services.model.is_loaded:
            self.services.model.run_when_ready(self.guide, "Guide")
            return
        job = self.make_job()
        if job is not None:
            self._task = spawn(self._run(job), self.services.notifier)

    async def _run(self, job: GuideJob) -> None:
        panel = self.panel
        reference, name = self.reference, self.reference_name  # as they were when the run started
        panel.results.set_count(len(job.seeds), [f"seed {s}" for s in job.seeds])
        panel.progress.start(f"Guiding {len(job.seeds)} picture(s) at N = {job.factor}…")
        status, value = await guarded(self.tracker.run(job, group="guide"), self.services.notifier, "Guiding")
        if status != "ok":
            panel.progress.finish("Cancelled" if status == "cancelled" else f"Failed: {value}", full=False)
            return
        self.result = value
        pixels = tensor_to_uint8(value.images)
        panel.results.set_images([to_qimage(p) for p in pixels], [f"seed {s}" for s in value.seeds])
        panel.progress.finish(f"Done · {len(value.seeds)} guided picture(s) in the gallery")
        self.save_results(job, reference, name)

    def _on_step(self, event: StepEvent) -> None:
        for k in range(event.preview.shape[0]):
            self.panel.results.set_image(event.batch_offset + k, to_qimage(event.preview[k]))
        done, total, text = step_progress(event)
        self.panel.progress.step(done, total, text)

    def cancel(self) -> bool:
        """Stop the running guide job; True if one was running."""
        return self.tracker.cancel()

    def save_results(self, job: GuideJob, reference: Image.Image | None, name: str) -> int:
        """Save the last results with their parameters and ``reference`` beside; returns how many."""
        out = self.result
        if out is None or reference is None:
            return 0
        count = 0
        for i, seed in enumerate(out.seeds):
            params = guide_params(
                out, i, info=self.services.model.info, steps=job.steps, clip_sample=job.clip_sample,
                source=name,
            )  # fmt: skip
            image = tensor_to_pil(out.images[i])
            stem = f"guide_N{out.factor}_s{seed}"
            extras = [(SOURCE_SUFFIX, reference)]
            count += self.services.library.save(image, params, stem=stem, extras=extras) is not None  # type: ignore[arg-type]
        return count

    # ---- Reuse params -------------------------------------------------------------------------
    def restore(self, item: SavedItem, params: dict[str, Any]) -> bool:
        """Reuse params on a guided picture: its reference, N and until; False if the reference is gone."""
        path = beside(item.png, SOURCE_SUFFIX)
        if path is None:
            self.services.notifier.error(
                f"{item.png.name} has lost its reference ({item.png.stem}{SOURCE_SUFFIX}); "
                "its parameters alone cannot restore the guide."
            )
            return False
        try:
            image = load_image(path).image
        except ImageLoadError as exc:
            self.services.notifier.error(exc.message)
            return False
        self.apply_params(params)
        self.set_reference(image, str(params.get("source", path.name)))
        return True

    def apply_params(self, params: dict[str, Any]) -> None:
        """Set N and until from saved parameters (missing ones stay as they are)."""
        factor = params.get("factor")
        if isinstance(factor, int) and factor in self.panel.factors:
            self.panel.set_factors(self.panel.factors, factor)
        if isinstance(params.get("until"), (int, float)):
            self.panel.set_until(float(params["until"]))
