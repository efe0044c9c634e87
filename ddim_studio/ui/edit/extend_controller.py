"""Edit ▸ Extend's controller: one pan per arrow press, the growing panorama, gallery, export, Reuse params.

The first press starts a walk from the picture in Edit; each further press in the same direction
pans the walk's latest picture again (step r's seed: the Edit seed + r − 1) and the strip grows;
another direction starts a new walk from the latest picture. Each step's picture goes to the
gallery with its parameters (``kind`` ``extend``) and the walk's start picture beside it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from PySide6.QtCore import QObject

from ddim_studio.core.imaging import ImageLoadError, tensor_to_pil, tensor_to_uint8
from ddim_studio.core.store import SOURCE_SUFFIX, SavedItem, StoreError
from ddim_studio.operations.extend import ExtendOutput, extend_params, stitch
from ddim_studio.operations.files import atomic_write, beside, load_image, png_info
from ddim_studio.ui.context import Services
from ddim_studio.ui.dialogs import save_file
from ddim_studio.ui.edit.extend_panel import ExtendPanel
from ddim_studio.ui.qt_image import to_qimage
from ddim_studio.ui.tasks import JobTracker, guarded, spawn, step_progress
from ddim_studio.workers.jobs import ExtendJob, StepEvent


def _tensor(pixels: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 → (1, 3, H, W) in [−1, 1]."""
    return torch.from_numpy(np.array(pixels, np.uint8)).permute(2, 0, 1)[None].float() / 127.5 - 1.0


