"""Make ``docs/editing.png``: SDEdit stroke edits at three strengths and two inpainting edits.

Usage::

    python scripts/editing_figure.py [--out docs/editing.png] [--steps 50] [--seed 0]

Runs the shipped default model on the CPU (a minute at most). Row 1: three coloured strokes
painted on a held-out scene, decoded from strengths 0.25, 0.5 and 0.8 (noise start). Row 2: a
shape removed (the shape's box masked and roughly painted over with the background, strength
0.2) and a shape replaced (a rough disc of another colour painted in the masked box, strength 0.3;
at 0.6 with harmonize 2 the model re-imagines it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from figure_grid import picture_row, stack  # noqa: E402

from ddim_studio.core.editing import edit, edit_cost  # noqa: E402
from ddim_studio.core.imaging import tensor_to_uint8  # noqa: E402
from ddim_studio.core.models import load_model  # noqa: E402
from ddim_studio.core.noise import ImageNoise  # noqa: E402
from ddim_studio.core.scenes import make_scenes, random_scene, to_model_range  # noqa: E402

HELD_OUT = 10_000  # the scenes' seed the shipped model never saw in training
STRENGTHS = (0.25, 0.5, 0.8)


def scene(index: int) -> np.ndarray:
    """Held-out scene ``index`` as a (32, 32, 3) uint8 array."""
    return make_scenes(1, seed=HELD_OUT, start=index)[0]


def paint_strokes(picture: np.ndarray) -> np.ndarray:
    """Three rough coloured strokes, as a user would paint them."""
    img = Image.fromarray(picture)
    draw = ImageDraw.Draw(img)
    draw.line([(3, 6), (13, 4), (22, 7)], fill=(235, 40, 40), width=3)
    draw.line([(4, 27), (14, 22), (26, 26)], fill=(250, 220, 40), width=3)
    draw.line([(27, 4), (28, 14), (26, 21)], fill=(40, 90, 240), width=3)
    return np.asarray(img)


def shape_mask(index: int, grow: int = 2) -> torch.Tensor:
    """A (1, 1, 32, 32) mask of 1 over the shape's box of held-out scene ``index``, grown by ``grow`` px."""
    attrs = random_scene(np.random.default_rng([HELD_OUT, index]))
    half = attrs.size * 32 / 2
    x0, x1 = int(attrs.cx * 32 - half) - grow, int(np.ceil(attrs.cx * 32 + half)) + grow
    y0, y1 = int(attrs.cy * 32 - half) - grow, int(np.ceil(attrs.cy * 32 + half)) + grow
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., max(0, y0) : y1, max(0, x0) : x1] = 1.0
    return mask


def fill_background(picture: np.ndarray, mask: torch.Tensor) -> np.ndarray:
    """Paint the masked pixels with each row's mean unmasked colour (a rough brush over the shape)."""
    out = picture.copy()
    m = mask[0, 0].numpy() > 0
    for y in range(out.shape[0]):
        keep = ~m[y]
        if m[y].any() and keep.any():
            out[y, m[y]] = picture[y, keep].mean(axis=0).round().astype(np.uint8)
    return out


def paint_disc(
    picture: np.ndarray, centre: tuple[int, int], radius: int, colour: tuple[int, int, int]
) -> np.ndarray:
    """A rough disc of ``colour`` painted over the picture."""
    img = Image.fromarray(picture)
    cx, cy = centre
    ImageDraw.Draw(img).ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=colour)
    return np.asarray(img)


def _tensor(picture: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(to_model_range(picture[None]))


def _run(model: object, picture: np.ndarray, seed: int, steps: int, **kwargs: object) -> np.ndarray:
    noise = ImageNoise([seed], (3, 32, 32))
    return tensor_to_uint8(edit(model, _tensor(picture), steps=steps, noise=noise, **kwargs))[0]  # type: ignore[arg-type]


def _overlay(picture: np.ndarray, mask: torch.Tensor) -> np.ndarray:
    """The picture with the mask drawn as a light translucent overlay."""
    m = mask[0, 0].numpy()[..., None]
    return (picture * (1 - 0.35 * m) + 255 * 0.35 * m).round().astype(np.uint8)


def build(model: object, steps: int, seed: int) -> Image.Image:
    """The whole figure."""
    base = scene(4)
    painted = paint_strokes(base)
    strokes = [(base, "held-out scene"), (painted, "3 painted strokes")]
    for r in STRENGTHS:
        cost = edit_cost(model, steps, r)  # type: ignore[arg-type]
        strokes.append(
            (_run(model, painted, seed, steps, strength=r), f"{r:g} · {cost.steps_run} of {steps} steps")
        )
    gone = scene(1)
    gone_mask = shape_mask(1)
    rough = fill_background(gone, gone_mask)
    removed = _run(model, rough, seed, steps, strength=0.2, mask=gone_mask)
    swap = scene(6)
    swap_mask = shape_mask(6)
    attrs = random_scene(np.random.default_rng([HELD_OUT, 6]))
    centre = (round(attrs.cx * 32), round(attrs.cy * 32))
    disc = paint_disc(fill_background(swap, swap_mask), centre, 6, (250, 220, 40))
    replaced = _run(model, disc, seed, steps, strength=0.3, mask=swap_mask)
    reimagined = _run(model, disc, seed, steps, strength=0.6, mask=swap_mask, harmonize=2)
    inpaint = [
        (gone, "scene"),
        (_overlay(rough, gone_mask), "painted over, masked"),
        (removed, "removed · 0.2"),
        (swap, "scene"),
        (_overlay(disc, swap_mask), "disc painted, masked"),
        (replaced, "replaced · 0.3"),
        (reimagined, "0.6 · harmonize 2"),
    ]
    rows = [
        picture_row(strokes, "SDEdit (start noise): strokes decoded from strength 0.25, 0.5, 0.8"),
        picture_row(
            inpaint, "Inpainting (start noise; the mask is the light box): pixels outside it are kept exactly"
        ),
    ]
    return stack(rows)


def main() -> None:
    """Parse the arguments, make the figure, save it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/editing.png"))
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, _ = load_model()
    build(model, args.steps, args.seed).save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
