"""``ddim-studio guide`` and ``ddim-studio extend`` on the shipped model: files, parameters, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ddim_studio.cli import main
from ddim_studio.core.imaging import read_params
from ddim_studio.core.scenes import make_scenes

STEPS = "4"


def _scene(path: Path) -> Path:
    Image.fromarray(make_scenes(1, seed=777)[0]).save(path)
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main([*argv, "--steps", STEPS, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_guide_writes_each_picture_with_its_reference_and_params(tmp_path: Path, capsys) -> None:
    ref, out = _scene(tmp_path / "ref.png"), tmp_path / "out"
    summary = _run(capsys, "guide", str(ref), "--factor", "8", "--until", "0.2", "--num", "2", "--seed", "5",
                   "--out", str(out))  # fmt: skip
    assert [Path(p).name for p in summary["files"]] == ["ref-guide-N8-000005.png", "ref-guide-N8-000006.png"]
    params = read_params(out / "ref-guide-N8-000006.png")
    assert params is not None and params["kind"] == "guide" and params["seed"] == 6
    assert params["factor"] == 8 and params["until"] == 0.2 and params["source"] == "ref.png"
    beside = np.asarray(Image.open(out / "ref-guide-N8-000006.source.png"))
    assert np.array_equal(beside, np.asarray(Image.open(ref)))


def test_guide_refuses_a_factor_that_does_not_divide_in_one_line(tmp_path: Path, capsys) -> None:
    ref = _scene(tmp_path / "ref.png")
    assert main(["guide", str(ref), "--factor", "3", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "choose one of 1, 2, 4, 8, 16, 32" in err[0]
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())
    with pytest.raises(SystemExit, match="^2$"):  # argparse's usage error; its line is on stderr
        main(["guide", str(ref), "--factor", "4", "--until", "1"])
    assert "until must be at least 0 and below 1" in capsys.readouterr().err


def test_extend_writes_every_step_and_the_panorama(tmp_path: Path, capsys) -> None:
    src, out = _scene(tmp_path / "pic.png"), tmp_path / "out"
    summary = _run(capsys, "extend", str(src), "--direction", "left", "--by", "6", "--times", "2",
                   "--seed", "1", "--out", str(out))  # fmt: skip
    names = [Path(p).name for p in summary["files"]]
    assert names == ["pic-extend-left-step1.png", "pic-extend-left-step2.png"]
    panorama = Image.open(summary["panorama"])
    assert panorama.size == (32 + 2 * 6, 32) and summary["panorama_size"] == [44, 32]
    step2 = np.asarray(Image.open(out / names[1]))
    assert np.array_equal(np.asarray(panorama)[:, :32], step2)  # the last step is the panorama's left end
    kept = np.asarray(Image.open(src))[:, 2 : 32 - 6]  # beyond the 2-pixel feather: the source exactly
    assert np.array_equal(np.asarray(Image.open(out / names[0]))[:, 6 + 2 :], kept)
    params = read_params(out / names[1])
    assert params is not None and params["kind"] == "extend" and params["step"] == 2 and params["seed"] == 2
    assert params["direction"] == "left" and params["by"] == 6 and params["times"] == 2


def test_extend_refuses_a_band_wider_than_the_picture(tmp_path: Path, capsys) -> None:
    src = _scene(tmp_path / "pic.png")
    assert main(["extend", str(src), "--direction", "up", "--by", "31", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "leaves nothing" in err[0]
