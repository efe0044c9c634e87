"""The command line on a tiny latent diffusion model: --json says latent, x_T is a latent, the
pictures have the decoded size, Encode reports the autoencoder's floor, --latent-scale and
--no-quantize reach the model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from ddim_studio.cli import main
from ddim_studio.core.latents import load_latent
from tests.helpers.ldm import PHOTO, save_ldm_folder


@pytest.fixture(scope="module")
def ldm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_ldm_folder(tmp_path_factory.mktemp("cli") / "tiny_ldm", "vq", scaling_factor=None)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[dict, str]:
    assert main(list(argv)) == 0
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err


def test_sample_json_says_latent_and_saves_latent_x_T(ldm_dir: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "s"
    summary, err = run_cli(
        capsys, "sample", "--model", str(ldm_dir), "-n", "1", "--steps", "4", "--save-latents", "--json",
        "--out", str(out),
    )  # fmt: skip
    space = summary["model_space"]
    assert space["space"] == "latent" and space["autoencoder"] == "vq"
    assert space["latent_shape"] == [3, 8, 8] and space["picture_shape"] == [3, 16, 16]
    assert space["latent_scale"] == 1.0 and "no scaling_factor" in space["latent_scale_reason"]
    assert "latent diffusion: VQ autoencoder" in err
    png = sorted(out.glob("*.png"))[0]
    assert Image.open(png).size == (16, 16)
    x_T, _ = load_latent(png.with_suffix(".safetensors"))
    assert tuple(x_T.shape[-3:]) == (3, 8, 8)


def test_encode_reports_the_floor(ldm_dir: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    summary, err = run_cli(
        capsys, "encode", str(PHOTO), "--model", str(ldm_dir), "--steps", "5", "--json",
        "--out", str(tmp_path / "e"),
    )  # fmt: skip
    row = summary["results"][0]
    assert 0 < row["floor_mse"] and "floor_psnr" in row
    assert "the autoencoder alone: PSNR" in err


def test_latent_scale_and_no_quantize(ldm_dir: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    common = ["sample", "--model", str(ldm_dir), "-n", "1", "--steps", "4", "--json"]
    plain, _ = run_cli(capsys, *common, "--out", str(tmp_path / "a"))
    raw, _ = run_cli(capsys, *common, "--no-quantize", "--out", str(tmp_path / "b"))
    scaled, _ = run_cli(capsys, *common, "--latent-scale", "0.5", "--out", str(tmp_path / "c"))
    assert (
        scaled["model_space"]["latent_scale"] == 0.5
        and "by hand" in scaled["model_space"]["latent_scale_reason"]
    )
    pictures = [Image.open(sorted((tmp_path / d).glob("*.png"))[0]).tobytes() for d in "abc"]
    assert pictures[0] != pictures[1] and pictures[0] != pictures[2]
    assert plain["model_space"]["latent_scale"] == raw["model_space"]["latent_scale"] == 1.0


def test_a_bad_latent_scale_is_one_line(capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit, match="^2$") as exit_info:  # the message is on stderr
        main(["sample", "--latent-scale", "-1"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "latent scale must be a positive number" in err and err.count("\n") == 1
