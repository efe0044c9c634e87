"""What the figure scripts share: the label font, a labelled row of pixel-art pictures, a stack of rows."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

LABEL_H = 34
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans at ``size``, or Pillow's default font where it is not installed."""
    try:
        return ImageFont.truetype(FONT, size)
    except OSError:
        return ImageFont.load_default(size)


def picture_row(cells: list[tuple[np.ndarray, str]], title: str, scale: int = 4) -> Image.Image:
    """One labelled row of (H, W, 3) uint8 pictures drawn ``scale`` times larger with crisp pixels."""
    big, small = font(15), font(13)
    widths = [c.shape[1] * scale for c, _ in cells]
    height = max(c.shape[0] for c, _ in cells) * scale
    title_width = int(big.getlength(title)) + 16 if hasattr(big, "getlength") else 0
    width = max(sum(widths) + 8 * (len(cells) + 1), title_width)
    row = Image.new("RGB", (width, height + 2 * LABEL_H), "white")
    draw = ImageDraw.Draw(row)
    draw.text((8, 6), title, fill="black", font=big)
    x = 8
    for (picture, label), w in zip(cells, widths, strict=True):
        pixels = Image.fromarray(picture).resize((w, picture.shape[0] * scale), Image.Resampling.NEAREST)
        row.paste(pixels, (x, LABEL_H))
        draw.text((x + w // 2, LABEL_H + height + 4), label, fill="black", font=small, anchor="ma")
        x += w + 8
    return row


def stack(rows: list[Image.Image]) -> Image.Image:
    """The rows one under the other on white, as wide as the widest."""
    figure = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows)), "white")
    y = 0
    for r in rows:
        figure.paste(r, (0, y))
        y += r.height
    return figure
