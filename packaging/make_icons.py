"""Render the platform icons in packaging/icons/ from the application's SVG.

    python packaging/make_icons.py

Writes, from ``resources/icons/app.svg`` (rendered by Qt's QSvgRenderer, offscreen):

* ``io.github.ddimstudio.DDIMStudio-<N>.png`` for N in 16 … 512: the freedesktop hicolor sizes
  (Linux, installed as ``hicolor/NxN/apps/io.github.ddimstudio.DDIMStudio.png``: Flathub wants the
  icon named after the app id; 256 is also what the PyInstaller bundle carries),
* ``io.github.ddimstudio.DDIMStudio.ico``: Windows, 16–256 px in one file (Pillow),
* ``io.github.ddimstudio.DDIMStudio.icns``: macOS, 16–1024 px in one file (Pillow).

Each size is rendered from the vector, not scaled from a bitmap. The outputs are committed; run
this again after changing app.svg.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PIL import Image  # noqa: E402
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt  # noqa: E402
from PySide6.QtGui import QGuiApplication, QImage, QPainter  # noqa: E402
from PySide6.QtSvg import QSvgRenderer  # noqa: E402

HERE = Path(__file__).resolve().parent
SVG = HERE.parent / "resources" / "icons" / "app.svg"
OUT = HERE / "icons"
NAME = "io.github.ddimstudio.DDIMStudio"  # the AppStream id: Flathub wants the icon named after it
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICNS_SIZES = (16, 32, 64, 128, 256, 512, 1024)


def render(renderer: QSvgRenderer, size: int) -> Image.Image:
    """The SVG drawn on a transparent ``size``×``size`` canvas, as an RGBA Pillow image."""
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    buffer.close()
    return Image.open(io.BytesIO(bytes(data))).convert("RGBA")


def main() -> int:
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 - QPainter needs it
    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        print(f"cannot read {SVG}", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    sizes = sorted(set(PNG_SIZES) | set(ICO_SIZES) | set(ICNS_SIZES))
    images = {size: render(renderer, size) for size in sizes}
    for size in PNG_SIZES:
        images[size].save(OUT / f"{NAME}-{size}.png", optimize=True)
    ico_largest = max(ICO_SIZES)
    images[ico_largest].save(
        OUT / f"{NAME}.ico",
        sizes=[(s, s) for s in ICO_SIZES],
        append_images=[images[s] for s in ICO_SIZES if s != ico_largest],
    )
    icns_largest = max(ICNS_SIZES)
    images[icns_largest].save(
        OUT / f"{NAME}.icns", append_images=[images[s] for s in ICNS_SIZES if s != icns_largest]
    )
    for path in sorted(OUT.iterdir()):
        print(f"{path.relative_to(HERE.parent)}  {path.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
