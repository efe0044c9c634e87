"""A model's thumbnail: sampled from the model itself, tiled, kept under a key of its weights."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ddim_studio.core.imaging import tensor_to_uint8
from ddim_studio.core.models import load_model
from ddim_studio.core.models.loader import DEFAULT_MODEL_DIR
from ddim_studio.operations import thumbnails
from ddim_studio.operations.sample import sample_seeds


@pytest.fixture
def model_folder(tmp_path: Path) -> Path:
    return Path(shutil.copytree(DEFAULT_MODEL_DIR, tmp_path / "shapes32"))


def test_the_thumbnail_is_four_pictures_sampled_from_the_model(model_folder: Path, tmp_path: Path) -> None:
    root = tmp_path / "thumbs"
    assert thumbnails.cached_thumbnail(model_folder, root) is None
    path = thumbnails.make_thumbnail(model_folder, backend="torch", precision="exact", root=root)
    assert path is not None and thumbnails.cached_thumbnail(model_folder, root) == path
    sheet = np.asarray(Image.open(path).convert("RGB"))
    assert sheet.shape == (64, 64, 3)  # 2 × 2 tiles of the 32-px pictures
    model, _info = load_model(model_folder)
    run = sample_seeds(model, range(4), steps=thumbnails.THUMBNAIL_STEPS, sampler="dpmpp-2m", batch_size=4)
    for _step in run:
        pass
    pictures = tensor_to_uint8(run.result.images)
    assert np.array_equal(sheet[:32, 32:], pictures[1]) and np.array_equal(sheet[32:, 32:], pictures[3])
    assert not [p for p in root.iterdir() if p.suffix != ".png"]  # no temporary file left


def test_changed_weights_get_a_new_thumbnail_and_a_gone_folder_none(
    model_folder: Path, tmp_path: Path
) -> None:
    root = tmp_path / "thumbs"
    pictures = np.zeros((1, 256, 200, 3), np.uint8)
    path = thumbnails.save_thumbnail(model_folder, pictures, root)
    assert Image.open(path).size == (100, thumbnails.TILE)  # one tile, its long side at most TILE
    weights = model_folder / "diffusion_pytorch_model.safetensors"
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert thumbnails.cached_thumbnail(model_folder, root) is None
    shutil.rmtree(model_folder)
    assert thumbnails.cached_thumbnail(model_folder, root) is None
    with pytest.raises(ValueError, match="at least one picture"):
        thumbnails.save_thumbnail(tmp_path, pictures[:0], root)


def test_a_stopped_thumbnail_writes_nothing(model_folder: Path, tmp_path: Path) -> None:
    root = tmp_path / "thumbs"
    made = thumbnails.make_thumbnail(model_folder, backend="torch", should_stop=lambda: True, root=root)
    assert made is None and not root.exists()


def test_a_large_model_makes_one_picture() -> None:
    assert thumbnails.thumbnail_pictures(113_700_000, (3, 256, 256)) == 1
    assert thumbnails.thumbnail_pictures(1_100_000, (3, 32, 32)) == 4
