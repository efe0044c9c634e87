"""Make the README screenshots: open the studio offscreen, run each mode for real, grab the window.

Usage::

    python scripts/screenshots.py [--model PATH] [--out docs/screenshots] [--steps 50] [--theme dark]
        [--only generate samplers encode interpolate edit] [--size 1400x900]

The model is ``--model``, else ``$DDIM_STUDIO_MODEL``, else the shipped default. Settings and the
gallery live in a throw-away folder, so the screenshots start from a clean studio.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import torch  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402

from ddim_studio.core.scenes import make_scenes  # noqa: E402
from ddim_studio.ui import theme  # noqa: E402
from ddim_studio.ui.app import install_loop, make_app  # noqa: E402
from ddim_studio.ui.settings import AppSettings  # noqa: E402
from ddim_studio.ui.tasks import running_tasks  # noqa: E402

SIZE = (1400, 900)
TIMEOUT_S = 600.0


async def wait_for(predicate, what: str, timeout: float = TIMEOUT_S) -> None:  # type: ignore[no-untyped-def]
    """Poll ``predicate`` on the event loop until it holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def idle(window) -> None:  # type: ignore[no-untyped-def]
    """Wait until no job runs and no UI coroutine is pending, then let the window repaint."""
    await asyncio.sleep(0.1)
    await wait_for(
        lambda: (
            not window.services.runner.is_busy
            and not window.services.loader.busy()  # pictures being opened off the GUI thread
            and running_tasks() == 0
        ),
        "the jobs",
    )
    await asyncio.sleep(0.3)


def grab(window, path: Path) -> None:  # type: ignore[no-untyped-def]
    """Save the whole window as a PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(path))
    print(f"wrote {path}", flush=True)


def sample_photo(folder: Path) -> Path:
    """A 'photo' for Encode: a scene of the default model's kind, 192×144, with some off-centre framing."""
    scene = make_scenes(1, seed=7, size=144)[0]
    canvas = Image.new("RGB", (192, 144), tuple(int(v) for v in scene[0, 0]))
    canvas.paste(Image.fromarray(scene), (24, 0))
    path = folder / "shapes_photo.png"
    canvas.save(path)
    return path


async def shoot_generate(window, out: Path, steps: int) -> None:  # type: ignore[no-untyped-def]
    from ddim_studio.ui.generate.generate_view import GenerateParams

    window.set_mode("generate")
    view = window.generate_view
    view.set_params(
        GenerateParams(seed=2024, batch=8, steps=steps, eta=0.0, spacing="uniform", clip_sample=False)
    )
    view.lock.setChecked(True)
    window.generate.update_timesteps()  # set_params is quiet
    window.generate.generate()
    await idle(window)
    view.grid.set_selected(2)
    window.generate.paper.update_title()
    window.generate.paper.eta_sweep()
    await idle(window)
    view.scrubber.setValue(view.scrubber.maximum())
    grab(window, out / "generate.png")


async def shoot_samplers(window, out: Path) -> None:  # type: ignore[no-untyped-def]
    """The Samplers paper view: the selected seed with DDIM and DPM-Solver++ at S = 5, 10, 20, 50."""
    window.set_mode("generate")
    window.generate.paper.samplers()
    await idle(window)
    grab(window, out / "samplers.png")


async def shoot_encode(window, out: Path, photo: Path, steps: int) -> None:  # type: ignore[no-untyped-def]
    window.set_mode("encode")
    window.encode_view.steps.set_value(steps)
    window.encode_view.refine.setValue(4)  # the refined inversion; its latent health shows beside
    window.encode.load_path(photo)
    await idle(window)  # the picture is decoded off the GUI thread
    window.encode.encode()
    await idle(window)
    window.encode_view.var_count.setValue(6)
    window.encode_view.var_eta.setValue(0.6)
    window.encode.variations()
    await idle(window)
    grab(window, out / "encode.png")


