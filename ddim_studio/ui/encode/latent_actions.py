"""Encode mode's actions on a known x_T: save it, keep the reconstruction, send it on, make variations.

A mixin of :class:`~ddim_studio.ui.encode.encode_controller.EncodeController`; it uses the
controller's state (``x_T``, ``params``, ``source_name``, ``fitted``, ``reconstruction``) and tracker.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from ddim_studio.core.imaging import tensor_to_pil, tensor_to_uint8
from ddim_studio.core.store import LATENT_SUFFIX, SavedItem, StoreError
from ddim_studio.operations.files import save_latent
from ddim_studio.operations.params import build_params
from ddim_studio.ui import dialogs
from ddim_studio.ui.qt_image import to_qimage
from ddim_studio.ui.slots import SlotContent
from ddim_studio.ui.tasks import guarded, spawn
from ddim_studio.workers.jobs import SampleJob

if TYPE_CHECKING:
    from ddim_studio.ui.encode.encode_controller import EncodeController


class LatentActions:
    """Mixin: what can be done with the x_T that Encode found or restored."""

    def save_latent_dialog(self: EncodeController) -> Path | None:
        """Ask where to save x_T and save it."""
        if self.x_T is None:
            return None
        stem = Path(self.source_name).stem or "latent"
        start = str(self.services.library.root / f"{stem}_xT.safetensors")
        path = dialogs.save_file(self.view, "Save latent", dialogs.LATENT_FILTER, start)
        return self.save_latent(path) if path is not None else None

    def save_latent(self: EncodeController, path: Path) -> Path | None:
        """Save x_T and its parameters to ``path`` (a taken name gets ``-1``…); None on failure."""
        if self.x_T is None:
            return None
        try:
            written = save_latent(path.with_suffix(LATENT_SUFFIX), self.x_T, self.params)
        except (StoreError, ValueError) as exc:
            self.services.notifier.error(getattr(exc, "message", str(exc)))
            return None
        self.services.notifier.info(f"Saved the latent to {written}.")
        return written

    def add_to_gallery(self: EncodeController) -> SavedItem | None:
        """Save the reconstruction with x_T beside it in the gallery."""
        if self.x_T is None or self.reconstruction is None:
            return None
        stem = f"{Path(self.source_name).stem or 'encoded'}_recon_S{self.params.get('steps', '')}"
        item = self.services.library.save(
            Image.fromarray(self.reconstruction), self.params, stem=stem, latent=self.x_T
        )
        if item is not None:
            self.services.notifier.info(f"Added {item.png.name} to the gallery.")
        return item

    def send(self: EncodeController, slot: str) -> None:
        """Hand x_T to Interpolate's slot ``slot``."""
        if self.x_T is None:
            return
        thumb = np.asarray(self.fitted) if self.fitted is not None else self.reconstruction
        content = SlotContent(
            "latent",
            Path(self.source_name).name or "encoded image",
            thumb,  # type: ignore[arg-type]
            latent=self.x_T.clone(),
            params=dict(self.params),
        )
        self.sendToInterpolate.emit(content, slot)

    def variations(self: EncodeController) -> None:
        """Sample ``count`` images from x_T with η > 0 (new seeds for the noise) and keep them."""
        if self.x_T is None:
            return
        count, eta = self.view.var_count.value(), round(self.view.var_eta.value(), 2)
        seeds = tuple(random.randrange(0, 2**31 - 1) for _ in range(count))
        job = SampleJob(
            seeds,
            steps=self.view.steps.value(),
            eta=eta,
            spacing=self.view.spacing.currentText(),
            batch_size=min(8, count),
            x_T=self.x_T.unsqueeze(0).repeat(count, 1, 1, 1),
        )
        self.view.variations.set_count(count, [f"η {eta:.2f} · #{i + 1}" for i in range(count)])
        self._serial += 1
        self._task = spawn(self._variations(job, self._serial), self.services.notifier)

    async def _variations(self: EncodeController, job: SampleJob, serial: int) -> None:
        self.view.progress.start(f"Sampling {len(job.seeds)} variations with η = {job.eta:.2f}…")
        self._streaming_variations = True
        try:
            status, value = await guarded(
                self.tracker.run(job, group="encode"), self.services.notifier, "Variations"
            )
        finally:
            self._streaming_variations = False
        if serial != self._serial:
            return  # a newer flow took over
        if status != "ok":
            self.view.progress.finish(
                "Cancelled" if status == "cancelled" else f"Failed: {value}", full=False
            )
            return
        pixels = tensor_to_uint8(value.images)
        self.view.variations.set_images([to_qimage(p) for p in pixels], self.view.variations.captions())
        for i, noise_seed in enumerate(job.seeds):
            params = build_params(
                "variation",
                info=self.services.model.info,
                steps=job.steps,
                spacing=job.spacing,
                sampler=job.sampler,
                timesteps=value.timesteps,
                eta=job.eta,
                clip_sample=job.clip_sample,
                source=self.source_name,
                noise_seed=noise_seed,
            )
            stem = f"{Path(self.source_name).stem or 'encoded'}_var_eta{job.eta:.2f}"
            self.services.library.save(
                tensor_to_pil(value.images[i]),
                params,
                stem=stem,  # type: ignore[arg-type]
                latent=self.x_T,
            )
        self.view.progress.finish(f"Done · {len(job.seeds)} variations saved to the gallery")
