"""``ddim-studio edit`` on the shipped model: files, parameters, companions and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ddim_studio.cli import main
from ddim_studio.core.imaging import read_params

STEPS = "6"


def _picture(path: Path, size: tuple[int, int] = (32, 32)) -> Path:
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def _mask(path: Path, size: tuple[int, int]) -> Path:
    m = np.zeros((size[1], size[0]), np.uint8)
    m[size[1] // 4 : 3 * size[1] // 4, size[0] // 4 : 3 * size[0] // 4] = 255
    Image.fromarray(m).save(path)
    return path


def _edit(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main(["edit", *argv, "--steps", STEPS, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_edit_writes_pictures_with_params_source_and_mask(tmp_path: Path, capsys) -> None:
    src, out = _picture(tmp_path / "cat.png"), tmp_path / "out"
    mask = _mask(tmp_path / "mask.png", (64, 64))  # twice the model's size: resized with a note
    summary = _edit(capsys, str(src), "--mask", str(mask), "--strength", "0.5", "-n", "2", "--seed", "3",
                    "--out", str(out))  # fmt: skip
    assert [Path(p).name for p in summary["files"]] == ["cat-edit-000003.png", "cat-edit-000004.png"]
    assert summary["model_calls"] == 3 and summary["t_start"] == summary["timesteps"][0]
    assert any("resized" in note for note in summary["notes"])
    params = read_params(out / "cat-edit-000004.png")
    assert params is not None and params["kind"] == "edit" and params["seed"] == 4
    assert params["strength"] == 0.5 and params["start"] == "noise" and params["mask"] is True
    assert params["sampler"] == "ddim" and params["source"] == "cat.png"
    assert (out / "cat-edit-000004.source.png").is_file()
    saved_mask = np.asarray(Image.open(out / "cat-edit-000004.mask.png"))
    assert saved_mask.shape == (32, 32) and saved_mask[16, 16] == 255 and saved_mask[0, 0] == 0
    edited = np.asarray(Image.open(out / "cat-edit-000004.png").convert("RGB")).astype(int)
    source = np.asarray(Image.open(out / "cat-edit-000004.source.png").convert("RGB")).astype(int)
    assert np.abs(edited[:6, :6] - source[:6, :6]).max() <= 1  # kept corner = the source
    assert np.abs(edited[12:20, 12:20] - source[12:20, 12:20]).max() > 20  # the masked middle changed


def test_same_seed_gives_identical_files(tmp_path: Path, capsys) -> None:
    src = _picture(tmp_path / "p.png")
    a = _edit(capsys, str(src), "--strength", "0.4", "--out", str(tmp_path / "a"))
    b = _edit(capsys, str(src), "--strength", "0.4", "--out", str(tmp_path / "b"))
    assert Path(a["files"][0]).read_bytes() == Path(b["files"][0]).read_bytes()


@pytest.mark.parametrize(
    ("extra", "message", "code"),
    [
        (["--strength", "0"], "strength must be more than 0", 2),
        (["--strength", "1.5"], "strength must be more than 0", 2),
        (["--mask", "NOTIMG"], "is not an image", 1),
        (["--mask", "WIDE"], "must have the picture's shape", 1),
        (["--start", "invert"], "Nothing would change", 1),
        (["--mask", "BLACK"], "Nothing would change", 1),
        (["--harmonize", "2"], "needs a mask", 1),
        (["--refine", "2"], "--refine refines the inversion of --start invert", 1),
        (["--start", "invert", "--refine", "11"], "refine must be a whole number", 2),
    ],
)
def test_bad_input_exits_non_zero_with_one_line(
    tmp_path: Path, capsys, extra: list[str], message: str, code: int
) -> None:
    src = _picture(tmp_path / "p.png")
    (tmp_path / "notimg.png").write_text("hello")
    Image.fromarray(np.full((32, 48), 255, np.uint8)).save(tmp_path / "wide.png")
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / "black.png")
    names = {"NOTIMG": "notimg.png", "WIDE": "wide.png", "BLACK": "black.png"}
    argv = [str(tmp_path / names[a]) if a in names else a for a in extra]
    try:
        status = main(["edit", str(src), *argv, "--steps", STEPS, "--out", str(tmp_path / "o")])
    except SystemExit as exc:
        status = exc.code
    err = capsys.readouterr().err.strip()
    assert status == code
    assert message in err and len(err.splitlines()) == 1
    assert not list((tmp_path / "o").glob("*.png")) if (tmp_path / "o").exists() else True


def test_refined_invert_start_is_saved_and_reported(tmp_path: Path, capsys) -> None:
    src, mask = _picture(tmp_path / "p.png"), _mask(tmp_path / "m.png", (32, 32))
    plain = _edit(capsys, str(src), "--mask", str(mask), "--start", "invert", "--out", str(tmp_path / "a"))
    refined = _edit(
        capsys,
        str(src),
        "--mask",
        str(mask),
        "--start",
        "invert",
        "--refine",
        "2",
        "--out",
        str(tmp_path / "b"),
    )
    assert plain["refine"] == 0 and refined["refine"] == 2
    assert refined["model_calls"] > plain["model_calls"]  # the most calls a refined inversion may make
    assert read_params(Path(refined["files"][0]))["refine"] == 2
    assert "refine" not in read_params(Path(plain["files"][0]))


def test_edit_decodes_with_dpmpp_2m_and_saves_the_sampler(tmp_path: Path, capsys) -> None:
    src, mask = _picture(tmp_path / "p.png"), _mask(tmp_path / "m.png", (32, 32))
    out = _edit(capsys, str(src), "--mask", str(mask), "--sampler", "dpmpp-2m", "--out", str(tmp_path / "o"))
    assert out["sampler"] == "dpmpp-2m"
    params = read_params(Path(out["files"][0]))
    assert params["sampler"] == "dpmpp-2m" and params["spacing"] == "trailing"  # the sampler's default
    kept = np.asarray(Image.open(out["files"][0]))[:4, :4]  # a corner outside the mask
    assert np.array_equal(kept, np.asarray(Image.open(src))[:4, :4])
    status = main(["edit", str(src), "--mask", str(mask), "--sampler", "dpmpp-2m", "--harmonize", "1",
                   "--steps", STEPS, "--out", str(tmp_path / "h")])  # fmt: skip
    assert status == 1 and "multistep history" in capsys.readouterr().err
