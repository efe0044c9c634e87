"""The studio window: the mode rail, the modes of ``ui.modes``, the gallery dock, menus and the status bar.

The window lays out the views at once (Qt only, no torch), shows itself, and then :meth:`attach`
builds the services and controllers (``ui.wiring``) and starts loading the model in the worker.
It routes requests that cross modes and holds no math.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QCloseEvent, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ddim_studio.ui import theme
from ddim_studio.ui.control_memory import ControlMemory
from ddim_studio.ui.gallery.gallery_model import GalleryModel
from ddim_studio.ui.gallery.gallery_view import GalleryView
from ddim_studio.ui.menus import build_menus
from ddim_studio.ui.modes import ModeController, ModeSpec, modes
from ddim_studio.ui.settings import AppSettings
from ddim_studio.ui.widgets import wheel_guard
from ddim_studio.ui.widgets.banner import Banner
from ddim_studio.ui.widgets.controls import ElidedLabel
from ddim_studio.ui.widgets.mode_rail import ModeRail
from ddim_studio.ui.window_actions import WindowActions

if TYPE_CHECKING:
    from ddim_studio.ui.context import Services
    from ddim_studio.ui.gallery.gallery_controller import GalleryController
    from ddim_studio.workers.runner import JobRunner

STATUS_MS = 8000
FRAME_GUESS = (0, 40)  # px a window manager's frame adds (thin borders; a title bar) until known
STATUS_LABEL_MAX = 420  # px: a longer model name is elided (full text in the tooltip)


class MainWindow(WindowActions, QMainWindow):
    """The whole studio.

    Args:
        settings: the settings to use (default: the per-user INI file).
        model_source: the model to open (default: ``$DDIM_STUDIO_MODEL``, the last one, or the shipped one).
        runner: a job runner to use (tests may pass one with an in-memory model).
        load_model: start loading the model once the window is attached.
        defer_attach: only lay out the window; the caller calls :meth:`attach` once it is drawn.
    """

    services: Services
    gallery: GalleryController
    # Each mode's view and controller are also ``self.<name>_view`` and ``self.<name>`` (set from the
    # mode registry, not declared here): ``mode_views`` and ``mode_controllers`` hold them by name.

    def __init__(
        self,
        *,
        settings: AppSettings | None = None,
        model_source: str | None = None,
        runner: JobRunner | None = None,
        load_model: bool = True,
        defer_attach: bool = False,
    ) -> None:
        super().__init__()
        self.setWindowTitle("DDIM Studio")
        self.setWindowIcon(theme.app_icon())
        self.setObjectName("MainWindow")
        wheel_guard.install()  # the wheel scrolls the panels, never a setting under the pointer
        self.settings = settings or AppSettings(parent=self)
        self.model_source: str | None = None
        self.attached = False
        self._pending = (runner, model_source)
        self._load_model = load_model
        self._closed = False
        self.mode_specs: list[ModeSpec] = modes()  # read once: the modes of this window
        self.mode_views: dict[str, QWidget] = {}
        self.mode_controllers: dict[str, ModeController] = {}
        self._build_views()
        self._build_central()
        self._build_gallery()
        self.menus = build_menus(self)
        self.menuBar().setEnabled(False)
        self._build_status_bar()
        self._restore_state()
        self.control_memory = ControlMemory(self.settings, self.mode_views)
        self.control_memory.restore()
        self._queued: str | None = None  # a mode whose run was asked for before the window was attached
        self._catch_early_runs()
        self._build_shortcuts()
        if not defer_attach:
            self.attach()

    def attach(self) -> None:
        """Build the services and controllers (this imports torch), then start loading the model."""
        if self.attached or self._closed:
            return
        from ddim_studio.ui import wiring

        runner, model_source = self._pending
        typed = self.control_memory.snapshot()  # restored or typed before now: the controllers keep it
        wiring.attach(self, runner, model_source)
        self.control_memory.apply(typed)
        self.services.model.ready.connect(lambda _info: self.control_memory.apply({}))
        self.attached = True
        self.menuBar().setEnabled(True)
        self.update_model_label()
        if self._queued is not None:
            controller = self.mode_controllers[self._queued]
            self.services.model.run_when_ready(controller.run, self._mode_label(self._queued))
            self._queued = None
        QTimer.singleShot(0, self._start)

    # ---- construction -------------------------------------------------------------------------
    def _build_views(self) -> None:
        self.gallery_model = GalleryModel(self)
        self.gallery_view = GalleryView(self.gallery_model)
        for spec in self.mode_specs:
            view = spec.view()
            self.mode_views[spec.name] = view
            setattr(self, f"{spec.name}_view", view)

    def _build_central(self) -> None:
        central = QWidget()
        central.setObjectName("Central")
        self.rail = ModeRail([(m.label, m.icon, m.tooltip) for m in self.mode_specs])
        self.stack = QStackedWidget()
        self.stack.setObjectName("ModeStack")
        for spec in self.mode_specs:
            self.stack.addWidget(self.mode_views[spec.name])
        self.banner = Banner()
        banner_row = QVBoxLayout()
        banner_row.setContentsMargins(12, 10, 12, 0)
        banner_row.addWidget(self.banner)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.setSpacing(0)
        right_layout.addLayout(banner_row)
        right_layout.addWidget(self.stack, 1)
        row = QHBoxLayout(central)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(self.rail)
        row.addWidget(right, 1)
        self.setCentralWidget(central)
        self.rail.modeChanged.connect(self.set_mode)

    def _build_gallery(self) -> None:
        dock = QDockWidget("Gallery", self)
        dock.setObjectName("GalleryDock")
        dock.setWidget(self.gallery_view)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetClosable | QDockWidget.DockWidgetFeature.DockWidgetMovable
        )
        dock.setAllowedAreas(
            Qt.DockWidgetArea.RightDockWidgetArea
            | Qt.DockWidgetArea.LeftDockWidgetArea
            | Qt.DockWidgetArea.BottomDockWidgetArea
        )
        dock.setTitleBarWidget(QWidget())  # the panel has its own header
        dock.setMinimumWidth(300)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.resizeDocks([dock], [330], Qt.Orientation.Horizontal)
        self.gallery_dock = dock

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.busy_label = QLabel("")
        self.model_label = ElidedLabel("starting…", role="")
        bar.addPermanentWidget(self.busy_label)
        bar.addPermanentWidget(self.model_label)

    def _catch_early_runs(self) -> None:
        """Run buttons pressed before the controllers exist queue the run (each mode's ``run_signal``)."""
        for spec in self.mode_specs:
            signal = getattr(self.mode_views[spec.name], spec.run_signal, None) if spec.run_signal else None
            if signal is not None:
                signal.connect(lambda n=spec.name: None if self.attached else self.queue_run(n))

    def _mode_label(self, name: str) -> str:
        spec = next((m for m in self.mode_specs if m.name == name), None)
        return spec.label if spec is not None else name.capitalize()

    def queue_run(self, name: str) -> None:
        """Remember that mode ``name`` should run as soon as the model is loaded, and say so."""
        self._queued = name
        text = f"{self._mode_label(name)} will run when the model is loaded."
        self.statusBar().showMessage(text, STATUS_MS)
        self.banner.show_message("info", text)

    def _build_shortcuts(self) -> None:
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
            shortcut.activated.connect(self.run_current)
        cancel = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        cancel.setContext(Qt.ShortcutContext.WindowShortcut)
        cancel.activated.connect(self.cancel_current)

    def _restore_state(self) -> None:
        geometry, state = self.settings.window_state()
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 900)
        if state is not None:
            self.restoreState(state)
        self.fit_to_screen()
        self.set_mode(self.settings.value("window/mode", self.mode_specs[0].name))

    def fit_to_screen(self) -> None:
        """Shrink and move the window, frame included, into the available screen.

        Before a window manager has framed the window its frame is unknown: a title bar's worth
        (:data:`FRAME_GUESS`) is kept free, so the status bar is not pushed off a 1280×720 screen.
        """
        if self.isMaximized() or self.isFullScreen():
            return
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is None:
            return
        room = screen.availableGeometry()
        frame = self.frameGeometry()
        extra_w, extra_h = frame.width() - self.width(), frame.height() - self.height()
        if extra_h <= 0:  # not framed yet
            extra_w, extra_h = FRAME_GUESS
        width = min(self.width(), room.width() - extra_w)
        height = min(self.height(), room.height() - extra_h)
        if (width, height) != (self.width(), self.height()):
            self.resize(width, height)
        x = max(room.left(), min(self.x(), room.right() + 1 - width - extra_w))
        y = max(room.top(), min(self.y(), room.bottom() + 1 - height - extra_h))
        if (x, y) != (self.x(), self.y()):
            self.move(x, y)

    def _start(self) -> None:
        """After the window is drawn: scan the gallery, then load the model in the worker."""
        if self._closed:
            return
        self.services.library.refresh()
        if self._load_model:
            source = self.model_source
            self.services.model.load(source, remember=False, fallback=source is not None)
        self.update_model_label()

    # ---- status -------------------------------------------------------------------------------
    def update_model_label(self) -> None:
        """Show the model's name, size, device and precision (or what is happening instead)."""
        text = self.services.model.status_text()
        self.model_label.fix_width(
            min(
                self.model_label.fontMetrics().horizontalAdvance(text) + 24, STATUS_LABEL_MAX
            )  # + the padding
        )
        self.model_label.setText(text)
        self.model_label.setToolTip(f"{text}\nThe model in use: name · image size · device · precision")

    def show_message(self, level: str, text: str) -> None:
        """A message in the status bar; warnings and errors also in the banner (non-blocking)."""
        self.statusBar().showMessage(text, STATUS_MS)
        if level in ("warning", "error"):
            self.banner.show_message(level, text)

    def setting_changed(self, key: str) -> None:
        """Apply a changed setting (output folder, preview rate, theme)."""
        s = self.services
        if key == "output_dir":
            s.library.set_root(s.settings.output_dir())
        elif key == "preview_fps":
            s.runner.preview_fps = float(s.settings.get("preview_fps"))
        elif key == "theme":
            self.set_theme(s.settings.get("theme"))

    # ---- modes --------------------------------------------------------------------------------
    def mode(self) -> int:
        """The position of the current mode in the rail (see :meth:`mode_name`)."""
        return self.stack.currentIndex()

    def mode_name(self) -> str:
        """The name of the current mode (``generate``, ``encode``…)."""
        return self.mode_specs[max(0, self.stack.currentIndex())].name

    def set_mode(self, mode: str | int | Any) -> None:
        """Switch to the mode called ``mode`` (a rail position is accepted too; unknown: the first)."""
        names = [m.name for m in self.mode_specs]
        if isinstance(mode, str) and mode in names:
            index = names.index(mode)
        else:
            try:
                index = max(0, min(int(mode), len(names) - 1))
            except (TypeError, ValueError):
                index = 0
        self.stack.setCurrentIndex(index)
        self.rail.set_current(index)
        self.settings.set_value("window/mode", names[index])

    def current_controller(self) -> ModeController | None:
        """The current mode's controller (None before the window is attached)."""
        return self.mode_controllers.get(self.mode_name()) if self.attached else None

    def run_current(self) -> None:
        """Ctrl+Enter: the current mode's run (Generate, Encode, Run…); queued while the window starts."""
        controller = self.current_controller()
        if controller is not None:
            controller.run()
        elif not self._closed:
            self.queue_run(self.mode_name())

    def cancel_current(self) -> None:
        """Esc: cancel the current mode's job."""
        controller = self.current_controller()
        if controller is None:
            return
        stopped = controller.cancel()
        if stopped:
            progress = getattr(self.stack.currentWidget(), "progress", None)
            if progress is not None:
                progress.stopping()
            self.statusBar().showMessage("Stopping…", 2000)
        elif self.banner.isVisible():
            self.banner.dismiss()

    def set_theme(self, name: str) -> None:
        """Switch between the dark and light theme."""
        app = QApplication.instance()
        if isinstance(app, QApplication):
            theme.apply_theme(app, name)
        theme.refresh_icons(self)
        self.settings.set("theme", theme.current_theme())
        for action in self.menus.theme_group.actions():
            action.setChecked(action.text().lower() == theme.current_theme())
        self.update()

    # ---- closing ------------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        """Remember the layout, cancel running jobs and stop the worker thread."""
        if not self._closed:
            self._closed = True
            self.settings.save_window_state(self.saveGeometry(), self.saveState())
            self.control_memory.save()
            if self.attached:
                self.services.runner.cancel_all()
                self.services.runner.shutdown()
        super().closeEvent(event)
