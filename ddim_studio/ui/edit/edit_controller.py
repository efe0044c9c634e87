"""Edit mode's controller: loads the source, checks and runs edit jobs, streams x₀, saves, restores."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from PIL import Image
from PySide6.QtCore import QObject
from PySide6.QtWidgets import QColorDialog

from ddim_studio.core.imaging import ImageLoadError, fit_to_model, tensor_to_uint8
from ddim_studio.core.noise import seeds_for
from ddim_studio.core.schedule import ScheduleError
from ddim_studio.core.store import SavedItem
from ddim_studio.operations.edit import EditOutput, check_edit, edit_cost, fit_mask
from ddim_studio.operations.files import load_mask_image
from ddim_studio.operations.pictures import OpenedPicture, fit_picture
from ddim_studio.operations.restore import RestoreOutput
from ddim_studio.ui import dialogs
from ddim_studio.ui.context import Services
from ddim_studio.ui.edit import edit_reuse, restore_tool
from ddim_studio.ui.edit.edit_view import EditView
from ddim_studio.ui.edit.extend_controller import ExtendController
from ddim_studio.ui.qt_image import to_qimage
from ddim_studio.ui.source_loading import PictureSource
from ddim_studio.ui.tasks import JobTracker, guarded, spawn, step_progress
from ddim_studio.ui.widgets.sampler_choice import registry_rows
from ddim_studio.workers.jobs import EditJob, RestoreJob, StepEvent

CHUNK = 8


def _tensor(pixels: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 → (1, 3, H, W) in [−1, 1]."""
    return torch.from_numpy(pixels.astype(np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None].contiguous()


def generate_result(generate: object) -> np.ndarray | None:
    """Generate's selected result (or its first) as (H, W, 3) uint8, None when it has none."""
    result = getattr(generate, "result", None)
    if result is None or not len(result.images):
        return None
    index = generate.view.grid.selected()  # type: ignore[attr-defined]
    index = index if 0 <= index < len(result.images) else 0
    return tensor_to_uint8(result.images[index : index + 1])[0]


class EditController(PictureSource, QObject):
    """Wires the Edit view to picture loading, edit jobs, the gallery and Reuse params."""

    loader_key = "edit"

    def __init__(
        self,
        view: EditView,
        services: Services,
        *,
        gallery_selection: Callable[[], SavedItem | None] | None = None,
        generate_result: Callable[[], np.ndarray | None] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.view, self.services = view, services
        self.gallery_selection = gallery_selection or (lambda: None)
        self.generate_result = generate_result or (lambda: None)
        self.tracker = JobTracker(services.jobs, self)
        self.extend = ExtendController(
            view.extend, services, lambda: view.canvas.painted, view.seed.value, self
        )
        self.source_name = ""
        self.opened: OpenedPicture | None = None  # the picture as opened (to fit it again)
        self.result: EditOutput | None = None
        self.result_painted: np.ndarray | None = None
        self._intro = view.summary.text()  # the header before any run (shown again for a new source)
        self.saved_items: list[SavedItem] = []
        self._serial = 0
        self._task: asyncio.Task[Any] | None = None
        view.openRequested.connect(self.open_dialog)
        view.filesDropped.connect(self.load_paths)
        view.fromGalleryRequested.connect(lambda: self.load_item(self.gallery_selection()))
        view.fromGenerateRequested.connect(self.from_generate)
        view.loadMaskRequested.connect(self.load_mask_dialog)
        view.editRequested.connect(self.edit)
        view.cancelRequested.connect(self.cancel)
        view.colorRequested.connect(self.choose_color)
        view.controlsChanged.connect(self.update_cost)
        view.canvas.changed.connect(self.update_cost)
        view.results.clicked.connect(self._show_result)
        self.tracker.step.connect(self._on_step)
        self.tracker.busyChanged.connect(view.set_busy)
        services.model.ready.connect(lambda _info: self._model_ready())
        self.update_cost()

    # ---- the cost label -----------------------------------------------------------------------
    def update_cost(self) -> None:
        """'strength 0.4 · 20 of 50 steps' (plus the extra model calls) under the strength slider."""
        v = self.view
        if v.task_panel.is_restore():
            v.strength_label.setText(f"restore · {v.steps.value()} model calls (one sampling run)")
            return
        schedule = SimpleNamespace(
            num_train_timesteps=self.services.model.num_train_timesteps(),
            steps_offset=self.services.model.steps_offset(),
        )
        try:
            cost = edit_cost(
                SimpleNamespace(schedule=schedule),  # type: ignore[arg-type]
                v.steps.value(), v.strength_value(), start=v.start.currentText(),
                harmonize=v.harmonize.value() if v.canvas.has_mask and v.harmonize.isEnabled() else 0,
                refine=self._refine(), spacing=self._spacing(),
            )  # fmt: skip
        except (ScheduleError, ValueError) as exc:
            v.strength_label.setText(str(exc))
            return
        v.strength_label.setText(f"{cost.label()} · starts at t = {cost.t_start}")

    # ---- loading ------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        """Ask for a picture and load it."""
        path = dialogs.open_file(self.view, "Open a picture to edit", dialogs.IMAGE_FILTER)
        if path is not None:
            self.load_path(path)

    def load_path(self, path: Path) -> bool:
        """Load a picture as the source (cropped and resized to the model), decoded off the GUI
        thread: it shows when it arrives (a failure is reported then). True: it is being opened."""
        self.open_source(path, self._opened)
        return True

    def _opened(self, opened: OpenedPicture) -> None:
        for warning in opened.warnings:
            self.services.notifier.warning(f"{opened.name}: {warning}")
        self.show_source(opened)

    def from_generate(self) -> bool:
        """Edit Generate's selected result; False (with a note) when there is none."""
        pixels = self.generate_result()
        if pixels is None:
            self.services.notifier.info("Generate has no result yet: generate a picture first.")
            return False
        self.set_source(Image.fromarray(pixels), "Generate's result")
        return True

    @property
    def original(self) -> Image.Image | None:
        """The picture as opened, before fitting (None before one is): a picture from Generate or a
        saved edit itself; a file's display copy (the whole picture up to 1024 px on its long side —
        the decoded file itself stays in the decoder process)."""
        if self.opened is None:
            return None
        source = self.opened.source
        return source if isinstance(source, Image.Image) else Image.fromarray(self.opened.display)

    def set_source(self, image: Image.Image, name: str, mask: np.ndarray | None = None) -> None:
        """Fit a small ``image`` (Generate's result, a saved edit's source) to the model here and start
        painting on it (``mask`` (H, W) uint8 optional); files are opened with :meth:`load_path`."""
        height, width = self.services.model.size()
        self.cancel_open()
        self.show_source(fit_picture(image, (width, height), name, display_side=0), mask)

    def show_source(self, opened: OpenedPicture, mask: np.ndarray | None = None) -> None:
        """Start painting on a picture fitted to the model."""
        (full_width, full_height), fitted, (width, height) = (
            opened.size,
            opened.fitted_pixels,
            opened.fitted.size,
        )
        self.opened, self.source_name = opened, opened.name
        self.view.canvas.set_source(fitted, mask=mask)
        self.view.source_label.setText(f"{opened.name} · {full_width}×{full_height} → {width}×{height}")
        self.view.compare.set_images(to_qimage(fitted), None)
        self.clear_results()
        self.view.progress.finish("Ready — paint, mask, then press Edit (Ctrl+Enter)", full=False)

    def refit_source(self) -> None:
        """Another model size: the picture is fitted again, its paint, mask and undo history kept."""
        original = self.original
        if original is None:
            return
        height, width = self.services.model.size()
        old_w, old_h = self.view.canvas.picture_size()
        fitted = np.asarray(fit_to_model(original, (width, height)), np.uint8)
        if old_w * height != old_h * width:  # another shape: strokes would land elsewhere, start over
            self.set_source(original, self.source_name)
            self.services.notifier.info("The model's picture shape changed: the picture was fitted again.")
            return
        self.view.canvas.refit(fitted)
        self.view.compare.set_images(to_qimage(fitted), None)
        self.clear_results()
        if (
            self.opened is not None
        ):  # the caption and the progress row speak of the new size, not the last run
            (full_width, full_height) = self.opened.size
            self.view.source_label.setText(
                f"{self.source_name} · {full_width}×{full_height} → {width}×{height}"
            )
        self.view.progress.finish("Ready — paint, mask, then press Edit (Ctrl+Enter)", full=False)
        self.services.notifier.info(
            f"The picture, its paint and mask were fitted to the model's {width}×{height}."
        )

    def load_mask_dialog(self) -> None:
        """Ask for a mask picture and use it."""
        path = dialogs.open_file(self.view, "Open a mask (white = regenerate)", dialogs.IMAGE_FILTER)
        if path is not None:
            self.load_mask(path)

    def load_mask(self, path: Path) -> bool:
        """Use a mask picture (resized to the picture with a note); False with a message when it cannot be."""
        if self.view.canvas.is_empty():
            self.services.notifier.info("Open a picture first, then its mask.")
            return False
        try:
            mask = self.fitted_mask(load_mask_image(path).image)
        except ImageLoadError as exc:
            self.services.notifier.error(exc.message)
            return False
        except ValueError as exc:
            self.services.notifier.error(str(exc))
            return False
        self.view.canvas.set_mask(mask)
        return True

    def fitted_mask(self, image: Image.Image) -> np.ndarray:
        """A mask picture as (H, W) uint8 at the canvas size; a resize is said in a note."""
        width, height = self.view.canvas.picture_size()
        tensor, note = fit_mask(image.convert("L"), (height, width))
        if note:
            self.services.notifier.info(note)
        return (tensor[0, 0].numpy() * 255).round().astype(np.uint8)

    def choose_color(self) -> None:
        """Pick the brush colour in a dialog."""
        color = QColorDialog.getColor(self.view.canvas.color, self.view, "Brush colour")
        if color.isValid():
            self.view.set_color(color)

    def _model_ready(self) -> None:
        self.view.steps.set_maximum(self.services.model.num_train_timesteps())
        self.view.sampler.set_rows(registry_rows())  # every sampler can edit; torch is loaded
        self.view.update_sampler_rules()
        self.update_cost()
        if self.original is not None and self.view.canvas.picture_size() != self.services.model.size()[::-1]:
            self.refit_source()

    # ---- running ------------------------------------------------------------------------------
    def make_job(self) -> EditJob:
        """The edit job of the current picture and controls (ValueError in words when it cannot run)."""
        v, canvas = self.view, self.view.canvas
        painted, mask_pixels = canvas.painted, canvas.mask_pixels()
        if painted is None:
            raise ValueError("Drop or open a picture to edit first.")
        mask = (
            None
            if mask_pixels is None
            else torch.from_numpy(mask_pixels.astype(np.float32) / 255.0)[None, None]
        )
        ddim = v.sampler.supports_eta()  # DPM-Solver++ takes neither η nor harmonize
        harmonize = v.harmonize.value() if mask is not None and ddim else 0
        settings = {"strength": v.strength_value(), "start": v.start.currentText(),
                    "eta": v.eta.value() if ddim else 0.0, "sampler": v.sampler.name()}  # fmt: skip
        check_edit(mask, harmonize=harmonize, **settings)  # type: ignore[arg-type]
        count = v.count.value()
        seeds = tuple(seeds_for(v.seed.for_run(), count))
        feather = v.feather.value() if mask is not None else 0
        return EditJob(_tensor(painted), seeds, mask=mask, steps=v.steps.value(), harmonize=harmonize,
                       batch_size=min(CHUNK, count), refine=self._refine(), spacing=self._spacing(),
                       feather=feather, **settings)  # type: ignore[arg-type]  # fmt: skip

    def _spacing(self) -> str:
        """The spacing that suits the chosen sampler (Edit has no spacing control of its own)."""
        return self.view.sampler.default_spacing() or "uniform"

    def _refine(self) -> int:
        """Refine K: for the invert start only (the noise start inverts nothing)."""
        return self.view.refine.value() if self.view.start.currentText() == "invert" else 0

    def edit(self) -> None:
        """Run the edit with the current picture and controls (or say why not)."""
        if self.opening():
            self.services.notifier.info("The picture is still opening; press Edit once it shows.")
            return
        if not self.services.model.is_loaded:
            self.services.model.run_when_ready(self.edit, "Edit")
            return
        job: EditJob | RestoreJob
        try:
            if self.view.task_panel.is_restore():
                job, painted, notes = restore_tool.make_restore_job(self)
            else:
                job, notes = self.make_job(), []
                painted = self.view.canvas.painted.copy()  # type: ignore[union-attr]
        except ValueError as exc:
            self.services.notifier.info(str(exc))
            self.view.progress.finish(str(exc), full=False)
            return
        for note in notes:
            self.services.notifier.info(note)
        self.cancel()
        self._serial += 1
        self._task = spawn(self._run(job, painted, self._serial), self.services.notifier)

    async def _run(self, job: EditJob | RestoreJob, painted: np.ndarray, serial: int) -> None:
        v = self.view
        v.results.set_count(len(job.seeds), [f"seed {s}" for s in job.seeds])
        v.compare.set_images(to_qimage(painted), None)
        v.progress.start(f"Editing {len(job.seeds)} picture{'s' if len(job.seeds) > 1 else ''}…")
        status, value = await guarded(self.tracker.run(job, group="edit"), self.services.notifier, "Editing")
        if serial != self._serial:
            return
        if status != "ok":
            v.progress.finish("Cancelled" if status == "cancelled" else f"Failed: {value}", full=False)
            return
        self.result, self.result_painted = value, painted
        pixels = tensor_to_uint8(value.images)
        v.results.set_images([to_qimage(p) for p in pixels], [f"seed {s}" for s in value.seeds])
        v.results.set_selected(0)
        self._show_result(0)
        v.summary.setText(
            restore_tool.summary(value)
            if isinstance(value, RestoreOutput)
            else f"strength {value.strength:g} · {value.start} start · {value.calls} model calls"
            f" · t₀ = {value.t_start}"
        )
        v.progress.finish(f"Done · {len(value.seeds)} result{'s' if len(value.seeds) > 1 else ''}")
        self.save_results(job)

    def clear_results(self) -> None:
        """Forget the last run's results, header and caption: they belong to the previous source."""
        self.result = self.result_painted = None
        self.view.results.clear()
        self.view.summary.setText(self._intro)
        self.view.compare_caption.setText("")

    def _show_result(self, index: int) -> None:
        if self.result is None or self.result_painted is None or not 0 <= index < len(self.result.seeds):
            return
        after = tensor_to_uint8(self.result.images[index : index + 1])[0]
        self.view.compare.set_images(to_qimage(self.result_painted), to_qimage(after))
        self.view.compare_caption.setText(f"seed {self.result.seeds[index]} · drag to compare")

    def _on_step(self, event: StepEvent) -> None:
        for k in range(event.preview.shape[0]):
            self.view.results.set_image(event.batch_offset + k, to_qimage(event.preview[k]))
        if event.batch_offset == 0 and event.preview.shape[0]:
            self.view.compare.after = to_qimage(event.preview[0])
            self.view.compare.update()
        done, total, text = step_progress(event)
        self.view.progress.step(done, total, text)

    def save_results(self, job: EditJob | RestoreJob) -> int:
        """Save the results in the gallery with the painted source and the mask beside each."""
        out, painted = self.result, self.result_painted
        if out is None or painted is None:
            return 0
        if isinstance(job, RestoreJob) and isinstance(out, RestoreOutput):
            return restore_tool.save_results(self, job, out)
        return edit_reuse.save_results(self, job, out, painted)  # type: ignore[arg-type]

    # ---- reuse --------------------------------------------------------------------------------
    def restore(self, item: SavedItem, params: dict[str, Any]) -> bool:
        """Reuse params on an edit: its painted source, mask and controls; False if the source is gone."""
        return edit_reuse.restore(self, item, params)

    def apply_params(self, params: dict[str, Any]) -> None:
        """Set the edit controls from saved parameters (missing ones stay as they are)."""
        edit_reuse.apply_params(self, params)

    # ---- the mode registry's protocol ---------------------------------------------------------
    def run(self) -> None:
        """Ctrl+Enter: edit."""
        self.edit()

    def save(self) -> None:
        """Ctrl+S: the results are saved when a run ends; say so."""
        if self.saved_items:
            self.services.notifier.info("These edits are already in the gallery.")
        else:
            self.services.notifier.info("Run an edit first; its results are saved to the gallery.")

    def cancel(self) -> bool:
        """Stop the running edit or extend step, or the picture being opened; True if one was."""
        return self.cancel_open() | self.tracker.cancel() | self.extend.cancel()

    def export_dialog(self, kind: str) -> None:
        """Edit has no export menu (its results are in the gallery)."""
