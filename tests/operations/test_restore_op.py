"""The restore operation and Edit's feather: checks before running, per-seed results, parameters, files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from ddim_studio.core.imaging import read_params, tensor_to_pils
from ddim_studio.core.masks import feather_mask
from ddim_studio.core.noise import ImageNoise
from ddim_studio.core.restore import restore
from ddim_studio.core.schedule import NoiseSchedule
from ddim_studio.operations import edit_images, run_to_end
from ddim_studio.operations.edit import edit_params
from ddim_studio.operations.restore import prepare_input, restore_images, restore_params, save_restore
from tests.helpers.models import UNetModel, tiny_unet


@pytest.fixture(scope="module")
def model() -> UNetModel:
    return UNetModel(tiny_unet(seed=2), NoiseSchedule.linear())


def _small() -> torch.Tensor:
    return torch.linspace(-0.8, 0.8, 3 * 4 * 4).reshape(1, 3, 4, 4)


def test_restore_matches_the_core_per_seed_and_reports_consistency(model: UNetModel, tmp_path: Path) -> None:
    stages = []
    out = run_to_end(
        restore_images(model, _small(), [3, 8], task="upscale", factor=2, steps=5, batch_size=1),
        lambda r, _s: stages.append(r.stage),
    )
    assert {s.phase for s in stages} == {"restore"} and stages[0].total == out.calls == 5
    for i, seed in enumerate(out.seeds):
        core = restore(
            model, _small(), task="upscale", factor=2, steps=5, noise=ImageNoise([seed], (3, 8, 8))
        )
        assert torch.allclose(out.images[i : i + 1], core, atol=1e-5)
    assert max(out.consistency) < 1e-5 and len(out.timesteps) == 5
    params = restore_params(out, 1, info=None, clip_sample=False, source="small.png")
    assert params["kind"] == "restore" and params["task"] == "upscale" and params["factor"] == 2
    assert params["seed"] == 8 and "method" not in params
    source = Image.fromarray((((_small()[0] + 1) * 127.5).round().byte().permute(1, 2, 0)).numpy())
    item = save_restore(tmp_path, tensor_to_pils(out.images)[1], params, stem="r", source=source)
    assert read_params(item.png)["consistency_error"] == params["consistency_error"]
    assert item.png.with_name("r.source.png").is_file()


def test_bad_inputs_are_refused_before_running(model: UNetModel) -> None:
    with pytest.raises(ValueError, match="must be 2×2; this one is 4×4"):
        prepare_input(model, Image.new("RGB", (4, 4)), "upscale", 4)
    picture, notes = prepare_input(
        model, Image.new("RGB", (12, 12), (200, 30, 30)), "colorize", 4, resize=True
    )
    assert picture.size == (8, 8) and "resized to 8×8" in notes[0] and "its grey" in notes[1]
    with pytest.raises(ValueError, match="at least one seed"):
        restore_images(model, _small(), [], task="upscale", factor=2)
    with pytest.raises(ValueError, match="deterministic"):
        restore_images(model, _small(), [0], task="upscale", factor=2, eta=0.5, sampler="dpmpp-2m")
    with pytest.raises(ValueError, match="upscale, colorize or inpaint"):
        restore_images(model, _small(), [0], task="deblur")


def test_edit_feather_blends_and_keeps_far_pixels(model: UNetModel) -> None:
    source = torch.linspace(-0.8, 0.8, 3 * 8 * 8).reshape(1, 3, 8, 8)
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 3:5, 3:5] = 1.0
    out = run_to_end(edit_images(model, source, [1], strength=1.0, mask=mask, steps=4, feather=2))
    assert out.feather == 2 and torch.equal(out.mask, mask)  # the mask as painted is what is saved
    feathered = feather_mask(mask, 2)
    keep = feathered[0, 0] == 0
    assert torch.equal(out.images[:, :, keep], source[:, :, keep])
    ring = (feathered[0, 0] > 0) & (feathered[0, 0] < 1)
    assert (out.images[:, :, ring] - source[:, :, ring]).abs().max() > 1e-3  # the ramp is blended
    fill = run_to_end(restore_images(model, source, [1], task="inpaint", mask=mask, steps=4, feather=2))
    assert torch.equal(fill.images[:, :, keep], source[:, :, keep]) and max(fill.consistency) == 0.0
    assert restore_params(fill, 0, info=None, clip_sample=False)["feather"] == 2
    assert edit_params(out, 0, info=None, steps=4, spacing="uniform", clip_sample=False)["feather"] == 2
