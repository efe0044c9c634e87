"""The paper's comparisons for one seed: same x_T at S = 10 … 1000 (consistency), an η sweep, and
DDIM beside DPM-Solver++ at S = 5, 10, 20, 50 (samplers)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject

from ddim_studio.core.imaging import tensor_to_uint8
from ddim_studio.ui.qt_image import to_qimage
from ddim_studio.ui.tasks import JobTracker, guarded, spawn, step_progress
from ddim_studio.ui.widgets.controls import STEP_PRESETS
from ddim_studio.ui.widgets.sampler_choice import registry_rows, short_label
from ddim_studio.workers.jobs import SampleJob, StepEvent

if TYPE_CHECKING:
    from ddim_studio.ui.context import Services
    from ddim_studio.ui.generate.generate_controller import GenerateController
    from ddim_studio.ui.generate.generate_view import GenerateView

SWEEP_ETAS = (0.0, 0.2, 0.5, 1.0)
SAMPLER_STEPS = (5, 10, 20, 50)


def eta_caption(eta: float) -> str:
    """``η = 0 (DDIM)``, ``η = 0.5``, ``η = 1 (DDPM)``."""
    name = " (DDIM)" if eta == 0 else " (DDPM)" if eta == 1 else ""
    return f"η = {eta:g}{name}"


class PaperViews(QObject):
    """Runs the consistency strip and the η sweep for the selected seed into the view's paper strip."""

    def __init__(self, view: GenerateView, services: Services, owner: GenerateController) -> None:
        super().__init__(owner)
        self.view = view
        self.services = services
        self.owner = owner
        self.tracker = JobTracker(services.jobs, self)
        self.kind = ""
        self.seed: int | None = None
        self._cell = 0
        self._label = ""
        self._title = ""  # what the strip shows
        self._model: tuple[str, str] | None = None  # (source, name) of the model that made the strip
        self._task: asyncio.Task[Any] | None = None
        view.consistencyRequested.connect(self.consistency)
        view.etaSweepRequested.connect(self.eta_sweep)
        view.samplersRequested.connect(self.samplers)
        self.tracker.step.connect(self._on_step)

    def update_title(self) -> None:
        """Say which seed the paper views will use."""
        if self.tracker.busy:
            return
        selected = self.owner.selected_seed()
        info = self.services.model.info
        if self._model is not None and info is not None and self._model[0] != info.source:
            self.view.paper_title.setText(f"made with {self._model[1]} · {self._title}")  # another model now
        elif self.seed is None or self.seed == selected:
            self.view.paper_title.setText(self._title or f"for seed {selected}")
        else:  # the strip still shows another seed's comparison
            self.view.paper_title.setText(f"showing seed {self.seed} · the buttons use seed {selected}")

    def consistency(self) -> None:
        """Decode the selected seed's x_T with η = 0 at S = 10, 20, 50, 100, 1000 (those ≤ T)."""
        p = self.view.params()
        seed = self.owner.selected_seed()
        limit = self.services.model.num_train_timesteps()
        runs = [
            (
                f"S = {steps}",
                SampleJob(
                    (seed,), steps=steps, eta=0.0, spacing=p.spacing, batch_size=1, clip_sample=p.clip_sample
                ),
            )
            for steps in STEP_PRESETS
            if steps <= limit
        ]
        self._start("consistency", seed, runs, f"seed {seed} · η = 0, same x_T")

    def eta_sweep(self) -> None:
        """Sample the selected seed at η = 0, 0.2, 0.5 and 1 with the current steps."""
        p = self.view.params()
        seed = self.owner.selected_seed()
        runs = [
            (
                eta_caption(eta),
                SampleJob(
                    (seed,),
                    steps=p.steps,
                    eta=eta,
                    spacing=p.spacing,
                    batch_size=1,
                    clip_sample=p.clip_sample,
                ),
            )
            for eta in SWEEP_ETAS
        ]
        self._start("eta", seed, runs, f"seed {seed} · S = {p.steps}")

    def samplers(self) -> None:
        """Decode the selected seed's x_T with every registered sampler at S = 5, 10, 20, 50 (η = 0).

        One row per sampler, in registry order. Each runs with the spacing that suits it (its
        registry default: uniform for DDIM, trailing for DPM-Solver++), so the strip shows each at
        its best and how fast each settles.
        """
        p = self.view.params()
        seed = self.owner.selected_seed()
        limit = self.services.model.num_train_timesteps()
        rows = registry_rows()
        runs = []
        for row in rows:
            for steps in (s for s in SAMPLER_STEPS if s <= limit):
                job = SampleJob(
                    (seed,), steps=steps, eta=0.0, spacing=row.default_spacing, batch_size=1,
                    clip_sample=p.clip_sample, sampler=row.name,
                )  # fmt: skip
                runs.append((f"{row.caption or short_label(row.label)} {steps}", job))
        spacings = ", ".join(f"{row.caption or short_label(row.label)} {row.default_spacing}" for row in rows)
        order = ", ".join(short_label(row.label) for row in rows)
        title = f"S = 5, 10, 20, 50 · rows: {order} · seed {seed}"
        self._start("samplers", seed, runs, title)
        self.view.paper_title.setToolTip(
            f"Seed {seed}, η = 0: the same x_T decoded at S = 5, 10, 20 and 50 with each sampler "
            f"(spacing: {spacings}). They reach the same picture; the higher-order ones in fewer steps."
        )

    def cancel(self) -> bool:
        """Stop a running comparison; True if one was running."""
        running = self._task is not None and not self._task.done()
        if running:
            self._task.cancel()  # type: ignore[union-attr]
        return running

    def _start(self, kind: str, seed: int, runs: list[tuple[str, SampleJob]], title: str) -> None:
        if not self.services.model.is_loaded:
            self.services.notifier.warning("The model is still loading; try again once it is ready.")
            return
        self.cancel()
        self.kind, self.seed = kind, seed
        info = self.services.model.info
        self._model = (info.source, info.name) if info is not None else None
        self.view.paper_strip.set_images([], None)
        self.view.paper_strip.set_count(len(runs), [label for label, _job in runs])
        self.view.paper_title.setText(title)
        self._title = title
        self._task = spawn(self._run(runs), self.services.notifier)

    async def _run(self, runs: list[tuple[str, SampleJob]]) -> None:
        progress = self.view.progress
        for index, (label, job) in enumerate(runs):
            self._cell, self._label = index, f"{label} ({index + 1} of {len(runs)})"
            progress.start(f"Paper view · {self._label}…")
            try:
                status, value = await guarded(
                    self.tracker.run(job, group="paper"), self.services.notifier, "The paper view"
                )
            except asyncio.CancelledError:
                progress.finish("Paper view cancelled", full=False)
                raise
            if status != "ok":
                progress.finish(
                    "Paper view cancelled" if status == "cancelled" else f"Failed: {value}", full=False
                )
                return
            pixels = tensor_to_uint8(value.images)
            self.view.paper_strip.set_image(index, to_qimage(pixels[0]))
        progress.finish(f"Paper view done · {len(runs)} runs")

    def _on_step(self, event: StepEvent) -> None:
        if event.preview.shape[0]:
            self.view.paper_strip.set_image(self._cell, to_qimage(event.preview[0]))
        done, total, text = step_progress(event)
        self.view.progress.step(done, total, f"{self._label} · {text}")
