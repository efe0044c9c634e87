"""Soft masks: outward feathering, the seam measure, and a feathered edit on the shipped model."""

from __future__ import annotations

import pytest
import torch

from ddim_studio.core.masks import check_feather, composite, feather_mask, feathered, seam_energy
from ddim_studio.core.models import load_model
from ddim_studio.core.scenes import make_scenes, to_model_range
from ddim_studio.operations import edit_images, run_to_end


def _box() -> torch.Tensor:
    hard = torch.zeros(1, 1, 16, 16)
    hard[..., 5:10, 5:10] = 1.0
    return hard


def test_feather_ramps_outward_and_leaves_far_pixels_kept() -> None:
    hard = _box()
    soft = feather_mask(hard, 3)
    assert torch.equal(feather_mask(hard, 0), hard)
    assert torch.equal(soft[hard == 1], hard[hard == 1])  # the masked region stays fully regenerated
    row = soft[0, 0, 7, 5:].tolist()  # from the box's left column to the right
    assert row[4] == 1.0 and row[5:9] == pytest.approx([0.75, 0.5, 0.25, 0.0])
    grown = torch.nn.functional.max_pool2d(hard, 7, stride=1, padding=3)
    assert float(soft[grown == 0].abs().max()) == 0.0  # beyond 3 px: exactly 0
    half = feather_mask(hard * 0.5, 1)
    assert float(half.max()) == 0.5 and float(half[0, 0, 7, 10]) == 0.25
    m_run, m_f = feathered(hard, 3)
    assert torch.equal(m_f, soft) and torch.equal(m_run, (soft > 0).float())  # the ring is regenerated
    with pytest.raises(ValueError, match="whole number of pixels from 0 to 32"):
        check_feather(-1)


def test_seam_energy_measures_the_steps_in_the_transition_zone() -> None:
    hard = _box()
    inside, outside = torch.tensor([1.0, -1.0, -1.0]), torch.tensor([-1.0, -1.0, -1.0])
    cut = (hard * inside[:, None, None] + (1 - hard) * outside[:, None, None]).expand(1, 3, 16, 16)
    soft = feather_mask(hard, 3)
    generated, kept = (
        inside[None, :, None, None].expand(1, 3, 16, 16),
        outside[None, :, None, None].expand(1, 3, 16, 16),
    )
    assert torch.equal(composite(generated, kept, hard), cut)
    blended = composite(generated, kept, soft)
    energy_cut, energy_blend = float(seam_energy(cut, hard, 3)[0]), float(seam_energy(blended, hard, 3)[0])
    assert (
        energy_cut > 0 and energy_blend < 0.5 * energy_cut
    )  # 4 steps of 1/4 across each edge (0.4 with corners)
    assert float(seam_energy(torch.zeros(2, 3, 16, 16), hard).max()) == 0.0


def test_shipped_feathered_edit_keeps_far_pixels_and_lowers_the_seam() -> None:
    model, _ = load_model()
    source = torch.from_numpy(to_model_range(make_scenes(8, seed=10_000)))
    hard = torch.zeros(1, 1, 32, 32)
    hard[..., 9:23, 9:23] = 1.0
    energies = []
    for feather in (0, 6):
        run = edit_images(model, source, list(range(8)), strength=1.0, mask=hard, steps=20, feather=feather)
        out = run_to_end(run)
        kept = (feather_mask(hard, feather) == 0).expand_as(out.images)
        assert torch.equal(out.images[kept], source[kept])  # pixels the feathered mask keeps: bit-exact
        energies.append(float(seam_energy(out.images, hard).mean()))
    assert energies[1] < 0.85 * energies[0], energies
