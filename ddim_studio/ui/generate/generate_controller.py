"""Generate mode's controller: turns the controls into sample jobs, streams previews, saves results."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import torch
from PySide6.QtCore import QObject, QTimer

from ddim_studio.core.imaging import tensor_to_pil, tensor_to_uint8
from ddim_studio.core.models.protocol import ModelInfo
from ddim_studio.core.names import DEFAULT_SAMPLER
from ddim_studio.core.noise import seeds_for
from ddim_studio.core.schedule import ScheduleError, make_timesteps
from ddim_studio.operations.params import build_params
from ddim_studio.ui.context import Services
from ddim_studio.ui.generate.generate_view import MAX_SEED, GenerateParams, GenerateView
from ddim_studio.ui.generate.guide_controller import GuideController
from ddim_studio.ui.generate.paper_views import PaperViews
from ddim_studio.ui.qt_image import to_qimage
from ddim_studio.ui.tasks import JobTracker, guarded, spawn, step_progress
from ddim_studio.ui.widgets.sampler_choice import SpacingFollower, registry_rows
from ddim_studio.workers.jobs import SampleJob, SampleResult, StepEvent

AUTO_RUN_DELAY_MS = 300
CHUNK = 8


def run_summary(count: int, steps: int, params: GenerateParams) -> str:
    """The header's words for a run: ``4 × S = 50 · DDIM · uniform``."""
    eta_name = "DDIM" if params.eta == 0 else "DDPM" if params.eta == 1 else f"η {params.eta:.2f}"
    if params.sampler != DEFAULT_SAMPLER:  # another sampler: its name (η applies to DDIM only)
        labels = {row.name: row.label for row in registry_rows()}
        eta_name = labels.get(params.sampler, params.sampler)
    return f"{count} × S = {steps} · {eta_name} · {params.spacing}"


