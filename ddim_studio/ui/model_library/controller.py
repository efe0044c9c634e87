"""Model ▸ Library…: the catalogue and the models on disk, downloads with progress, delete, open.

Everything slow runs off the GUI thread in a :class:`~ddim_studio.workers.background.BackgroundTask`:
the hub check of an id typed by hand, the download, and the one timing of this machine that turns
each catalogue entry's counted cost into seconds per step. Open goes through the window's usual
model loading (:class:`~ddim_studio.ui.model_controller.ModelController`).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from time import perf_counter as clock_now

from PySide6.QtCore import QObject

from ddim_studio.durations import clock, format_duration
from ddim_studio.operations.cost import backend_rate, device_words
from ddim_studio.operations.hub import DownloadProgress, PullPlan, hub_cache, inspect_repo, pull
from ddim_studio.operations.models import LibraryRow, format_bytes, library_rows
from ddim_studio.operations.thumbnails import cached_thumbnail, make_thumbnail
from ddim_studio.ui import dialogs
from ddim_studio.ui.model_controller import ModelController
from ddim_studio.ui.model_library.view import COLUMNS, ModelLibraryView
from ddim_studio.ui.settings import AppSettings
from ddim_studio.workers.background import BackgroundTask, run_in_background

#: (device, backend, precision) as set → (GFLOP/s, the backend in words), measured once per session.
_RATES: dict[tuple[str, str, str], tuple[float, str]] = {}
_TIMINGS: dict[tuple[str, str, str], BackgroundTask] = {}
_STEP_COLUMN = COLUMNS.index("Per step here")


def _device_type(device: str) -> str:
    """``cpu``, ``cuda`` or ``mps``: where the models would run (``auto`` resolved as the loader does)."""
    from ddim_studio.core.models.protocol import ModelLoadError
    from ddim_studio.operations.hub import resolve_device

    try:
        return resolve_device(device or "auto").type
    except ModelLoadError:  # a device this machine does not have: the loader falls back too
        return "cpu"


class ModelLibraryController(QObject):
    """Wires a :class:`ModelLibraryView` to the hub cache, the downloads and the model loader."""

    def __init__(
        self,
        view: ModelLibraryView,
        model: ModelController,
        settings: AppSettings,
        *,
        cache_dir: Path | None = None,
        measure: Callable[[str, str, str], tuple[float, str]] | None = None,
    ) -> None:
        super().__init__(view)
        self.view, self.model, self.settings = view, model, settings
        self.cache_dir = cache_dir
        self.device = _device_type(str(settings.get("model/device") or "cpu"))
        # The backend the next model would run on: the estimate is for it (OpenVINO fast or torch).
        self.compute = (
            self.device,
            str(settings.get("compute/backend") or "auto"),
            str(settings.get("compute/precision") or "auto"),
        )
        self.rows: list[LibraryRow] = []
        self.typed: dict[str, PullPlan] = {}  # ids checked by hand and found drivable
        self.download: BackgroundTask | None = None
        self.download_id: str | None = None
        self.checking: BackgroundTask | None = None
        self.thumbnailing: BackgroundTask | None = None  # pictures being sampled for a thumbnail
        self.thumbnail_id: str | None = None
        self.rate_error = ""
        view.selected.connect(lambda _row: self._update())
        view.check_requested.connect(self.check)
        view.download_requested.connect(self.start_download)
        view.cancel_requested.connect(self.cancel_download)
        view.delete_requested.connect(self.delete_selected)
        view.open_requested.connect(self.open_selected)
        view.thumbnail_requested.connect(self.make_thumbnail)
        view.finished.connect(lambda _result: self.shutdown())
        self.refresh()
        self._measure(measure or backend_rate)

    # ---- the list -----------------------------------------------------------------------------
    def refresh(self, select: str | None = None) -> None:
        """Read the catalogue and the disk again; keep the selection (or select ``select``)."""
        current = self.selected()
        wanted = (select or (current.id if current else "")).lower()
        rows = library_rows(self.cache_dir, self.settings.recent_models())
        known = {r.id.lower() for r in rows}
        rows += [LibraryRow(repo_id) for repo_id in self.typed if repo_id.lower() not in known]
        self.rows = rows
        keep = next((i for i, r in enumerate(rows) if r.id.lower() == wanted), 0 if rows else -1)
        self.view.set_rows([self._cells(r) for r in rows], keep)
        self._update()

    def _cells(self, row: LibraryRow) -> tuple[str, ...]:
        entry = row.entry
        name = row.id
        pictures = f"{entry.resolution} px {entry.space} · {entry.dataset}" if entry else "—"
        params = f"{entry.parameters / 1e6:.1f} M" if entry else "—"
        download = format_bytes(entry.download_bytes) if entry else self._typed_size(row.id)
        disk = format_bytes(row.on_disk_bytes) if row.on_disk_bytes else "—"
        return (name, pictures, params, download, disk, self._step_text(row), entry.licence if entry else "—",
                row.status())  # fmt: skip

    def _typed_size(self, repo_id: str) -> str:
        plan = self.typed.get(repo_id)
        return format_bytes(plan.total_bytes) if plan else "—"

    def _step_text(self, row: LibraryRow) -> str:
        if row.entry is None:
            return "—"
        rate = _RATES.get(self.compute)
        seconds = row.step_seconds(rate[0] if rate else None)
        if seconds is None:
            return "unknown" if self.rate_error else "measuring…"
        duration = format_duration(seconds)
        return duration if duration.startswith("<") else f"≈ {duration}"

    def selected(self) -> LibraryRow | None:
        """The selected row."""
        index = self.view.current_row()
        return self.rows[index] if 0 <= index < len(self.rows) else None

    def _update(self) -> None:
        row = self.selected()
        busy = self.download is not None
        if row is None:
            self.view.set_buttons(download=False, cancel=busy, delete=False, open_=False)
            self.view.details.setText("")
            self.view.set_thumbnail(None, "", can_make=False)
            return
        drivable = row.entry is None or row.entry.drivable
        is_hub = row.local_folder is None
        self.view.set_buttons(
            download=drivable and is_hub and not busy and not row.downloaded,
            cancel=busy,
            delete=is_hub and row.disk is not None and self.download_id != row.id,
            open_=drivable and row.downloaded,
        )
        self.view.details.setText(self._details(row))
        self._show_thumbnail(row)

    def _details(self, row: LibraryRow) -> str:
        if row.entry is None:
            plan = self.typed.get(row.id)
            notes = "; ".join(plan.notes) if plan and plan.notes else ""
            where = row.local_folder or (row.disk.folder if row.disk else None)
            text = f"<b>{html.escape(row.id)}</b>" + (f"<br>{html.escape(str(where))}" if where else "")
            return text + (f"<br>{html.escape(notes)}" if notes else "")
        entry = row.entry
        lines = [
            f"<b>{html.escape(entry.title)}</b> — {html.escape(entry.id)} · trained on {entry.dataset}",
            f"{html.escape(entry.source)} · licence {entry.licence} · predicts {entry.prediction_type}",
        ]
        lines += [html.escape(n) for n in entry.notes]
        reason = entry.unavailable_reason()
        if reason:
            lines.append(f"<i>{html.escape(reason)}</i>")
        return "<br>".join(lines)  # fmt: skip

    # ---- the estimate -------------------------------------------------------------------------
    def _measure(self, measure: Callable[[str, str, str], tuple[float, str]]) -> None:
        if self.compute in _RATES:
            self._on_rate(_RATES[self.compute])
            return
        task = _TIMINGS.get(self.compute)
        fresh = task is None
        if task is None:  # one timing per backend and session, owned by no dialog (it outlives one)
            key = self.compute
            task = BackgroundTask(lambda _report, _cancelled: measure(*key))
            task.done.connect(lambda rate: _RATES.__setitem__(key, rate))
            task.failed.connect(lambda _message: _TIMINGS.pop(key, None))
            _TIMINGS[key] = task
        task.done.connect(self._on_rate)  # connected before the thread starts: no result is missed
        task.failed.connect(self._on_rate_failed)
        if fresh:
            task.start()
        elif task.outcome == "done":  # it ended before this dialog listened
            self._on_rate(task.result)

    def _on_rate(self, rate: object) -> None:
        gflops, words = rate  # type: ignore[misc]
        _RATES.setdefault(self.compute, (float(gflops), str(words)))
        for i, row in enumerate(self.rows):
            self.view.set_cell(i, _STEP_COLUMN, self._step_text(row))
        self.view.table.setToolTip(
            f"Per step: one picture, measured on {device_words(self.device)} with {words}"
            " (Settings ▸ Compute chooses the backend)"
        )
        self.view.set_step_engine(str(words))

    def _on_rate_failed(self, message: str) -> None:
        self.rate_error = message
        for i, row in enumerate(self.rows):
            if row.entry is not None:
                self.view.set_cell(i, _STEP_COLUMN, "unknown")
        self.view.table.setToolTip(f"This machine could not be timed: {message}")

    # ---- a hub id typed by hand ---------------------------------------------------------------
    def check(self, repo_id: str) -> None:
        """Check ``repo_id`` on the hub (its configs only); a drivable one becomes a row."""
        self.view.set_message(f"Checking {repo_id} on the hub…")
        self.view.check_button.setEnabled(False)

        def done(plan: object) -> None:
            assert isinstance(plan, PullPlan)
            self.view.check_button.setEnabled(True)
            self.typed[plan.repo_id] = plan
            size = format_bytes(sum(plan.weights.values()))
            self.view.set_message(
                f"{plan.repo_id} can be opened here: a {plan.verdict.kind} model, {size} to download."
            )
            self.refresh(select=plan.repo_id)

        def failed(message: str) -> None:
            self.view.check_button.setEnabled(True)
            self.view.set_message(message, error=True)

        cache = self.cache_dir
        self.checking = run_in_background(  # every slot is connected before the thread starts
            lambda _r, _c: inspect_repo(repo_id, cache_dir=cache), self, done=done, failed=failed
        )

    # ---- download -----------------------------------------------------------------------------
    def start_download(self) -> None:
        """Download the selected model (resuming what an earlier try left)."""
        row = self.selected()
        if row is None or self.download is not None:
            return
        repo_id, plan, cache = row.id, self.typed.get(row.id), self.cache_dir
        self.download_id = repo_id
        self.view.set_message(f"Downloading {repo_id}…")
        self.view.set_progress(0.0, "starting…")

        def work(report: Callable[[object], None], cancelled: Callable[[], bool]) -> object:
            return pull(repo_id, on_progress=report, cancelled=cancelled, cache_dir=cache, plan=plan)

        self.download = run_in_background(
            work, self, progress=self._on_progress, done=self._on_done, failed=self._on_failed,
            was_cancelled=self._on_cancelled,
        )  # fmt: skip
        self._update()

    def cancel_download(self) -> None:
        """Stop the download; what arrived stays, and the next Download resumes it."""
        if self.download is not None:
            self.view.set_progress(self.view.progress.value() / 1000, "cancelling…")
            self.download.cancel()

    def _on_progress(self, event: object) -> None:
        if not isinstance(event, DownloadProgress):
            return
        text = f"{format_bytes(event.done_bytes)} of {format_bytes(event.total_bytes)}"
        if event.bytes_per_second > 0:
            text += f" · {format_bytes(event.bytes_per_second)}/s"
        if event.seconds_left is not None:
            text += f" · {clock(event.seconds_left)} left"
        self.view.set_progress(event.fraction, text)

    def _finish(self, message: str, *, error: bool = False) -> None:
        repo_id = self.download_id
        self.download = None
        self.download_id = None
        self.view.set_message(message, error=error)
        self.refresh(select=repo_id)

    def _on_done(self, _folder: object) -> None:
        repo_id = self.download_id
        self.view.set_progress(1.0, "done")
        self._finish(f"{repo_id} is on disk. Open it to sample.")

    def _on_failed(self, message: str) -> None:
        self.view.set_progress(None, "")
        self._finish(message, error=True)

    def _on_cancelled(self) -> None:
        repo_id = self.download_id
        self.view.set_progress(None, "cancelled")
        self._finish(f"The download of {repo_id} was cancelled; Download resumes it where it stopped.")

    # ---- the thumbnail: pictures sampled from the model -----------------------------------------
    def _show_thumbnail(self, row: LibraryRow) -> None:
        folder = row.folder
        drivable = row.entry is None or row.entry.drivable
        if folder is None:
            text = "download it to see pictures from it" if drivable else ""
            self.view.set_thumbnail(None, text, can_make=False)
            return
        if self.thumbnail_id == row.id:
            self.view.set_thumbnail(None, "making pictures…", can_make=False)
            return
        path = cached_thumbnail(folder)
        idle = self.thumbnailing is None
        can_make = path is None and drivable and idle
        self.view.set_thumbnail(str(path) if path else None, "no pictures yet", can_make=can_make)

    def make_thumbnail(self) -> None:
        """Sample a few pictures from the selected model (S = 10) and keep them as its thumbnail."""
        row = self.selected()
        folder = row.folder if row is not None else None
        if row is None or folder is None or self.thumbnailing is not None:
            return
        device = self.device
        backend, precision = self.compute[1], self.compute[2]
        self.thumbnail_id = row.id
        self.view.set_message(f"Making pictures with {row.id}…")

        def work(_report: Callable[[object], None], cancelled: Callable[[], bool]) -> object:
            return make_thumbnail(folder, device=device, backend=backend, precision=precision,
                                  should_stop=cancelled)  # fmt: skip

        def ended(message: str, *, error: bool = False) -> None:
            self.thumbnailing, self.thumbnail_id = None, None
            self.view.set_message(message, error=error)
            self._update()

        started = clock_now()
        took = lambda: format_duration(clock_now() - started)  # noqa: E731
        self.thumbnailing = run_in_background(
            work, self,
            done=lambda _path: ended(f"Pictures from {row.id} made in {took()}."),
            failed=lambda message: ended(f"Could not make pictures with {row.id}: {message}", error=True),
            was_cancelled=lambda: ended("Stopped making pictures."),
        )  # fmt: skip
        self._update()

    # ---- delete and open ----------------------------------------------------------------------
    def delete_selected(self) -> None:
        """Delete the selected model from the hub cache, after a confirmation that says the size."""
        row = self.selected()
        if row is None or row.disk is None or row.id == self.download_id:
            return
        size = format_bytes(row.disk.size_bytes)
        question = f"Delete {row.id} from the disk? This frees {size}."
        if not dialogs.confirm(self.view, "Delete model", question, ok="Delete"):
            return
        try:
            freed = hub_cache.delete(row.id, self.cache_dir)
        except OSError as exc:
            self.view.set_message(f"Could not delete {row.id}: {exc.strerror or exc}.", error=True)
            return
        self.view.set_progress(None, "")  # the last download's "done" is not about this row any more
        self.view.set_message(f"Deleted {row.id}; {format_bytes(freed)} freed.")
        self.refresh(select=row.id)

    def open_selected(self) -> None:
        """Open the selected model in the studio (the usual model loading) and close the library."""
        row = self.selected()
        if row is None or not row.downloaded or (row.entry is not None and not row.entry.drivable):
            return
        self.model.load(str(row.local_folder) if row.local_folder else row.id)
        self.view.accept()

    def shutdown(self) -> None:
        """On close: stop a download (kept for resume) and let the threads end."""
        if self.thumbnailing is not None:  # stops at its next step; not waited for (a model may be
            self.thumbnailing.cancel()  # loading or converting: closing must not freeze the window)
        tasks = [t for t in (self.download, self.checking) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            task.wait(30_000)


def open_library(parent: QObject, model: ModelController, settings: AppSettings) -> ModelLibraryView:
    """Show the library (non-modal) and return its view."""
    view = ModelLibraryView(parent)  # type: ignore[arg-type]
    view.controller = ModelLibraryController(view, model, settings)  # type: ignore[attr-defined]
    view.show()
    return view
