"""Encode mode's controller: loads what was dropped, inverts it, shows the error, and passes x_T on."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from PySide6.QtCore import QObject, Signal

from ddim_studio.core.imaging import pil_to_tensor, tensor_to_uint8
from ddim_studio.core.latent_health import latent_health
from ddim_studio.core.latents import LatentLoadError
from ddim_studio.core.names import DEFAULT_SAMPLER
from ddim_studio.core.store import LATENT_SUFFIX, SavedItem
from ddim_studio.operations.cost import inversion_calls
from ddim_studio.operations.files import load_latent
from ddim_studio.operations.metrics import reconstruction_error
from ddim_studio.operations.params import build_params
from ddim_studio.operations.pictures import OpenedPicture
from ddim_studio.ui import dialogs
from ddim_studio.ui.context import Services
from ddim_studio.ui.encode.encode_view import EncodeView, format_mse
from ddim_studio.ui.encode.health_advice import refine_advice
from ddim_studio.ui.encode.latent_actions import LatentActions
from ddim_studio.ui.encode.restore import RestorePlan, plan_restore
from ddim_studio.ui.params import bad_fields_note, checked_params
from ddim_studio.ui.qt_image import to_qimage
from ddim_studio.ui.source_loading import PictureSource, refit_off_thread
from ddim_studio.ui.tasks import JobTracker, guarded, spawn, step_progress
from ddim_studio.ui.visuals import error_map, latent_image
from ddim_studio.ui.widgets.sampler_choice import SpacingFollower, registry_rows
from ddim_studio.workers.jobs import EncodeJob, EncodeResult, SampleJob, SampleResult, StepEvent

NO_ORIGINAL = "no original"  # a latent file: nothing to compare the decoded picture with


class EncodeController(LatentActions, PictureSource, QObject):
    """Wires the Encode view to image loading, encode/decode jobs, latents and the gallery.

    Signals:
        sendToInterpolate(object, str): a SlotContent for slot "A" or "B".
    """

    sendToInterpolate = Signal(object, str)  # noqa: N815
    loader_key = "encode"

    def __init__(
        self,
        view: EncodeView,
        services: Services,
        *,
        gallery_selection: Callable[[], SavedItem | None] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.gallery_selection = gallery_selection or (lambda: None)
        self.view = view
        self.services = services
        self.tracker = JobTracker(services.jobs, self)
        self.source_name = ""
        self._last_health: tuple[Any, int, Any] | None = None  # (picture and steps, refine, health)
        self.opened: OpenedPicture | None = None  # the picture opened (None: a latent file, or nothing)
        self.fitted: Image.Image | None = None
        self.x_T: torch.Tensor | None = None
        self.reconstruction: np.ndarray | None = None
        self.mse: float | None = None
        self.psnr: float | None = None
        self.params: dict[str, Any] = {}
        self._task: asyncio.Task[Any] | None = None
        self._streaming_variations = False
        self._serial = 0
        view.steps.set_value(services.settings.get("defaults/encode_steps"))
        self.spacing_follower = SpacingFollower(
            view.sampler, view.spacing, view.spacing_note, lambda: "uniform"
        )
        view.stepsChanged.connect(self.update_cost)
        self.update_cost()
        view.openRequested.connect(self.open_dialog)
        view.filesDropped.connect(self.load_paths)
        view.fromGalleryRequested.connect(lambda: self.load_item(self.gallery_selection()))
        view.encodeRequested.connect(self.encode)
        view.cancelRequested.connect(self.cancel)
        view.saveLatentRequested.connect(self.save_latent_dialog)
        view.addToGalleryRequested.connect(self.add_to_gallery)
        view.variationsRequested.connect(self.variations)
        view.sendRequested.connect(self.send)
        self.tracker.step.connect(self._on_step)
        services.model.ready.connect(lambda _info: self._model_ready())

    # ---- loading ------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        """Ask for an image or latent file and load it."""
        path = dialogs.open_file(
            self.view,
            "Open an image or latent",
            dialogs.IMAGE_OR_LATENT_FILTER,
        )
        if path is not None:
            self.load_path(path)

    def load_path(self, path: Path) -> bool:
        """Load an image (ready to encode) or a latent / studio PNG (restored); False on failure.

        A picture is decoded off the GUI thread: it shows (and a studio PNG is restored) when it
        arrives; True here means that it is being opened.
        """
        if path.suffix.lower() == LATENT_SUFFIX:
            self.cancel_open()
            return self._load_latent_file(path)
        self.open_source(path, lambda opened: self._opened(opened, path), with_params=True)
        return True

    def _opened(self, opened: OpenedPicture, path: Path) -> None:
        params: dict[str, Any] | None = None
        bad = list(opened.bad_fields)
        if opened.params is not None:
            params, bad = checked_params(opened.params, bad)
        for warning in opened.warnings:
            self.services.notifier.warning(f"{path.name}: {warning}")
        if bad:
            self.services.notifier.warning(bad_fields_note(bad, path.name))
        self._prepare(opened)
        plan = plan_restore(self.view, path, params, self.services.model)
        if plan.action == "restore":
            self._restore(plan)
        elif plan.action == "encode" and plan.note:
            self.services.notifier.info(plan.note)

    def encode_image(self, path: Path, *, steps: int | None = None) -> bool:
        """Load an image and invert it once it is decoded, ignoring any studio parameters it carries."""

        def opened(picture: OpenedPicture) -> None:
            self._prepare(picture)
            if steps is not None:
                self.view.steps.set_value(steps)
            self.encode()

        self.open_source(path, opened)
        return True

    def _load_latent_file(self, path: Path) -> bool:
        try:
            x_T, params = load_latent(path)
        except LatentLoadError as exc:
            self.services.notifier.error(exc.message)
            return False
        latent = x_T[0] if x_T.ndim == 4 else x_T
        if tuple(latent.shape) != tuple(
            self.services.model.info.sample_shape if self.services.model.info else ()
        ):
            self.services.notifier.error(
                f"{path.name} holds a latent of shape {tuple(latent.shape)}, but the model needs "
                f"{tuple(self.services.model.info.sample_shape) if self.services.model.info else '?'}."
            )
            return False
        self.opened, self.fitted, self.source_name = None, None, path.name
        self.view.source_canvas.set_image(to_qimage(latent_image(latent)))
        self.view.source_label.setText(f"{path.name} · latent {tuple(latent.shape)}")
        self.view.original.set_image(None, "no image: a latent file")
        self.view.encode_button.setEnabled(False)
        self._restore(RestorePlan("restore", latent=latent, params=params, source=path.name))
        return True

    def _prepare(self, opened: OpenedPicture) -> None:
        """Show the picture, the crop to the model's size and the fitted input; clear old results."""
        (full_width, full_height), box, (width, height) = opened.size, opened.box, opened.fitted.size
        self.opened, self.source_name, self.fitted = opened, opened.name, opened.fitted
        self.view.source_canvas.set_image(to_qimage(opened.display), crop=opened.display_box)
        crop = f"{box[2] - box[0]}×{box[3] - box[1]}"
        self.view.source_label.setText(
            f"{opened.name} · {full_width}×{full_height} → crop {crop} → {width}×{height}"
        )
        self.view.original.set_image(to_qimage(opened.fitted_pixels), f"{width}×{height} model input")
        self._clear_results()
        self.view.encode_button.setEnabled(True)
        self.view.progress.finish("Ready — press Encode (Ctrl+Enter)", full=False)

    def _clear_results(self) -> None:
        self.x_T, self.reconstruction, self.mse, self.psnr, self.params = None, None, None, None, {}
        self.view.latent.set_image(None, "")
        self.view.reconstruction.set_image(None, "")
        self.view.error.set_image(None, "")
        self.view.set_metrics(None, None)
        self.view.set_health(None)
        self.view.set_has_latent(False)
        self.view.variations.set_images([], None)  # they belonged to the previous x_T

    def update_cost(self) -> None:
        """Say how many model calls an Encode press makes with the current steps and refinement."""
        steps, refine = self.view.steps.value(), self.view.refine.value()
        calls = inversion_calls(steps, refine)
        # The inversion's calls (decoding back adds S more: the tooltip and the header say the total).
        self.view.refine_cost.setText(
            f"inversion: up to {calls} calls" if refine else f"inversion: {calls} calls"
        )
        self.view.refine_cost.setToolTip(
            f"Inverting with {steps} steps takes {steps} model calls without refinement"
            + (f" and up to {calls} with {refine} refinements a step" if refine else "")
            + f"; decoding back takes {steps} more."
        )

    def _model_ready(self) -> None:
        self.view.sampler.set_rows(registry_rows())
        if self.opened is not None and self.fitted is not None:
            height, width = self.services.model.size()
            if self.fitted.size != (width, height):  # fitted again off the GUI thread
                refit_off_thread(self.services, self.opened, self._prepare, key=self.loader_key)

    # ---- encoding -----------------------------------------------------------------------------
    def encode(self) -> None:
        """Invert the loaded picture to x_T and decode it back."""
        if self.opening():
            self.services.notifier.info("The picture is still opening; press Encode once it shows.")
            return
        if self.fitted is None:
            self.services.notifier.info("Drop or open an image first.")
            return
        if not self.services.model.is_loaded:
            self.services.model.run_when_ready(self.encode, "Encode")
            return
        job = EncodeJob(
            pil_to_tensor(self.fitted),
            steps=self.view.steps.value(),
            spacing=self.view.spacing.currentText(),
            sampler=self.view.sampler.name(),
            refine=self.view.refine.value(),
        )
        self.services.settings.set("defaults/encode_steps", job.steps)
        self.cancel()
        self._serial += 1
        self._task = spawn(self._encode(job, self._serial), self.services.notifier)

    async def _run_job(self, job: EncodeJob | SampleJob, start_text: str, action: str, serial: int) -> Any:
        """Run one job of this mode with progress; its result, or None when cancelled, failed or stale."""
        self._clear_results()
        self.view.progress.start(start_text)
        status, value = await guarded(self.tracker.run(job, group="encode"), self.services.notifier, action)
        if serial != self._serial:
            return None  # a newer flow took over
        if status != "ok":
            message = "Cancelled" if status == "cancelled" else f"Failed: {value}"
            self.view.progress.finish(message, full=False)
            return None
        return value

    async def _encode(self, job: EncodeJob, serial: int) -> None:
        value = await self._run_job(job, f"Encoding with S = {job.steps}…", "Encoding", serial)
        if value is None:
            return
        result: EncodeResult = value
        params = build_params(
            "encode",
            info=self.services.model.info,
            steps=job.steps,
            spacing=job.spacing,
            sampler=job.sampler,
            timesteps=result.timesteps,
            clip_sample=job.clip_sample,
            source=self.source_name,
            mse=result.mse[0],
            psnr=result.psnr[0],
            refine=job.refine,
        )
        calls = result.calls + len(result.timesteps)  # inversion, then the decode's S
        floor = ""
        if result.floor_psnr:  # a latent model: what its autoencoder alone gives back
            params["floor_psnr"] = result.floor_psnr[0]
            floor = f" · the autoencoder alone: PSNR {result.floor_psnr[0]:.2f} dB (no inversion can beat it)"
        self._show_result(
            result.x_T[0], tensor_to_uint8(result.reconstruction)[0], result.mse[0], result.psnr[0], params,
            note=f" · {calls} model calls{floor}",
        )  # fmt: skip
        if result.floor_psnr:
            alone = result.floor_psnr[0]
            self.view.psnr_label.setText(f"{result.psnr[0]:.2f} dB (autoencoder alone {alone:.2f} dB)")

    def _show_result(
        self,
        x_T: torch.Tensor,
        recon: np.ndarray,
        mse: float | None,
        psnr: float | None,
        params: dict[str, Any],
        note: str = "",
    ) -> None:
        self.x_T, self.reconstruction, self.mse, self.psnr, self.params = x_T, recon, mse, psnr, params
        self.view.latent.set_image(to_qimage(latent_image(x_T)), f"σ = {float(x_T.std()):.2f}")
        self.view.reconstruction.set_image(to_qimage(recon), f"S = {params.get('steps', '?')}")
        if self.fitted is not None:
            original = np.asarray(self.fitted)
            self.view.error.set_image(
                to_qimage(error_map(original, recon)),
                f"max |Δ| = {np.abs(original.astype(int) - recon.astype(int)).max() / 255:.3f}",
            )
        self.view.set_has_latent(True)
        self.show_health(x_T)
        if mse is None or psnr is None:
            self.view.set_metrics(None, None, NO_ORIGINAL)
            self.view.progress.finish(f"Done · decoded · {NO_ORIGINAL} to compare with")
            return
        self.view.set_metrics(mse, psnr)
        self.view.progress.finish(f"Done · MSE {format_mse(mse)} · PSNR {psnr:.2f} dB{note}")

    def show_health(self, x_T: torch.Tensor | None) -> None:
        """The latent health readout of ``x_T`` (cleared for None or a latent it cannot judge)."""
        try:
            health = None if x_T is None else latent_health(x_T)
            self.view.set_health(health, self._refine_advice(health))
        except ValueError as exc:  # not finite, or too small to judge
            self.view.set_health(None)
            self.view.health_verdict.setText(str(exc))

    def _refine_advice(self, health: Any) -> str:
        """What the numbers say about refining, against the same picture's last encode (``health_advice``)."""
        if health is None:
            return ""
        key = (self.source_name, self.params.get("steps"))
        refine = int(self.params.get("refine", 0) or 0)
        last = self._last_health if self._last_health and self._last_health[0] == key else None
        self._last_health = (key, refine, health)
        return refine_advice(health, refine, (last[1], last[2]) if last else None)

    def _restore(self, plan: RestorePlan) -> None:
        """Decode a known latent (a studio PNG's or a latent file's) instead of inverting."""
        params = dict(plan.params)
        self.spacing_follower.chosen()  # the picture's own spacing and sampler
        # files saved before samplers were recorded were made with DDIM, the default
        self.view.sampler.set_name(str(params.get("sampler", DEFAULT_SAMPLER)))
        sampler = self.view.sampler.name()
        steps = int(params.get("steps", self.view.steps.value()))
        self.view.steps.set_value(steps)
        spacing = str(params.get("spacing", self.view.spacing.currentText()))
        self.view.spacing.setCurrentIndex(max(0, self.view.spacing.findText(spacing)))
        eta = float(params.get("eta", 0.0)) if self.view.sampler.supports_eta() else 0.0
        seed = params.get("seed")
        seeds = (int(seed),) if isinstance(seed, int) and eta > 0 else ()
        if plan.latent is None:
            job = SampleJob(
                (int(seed),), steps=steps, eta=eta, spacing=spacing, batch_size=1, sampler=sampler
            )  # type: ignore[arg-type]
        else:
            job = SampleJob(
                seeds,
                steps=steps,
                eta=eta if seeds else 0.0,
                spacing=spacing,
                batch_size=1,
                x_T=plan.latent.unsqueeze(0),
                sampler=sampler,
            )
        self.cancel()
        self._serial += 1
        self._task = spawn(
            self._decode_restored(job, plan.source, params, self._serial), self.services.notifier
        )

    async def _decode_restored(
        self, job: SampleJob, source: str, params: dict[str, Any], serial: int
    ) -> None:
        text = f"Restoring {source}: decoding its x_T with S = {job.steps}…"
        value = await self._run_job(job, text, "Restoring", serial)
        if value is None:
            return
        result: SampleResult = value
        recon = tensor_to_uint8(result.images)[0]
        mse: float | None = None
        psnr: float | None = None  # a latent file has no original to compare with
        if self.fitted is not None:
            shown = pil_to_tensor(Image.fromarray(recon))  # as saved: compared with a saved picture
            mses, psnrs = reconstruction_error(pil_to_tensor(self.fitted), shown)
            mse, psnr = mses[0], psnrs[0]
        made = {k: v for k, v in params.items() if k not in ("kind", "created", "mse", "psnr")}
        params = made | build_params(
            "encode",
            info=self.services.model.info,
            steps=job.steps,
            spacing=job.spacing,
            sampler=job.sampler,
            timesteps=result.timesteps,
            eta=job.eta,
            clip_sample=job.clip_sample,
            source=source,
            mse=mse,
            psnr=psnr,
            restored=True,
        )
        self._show_result(result.x_T[0], recon, mse, psnr, params)
        self.services.notifier.info(f"Restored the latent and parameters of {source} (no inversion needed).")

    def run(self) -> None:
        """Ctrl+Enter (the mode registry's run): encode the loaded picture."""
        self.encode()

    def save(self) -> None:
        """Ctrl+S (the mode registry's save): keep the reconstruction in the gallery."""
        self.add_to_gallery()

    def cancel(self) -> bool:
        """Stop the running encode or decode, or the picture being opened; True if one was."""
        return self.cancel_open() | self.tracker.cancel()

    def _on_step(self, event: StepEvent) -> None:
        frames = event.preview_xt if event.phase == "encode" else event.preview
        if self._streaming_variations:
            for k in range(frames.shape[0]):
                self.view.variations.set_image(event.batch_offset + k, to_qimage(frames[k]))
        elif frames.shape[0]:
            panel = self.view.latent if event.phase == "encode" else self.view.reconstruction
            panel.set_image(to_qimage(frames[0]), f"step {event.index + 1} of {event.total}")
        done, total, text = step_progress(event)
        self.view.progress.step(done, total, text)