class GenerateController(QObject):
    """Wires the Generate view to the runner (sample jobs) and the library (saving)."""

    def __init__(self, view: GenerateView, services: Services, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.view = view
        self.services = services
        self.tracker = JobTracker(services.jobs, self)
        self.paper = PaperViews(view, services, self)
        self.guide = GuideController(view.guide, services, view.params, parent=self)
        self.result: SampleResult | None = None
        self.grid_seeds: list[int] = []  # the seeds the preview grid shows (a cancelled run's too)
        self.result_params: GenerateParams | None = None
        self.result_info: ModelInfo | None = None  # the model that made the result (kept if another opens)
        self.saved = True
        self._serial = 0
        self._task: asyncio.Task[Any] | None = None
        self._show_xt = False
        self._auto_timer = QTimer(self)
        self._auto_timer.setSingleShot(True)
        self._auto_timer.setInterval(AUTO_RUN_DELAY_MS)
        self._auto_timer.timeout.connect(lambda: self.generate(auto=True))
        self._load_defaults()
        self.spacing_follower = SpacingFollower(
            view.sampler,
            view.spacing,
            view.spacing_note,
            lambda: str(services.settings.get("defaults/spacing")),
        )
        self._connect()
        self.update_timesteps()

    def _load_defaults(self) -> None:
        s = self.services.settings
        self.view.set_params(
            GenerateParams(
                seed=int(s.value("generate/seed", 0)),
                batch=s.get("defaults/batch"),
                steps=s.get("defaults/steps"),
                eta=s.get("defaults/eta"),
                spacing=s.get("defaults/spacing"),
                clip_sample=False,
            )
        )
        self.view.lock.setChecked(bool(s.value("generate/locked", False)))

    def _connect(self) -> None:
        v = self.view
        v.generateRequested.connect(lambda: self.generate())
        v.cancelRequested.connect(self.cancel)
        v.paramsChanged.connect(self._params_changed)
        v.diceRequested.connect(self.roll_seed)
        v.seedEdited.connect(lambda _seed: v.lock.setChecked(True))
        v.scrubbed.connect(self.scrub)
        v.showXtToggled.connect(self._set_show_xt)
        v.saveRequested.connect(self.save_results)
        v.grid.clicked.connect(lambda _i: self.paper.update_title())
        self.tracker.step.connect(self._on_step)
        self.tracker.busyChanged.connect(v.set_busy)
        self.services.model.ready.connect(lambda _info: self.on_model_ready())

    # ---- controls -----------------------------------------------------------------------------
    def on_model_ready(self) -> None:
        """Fit the steps range to the model's T, list the samplers, refresh the timestep list."""
        self.view.set_sampler_choices(registry_rows())  # torch is loaded by now
        self.view.steps.set_maximum(self.services.model.num_train_timesteps())
        info = self.services.model.info
        vq = info is not None and info.space == "latent" and info.autoencoder == "vq"
        self.view.codebook.setVisible(vq)  # a VQ latent model: decode through the codebook or not
        self.update_timesteps()
        self._name_result_model(info)
        self.paper.update_title()  # a strip made by the previous model says so

    def _name_result_model(self, info: ModelInfo | None) -> None:
        """After another model opened, the summary says which one made the pictures still shown."""
        made, result, params = self.result_info, self.result, self.result_params
        if result is None or params is None or made is None or info is None or made.source == info.source:
            return
        summary = run_summary(len(result.seeds), len(result.timesteps), params)
        self.view.summary.setText(f"made with {made.name} · {summary}")  # first: the label elides the end

    def update_timesteps(self) -> None:
        """Show the timesteps τ the current steps and spacing visit."""
        p = self.view.params()
        try:
            seq = make_timesteps(
                p.steps,
                self.services.model.num_train_timesteps(),
                p.spacing,
                self.services.model.steps_offset(),
            )
        except ScheduleError as exc:
            self.view.timesteps.set_title("Timesteps (not possible)")
            self.view.timesteps.set_text(str(exc))
            return
        self.view.timesteps.set_title(f"Timesteps τ ({len(seq)}): {seq[0]} → {seq[-1]}")
        total = self.services.model.num_train_timesteps()
        if p.steps < total:
            self.view.cost.setText(
                f"{p.steps} of {total} timesteps · {total / p.steps:.0f}× fewer calls than DDPM"
            )
        else:
            self.view.cost.setText(f"all {total} timesteps, as many network calls as DDPM")
        self.view.timesteps.set_text(", ".join(str(t) for t in seq))
        self.view.timesteps.setToolTip(
            "τ, noisiest first: " + ", ".join(str(t) for t in seq[:40]) + (" …" if len(seq) > 40 else "")
        )

    def _params_changed(self) -> None:
        self.update_timesteps()
        self.services.settings.set_value("generate/seed", self.view.seed.value())
        if self.view.autorun.isChecked() and self.services.model.is_loaded:
            self._auto_timer.start()

    def roll_seed(self) -> int:
        """Put a random seed into the seed box (it stays unlocked); returns it."""
        seed = random.randrange(0, MAX_SEED)
        self.view.seed.blockSignals(True)
        self.view.seed.setValue(seed)
        self.view.seed.blockSignals(False)
        self.services.settings.set_value("generate/seed", seed)
        return seed

    def apply_params(self, params: dict[str, Any]) -> None:
        """Set the controls from a saved picture's parameters (reuse parameters)."""
        current = self.view.params()
        self.view.set_params(
            GenerateParams(
                seed=int(params.get("seed", current.seed)),
                batch=current.batch,
                steps=int(params.get("steps", current.steps)),
                eta=float(params.get("eta", current.eta)),
                spacing=str(params.get("spacing", current.spacing)),
                clip_sample=bool(params.get("clip_sample", current.clip_sample)),
                sampler=str(params.get("sampler", current.sampler)),
            )
        )
        self.view.lock.setChecked("seed" in params)
        if "spacing" in params or "sampler" in params:
            self.spacing_follower.chosen()  # the picture's spacing stays when the sampler changes
        self.update_timesteps()

    def apply_seed(self, seed: int) -> None:
        """Use ``seed`` and lock it (reuse seed)."""
        self.view.seed.setValue(int(seed))
        self.view.lock.setChecked(True)

    # ---- running ------------------------------------------------------------------------------
    def make_job(self, params: GenerateParams) -> SampleJob:
        """The sample job for the given control values."""
        return SampleJob(
            seeds=tuple(seeds_for(params.seed, params.batch)),
            steps=params.steps,
            eta=params.eta,
            spacing=params.spacing,
            batch_size=min(CHUNK, params.batch),
            clip_sample=params.clip_sample,
            sampler=params.sampler,
            quantize=self.view.codebook.isChecked(),
        )

    def generate(self, *, auto: bool = False) -> None:
        """Run the sampler with the current controls (a new seed first unless locked or auto-run)."""
        self._auto_timer.stop()
        if not self.services.model.is_loaded:
            self.services.model.run_when_ready(lambda: self.generate(auto=auto), "Generate")
            return
        if not auto and not self.view.lock.isChecked():
            self.roll_seed()
        self.services.settings.set_value("generate/locked", self.view.lock.isChecked())
        params = self.view.params()
        self._serial += 1
        self._task = spawn(
            self._run(self.make_job(params), params, self._serial, save=not auto), self.services.notifier
        )

    async def _run(self, job: SampleJob, params: GenerateParams, serial: int, *, save: bool) -> None:
        v = self.view
        captions = [f"seed {s}" for s in job.seeds]
        if v.grid.count() != len(job.seeds):
            v.grid.set_count(len(job.seeds), captions)
        else:
            for i, text in enumerate(captions):
                v.grid.set_caption(i, text)
        self.grid_seeds = list(job.seeds)  # the paper views follow what the grid shows, not the last result
        v.progress.start(f"Sampling {len(job.seeds)} image{'s' if len(job.seeds) > 1 else ''}…")
        v.set_scrubber(0, 0)
        v.summary.setText(f"{run_summary(len(job.seeds), job.steps, params)} · running…")
        v.scrub_label.setText("replay when the run ends")
        status, value = await guarded(
            self.tracker.run(job, group="generate"), self.services.notifier, "Generating"
        )
        if serial != self._serial:
            return  # a newer run took over
        if status == "ok":
            self._show_result(value, params)
            if save:
                self.save_results()
            else:
                self.saved = False
                v.save_button.setVisible(True)
        else:
            v.progress.finish("Cancelled" if status == "cancelled" else f"Failed: {value}", full=False)
            ended = "cancelled" if status == "cancelled" else "failed"
            v.summary.setText(f"{run_summary(len(job.seeds), job.steps, params)} · {ended}")
            v.scrub_label.setText(f"no replay: the run was {ended}")
            self.paper.update_title()  # the paper views now name a seed the grid shows

    def run(self) -> None:
        """Ctrl+Enter (the mode registry's run): generate with the current controls."""
        self.generate()

    def save(self) -> None:
        """Ctrl+S (the mode registry's save): keep the last results in the gallery."""
        self.save_results()

    def cancel(self) -> bool:
        """Stop the running sample job and paper view; True if something was running."""
        self._auto_timer.stop()
        stopped = self.tracker.cancel() | self.guide.cancel()
        return self.paper.cancel() or stopped

    def _on_step(self, event: StepEvent) -> None:
        frames = event.preview_xt if self._show_xt else event.preview
        for k in range(frames.shape[0]):
            self.view.grid.set_image(event.batch_offset + k, to_qimage(frames[k]))
        done, total, text = step_progress(event)
        self.view.progress.step(done, total, text)

    def _set_show_xt(self, on: bool) -> None:
        self._show_xt = on
        if self.result is not None and not self.tracker.busy:
            self.scrub(self.view.scrubber.value())  # the replay shows x_t or x₀ too

    # ---- results ------------------------------------------------------------------------------
    def _show_result(self, result: SampleResult, params: GenerateParams) -> None:
        self.result, self.result_params = result, params
        self.result_info = self.services.model.info
        self.grid_seeds = [int(seed) for seed in result.seeds]
        self.saved = False
        pixels = tensor_to_uint8(result.images)
        self.view.grid.set_images([to_qimage(p) for p in pixels], [f"seed {s}" for s in result.seeds])
        frames = int(result.frames.shape[0]) if result.frames is not None else 0
        self.view.set_scrubber(frames, max(0, frames - 1))
        self._scrub_label(max(0, frames - 1))
        self.view.summary.setText(run_summary(len(result.seeds), len(result.timesteps), params))
        self.view.progress.finish(f"Done · {len(result.seeds)} image{'s' if len(result.seeds) > 1 else ''}")
        if self.view.grid.selected() < 0:
            self.view.grid.set_selected(0)
        self.paper.update_title()

    def scrub(self, position: int) -> None:
        """Show the recorded frame ``position`` of the last run (the last one shows the final images)."""
        result = self.result
        if result is None or result.frames is None or not len(result.frames):
            return
        if self.grid_seeds != [int(seed) for seed in result.seeds]:
            return  # a cancelled run's pictures are in the grid: no replay of an older run over them
        last = result.frames.shape[0] - 1
        position = max(0, min(position, last))
        xt = result.frames_xt if self._show_xt and result.frames_xt is not None else None
        if position == last:
            pixels = tensor_to_uint8(result.images)  # x_t at the end is the picture
        else:
            pixels = xt[position] if xt is not None else result.frames[position]
        for i in range(min(len(pixels), self.view.grid.count())):
            self.view.grid.set_image(i, to_qimage(pixels[i]))
        self._scrub_label(position)

    def _scrub_label(self, position: int) -> None:
        result = self.result
        if result is None or not result.frame_steps:
            self.view.scrub_label.setText("no run yet")
            return
        step = result.frame_steps[min(position, len(result.frame_steps) - 1)]
        t = result.timesteps[step] if step < len(result.timesteps) else 0
        self.view.scrub_label.setText(f"step {step + 1} of {len(result.timesteps)} · t = {t}")

    def selected_seed(self) -> int:
        """The seed of the selected preview image (the seed box's when nothing is selected)."""
        index = self.view.grid.selected()
        if 0 <= index < len(self.grid_seeds):
            return int(self.grid_seeds[index])
        return int(self.view.seed.value())

    def save_results(self) -> int:
        """Save the last results to the gallery (PNG with parameters, x_T beside); returns how many."""
        result, params = self.result, self.result_params
        if result is None or params is None:
            return 0
        if self.saved:
            self.services.notifier.info("These pictures are already in the gallery.")
            return 0
        info = self.result_info or self.services.model.info  # the pictures' model, not the one open now
        count = new = 0
        for i, seed in enumerate(result.seeds):
            item_params = build_params(
                "sample",
                info=info,
                steps=len(result.timesteps),
                spacing=params.spacing,
                sampler=params.sampler,
                timesteps=result.timesteps,
                eta=params.eta,
                clip_sample=params.clip_sample,
                seed=int(seed),
            )
            image = tensor_to_pil(result.images[i])
            latent = result.x_T[i].to(torch.float32)
            stem = f"s{seed}_S{len(result.timesteps)}_eta{params.eta:.2f}"
            if self.services.library.save(image, item_params, stem=stem, latent=latent) is not None:  # type: ignore[arg-type]
                count += 1
                new += not self.services.library.last_reused
        self.saved = count == len(result.seeds)
        self.view.save_button.setVisible(not self.saved)
        if new:
            self.services.notifier.info(f"Saved {new} picture{'s' if new > 1 else ''} to the gallery.")
        return count
