"""The edit operation: the core's edit per seed, checks before running, saving with source and mask."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from ddim_studio.core import editing
from ddim_studio.core.imaging import read_params, tensor_to_pils
from ddim_studio.core.noise import ImageNoise
from ddim_studio.core.schedule import NoiseSchedule
from ddim_studio.core.store import OutputStore
from ddim_studio.operations import build_params, edit_images, run_to_end
from ddim_studio.operations.edit import edit_files, edit_params, fit_mask, mask_picture, save_edit
from tests.helpers.models import UNetModel, tiny_unet


@pytest.fixture(scope="module")
def model() -> UNetModel:
    return UNetModel(tiny_unet(seed=2), NoiseSchedule.linear())


def _source() -> torch.Tensor:
    return torch.linspace(-0.8, 0.8, 3 * 8 * 8).reshape(1, 3, 8, 8)


def _mask() -> torch.Tensor:
    m = torch.zeros(1, 1, 8, 8)
    m[..., 2:6, 2:6] = 1.0
    return m


def test_edit_matches_the_core_per_seed_and_keeps_the_unmasked_pixels(model: UNetModel) -> None:
    run = edit_images(
        model, _source(), [4, 9], strength=0.5, mask=_mask(), steps=6, harmonize=1, batch_size=1
    )
    stages = []
    out = run_to_end(run, lambda r, _s: stages.append(r.stage))
    assert {s.phase for s in stages} == {"edit"} and {s.chunk for s in stages} == {0, 1}
    assert stages[0].total == out.calls == 6  # 3 decode steps + 3 harmonize redos
    assert out.seeds == (4, 9) and out.t_start == out.timesteps[0] and out.images.shape == (2, 3, 8, 8)
    for i, seed in enumerate(out.seeds):
        noise = ImageNoise([seed], (3, 8, 8))
        core = editing.edit(model, _source(), strength=0.5, mask=_mask(), steps=6, harmonize=1, noise=noise)
        assert torch.allclose(out.images[i : i + 1], core, atol=1e-5)
    keep = _mask()[0, 0] == 0
    assert torch.equal(out.images[:, :, keep], _source().expand(2, -1, -1, -1)[:, :, keep])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"strength": 0.0}, "strength"),
        ({"start": "invert"}, "Nothing would change"),
        ({"mask": torch.zeros(1, 1, 8, 8)}, "keeps every pixel"),
        ({"harmonize": 1}, "needs a mask"),
        ({"sampler": "plms"}, "Unknown sampler .plms.; choose one of"),
    ],
)
def test_bad_edits_fail_before_running(model: UNetModel, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        edit_images(model, _source(), [0], **{"strength": 0.5, "steps": 4, **kwargs})


def test_fit_mask_notes_a_resize_and_refuses_another_aspect_ratio() -> None:
    fitted, note = fit_mask(Image.new("L", (16, 16), 255), (8, 8))
    assert fitted.shape == (1, 1, 8, 8) and float(fitted.min()) == 1.0 and "16×16" in note
    same, none = fit_mask(torch.ones(8, 8), (8, 8))
    assert same.shape == (1, 1, 8, 8) and none == ""
    with pytest.raises(ValueError, match="shape"):
        fit_mask(Image.new("L", (16, 8)), (8, 8))


def test_save_edit_keeps_source_and_mask_beside_and_the_store_moves_them(
    model: UNetModel, tmp_path: Path
) -> None:
    out = run_to_end(edit_images(model, _source(), [1], strength=0.3, mask=_mask(), steps=4))
    params = edit_params(out, 0, info=None, steps=4, spacing="uniform", clip_sample=False, source="a.png")
    assert params == build_params(
        "edit", info=None, steps=4, spacing="uniform", timesteps=out.timesteps, seed=1, strength=0.3,
        start="noise", harmonize=0, t_start=out.t_start, model_calls=out.calls, mask=True, source="a.png",
    )  # fmt: skip
    source = tensor_to_pils(_source())[0]
    for _ in range(2):  # the second save bumps the whole group's stem
        item = save_edit(tmp_path, tensor_to_pils(out.images)[0], params, stem="e", source=source,
                         mask=mask_picture(out.mask))  # fmt: skip
    assert item.png.name == "e-1.png" and read_params(item.png)["strength"] == 0.3
    src_path, mask_path = edit_files(item.png)
    assert src_path is not None and mask_path is not None and mask_path.name == "e-1.mask.png"
    assert Image.open(mask_path).getpixel((3, 3)) == 255 and Image.open(mask_path).getpixel((0, 0)) == 0
    store = OutputStore(tmp_path)
    assert sorted(i.png.name for i in store.list_items()) == ["e-1.png", "e.png"]  # companions not listed
    trashed = store.delete(item)
    assert (
        trashed is not None
        and edit_files(trashed.png)[1] is not None
        and edit_files(item.png) == (None, None)
    )
    restored = store.restore(trashed)
    assert all(p is not None for p in edit_files(restored.png))


class _NaNModel:
    """The tiny model with its output poisoned: what a broken checkpoint in float16 gives."""

    def __init__(self, inner: UNetModel) -> None:
        self.inner, self.schedule, self.sample_shape = inner, inner.schedule, inner.sample_shape

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.inner(x, t) * float("nan")


def test_a_model_that_gives_nan_is_reported_not_saved(model: UNetModel) -> None:
    from ddim_studio.core.limits import NonFiniteError

    with pytest.raises(NonFiniteError, match="not numbers"):
        run_to_end(edit_images(_NaNModel(model), _source(), [0], strength=0.5, steps=4))  # type: ignore[arg-type]