async def shoot_interpolate(window, out: Path, steps: int) -> None:  # type: ignore[no-untyped-def]
    window.set_mode("interpolate")
    ctrl = window.interpolate
    items = window.services.library.items
    sample_items = [it for it in items if it.params.get("kind") == "sample"]
    if len(sample_items) >= 4:
        ctrl.fill_from_item(sample_items[-1], "A")
        ctrl.fill_from_item(sample_items[-4], "B")
        await idle(window)
        window.gallery_view.select_row(window.gallery_model.row_of(sample_items[-1].png))
    else:
        ctrl.fill_from_seed("A", 2024)
        ctrl.fill_from_seed("B", 2027)
    window.interpolate_view.frames.setValue(11)
    window.interpolate_view.steps.set_value(steps)
    ctrl.run()
    await idle(window)
    window.interpolate_view.scrubber.setValue(4)
    grab(window, out / "interpolate.png")


async def shoot_edit(window, out: Path, steps: int) -> None:  # type: ignore[no-untyped-def]
    """Edit: a scene with a painted bar, a mask around it, four results at strength 0.5."""
    from PySide6.QtGui import QColor

    window.set_mode("edit")
    view, ctrl = window.edit_view, window.edit
    scene = make_scenes(1, seed=11, size=32)[0]
    ctrl.set_source(Image.fromarray(scene), "scene-11.png")
    view.set_color(QColor(250, 210, 40))
    view.brush_size.setValue(4)
    view.set_tool("brush")
    view.canvas.stroke([(5.5, 25.5), (14.5, 25.5)])
    view.set_tool("mask")
    view.brush_size.setValue(8)
    view.canvas.stroke([(5.5, 25.5), (14.5, 25.5)])
    view.set_tool("brush")
    view.set_strength(0.5)
    view.steps.set_value(steps)
    view.count.setValue(4)
    view.seed.set_value(7, lock=True)
    ctrl.edit()
    await idle(window)
    view.compare_slider.setValue(45)
    grab(window, out / "edit.png")


SHOTS = ("generate", "samplers", "encode", "interpolate", "edit")


async def scenario(window, out: Path, photo: Path, steps: int, only: tuple[str, ...] = SHOTS) -> None:  # type: ignore[no-untyped-def]
    await wait_for(
        lambda: window.services.model.is_loaded or window.services.notifier.last("error"), "the model"
    )
    if not window.services.model.is_loaded:
        raise RuntimeError(window.services.notifier.last("error"))
    if "generate" in only:
        await shoot_generate(window, out, steps)
    if "samplers" in only:
        await shoot_samplers(window, out)
    if "encode" in only:
        await shoot_encode(window, out, photo, steps)
    if "interpolate" in only:
        await shoot_interpolate(window, out, steps)
    if "edit" in only:
        await shoot_edit(window, out, steps)
    window.set_mode("generate")


def main(argv: list[str] | None = None) -> int:
    """Produce generate.png, samplers.png, encode.png, interpolate.png and edit.png; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model folder, checkpoint or hub id")
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--theme", default="dark", choices=theme.THEMES)
    parser.add_argument("--only", nargs="+", choices=SHOTS, default=list(SHOTS), help="which screenshots")
    parser.add_argument("--size", default="x".join(map(str, SIZE)), help="window size WxH, e.g. 1280x720")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    torch.set_num_threads(1)
    from ddim_studio.ui.main_window import MainWindow

    with tempfile.TemporaryDirectory(prefix="ddim-studio-shots-") as tmp:
        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(Path(tmp) / "settings"))
        app = make_app([sys.argv[0]])
        settings = AppSettings()
        settings.set("output_dir", str(Path(tmp) / "outputs"))
        settings.set("theme", args.theme)
        theme.apply_theme(app, args.theme)
        loop = install_loop(app)
        window = MainWindow(settings=settings, model_source=args.model)
        window.resize(width, height)
        window.show()
        window.gallery_dock.show()  # the gallery is open in every shot
        photo = sample_photo(Path(tmp))
        try:
            with loop:
                loop.run_until_complete(scenario(window, args.out, photo, args.steps, tuple(args.only)))
        finally:
            window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
