"""Interpolate mode's controller: fills slots A and B, encodes image slots, decodes the path, exports it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from PySide6.QtCore import QObject
from PySide6.QtGui import QImage

from ddim_studio.core.imaging import ImageLoadError, fit_to_model, load_image, pil_to_tensor, tensor_to_uint8
from ddim_studio.core.latents import LatentLoadError, load_latent
from ddim_studio.core.noise import initial_noise
from ddim_studio.core.schedule import ScheduleError, make_timesteps
from ddim_studio.core.store import LATENT_SUFFIX, SavedItem, StoreError
from ddim_studio.operations import export
from ddim_studio.operations.interpolation import ENCODED, SAVED_LATENT, one_latent, saved_latent
from ddim_studio.operations.params import build_params
from ddim_studio.ui import dialogs
from ddim_studio.ui.context import Services
from ddim_studio.ui.interpolate.interpolate_view import InterpolateView
from ddim_studio.ui.interpolate.slot_widget import NO_SEED
from ddim_studio.ui.qt_image import qimage_to_array, to_qimage
from ddim_studio.ui.slots import SlotContent
from ddim_studio.ui.tasks import JobTracker, guarded, spawn, step_progress
from ddim_studio.ui.visuals import latent_image
from ddim_studio.ui.widgets.sampler_choice import SpacingFollower, registry_rows
from ddim_studio.workers.jobs import EncodeJob, InterpolateJob, InterpolateResult, StepEvent

SLOTS = ("A", "B")


class InterpolateController(QObject):
    """Wires the Interpolate view to slot sources, encode and interpolate jobs, exports and the gallery."""

    def __init__(
        self,
        view: InterpolateView,
        services: Services,
        *,
        gallery_selection: Callable[[], SavedItem | None] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.view = view
        self.services = services
        self.tracker = JobTracker(services.jobs, self)
        self.slots: dict[str, SlotContent | None] = {"A": None, "B": None}
        self.result: InterpolateResult | None = None
        self.frames: list[np.ndarray] = []
        self.run_params: dict[str, Any] = {}
        self.gallery_selection = gallery_selection or (lambda: None)
        self._encoding_slot = ""
        self._task: asyncio.Task[Any] | None = None
        view.frames.setValue(services.settings.get("defaults/frames"))
        view.steps.set_value(services.settings.get("defaults/steps"))
        view.runRequested.connect(self.run)
        view.cancelRequested.connect(self.cancel)
        view.scrubbed.connect(self.scrub)
        view.exportGifRequested.connect(lambda: self.export_dialog("gif"))
        view.exportStripRequested.connect(lambda: self.export_dialog("strip"))
        view.exportFramesRequested.connect(lambda: self.export_dialog("frames"))
        view.addFrameRequested.connect(self.add_frame_to_gallery)
        view.swapRequested.connect(self.swap)
        for name in SLOTS:
            widget = view.slot(name)
            widget.filesDropped.connect(
                lambda paths, n=name: self.fill_from_drop(n, [Path(p) for p in paths])
            )
            widget.openImageRequested.connect(lambda n=name: self._open_dialog(n, dialogs.IMAGE_FILTER))
            widget.openLatentRequested.connect(lambda n=name: self._open_dialog(n, dialogs.LATENT_FILTER))
            widget.seedChosen.connect(lambda seed, n=name: self.fill_from_seed(n, seed))
            widget.galleryRequested.connect(lambda n=name: self._fill_from_gallery_selection(n))
        view.steps.valueChanged.connect(lambda _steps: self.refresh_slots())
        view.spacing.currentTextChanged.connect(lambda _spacing: self.refresh_slots())
        self.tracker.step.connect(self._on_step)
        self.spacing_follower = SpacingFollower(
            view.sampler, view.spacing, view.spacing_note, lambda: "uniform"
        )
        services.model.ready.connect(lambda _info: view.sampler.set_rows(registry_rows()))
        services.model.ready.connect(lambda _info: self.model_changed())

    # ---- filling slots ------------------------------------------------------------------------
    def set_slot(self, name: str, content: SlotContent | None) -> None:
        """Put ``content`` into slot ``name`` and show it."""
        self.slots[name] = content
        if content is None:
            self.view.slot(name).show_content(None, "empty")
            return
        content.model = content.model or self.model_name()
        seed = content.params.get("seed")
        shown = seed if content.kind == "seed" and isinstance(seed, int) else NO_SEED
        self.view.slot(name).seed.setValue(shown)  # a seed only when the slot is drawn from it
        self.view.slot(name).show_content(to_qimage(content.thumb), content.label, self._state(content))

    def _state(self, content: SlotContent) -> str:
        """What Run does with a slot, in words ("saved latent", "encoded on Run"…)."""
        if content.image is None:
            return ""
        if content.fits(self.timesteps(), self.model_name()):
            return content.how
        return "encoded on Run"

    def timesteps(self) -> list[int]:
        """The timesteps the current steps and spacing visit ([] when they are not possible)."""
        try:
            return make_timesteps(
                self.view.steps.value(),
                self.services.model.num_train_timesteps(),
                self.view.spacing.currentText(),
                self.services.model.steps_offset(),
            )
        except ScheduleError:
            return []

    def model_name(self) -> str:
        """The loaded model's name ("" before one is loaded)."""
        info = self.services.model.info
        return info.name if info is not None else ""

    def model_changed(self) -> None:
        """Fill the slots again for a newly loaded model: seeds are redrawn, files re-read (pictures are
        encoded on Run); a latent handed over from Encode cannot be redone and is cleared, saying so."""
        current = self.model_name()
        for name in SLOTS:
            content = self.slots[name]
            if content is None or content.model == current:
                continue
            seed = content.params.get("seed")
            if content.kind == "seed" and isinstance(seed, int):
                self.fill_from_seed(name, seed)
                continue
            path = content.path
            if path is not None and path.is_file() and self.fill_from_path(name, path):
                continue
            self.set_slot(name, None)
            self.view.slot(name).show_content(None, "empty", "its latent was for another model")
            self.services.notifier.info(
                f"Slot {name} was emptied: its latent was made for another model. Fill it again."
            )

    def refresh_slots(self) -> None:
        """Redraw the slots' words (after the steps or spacing changed)."""
        for name in SLOTS:
            content = self.slots[name]
            if content is not None:
                self.set_slot(name, content)

    def fill_from_seed(self, name: str, seed: int) -> bool:
        """Slot ``name`` ← x_T drawn from ``seed`` (as Generate draws it)."""
        shape = tuple(self.services.model.info.sample_shape) if self.services.model.info else None
        if shape is None:
            self.services.notifier.warning("The model is still loading; pick a seed once it is ready.")
            return False
        x_T, _noise = initial_noise([int(seed)], shape)
        latent = x_T[0]
        self.set_slot(
            name,
            SlotContent(
                "seed", f"seed {seed}", latent_image(latent), latent=latent, params={"seed": int(seed)}
            ),
        )
        return True

    def fill_from_path(self, name: str, path: Path) -> bool:
        """Slot ``name`` ← a latent file, or a picture: a studio picture keeps its saved x_T, used when it
        reproduces the picture with Run's settings (η = 0, same timesteps); otherwise Run encodes it."""
        if path.suffix.lower() == LATENT_SUFFIX:
            return self._fill_from_latent(name, path)
        try:
            loaded = load_image(path)
        except ImageLoadError as exc:
            self.services.notifier.error(exc.message)
            return False
        height, width = self.services.model.size()
        fitted = fit_to_model(loaded.image, (width, height))
        content = SlotContent(
            "image",
            path.name,
            np.asarray(fitted),
            image=pil_to_tensor(fitted)[0],
            params={"source": path.name},
            how=ENCODED,
            path=path,
        )
        info = self.services.model.info
        own = saved_latent(path, tuple(info.sample_shape)) if info is not None else None
        if own is not None:
            content.latent, content.params, content.how = own[0], own[1], SAVED_LATENT
            if own[1].get("kind") == "sample" and "seed" in own[1]:
                content.label = f"seed {own[1]['seed']} · {path.name}"
        self.set_slot(name, content)
        return True

    def fill_from_drop(self, name: str, paths: list[Path]) -> bool:
        """Files dropped on slot ``name``: the first fills it, a second fills the other slot."""
        if not paths:
            return False
        filled = self.fill_from_path(name, paths[0])
        if len(paths) > 1:
            other = "B" if name == "A" else "A"
            filled = self.fill_from_path(other, paths[1]) and filled
            if len(paths) > 2:
                self.services.notifier.info(f"Used the first two of the {len(paths)} files dropped.")
        return filled

    def fill_from_item(self, item: SavedItem | None, name: str) -> bool:
        """Slot ``name`` ← a gallery item (its latent when it has one)."""
        if item is None:
            self.services.notifier.info("Select a picture in the gallery first.")
            return False
        return self.fill_from_path(name, item.png)

    def _fill_from_gallery_selection(self, name: str) -> None:
        self.fill_from_item(self.gallery_selection(), name)

    def _fill_from_latent(self, name: str, path: Path, thumb: Path | None = None) -> bool:
        try:
            x_T, params = load_latent(path)
        except LatentLoadError as exc:
            self.services.notifier.error(exc.message)
            return False
        try:
            latent = one_latent(x_T, path.name, hint="choose a file that holds one.")
        except ValueError as exc:
            self.services.notifier.error(str(exc))
            return False
        shape = (
            tuple(self.services.model.info.sample_shape) if self.services.model.info else tuple(latent.shape)
        )
        if tuple(latent.shape) != shape:
            self.services.notifier.error(
                f"{path.name}: its latent has shape {tuple(latent.shape)}, but the model needs {shape}."
            )
            return False
        picture = QImage(str(thumb)) if thumb is not None else QImage()
        pixels = qimage_to_array(picture) if not picture.isNull() else latent_image(latent)
        label = (thumb or path).name
        if params.get("kind") == "sample" and "seed" in params:
            label = f"seed {params['seed']} · {label}"
        self.set_slot(name, SlotContent("latent", label, pixels, latent=latent, params=params, path=path))
        return True

    def _open_dialog(self, name: str, file_filter: str) -> None:
        path = dialogs.open_file(self.view, f"Fill slot {name}", file_filter)
        if path is not None:
            self.fill_from_path(name, path)

    def swap(self) -> None:
        """Exchange slots A and B."""
        a, b = self.slots["A"], self.slots["B"]
        self.set_slot("A", b)
        self.set_slot("B", a)

    # ---- running ------------------------------------------------------------------------------
    def run(self) -> None:
        """Encode image slots, then decode the whole path into the filmstrip."""
        missing = [n for n in SLOTS if self.slots[n] is None]
        if missing:
            self.services.notifier.info(
                f"Fill slot {' and '.join(missing)} first (drop an image, a latent, "
                "a gallery item or pick a seed)."
            )
            return
        if not self.services.model.is_loaded:
            self.services.model.run_when_ready(self.run, "Interpolate")
            return
        self.cancel()
        self._task = spawn(self._run(), self.services.notifier)

    async def _run(self) -> None:
        v = self.view
        steps, spacing = v.steps.value(), v.spacing.currentText()
        for name in SLOTS:
            if not await self._ensure_latent(name, steps, spacing):
                return
        a, b = self.slots["A"], self.slots["B"]
        assert a is not None and b is not None and a.latent is not None and b.latent is not None
        count, method = v.frames.value(), v.method.currentText()
        timesteps = self.timesteps()
        self.services.settings.set("defaults/frames", count)
        job = InterpolateJob(
            a.latent, b.latent, frames=count, method=method, steps=steps, spacing=spacing,
            batch_size=max(1, int(self.services.settings.get("defaults/interpolate_batch"))),
            sampler=v.sampler.name(),
        )  # fmt: skip
        v.film.set_images([], None)  # no frame of an earlier run (or model) stays beside the new ones
        v.film.set_count(count, [f"λ {i / (count - 1):.2f}" for i in range(count)])
        v.fit_film()
        v.set_has_frames(False)
        v.large.set_image(None)
        v.large.set_placeholder(f"Decoding {count} frames…")
        v.progress.start(f"Decoding {count} frames ({method})…")
        status, value = await guarded(
            self.tracker.run(job, group="interpolate"), self.services.notifier, "Interpolating"
        )
        if status != "ok":
            v.progress.finish("Cancelled" if status == "cancelled" else f"Failed: {value}", full=False)
            v.large.set_placeholder(f"The run was {'cancelled' if status == 'cancelled' else 'stopped'}.")
            return
        self.run_params = build_params(
            "interpolate",
            info=self.services.model.info,
            steps=steps,
            spacing=spacing,
            sampler=job.sampler,
            timesteps=timesteps,
            frames=count,
            method=method,
            a=a.label,
            b=b.label,
        )
        self._show_result(value)

    async def _ensure_latent(self, name: str, steps: int, spacing: str) -> bool:
        """Encode slot ``name`` if it holds an image; False when that failed or was cancelled."""
        content = self.slots[name]
        if content is None or content.image is None:
            return content is not None and content.ready
        refine = self.view.refine.value()
        same_refine = content.how != ENCODED or content.params.get("refine", 0) == refine
        if content.fits(self.timesteps(), self.model_name()) and same_refine:
            return True
        self._encoding_slot = name
        self.view.progress.start(f"Encoding slot {name} ({content.label})…")
        self.view.large.set_image(None)  # the viewer says what happens, not "Fill slots A and B"
        self.view.large.set_placeholder(f"Encoding slot {name} ({content.label})…")
        job = EncodeJob(content.image.unsqueeze(0), steps=steps, spacing=spacing, decode=False, refine=refine)
        try:
            status, value = await guarded(
                self.tracker.run(job, group="interpolate"), self.services.notifier, f"Encoding slot {name}"
            )
        finally:
            self._encoding_slot = ""
        if status != "ok":
            self.view.progress.finish(
                "Cancelled" if status == "cancelled" else f"Failed: {value}", full=False
            )
            self.view.large.set_placeholder(f"Slot {name} was not encoded; press Run to try again.")
            self.set_slot(name, content)
            return False
        content.latent, content.kind, content.how = value.x_T[0], "latent", ENCODED
        content.params = {
            "source": content.label, "steps": steps, "spacing": spacing, "timesteps": list(value.timesteps),
            "eta": 0.0, "refine": refine,
        }  # fmt: skip
        self.set_slot(name, content)
        return True

    def _show_result(self, result: InterpolateResult) -> None:
        self.result = result
        self.frames = list(tensor_to_uint8(result.images))
        self.view.film.set_images([to_qimage(f) for f in self.frames], self.view.film.captions())
        self.view.set_has_frames(True)
        self.view.scrubber.setRange(0, len(self.frames) - 1)
        self.view.scrubber.setValue(0)
        self.scrub(0)
        self.view.progress.finish(f"Done · {len(self.frames)} frames · {result.method}")

    def cancel(self) -> bool:
        """Stop encoding or decoding; True if something was running."""
        return self.tracker.cancel()

    def _on_step(self, event: StepEvent) -> None:
        if event.phase == "encode" and self._encoding_slot and event.preview_xt.shape[0]:
            self.view.slot(self._encoding_slot).canvas.set_image(to_qimage(event.preview_xt[0]))
        elif event.phase != "encode":
            for k in range(event.preview.shape[0]):
                self.view.film.set_image(event.batch_offset + k, to_qimage(event.preview[k]))
            if event.preview.shape[0]:
                self.view.large.set_image(to_qimage(event.preview[0]))
        done, total, text = step_progress(event)
        self.view.progress.step(done, total, text)

    def scrub(self, index: int) -> None:
        """Show frame ``index`` large."""
        if not self.frames:
            return
        index = max(0, min(index, len(self.frames) - 1))
        self.view.large.set_image(to_qimage(self.frames[index]))
        self.view.film.set_selected(index)
        lam = index / max(1, len(self.frames) - 1)
        self.view.scrub_label.setText(f"frame {index + 1} of {len(self.frames)} · λ = {lam:.3f}")

    # ---- output -------------------------------------------------------------------------------
    def add_frame_to_gallery(self, index: int | None = None) -> SavedItem | None:
        """Save frame ``index`` (default: the one shown) with its latent in the gallery."""
        if self.result is None or not self.frames:
            return None
        index = self.view.scrubber.value() if index is None else index
        params = {**self.run_params, "frame": index, "lambda": index / max(1, len(self.frames) - 1)}
        image = Image.fromarray(self.frames[index])
        latent = self.result.latents[index].to(torch.float32)
        stem = f"interp_{self.run_params.get('method', 'slerp')}_{index + 1:02d}of{len(self.frames)}"
        return self.services.library.save(image, params, stem=stem, latent=latent)

    def export(self, kind: str, path: Path) -> Path | list[Path] | None:
        """Export as ``gif``, ``strip`` or ``frames`` (``path`` is a folder for frames); None on failure."""
        if not self.frames:
            self.services.notifier.info("Run an interpolation first.")
            return None
        try:
            if kind == "gif":
                written: Path | list[Path] = export.export_gif(path, self.frames)
            elif kind == "strip":
                written = export.export_strip(path, self.frames, self.run_params)
            else:
                written = export.export_frames(path, self.frames, self.run_params)
        except (StoreError, OSError, ValueError) as exc:
            self.services.notifier.error(f"The export failed: {getattr(exc, 'message', None) or exc}")
            return None
        where = written[0].parent if isinstance(written, list) else written
        self.services.notifier.info(f"Exported to {where}.")
        return written

    def save(self) -> None:
        """Ctrl+S (the mode registry's save): keep the shown frame in the gallery."""
        item = self.add_frame_to_gallery()
        if item is not None:
            self.services.notifier.info(f"Added {item.png.name} to the gallery.")

    def export_dialog(self, kind: str) -> None:
        """Ask where, then export the frames as ``gif``, ``strip`` or ``frames``."""
        root = self.services.library.root
        if kind == "frames":
            path = dialogs.choose_folder(self.view, "Export frames into folder", str(root))
        else:
            suffix = ".gif" if kind == "gif" else ".png"
            file_filter = "GIF animation (*.gif)" if kind == "gif" else "PNG image (*.png)"
            path = dialogs.save_file(
                self.view, "Export interpolation", file_filter, str(root / f"interpolation{suffix}")
            )
        if path is not None:
            self.export(kind, path)
