"""What the window tells a person with a big model: cost before Run, the config's clipping, load waits.

:class:`ModelAdvisor` is attached to the main window once its services exist. It

- keeps the model's measured seconds per call (the probe timed per batch size while loading, then
  the pace and overhead of the last run of the same kind and batch: ``operations.cost.CostModel``)
  and shows the estimate next to the Run button of every mode
  ("≈ 14 min on this CPU"), marked as a warning above :data:`~ddim_studio.operations.cost.WARN_SECONDS`;
  each mode's ``ModeSpec.plan`` says what its Run costs, under its ``run_button``;
- picks defaults for a large model (S = 20 and batch 1 on a CPU) when one is opened, through each
  mode's ``ModeSpec.suggest``;
- reports a config's ``clip_sample: true`` in a banner with "Use the model's setting";
- says "waiting for the current job…" when a model load queues behind a running job, with
  "Cancel the job and load";
- sizes previews to the display (up to the model's size) and applies the torch thread count.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QLabel, QLayout, QWidget

from ddim_studio.core.models.protocol import ModelInfo
from ddim_studio.operations.cost import (
    CostModel,
    RunClock,
    estimate_label,
    is_large,
    is_slow,
    suggested_defaults,
)
from ddim_studio.ui.tasks import after_tasks
from ddim_studio.ui.widgets.image_grid import ImageGrid
from ddim_studio.ui.widgets.image_view import PixelCanvas
from ddim_studio.workers.jobs import LoadModelResult, StepEvent

if TYPE_CHECKING:
    from ddim_studio.ui.main_window import MainWindow

REFRESH_MS = 500
IDLE_WAIT_S = 60.0  # the longest wait for a run's saving before its overhead is learned without it
MIN_PREVIEW = 64
CLIP_MESSAGE = (
    "This model's config asks for clip_sample: true. Clipping is off: it breaks exact inversion "
    "(Encode, Interpolate). Generate can use it."
)
WAIT_MESSAGE = "The model will load when the current job ends (waiting for the current job…)."


def _find_layout(layout: QLayout, widget: QWidget) -> QLayout | None:
    if layout.indexOf(widget) >= 0:
        return layout
    for i in range(layout.count()):
        child = layout.itemAt(i).layout()
        found = _find_layout(child, widget) if child is not None else None
        if found is not None:
            return found
    return None


def place_after(anchor: QWidget, label: QLabel) -> bool:
    """Put ``label`` right after ``anchor`` in the layout that holds it; False if none does."""
    parent = anchor.parentWidget()
    layout = _find_layout(parent.layout(), anchor) if parent is not None and parent.layout() else None
    if layout is None or not hasattr(layout, "insertWidget"):
        return False
    layout.insertWidget(layout.indexOf(anchor) + 1, label)
    return True


def display_side(view: QWidget) -> int:
    """The largest picture cell of ``view`` now (its longest side in device pixels)."""
    best = 0
    ratio = max(1.0, float(view.devicePixelRatioF()))
    for canvas in view.findChildren(PixelCanvas):
        if canvas.isVisible():
            best = max(best, min(canvas.width(), canvas.height()))
    for grid in view.findChildren(ImageGrid):
        if grid.isVisible() and grid.count():
            rect = grid.cell_rect(0)
            best = max(best, rect.width(), rect.height())
    return int(best * ratio)


class ModelAdvisor(QObject):
    """See the module docstring; ``window.advisor`` after :func:`attach`."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        s = window.services
        self.costs: CostModel | None = None  # None until the probe of a loaded model
        self._clocks: dict[int, tuple[str, RunClock, float]] = {}  # job id → (kind, its pace, start)
        self.labels: dict[str, QLabel] = {}
        self.waiting = False
        for spec in window.mode_specs:
            view = window.mode_views.get(spec.name)
            anchor = getattr(view, spec.run_button, None) if view is not None and spec.run_button else None
            if spec.plan is not None and isinstance(anchor, QWidget):
                label = QLabel("")
                label.setProperty("role", "caption")
                label.setAlignment(Qt.AlignmentFlag.AlignHCenter)
                label.setWordWrap(True)
                if place_after(anchor, label):
                    self.labels[spec.name] = label
        s.model.ready.connect(self._on_ready)
        s.model.loading.connect(lambda _source: QTimer.singleShot(0, self._check_wait))
        s.runner.started.connect(self._on_started)
        s.runner.finished.connect(self._on_finished)
        s.runner.step.connect(self._on_step)
        s.runner.cancelled.connect(lambda job_id: self._clocks.pop(job_id, None))
        s.runner.failed.connect(lambda job_id, *_: self._clocks.pop(job_id, None))
        s.settings.changed.connect(self._on_setting)
        self._apply_threads()
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()

    # ---- measured cost ------------------------------------------------------------------------
    def _device(self) -> str:
        return self.window.services.runner.device.type

    def _on_finished(self, job_id: int, result: object) -> None:
        ended = self._clocks.pop(job_id, None)
        if isinstance(result, LoadModelResult):
            table = dict(result.call_seconds) or {1: float(result.seconds_per_call)}
            table = {b: s for b, s in table.items() if s > 0}
            self.costs = CostModel(result.device.type, table) if table else None  # a new model: new costs
            self.refresh()
        elif ended is not None and self.costs is not None:
            self._learn_when_flow_ends(self.costs, *ended, time.perf_counter() + IDLE_WAIT_S)

    def _learn_when_flow_ends(
        self, costs: CostModel, kind: str, clock: RunClock, start: float, until: float
    ) -> None:
        """Learn a run's overhead once its flow has ended: saving and showing the pictures count too.

        The job ends before its controller saves and shows the results; a user waits for those as
        well (short runs were estimated at 0.7 of their time without them). The end is the moment
        the flows running when the job ended have finished, not when the window is next idle: a
        next run's preparation started meanwhile once counted as overhead (an estimate of 19 s for
        a run of 10 s). After ``until`` it is learned without waiting any longer.
        """
        learned = False

        def learn() -> None:
            nonlocal learned
            if not learned and costs is self.costs:  # once, and not for a model opened since
                learned = True
                costs.learn(kind, clock, time.perf_counter() - start)

        after_tasks(learn)
        QTimer.singleShot(max(0, int((until - time.perf_counter()) * 1000)), learn)

    def _on_step(self, event: StepEvent) -> None:
        entry = self._clocks.get(event.job_id)
        if entry is None or event.preview.shape[0] <= 0:
            return
        kind, clock, _start = entry
        calls = event.job_calls or event.job_done  # network calls: a refined inversion step makes several
        clock.step((event.phase, event.chunk), int(event.preview.shape[0]), calls, event.elapsed_s)
        if self.costs is not None:
            self.costs.learn(kind, clock)  # the pace of this kind and batch, while it runs

    def estimate(self, mode: str) -> float | None:
        """Seconds the Run of ``mode`` would take now; None when unknown."""
        spec = next((m for m in self.window.mode_specs if m.name == mode), None)
        controller = self.window.mode_controllers.get(mode)
        if spec is None or spec.plan is None or controller is None or self.costs is None:
            return None
        plan = spec.plan(controller)
        return None if plan is None else self.costs.plan_seconds(plan, spec.job_kind or spec.name)

    def refresh(self) -> None:
        """Update the estimates next to Run and the preview size for the visible mode."""
        for mode, label in self.labels.items():
            seconds = self.estimate(mode)
            if seconds is None:
                label.setText("")
                continue
            slow = is_slow(seconds)
            label.setText(
                ("⚠ " if slow else "") + estimate_label(seconds, self.costs.device if self.costs else "cpu")
            )
            label.setStyleSheet("color: #e0af68;" if slow else "")
            label.setToolTip(
                "A long run: fewer steps or fewer pictures make it faster." if slow else
                "Measured on this model; each step is one call of the network."
            )  # fmt: skip
        self._size_previews()

    def _size_previews(self) -> None:
        info = self.window.services.model.info
        view = self.window.mode_views.get(self.window.mode_name())
        if info is None or view is None:
            return
        model_side = max(int(d) for d in (info.picture_shape or info.sample_shape)[1:])  # decoded size
        side = display_side(view)
        self.window.services.runner.preview_size = max(min(model_side, MIN_PREVIEW), min(model_side, side))

    # ---- a model opened -----------------------------------------------------------------------
    def _on_ready(self, info: ModelInfo) -> None:
        self.waiting = False
        self._apply_defaults(info)
        if info.clip_sample_requested:
            self.window.banner.show_message(
                "info", CLIP_MESSAGE, ("Use the model's setting", self.use_model_clip)
            )
        self.refresh()

    def use_model_clip(self) -> None:
        """Turn on clipping as the model's config asks (Generate's "Clip x₀")."""
        generate = self.window.mode_views.get("generate")
        if generate is None or not hasattr(generate, "clip"):
            return
        generate.clip.setChecked(True)
        self.window.services.notifier.info("Clip x₀ is on, as the model's config asks.")

    def _apply_defaults(self, info: ModelInfo) -> None:
        if not is_large(info.num_parameters, info.sample_shape):
            return
        d = suggested_defaults(info.num_parameters, info.sample_shape, self._device())
        w = self.window
        for spec in w.mode_specs:
            controller = w.mode_controllers.get(spec.name)
            if spec.suggest is not None and controller is not None:
                spec.suggest(controller, d.steps, d.batch)
        where = "the CPU" if self._device() == "cpu" else "the GPU"
        w.services.notifier.info(
            f"{info.name} is a large model on {where}: Steps set to {d.steps}, batch to at most {d.batch}."
        )

    # ---- a load behind a running job ----------------------------------------------------------
    def _check_wait(self) -> None:
        runner = self.window.services.runner
        model = self.window.services.model
        if (
            not model.is_loading
            or runner.current_job_id is None
            or runner.current_job_id in model.load_job_ids()
        ):
            return
        self.waiting = True
        self.window.model_label.setText("loading model… waiting for the current job")
        self.window.banner.show_message(
            "info", WAIT_MESSAGE, ("Cancel the job and load", self.cancel_and_load)
        )

    def cancel_and_load(self) -> None:
        """Cancel the running job so that the queued model load starts now."""
        runner = self.window.services.runner
        job_id = runner.current_job_id
        if job_id is not None and job_id not in self.window.services.model.load_job_ids():
            runner.cancel(job_id)

    def _on_started(self, job_id: int, kind: str) -> None:
        if kind != "load":
            self._clocks[job_id] = (kind, RunClock(), time.perf_counter())
        if kind == "load" and self.waiting:
            self.waiting = False
            self.window.update_model_label()
            if self.window.banner.message() == WAIT_MESSAGE:
                self.window.banner.dismiss()

    # ---- settings -----------------------------------------------------------------------------
    def _on_setting(self, key: str) -> None:
        if key == "compute/threads":
            self._apply_threads()

    def _apply_threads(self) -> None:
        threads = int(self.window.services.settings.get("compute/threads"))
        self.window.services.runner.num_threads = max(0, threads)  # 0: torch's default, all cores


def attach(window: MainWindow) -> ModelAdvisor:
    """Create the window's advisor (after its services and controllers)."""
    advisor = ModelAdvisor(window)
    window.advisor = advisor  # type: ignore[attr-defined]
    return advisor
