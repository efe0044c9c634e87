"""Make ``docs/restore.png``: input | result for each Restore task on the shipped model.

Rows: upscale ×4 (an 8×8 picture), colourise (a grey picture), fill (a 12×12 hole, DDNM),
upscale ×2 + colourise (a small grey picture). Columns: the input as given (small inputs drawn
with square pixels), two results (seeds 0 and 1) and the held-out scene the input was made from.
Run: ``python scripts/restore_figure.py [--steps 50] [--out docs/restore.png]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from figure_grid import font, stack
from PIL import Image, ImageDraw

from ddim_studio.core.imaging import tensor_to_uint8
from ddim_studio.core.models import load_model
from ddim_studio.core.noise import ImageNoise
from ddim_studio.core.restore import make_degradation, restore
from ddim_studio.core.scenes import make_scenes, to_model_range

CELL, LABEL_H, PAD = 128, 26, 10


def _cell(picture: torch.Tensor) -> Image.Image:
    """A (1, C, h, w) picture in [−1, 1] drawn CELL×CELL with square pixels (grey for one channel)."""
    if picture.shape[1] == 1:
        picture = picture.expand(-1, 3, -1, -1)
    return Image.fromarray(tensor_to_uint8(picture)[0]).resize((CELL, CELL), Image.Resampling.NEAREST)


def _row(cells: list[tuple[torch.Tensor, str]], title: str) -> Image.Image:
    width = PAD + len(cells) * (CELL + PAD)
    row = Image.new("RGB", (width, LABEL_H + CELL + 22), "white")
    draw = ImageDraw.Draw(row)
    draw.text((PAD, 4), title, fill="black", font=font(15))
    for i, (picture, label) in enumerate(cells):
        x = PAD + i * (CELL + PAD)
        row.paste(_cell(picture), (x, LABEL_H))
        draw.text((x + CELL // 2, LABEL_H + CELL + 3), label, fill="black", font=font(13), anchor="ma")
    return row


def build(steps: int) -> Image.Image:
    model, _ = load_model()
    scenes = torch.from_numpy(to_model_range(make_scenes(4, seed=10_000)))
    hole = torch.zeros(1, 1, 32, 32)
    hole[..., 10:22, 10:22] = 1.0
    tasks = [
        ("Upscale ×4: an 8×8 picture", "upscale", 4, None),
        ("Colourise: a grey picture", "colorize", 4, None),
        ("Fill: a 12×12 hole (DDNM)", "inpaint", 4, hole),
        ("Upscale ×2 + colourise: a 16×16 grey picture", "upscale+colorize", 2, None),
    ]
    rows = []
    for i, (title, task, factor, mask) in enumerate(tasks):
        scene = scenes[i : i + 1]
        observed = make_degradation(task, factor=factor, mask=mask).apply(scene)
        shown = (
            observed
            if mask is None
            else scene * (1 - mask) + mask * torch.tensor([0.0, 0.0, 0.0])[:, None, None]
        )
        out = restore(model, scene if task == "inpaint" else observed, task=task, factor=factor, mask=mask,
                      steps=steps, noise=ImageNoise([0, 1], (3, 32, 32)))  # fmt: skip
        cells = [
            (shown, "input"),
            (out[:1], "result, seed 0"),
            (out[1:], "result, seed 1"),
            (scene, "the scene"),
        ]
        rows.append(_row(cells, title))
    return stack(rows)  # the rows are equally wide


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--out", type=Path, default=Path("docs/restore.png"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    build(args.steps).save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
