"""The command line's refined inversion (``--refine K``) and DPM-Solver++ (``--sampler dpmpp-2m``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from ddim_studio.cli import build_parser, main
from ddim_studio.core.imaging import read_params
from ddim_studio.core.inversion import inversion_calls
from ddim_studio.core.schedule import make_timesteps


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    image = Image.new("RGB", (16, 16), (200, 30, 60))
    image.paste((20, 160, 90), (4, 4, 12, 12))
    image.save(path)
    return path


def test_encode_with_refine_reports_the_mse_and_the_calls(
    tiny_model_dir: Path, photo: Path, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    common = ["encode", str(photo), "--model", str(tiny_model_dir), "--steps", "50", "--json"]
    plain = run_cli(capsys, *common, "--out", str(tmp_path / "plain"))
    refined = run_cli(capsys, *common, "--refine", "4", "--out", str(tmp_path / "refined"))
    p, r = plain["results"][0], refined["results"][0]
    assert plain["refine"] == 0 and refined["refine"] == 4
    assert p["inversion_calls"] == 50 and p["calls"] == 100  # S to invert, S to decode
    assert 50 < r["inversion_calls"] <= inversion_calls(50, 4) and r["calls"] == r["inversion_calls"] + 50
    assert 0 < r["mse"] < p["mse"]  # the refined inversion gives the picture back more exactly
    params = read_params(tmp_path / "refined" / "photo-recon.png")
    assert params is not None and params["refine"] == 4 and params["mse"] == r["mse"]


@pytest.mark.parametrize("value", ["11", "-1", "two"])
def test_refine_outside_0_to_10_exits_2_with_one_line(value: str, capsys) -> None:  # type: ignore[no-untyped-def]
    for command in (["encode", "a.png"], ["interpolate", "a.png", "seed:1"]):
        with pytest.raises(SystemExit, match="^2$") as exc:  # the message is on stderr, checked below
            build_parser().parse_args([*command, "--refine", value])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "--refine" in err


def test_interpolate_refines_picture_ends_and_records_it(
    tiny_model_dir: Path, photo: Path, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    common = ["interpolate", "seed:1", str(photo), "--frames", "3", "--model", str(tiny_model_dir)]
    summary = run_cli(capsys, *common, "--steps", "4", "--refine", "2", "--out", str(tmp_path), "--json")
    params = read_params(Path(summary["files"][0]))
    assert params is not None and params["refine"] == 2
    seeds_only = ["interpolate", "seed:1", "seed:2", "--frames", "3", "--model", str(tiny_model_dir)]
    summary = run_cli(capsys, *seeds_only, "--steps", "4", "--refine", "2", "--out", str(tmp_path), "--json")
    params = read_params(Path(summary["files"][0]))
    assert params is not None and "refine" not in params  # nothing was inverted


def test_dpmpp_defaults_to_trailing_spacing_unless_spacing_is_given(
    tiny_model_dir: Path, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    common = ["sample", "-n", "1", "--steps", "5", "--model", str(tiny_model_dir), "--json"]
    dpm = run_cli(capsys, *common, "--sampler", "dpmpp-2m", "--out", str(tmp_path / "a"))
    assert dpm["timesteps"] == make_timesteps(5, 1000, "trailing")
    params = read_params(tmp_path / "a" / "seed-000000.png")
    assert params is not None and params["spacing"] == "trailing" and params["sampler"] == "dpmpp-2m"
    chosen = run_cli(
        capsys, *common, "--sampler", "dpmpp-2m", "--spacing", "uniform", "--out", str(tmp_path / "b")
    )
    assert chosen["timesteps"] == make_timesteps(5, 1000, "uniform")
    ddim = run_cli(capsys, *common, "--out", str(tmp_path / "c"))
    assert ddim["timesteps"] == make_timesteps(5, 1000, "uniform")  # DDIM keeps the paper's default


def test_help_says_dpmpp_uses_trailing_spacing(capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit, match="^0$"):  # --help exits 0 after printing
        build_parser().parse_args(["sample", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "trailing with --sampler dpmpp-2m" in text


def test_eta_with_dpmpp_is_refused_in_one_line(tiny_model_dir: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    argv = ["sample", "--model", str(tiny_model_dir), "--sampler", "dpmpp-2m", "--eta", "0.5"]
    assert main([*argv, "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "--eta 0.5 applies to DDIM only" in err and "deterministic" in err
    assert not any(tmp_path.iterdir())  # refused before anything was written
