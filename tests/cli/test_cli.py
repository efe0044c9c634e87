"""The command line, run as a user runs it: files written, summaries, errors in one line."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ddim_studio.cli import main
from ddim_studio.core.imaging import read_params
from ddim_studio.core.latents import load_latent
from ddim_studio.core.noise import initial_noise


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_sample_writes_images_latents_and_params(tiny_model_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    summary = run_cli(
        capsys,
        "sample",
        "--model",
        str(tiny_model_dir),
        "--num",
        "3",
        "--seed",
        "5",
        "--steps",
        "4",
        "--eta",
        "0.5",
        "--save-latents",
        "--out",
        str(out),
        "--json",
    )
    assert summary["seeds"] == [5, 6, 7]
    assert len(summary["timesteps"]) == 4
    pngs = sorted(out.glob("*.png"))
    assert [p.name for p in pngs] == ["seed-000005.png", "seed-000006.png", "seed-000007.png"]
    params = read_params(pngs[1])
    assert params is not None and params["seed"] == 6 and params["eta"] == 0.5
    assert params["timesteps"] == summary["timesteps"] and params["clip_sample"] is False
    x_T, saved = load_latent(out / "seed-000006.safetensors")
    assert torch.equal(x_T, initial_noise([6], (3, 8, 8))[0][0])
    assert saved["seed"] == 6


def test_sample_resumes_exactly_and_batch_size_changes_only_round_off(
    tiny_model_dir: Path, tmp_path: Path, capsys
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    common = ["--model", str(tiny_model_dir), "--num", "4", "--steps", "3", "--eta", "1", "--json"]
    run_cli(capsys, "sample", *common, "--batch-size", "4", "--out", str(a))
    run_cli(capsys, "sample", *common, "--batch-size", "1", "--out", str(b))
    for name in ("seed-000000.png", "seed-000003.png"):
        pa, pb = (torch.from_numpy(np.array(Image.open(d / name))).int() for d in (a, b))
        assert int((pa - pb).abs().max()) <= 1  # convolution kernels differ per batch shape
    kept = (a / "seed-000002.png").read_bytes()
    (a / "seed-000002.png").unlink()
    again = run_cli(capsys, "sample", *common, "--batch-size", "4", "--out", str(a))
    assert again["skipped"] == [0, 1, 3] and [Path(f).name for f in again["files"]] == ["seed-000002.png"]
    assert (a / "seed-000002.png").read_bytes() == kept


def test_resume_completes_a_picture_whose_latent_was_not_placed(
    tiny_model_dir: Path, tmp_path: Path, capsys
) -> None:
    """A save killed between its two files leaves the PNG alone; the resumed run adds the latent."""
    out = tmp_path / "out"
    common = ["--model", str(tiny_model_dir), "--num", "3", "--steps", "3", "--save-latents", "--json"]
    run_cli(capsys, "sample", *common, "--out", str(out))
    latent = out / "seed-000001.safetensors"
    x_T, params = load_latent(latent)
    png = (out / "seed-000001.png").read_bytes()
    latent.unlink()
    again = run_cli(capsys, "sample", *common, "--out", str(out))
    assert again["skipped"] == [0, 2] and [Path(f).name for f in again["files"]] == [latent.name]
    x_again, params_again = load_latent(latent)
    assert torch.equal(x_again, x_T) and params_again == params
    assert (out / "seed-000001.png").read_bytes() == png
    assert sorted(p.name for p in out.iterdir()) == [
        f"seed-00000{i}{suffix}" for i in range(3) for suffix in (".png", ".safetensors")
    ]


def test_encode_decode_round_trip(tiny_model_dir: Path, tmp_path: Path, capsys) -> None:
    image = tmp_path / "photo.png"
    Image.new("RGB", (40, 20), (200, 30, 60)).save(image)
    summary = run_cli(
        capsys,
        "encode",
        str(image),
        "--model",
        str(tiny_model_dir),
        "--steps",
        "20",
        "--out",
        str(tmp_path / "enc"),
        "--json",
    )
    result = summary["results"][0]
    assert result["mse"] > 0 and result["psnr"] == pytest.approx(10 * math.log10(1 / result["mse"]))
    latent = tmp_path / "enc" / "photo-recon.safetensors"
    assert latent.exists() and (tmp_path / "enc" / "photo-recon.png").exists()
    decoded = run_cli(
        capsys,
        "decode",
        str(latent),
        "--model",
        str(tiny_model_dir),
        "--steps",
        "20",
        "--out",
        str(tmp_path / "dec"),
        "--json",
    )
    again = Image.open(decoded["files"][0])
    first = Image.open(tmp_path / "enc" / "photo-recon.png")
    assert np.array_equal(
        np.asarray(again), np.asarray(first)
    )  # decode is the exact inverse of encode's decode


def test_interpolate_writes_strip_and_gif(tiny_model_dir: Path, tmp_path: Path, capsys) -> None:
    summary = run_cli(
        capsys,
        "interpolate",
        "seed:1",
        "seed:2",
        "--frames",
        "5",
        "--batch-size",
        "2",
        "--model",
        str(tiny_model_dir),
        "--steps",
        "3",
        "--out",
        str(tmp_path),
        "--json",
    )
    strip, gif = (Path(f) for f in summary["files"])
    assert Image.open(strip).size == (8 * 5, 8)
    with Image.open(gif) as anim:
        assert anim.n_frames == 5 + 3  # there and back


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sample", "--eta", "2"], "eta must lie between 0"),
        (["sample", "--steps", "0"], "must be at least 1"),
        (["sample", "--spacing", "cosine"], "invalid choice"),
        (["frobnicate"], "invalid choice"),
        # words, never the name of the function that parsed it ("invalid seed_arg value: 'abc'")
        (["sample", "--seed", "abc"], "argument --seed: must be a whole number, got 'abc'"),
        (["sample", "--eta", "nan"], "must be a finite number, got 'nan'"),
        (["sample", "--latent-scale", "1e9"], "the latent scale must be a positive number, got 1e9"),
        (["extend", "x.png", "--direction", "left", "--by", "4", "--feather", "40"], "from 0 to 32 pixels"),
        (["restore", "x.png", "--task", "inpaint", "--feather", "40"], "from 0 to 32 pixels"),
        (["restore", "x.png", "--task", "upscale", "--factor", "two"], "must be a whole number"),
        (["train", "--steps", "many"], "must be a whole number, got 'many'"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv: list[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit, match="^2$") as exc:  # the message is on stderr, checked below
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert "_arg" not in err and "int value" not in err and "float value" not in err


def test_user_errors_exit_1_with_one_line(tiny_model_dir: Path, tmp_path: Path, capsys) -> None:
    assert main(["sample", "--model", str(tmp_path / "missing"), "--out", str(tmp_path)]) == 1
    assert main(["sample", "--model", str(tiny_model_dir), "--steps", "1001", "--out", str(tmp_path)]) == 1
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    assert main(["encode", str(bad), "--model", str(tiny_model_dir), "--out", str(tmp_path)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    lines = [line for line in lines if not line.startswith("note: ")]  # the config's clip_sample note
    assert len(lines) == 3 and all(line.startswith("ddim-studio ") for line in lines)


def test_out_is_checked_before_the_model_loads_and_made_only_to_save(tmp_path: Path, capsys) -> None:
    """A file as --out is named before a missing model is looked for; a failed run creates no --out."""
    (tmp_path / "taken").write_text("x")
    assert main(["sample", "--model", str(tmp_path / "missing"), "--out", str(tmp_path / "taken")]) == 1
    assert main(["sample", "--model", str(tmp_path / "missing"), "--out", str(tmp_path / "new")]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and "taken is a file; choose a folder" in lines[0] and "missing" in lines[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_a_rerun_with_the_same_settings_skips_quietly_and_reports_every_seed(
    tiny_model_dir: Path, tmp_path: Path, capsys
) -> None:
    common = ["sample", "--model", str(tiny_model_dir), "--num", "3", "--steps", "2", "--json"]
    first = run_cli(capsys, *common, "--out", str(tmp_path))
    assert first["skipped"] == [] and len(first["files"]) == 3
    assert first["kept_other_parameters"] == [] and first["made_by_another_run"] == []
    assert main([*common, "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    again = json.loads(captured.out)
    assert again["skipped"] == [0, 1, 2] and again["files"] == [] and "kept" not in captured.err
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"seed-00000{s}.png" for s in range(3)]


def test_two_processes_write_the_same_files_as_one(tiny_model_dir: Path, tmp_path: Path) -> None:
    """torchrun with 2 CPU processes (gloo) shards the seeds; the files equal a 1-process run."""
    args = [
        "sample",
        "--model",
        str(tiny_model_dir),
        "-n",
        "5",
        "--steps",
        "3",
        "--eta",
        "0.5",
        "--device",
        "cpu",
        "--batch-size",
        "2",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    single, multi = tmp_path / "one", tmp_path / "two"
    subprocess.run(
        [sys.executable, "-m", "ddim_studio", *args, "--out", str(single)], check=True, env=env, timeout=120
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_port",
            "29517",
            "-m",
            "ddim_studio",
            *args,
            "--out",
            str(multi),
        ],
        check=True,
        env=env,
        timeout=180,
    )
    names = sorted(p.name for p in single.iterdir())
    assert names == sorted(p.name for p in multi.iterdir()) and len(names) == 5
    for name in names:
        assert (single / name).read_bytes() == (multi / name).read_bytes()


def test_cli_choices_match_the_core() -> None:
    from ddim_studio import cli
    from ddim_studio.core.models.loader import DTYPES
    from ddim_studio.core.schedule import SPACINGS

    assert cli.SPACINGS == SPACINGS and cli.DTYPE_NAMES == tuple(DTYPES)


def test_starting_the_window_does_not_import_torch_first() -> None:
    """``ddim-studio`` parses its arguments without torch, so the window is drawn before the engine loads."""
    code = (
        "import sys; from ddim_studio.cli import build_parser; build_parser().parse_args([]); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "False"
