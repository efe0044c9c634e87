"""``ddim-studio restore`` on a tiny real model: files, JSON, consistency, grey masks, one-line refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ddim_studio.cli import main
from ddim_studio.core.imaging import read_params


def _picture(path: Path, size: int, grey: bool = False) -> Path:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    (image.convert("L") if grey else image).save(path)
    return path


def _run(capsys: pytest.CaptureFixture[str], model: Path, *argv: str) -> dict:
    assert main(["restore", *argv, "--model", str(model), "--steps", "4", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_upscale_writes_consistent_pictures_with_params(tmp_path: Path, capsys, tiny_model_dir: Path) -> None:
    small = _picture(tmp_path / "small.png", 4)
    summary = _run(capsys, tiny_model_dir, str(small), "--task", "upscale", "--factor", "2", "-n", "2",
                   "--out", str(tmp_path / "out"))  # fmt: skip
    assert summary["model_calls"] == 4 and len(summary["timesteps"]) == 4 and len(summary["files"]) == 2
    assert max(summary["consistency_error"]) <= 1 / 255
    saved = np.asarray(Image.open(summary["files"][0]).convert("RGB"), dtype=np.float64)
    pooled = saved.reshape(4, 2, 4, 2, 3).mean(axis=(1, 3))
    assert np.abs(pooled - np.asarray(Image.open(small), dtype=np.float64)).max() <= 1.0  # 8-bit rounding
    params = read_params(summary["files"][0])
    assert params["kind"] == "restore" and params["task"] == "upscale" and params["factor"] == 2
    assert Path(summary["files"][0]).with_name("small-restore-000000.source.png").is_file()


def test_colorize_and_grey_mask_inpaint(tmp_path: Path, capsys, tiny_model_dir: Path) -> None:
    grey = _picture(tmp_path / "grey.png", 8, grey=True)
    summary = _run(capsys, tiny_model_dir, str(grey), "--task", "colorize", "--out", str(tmp_path / "c"))
    out = np.asarray(Image.open(summary["files"][0]).convert("RGB"), dtype=np.float64)
    assert np.abs(out.mean(axis=2) - np.asarray(Image.open(grey), dtype=np.float64)).max() <= 1.0
    pic = _picture(tmp_path / "pic.png", 8)
    mask = np.zeros((8, 8), np.uint8)
    mask[:, 4:] = 255
    mask[:, 3] = 128  # a grey column: partly filled
    Image.fromarray(mask).save(tmp_path / "mask.png")
    m = str(tmp_path / "mask.png")
    args = [str(pic), "--task", "inpaint", "--mask", m, "--out", str(tmp_path / "i")]
    summary = _run(capsys, tiny_model_dir, *args)
    out = np.asarray(Image.open(summary["files"][0]).convert("RGB"))
    assert np.array_equal(out[:, :3], np.asarray(Image.open(pic))[:, :3])
    assert summary["method"] == "ddnm"
    assert summary["consistency_error"] == [0.0]  # over the pixels the mask keeps


def test_wrong_size_is_refused_in_one_line_or_resized(tmp_path: Path, capsys, tiny_model_dir: Path) -> None:
    big = _picture(tmp_path / "big.png", 8)
    code = main(["restore", str(big), "--task", "upscale", "--factor", "4", "--model", str(tiny_model_dir),
                 "--out", str(tmp_path / "o")])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and err[-1].endswith("the picture must be 2×2; this one is 8×8.")
    assert not (tmp_path / "o").exists()
    summary = _run(capsys, tiny_model_dir, str(big), "--task", "upscale", "--factor", "4", "--resize",
                   "--out", str(tmp_path / "o"))  # fmt: skip
    assert summary["resized"] and "resized to 2×2" in summary["notes"][0]
    assert main(["restore", str(big), "--task", "inpaint", "--model", str(tiny_model_dir)]) == 1
    assert "needs --mask" in capsys.readouterr().err
