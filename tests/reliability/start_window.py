"""Start the window as ``ddim-studio`` does, offscreen, with the settings file under ``$HOME``.

Run as a child process by ``test_round_three.py``: it waits for the model (``DDIM_STUDIO_MODEL``)
to load and for the event loop to run a while, then prints the values its controls show as one JSON
line on stdout. Whatever a slot raises on the way is printed by Qt on stderr, which the test reads.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def controls(window) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """What the window and its settings dialog show, and what the worker will use."""
    from ddim_studio.ui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(window.settings, window)
    shown = {
        "generate_steps": window.generate_view.steps.value(),
        "generate_batch": window.generate_view.batch.value(),
        "encode_steps": window.encode_view.steps.value(),
        "interpolate_frames": window.interpolate_view.frames.value(),
        "interpolate_steps": window.interpolate_view.steps.value(),
        "preview_fps": window.services.runner.preview_fps,
        "threads": window.services.runner.num_threads,
        "dialog": {
            name: getattr(dialog, name).value()
            for name in ("preview_fps", "steps", "batch", "encode_steps", "frames", "threads")
        },
        "model_loaded": window.services.model.is_loaded,
        "visible": window.isVisible(),
    }
    dialog.deleteLater()
    return shown


def main() -> int:
    from ddim_studio.ui import theme
    from ddim_studio.ui.app import install_loop, make_app, quiet_thread_pools
    from ddim_studio.ui.main_window import MainWindow
    from ddim_studio.ui.settings import AppSettings

    quiet_thread_pools()
    app = make_app(None)
    settings = AppSettings()
    theme.apply_theme(app, settings.get("theme"))
    loop = install_loop(app)
    window = MainWindow(settings=settings)
    window.show()

    async def settle() -> None:
        deadline = time.monotonic() + 120
        while not window.services.model.is_loaded and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # the controllers' follow-ups after the load

    with loop:
        loop.run_until_complete(settle())
    print(json.dumps(controls(window)), flush=True)
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
