"""operations.guide and operations.extend: checks before the run, chunking, saved parameters."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ddim_studio.core.imaging import read_params, tensor_to_pils
from ddim_studio.core.models.oracles import GaussianOracle
from ddim_studio.core.saved_params import validate_params
from ddim_studio.core.schedule import NoiseSchedule
from ddim_studio.operations.extend import extend_picture, save_extend
from ddim_studio.operations.guide import guide_images, guide_params, save_guide
from ddim_studio.operations.run import run_to_end

MODEL = GaussianOracle(0.0, 0.5, (3, 16, 16), NoiseSchedule.linear())
REFERENCE = torch.linspace(-1, 1, 16).reshape(1, 1, 1, 16).expand(1, 3, 16, 16).contiguous()


def test_guide_refuses_bad_settings_before_running() -> None:
    with pytest.raises(ValueError, match="divide"):
        guide_images(MODEL, REFERENCE, [0], factor=3)
    with pytest.raises(ValueError, match="deterministic"):
        guide_images(MODEL, REFERENCE, [0], factor=4, eta=0.5, sampler="dpmpp-2m")
    with pytest.raises(ValueError, match="at least one seed"):
        guide_images(MODEL, REFERENCE, [], factor=4)
    with pytest.raises(ValueError, match="Until"):
        guide_images(MODEL, REFERENCE, [0], factor=4, until=1.0)


def test_guide_pictures_do_not_depend_on_the_batch_size_and_params_read_back(tmp_path: Path) -> None:
    one = run_to_end(guide_images(MODEL, REFERENCE, [3, 4, 5], factor=4, steps=5, eta=0.3, batch_size=3))
    two = run_to_end(guide_images(MODEL, REFERENCE, [3, 4, 5], factor=4, steps=5, eta=0.3, batch_size=2))
    assert torch.equal(one.images, two.images)
    assert torch.allclose(one.coarse[..., 6:-6], REFERENCE[..., 6:-6], atol=0.01)  # a ramp survives
    params = guide_params(one, 1, info=None, steps=5, clip_sample=False, source="ramp.png")
    image, reference = tensor_to_pils(one.images[1:2])[0], tensor_to_pils(REFERENCE)[0]
    item = save_guide(tmp_path, image, params, stem="g", reference=reference)
    clean, bad = validate_params(read_params(item.png))
    assert bad == [] and clean["kind"] == "guide" and clean["seed"] == 4 and clean["factor"] == 4
    assert (tmp_path / "g.source.png").is_file()


def test_extend_runs_one_stage_per_step_and_saves_steps_and_panorama(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="leaves nothing"):
        extend_picture(MODEL, REFERENCE, direction="down", by=15)
    with pytest.raises(ValueError, match="Harmonize"):
        extend_picture(MODEL, REFERENCE, direction="down", by=4, harmonize=1, sampler="dpmpp-2m")
    run = extend_picture(MODEL, REFERENCE, direction="down", by=4, times=3, steps=4, seed=7)
    chunks = set()
    for _ in run:
        chunks.add(run.stage.chunk)
    out = run.result
    assert chunks == {0, 1, 2} and run.calls == 12 and len(out.frames) == 4
    assert out.panorama.shape == (1, 3, 16 + 3 * 4, 16)
    pictures = [tensor_to_pils(f)[0] for f in out.frames]
    files, pano = save_extend(
        tmp_path, out, stem="walk", info=None, pictures=pictures, panorama=tensor_to_pils(out.panorama)[0]
    )
    assert [f.name for f in files] == ["walk-step1.png", "walk-step2.png", "walk-step3.png"]
    clean, bad = validate_params(read_params(files[2]))
    assert bad == [] and clean["step"] == 3 and clean["seed"] == 9 and clean["direction"] == "down"
    assert validate_params(read_params(pano))[0]["panorama"] is True
