"""Procedural "shapes over a gradient" scenes: the default model's training data.

Each scene has independent attributes — background top and bottom colours, a shape kind (circle,
square, triangle), its colour, size and position — so interpolating between two latents of a
model trained on them visibly morphs one attribute set into another. Scenes are drawn at 4× the
target size and box-filtered down, so edges are anti-aliased. Scene ``i`` of seed ``s`` is the
same on every machine: each scene draws from its own ``numpy`` generator seeded by ``(s, i)``.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle")
SUPERSAMPLE = 4


@dataclass(frozen=True)
class Scene:
    """The attributes of one scene; sizes and positions are fractions of the image side."""

    top: tuple[int, int, int]
    bottom: tuple[int, int, int]
    shape: str
    colour: tuple[int, int, int]
    size: float
    cx: float
    cy: float


def _random_colour(
    rng: np.random.Generator, saturation: tuple[float, float], value: tuple[float, float]
) -> tuple[int, int, int]:
    h = rng.uniform(0.0, 1.0)
    s = rng.uniform(*saturation)
    v = rng.uniform(*value)
    r, g, b = colorsys.hsv_to_rgb(h, s, v)
    return (round(r * 255), round(g * 255), round(b * 255))


def random_scene(rng: np.random.Generator) -> Scene:
    """Draw the attributes of one scene: a muted background and a vivid shape that stands out."""
    top = _random_colour(rng, (0.2, 0.7), (0.3, 0.9))
    bottom = _random_colour(rng, (0.2, 0.7), (0.3, 0.9))
    colour = _random_colour(rng, (0.7, 1.0), (0.6, 1.0))
    size = float(rng.uniform(0.3, 0.6))
    margin = size / 2 + 0.04
    cx = float(rng.uniform(margin, 1 - margin))
    cy = float(rng.uniform(margin, 1 - margin))
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    return Scene(top=top, bottom=bottom, shape=shape, colour=colour, size=size, cx=cx, cy=cy)


def render_scene(scene: Scene, size: int = 32) -> np.ndarray:
    """Render a scene as an (H, W, 3) uint8 array of side ``size``."""
    big = size * SUPERSAMPLE
    ramp = np.linspace(0.0, 1.0, big, dtype=np.float32)[:, None, None]
    top = np.asarray(scene.top, dtype=np.float32)
    bottom = np.asarray(scene.bottom, dtype=np.float32)
    background = (1 - ramp) * top + ramp * bottom
    canvas = Image.fromarray(np.broadcast_to(background, (big, big, 3)).round().astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    half = scene.size * big / 2
    cx, cy = scene.cx * big, scene.cy * big
    if scene.shape == "circle":
        draw.ellipse((cx - half, cy - half, cx + half, cy + half), fill=scene.colour)
    elif scene.shape == "square":
        side = half * 0.85  # a square looks larger than a circle of the same width
        draw.rectangle((cx - side, cy - side, cx + side, cy + side), fill=scene.colour)
    else:
        draw.polygon(
            [(cx, cy - half), (cx + half, cy + half * 0.8), (cx - half, cy + half * 0.8)],
            fill=scene.colour,
        )
    return np.asarray(canvas.resize((size, size), Image.Resampling.BOX))


def make_scenes(count: int, seed: int = 0, size: int = 32, start: int = 0) -> np.ndarray:
    """Scenes ``start … start + count − 1`` of ``seed`` as an (N, H, W, 3) uint8 array."""
    if count < 0:
        raise ValueError(f"count must be non-negative, got {count}.")
    out = np.empty((count, size, size, 3), dtype=np.uint8)
    for k in range(count):
        rng = np.random.default_rng([seed, start + k])
        out[k] = render_scene(random_scene(rng), size)
    return out


def to_model_range(images: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W, 3) → float32 (N, 3, H, W) in [−1, 1]."""
    return (images.astype(np.float32) / 127.5 - 1.0).transpose(0, 3, 1, 2).copy()
