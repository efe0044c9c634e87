"""Starting the studio: the QApplication, the qasync event loop and the main window; and a self-test."""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import qasync
from PySide6.QtCore import QObject, QSettings, QTimer
from PySide6.QtWidgets import QApplication

from ddim_studio.ui import theme
from ddim_studio.ui.settings import APPLICATION, ORGANIZATION, AppSettings

SELF_TEST_STEPS = 10
#: The AppStream id: packaging/<APP_ID>.desktop, <APP_ID>.metainfo.xml and the icon are named after it.
APP_ID = "io.github.ddimstudio.DDIMStudio"
#: Imported in a background thread while the window is first drawn (the slow part of a start).
HEAVY_MODULES = (
    "torch",
    "ddim_studio.core.models.loader",
    "ddim_studio.core.sampling",
    "ddim_studio.core.store",
    "ddim_studio.core.latents",
)
SELF_TEST_TIMEOUT_S = 300.0


def quiet_thread_pools() -> None:
    """Make torch's OpenMP threads sleep, not spin, while they wait (unless the user set a policy).

    Spinning threads need every core at once: on a 2-core machine with the window's thread (or any
    other program) awake, each model call's barriers spin until the scheduler lets the partner
    run. Measured on a busy 2-core machine: 50 steps of the default model at batch 4 took 12–90 s
    with spinning (the first Generate after launch, when the window paints and saves the most,
    was the worst: 10–37× the second) and 3.2–3.4 s with sleeping threads. Must run before torch
    is imported: OpenMP reads the variable once.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def make_app(argv: list[str] | None = None) -> QApplication:
    """The QApplication (created once), named for QSettings, with the saved theme applied."""
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(list(argv) if argv is not None else sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("DDIM Studio")
    app.setDesktopFileName(APP_ID)  # packaging/<APP_ID>.desktop: Wayland finds the icon through it
    app.setWindowIcon(theme.app_icon())
    return app


def install_loop(app: QApplication) -> qasync.QEventLoop:
    """A qasync loop over ``app``, set as the asyncio event loop."""
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    return loop


def import_in_background(modules: tuple[str, ...], then: Callable[[], None], parent: QObject) -> None:
    """Import ``modules`` in a worker thread (the window stays drawn), then call ``then`` on this thread."""
    done = threading.Event()

    def work() -> None:
        try:
            for name in modules:
                importlib.import_module(name)
        finally:
            done.set()

    threading.Thread(target=work, name="ddim-studio-imports", daemon=True).start()
    timer = QTimer(parent)
    timer.setInterval(15)

    def poll() -> None:
        if done.is_set():
            timer.stop()
            then()

    timer.timeout.connect(poll)
    timer.start()


def run_app(argv: list[str] | None = None, *, model: str | None = None) -> int:
    """Open the studio window and run until it is closed; returns the exit code.

    The window is drawn before torch is imported; the engine attaches a moment later and the
    model loads in the worker thread. On Linux without the X11 libraries Qt needs, it prints which
    packages to install and returns 1 before Qt starts. Once the window has closed, the process
    ends at once (see :mod:`ddim_studio.ui.process_exit`).

    Args:
        argv: Qt's command-line arguments (default ``sys.argv``).
        model: a model folder, checkpoint or hub id to open instead of the default.
    """
    from ddim_studio.ui.main_window import MainWindow
    from ddim_studio.ui.platform_check import check_window_platform
    from ddim_studio.ui.process_exit import leave_process

    quiet_thread_pools()
    problem = check_window_platform()
    if problem is not None:  # Qt would abort with a core dump
        print(problem, file=sys.stderr, flush=True)
        return 1
    app = make_app(argv)
    settings = AppSettings()
    theme.apply_theme(app, settings.get("theme"))
    loop = install_loop(app)
    window = MainWindow(settings=settings, model_source=model, defer_attach=True)
    window.show()
    app.processEvents()
    QTimer.singleShot(300, window.fit_to_screen)  # again once the window manager has framed it
    import_in_background(HEAVY_MODULES, window.attach, window)
    with loop:
        code = loop.run_forever()
    window.close()  # stops the worker if the loop ended another way
    return leave_process(int(code or 0), settings)  # skips the 1.5–4 s interpreter teardown


async def _wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def _self_test_flow(window) -> str:  # type: ignore[no-untyped-def]
    """Wait for the model, generate one image, encode it back; returns the report line."""
    from ddim_studio.ui.generate.generate_view import GenerateParams

    model = window.services.model
    failed: list[str] = []
    model.failed.connect(failed.append)
    await _wait(lambda: model.is_loaded or failed, SELF_TEST_TIMEOUT_S, "the model")
    if failed:
        raise RuntimeError(f"the model did not load: {failed[0]}")
    gen = window.generate
    window.generate_view.set_params(
        GenerateParams(seed=0, batch=1, steps=SELF_TEST_STEPS, eta=0.0, spacing="uniform", clip_sample=False)
    )
    window.generate_view.lock.setChecked(True)
    start = time.monotonic()
    gen.generate()
    await _wait(lambda: gen._task is not None and gen._task.done(), SELF_TEST_TIMEOUT_S, "generation")
    if gen.result is None or not window.services.library.items:
        raise RuntimeError(window.services.notifier.last("error") or "no image was generated")
    t_gen = time.monotonic() - start
    item = window.services.library.items[0]
    enc = window.encode
    enc.encode_image(item.png, steps=SELF_TEST_STEPS)
    await _wait(lambda: enc._task is not None and enc._task.done(), SELF_TEST_TIMEOUT_S, "encoding")
    if enc.mse is None:
        raise RuntimeError(window.services.notifier.last("error") or "the image was not encoded")
    return (
        f"DDIM Studio self-test OK · {model.status_text()} · generated seed 0 with S = {SELF_TEST_STEPS} "
        f"in {t_gen:.1f} s · encoded it back: MSE {enc.mse:.5f}, PSNR {enc.psnr:.2f} dB"
    )


def self_test(*, model: str | None = None) -> int:
    """Offscreen: open the window, wait for the model, generate one image, encode it back, report.

    Uses throw-away settings and output folders. Prints one line; returns 0 on success, 1 otherwise.
    """
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    quiet_thread_pools()
    from ddim_studio.ui.main_window import MainWindow

    with tempfile.TemporaryDirectory(prefix="ddim-studio-selftest-") as tmp:
        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(Path(tmp) / "settings"))
        app = make_app(None)
        settings = AppSettings()
        settings.set("output_dir", str(Path(tmp) / "outputs"))
        theme.apply_theme(app, "dark")
        loop = install_loop(app)
        window = MainWindow(settings=settings, model_source=model)
        window.show()
        try:
            with loop:
                report = loop.run_until_complete(_self_test_flow(window))
            code = 0
        except Exception as exc:  # noqa: BLE001 - a self-test reports every failure
            report, code = f"DDIM Studio self-test FAILED: {exc}", 1
        finally:
            window.close()
    print(report, flush=True)
    return code
