"""Extend by panning (core/extend.py): kept pixels exact beyond the feather, the panorama's size,
and seams no rougher than the picture itself on the shipped model."""

from __future__ import annotations

import pytest
import torch

from ddim_studio.core.extend import (
    DIRECTIONS,
    Pan,
    band_mask,
    check_band,
    composite,
    extend,
    gradient_energy,
    interior_energy,
    seam_energy,
    shift,
    stitch,
)
from ddim_studio.core.models import load_model
from ddim_studio.core.models.oracles import GaussianOracle
from ddim_studio.core.scenes import make_scenes, to_model_range
from ddim_studio.core.schedule import NoiseSchedule

K, R, FEATHER = 8, 2, 2


def _kept_region(direction: str, size: int, by: int, feather: int) -> tuple[int, slice, slice]:
    """(axis, kept slice in the new frame, the same pixels in the old frame), beyond the feather."""
    pan = Pan.of(direction)
    keep = size - by - feather
    if pan.forward:
        return pan.axis, slice(0, keep), slice(by, by + keep)
    return pan.axis, slice(size - keep, size), slice(size - keep - by, size - by)


def _take(x: torch.Tensor, axis: int, s: slice) -> torch.Tensor:
    return x[:, :, s, :] if axis == 2 else x[:, :, :, s]


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_shift_and_mask_agree_on_the_band(direction: str) -> None:
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    moved = shift(x, direction, 3)
    mask = band_mask((8, 8), direction, 3, feather=2)
    axis, new, old = _kept_region(direction, 8, 3, 0)
    assert torch.equal(_take(moved, axis, new), _take(x, axis, old))
    values = sorted({round(float(v), 4) for v in mask.unique()})
    assert values == [0.0, 0.3333, 0.6667, 1.0]  # the band, a two-pixel ramp, then exactly 0
    assert float(mask.sum()) == pytest.approx(8 * (3 + 1))  # 3 band lines + (2/3 + 1/3) of a line of ramp
    with pytest.raises(ValueError, match="leaves nothing"):
        check_band(7, 8, feather=1)
    with pytest.raises(ValueError, match="direction"):
        Pan.of("sideways")


def test_composite_keeps_the_source_bit_for_bit_where_the_mask_is_zero() -> None:
    source = torch.rand(1, 3, 8, 8) * 2 - 1
    mask = band_mask((8, 8), "right", 2, feather=2)
    out = composite(torch.rand(1, 3, 8, 8) * 10, source, mask)
    assert torch.equal(out[..., :4], source[..., :4])
    assert not torch.equal(out[..., 4:], source[..., 4:])


def test_stitch_places_each_frame_in_its_window() -> None:
    frames = [torch.full((1, 3, 4, 8), float(r)) for r in range(3)]
    right = stitch(frames, "right", 2)
    assert right.shape == (1, 3, 4, 12)
    assert right[0, 0, 0].tolist() == [0, 0, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2]
    up = stitch([f.transpose(2, 3) for f in frames], "up", 2)
    assert up.shape == (1, 3, 12, 4)
    assert up[0, 0, :, 0].tolist() == [2] * 8 + [1, 1, 0, 0]


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_every_step_keeps_what_stays_in_the_frame(direction: str) -> None:
    model = GaussianOracle(0.0, 0.5, (3, 16, 16), NoiseSchedule.linear())
    start = torch.rand(1, 3, 16, 16) * 2 - 1
    frames, strip = extend(model, start, direction=direction, by=4, times=R, seed=3, steps=5, feather=FEATHER)
    axis, new, old = _kept_region(direction, 16, 4, FEATHER)
    for before, after in zip(frames[:-1], frames[1:], strict=True):
        assert torch.equal(_take(after, axis, new), _take(before, axis, old))
    expected = (16, 16 + R * 4) if axis == 3 else (16 + R * 4, 16)
    assert tuple(strip.shape[2:]) == expected


def test_gradient_energy_measures_joins() -> None:
    x = torch.zeros(1, 3, 4, 6)
    x[..., 3:] = 1.0  # one step between columns 2 and 3
    energy = gradient_energy(x, 3)[0]
    assert energy.tolist() == [0.0, 0.0, 3.0, 0.0, 0.0]
    assert interior_energy(x, "right") == pytest.approx(3.0 / 5)


@pytest.mark.parametrize("direction", ["right", "up"])
def test_shipped_model_panorama_seams_are_no_rougher_than_the_picture(direction: str) -> None:
    model, _ = load_model()
    seams, insides = [], []
    for scene in (5, 11):
        start = torch.from_numpy(to_model_range(make_scenes(1, seed=scene)))
        frames, strip = extend(model, start, direction=direction, by=K, times=R, seed=scene, steps=12)
        axis = Pan.of(direction).axis
        assert strip.shape[axis] == 32 + R * K
        seams.append(seam_energy(strip, direction, K, R, 32, FEATHER))
        insides.append(interior_energy(start, direction))
    assert sum(seams) <= sum(insides), (seams, insides)