class ExtendController(QObject):
    """Wires the Extend panel to extend jobs, the strip, the gallery and PNG export.

    Args:
        panel: the Extend card.
        services: the window's services.
        picture: the Edit picture as (H, W, 3) uint8, or None when none is open.
        seed: the Edit seed.
    """

    def __init__(
        self,
        panel: ExtendPanel,
        services: Services,
        picture: Callable[[], np.ndarray | None],
        seed: Callable[[], int],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.panel, self.services, self.picture, self.seed = panel, services, picture, seed
        self.tracker = JobTracker(services.jobs, self)
        self.frames: list[torch.Tensor] = []
        self.direction = ""
        self.walk_seed = 0
        self.start: torch.Tensor | None = None  # set by Reuse params: the next walk starts there
        self._task: asyncio.Task[Any] | None = None
        panel.panRequested.connect(self.pan)
        panel.exportRequested.connect(self.export_dialog)
        panel.resetRequested.connect(self.reset)
        panel.cancelRequested.connect(self.cancel)
        self.tracker.step.connect(self._on_step)
        self.tracker.busyChanged.connect(panel.set_busy)
        services.model.ready.connect(lambda _info: self._fit_band())

    def _fit_band(self) -> None:
        height, width = self.services.model.size()
        self.panel.band.setMaximum(max(1, min(height, width) - 4))

    def reset(self) -> None:
        """Forget the walk; the next arrow starts from the Edit picture."""
        self.frames, self.direction, self.start = [], "", None
        self.panel.set_strip(None)

    def panorama(self) -> torch.Tensor | None:
        """The walk's stitched strip (1, 3, H, W'), or None before the first step."""
        if len(self.frames) < 2:
            return None
        return stitch(self.frames, self.direction, int(self.panel.band.value()))

    # ---- running ------------------------------------------------------------------------------
    def make_job(self, direction: str) -> ExtendJob | None:
        """The next pan in ``direction`` (a new walk when it changes), or None without a picture."""
        if self.frames and direction != self.direction:
            self.frames = [self.frames[-1]]
        if not self.frames:
            if self.start is not None:
                start = self.start
            else:
                pixels = self.picture()
                if pixels is None:
                    self.services.notifier.info(
                        "Open a picture in Edit first; Extend walks it past its frame."
                    )
                    return None
                start = _tensor(pixels)
            self.frames, self.walk_seed = [start], int(self.seed())
        self.direction = direction
        return ExtendJob(
            picture=self.frames[-1], direction=direction, by=int(self.panel.band.value()), times=1,
            seed=self.walk_seed + len(self.frames) - 1, steps=int(self.panel.steps.value()),
        )  # fmt: skip

    def pan(self, direction: str) -> None:
        """One step in ``direction``."""
        if not self.services.model.is_loaded:
            self.services.model.run_when_ready(lambda: self.pan(direction), "Extend")
            return
        if self.tracker.busy:
            return
        try:
            job = self.make_job(direction)
        except ValueError as exc:
            self.services.notifier.error(str(exc))
            return
        if job is not None:
            self._task = spawn(self._run(job), self.services.notifier)

    async def _run(self, job: ExtendJob) -> None:
        self.panel.progress.start(f"Extending {job.direction} by {job.by} px…")
        status, value = await guarded(
            self.tracker.run(job, group="extend"), self.services.notifier, "Extending"
        )
        if status != "ok":
            self.panel.progress.finish(
                "Cancelled" if status == "cancelled" else f"Failed: {value}", full=False
            )
            return
        self.frames.append(value.frames[-1])
        strip = self.panorama()
        assert strip is not None
        w, h = strip.shape[3], strip.shape[2]
        self.panel.set_strip(to_qimage(tensor_to_uint8(strip)[0]), f"{w}×{h}")
        self.panel.progress.finish(f"Step {len(self.frames) - 1} · panorama {w}×{h}")
        self.save_step(value)

    def _on_step(self, event: StepEvent) -> None:
        done, total, text = step_progress(event)
        self.panel.progress.step(done, total, text)

    def cancel(self) -> bool:
        """Stop the running pan; True if one was running."""
        return self.tracker.cancel()

    # ---- saving -------------------------------------------------------------------------------
    def save_step(self, out: ExtendOutput) -> SavedItem | None:
        """The latest step's picture to the gallery, the walk's start picture beside it."""
        step = len(self.frames) - 1
        params = extend_params(out, 1, info=self.services.model.info)
        params.update(step=step, times=step, seed=out.seed)
        start = tensor_to_pil(self.frames[0][0])
        stem = f"extend_{out.direction}_{step}_s{out.seed}"
        return self.services.library.save(  # type: ignore[no-any-return]
            tensor_to_pil(out.frames[-1][0]), params, stem=stem, extras=[(SOURCE_SUFFIX, start)]
        )

    def export_png(self, path: Path) -> Path | None:
        """Write the panorama to ``path`` (a free name next to it when taken); the path written."""
        strip = self.panorama()
        if strip is None:
            self.services.notifier.info("Extend the picture first; there is no panorama yet.")
            return None
        picture = tensor_to_pil(strip[0])
        info = png_info({"kind": "extend", "panorama": True, "direction": self.direction,
                         "by": int(self.panel.band.value()), "times": len(self.frames) - 1})  # fmt: skip

        def write(fh: BinaryIO) -> None:
            picture.save(fh, format="PNG", pnginfo=info)

        try:
            written = atomic_write(path, write)
        except StoreError as exc:
            self.services.notifier.error(exc.message)
            return None
        self.services.notifier.info(f"Saved the panorama as {written.name}.")
        return written

    def export_dialog(self) -> None:
        """Ask where, then export the panorama."""
        path = save_file(self.panel, "Export panorama", "PNG pictures (*.png)", "panorama.png")
        if path is not None:
            self.export_png(path if path.suffix.lower() == ".png" else path.with_suffix(".png"))

    # ---- Reuse params -------------------------------------------------------------------------
    def restore(self, item: SavedItem, params: dict[str, Any]) -> bool:
        """Reuse params on a step: its walk's start picture, band and steps; the next arrow starts there."""
        path = beside(item.png, SOURCE_SUFFIX)
        if path is None:
            self.services.notifier.error(
                f"{item.png.name} has lost its start picture ({item.png.stem}{SOURCE_SUFFIX}); "
                "its parameters alone cannot restore the walk."
            )
            return False
        try:
            image = load_image(path).image.convert("RGB")
        except ImageLoadError as exc:
            self.services.notifier.error(exc.message)
            return False
        self.reset()
        self.start = _tensor(np.asarray(image, np.uint8))
        if isinstance(params.get("by"), int):
            self.panel.band.setValue(int(params["by"]))
        if isinstance(params.get("steps"), int):
            self.panel.steps.setValue(int(params["steps"]))
        direction = params.get("direction")
        self.services.notifier.info(
            f"Restored the walk of {item.png.name}: press {direction or 'an arrow'} to walk it again."
        )
        return True
