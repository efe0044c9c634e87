"""Round three (issue 27) at the command line and in the operations: each finding as the issue wrote it.

1. ``edit --num 1000000000`` built a list of 10⁹ seeds; 3. a ``sample_size`` the UNet cannot take
failed at the first call with a traceback; 4. ``--harmonize`` had no upper bound; 5. a latent file
of several latents silently gave its first as an interpolation end; 6. a mask's transparency was
composited over white (regenerate everything); 8. SIGTERM left ``.tmp-`` files. Every command runs
as a person runs it (``main`` here, or ``python -m ddim_studio`` in a child) on a small real model.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import UNet2DModel
from PIL import Image

from ddim_studio.cli import Terminated
from ddim_studio.core.imaging import load_mask_image, read_params
from ddim_studio.core.latents import encode_latent
from ddim_studio.core.limits import MAX_HARMONIZE
from ddim_studio.core.models import load_model
from ddim_studio.core.models.protocol import ModelLoadError
from ddim_studio.core.saved_params import validate_params
from ddim_studio.operations.edit import check_edit
from tests.reliability.test_cli_round_two import (
    SCHEDULER,
    _model_dir,
    child,
    cli,
    one_error_line,
    rss_mib,
    wait_for,
)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _model_dir(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture
def picture(tmp_path: Path) -> Path:
    """An 8×8 picture (the tiny model's size): a gradient, so kept and changed pixels tell apart."""
    ramp = np.linspace(0, 255, 64, dtype=np.float32).reshape(8, 8)
    pixels = np.stack([ramp, ramp.T, 255 - ramp], axis=-1).astype(np.uint8)
    path = tmp_path / "pic.png"
    Image.fromarray(pixels).save(path)
    return path


# ---- 1. edit --num 1000000000 streams its seeds batch by batch


def test_edit_a_billion_streams_in_batches(model_dir: Path, picture: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = ["edit", str(picture), "--model", str(model_dir), "--out", str(out), "--num", "1000000000"]
    proc = child(*argv, "--steps", "2", "--batch-size", "2", "--strength", "0.5")
    try:
        found = wait_for(out, "pic-edit-*[0-9].png", 4, proc, limit=120)
        rss = rss_mib(proc.pid) if proc.poll() is None else 0.0
        assert proc.poll() is None, proc.communicate()[1][-2000:]
    finally:
        proc.kill()
        proc.wait()
    assert found >= 4 and rss < 1500  # a list of a billion seeds alone would be ~36 GB


def test_edit_in_batches_makes_the_pictures_of_one_run(
    model_dir: Path, picture: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Batch by batch, the files are those of one batch: the same seeds, the same pixels."""
    common = [str(picture), "--model", str(model_dir), "--steps", "3", "--num", "3", "--json"]
    runs = {}
    for batch in ("1", "3"):
        code, out, err = cli(capsys, "edit", *common, "--out", str(tmp_path / batch), "--batch-size", batch)
        assert code == 0, err
        runs[batch] = json.loads(out)
    assert runs["1"]["seeds"] == runs["3"]["seeds"] == [0, 1, 2]
    for one, three in zip(runs["1"]["files"], runs["3"]["files"], strict=True):
        a, b = np.asarray(Image.open(one)), np.asarray(Image.open(three))
        assert Path(one).name == Path(three).name and np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_edit_refuses_seeds_past_the_largest_before_loading(
    picture: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, _, err = cli(
        capsys, "edit", str(picture), "--out", str(out), "--seed", str(2**63 - 2), "--num", "5"
    )
    assert code == 1 and "asks for seeds up to" in one_error_line(err, "edit") and not out.exists()


# ---- 3. a sample_size the UNet's levels cannot take is refused at load


def _sized_model(folder: Path, size: int | list[int], levels: int = 2) -> Path:
    torch.manual_seed(1)
    UNet2DModel(
        sample_size=size,
        block_out_channels=(8,) * levels,
        layers_per_block=1,
        down_block_types=("DownBlock2D",) * levels,
        up_block_types=("UpBlock2D",) * levels,
        norm_num_groups=4,
    ).save_pretrained(folder)
    (folder / "scheduler_config.json").write_text(json.dumps(SCHEDULER))
    return folder


@pytest.mark.parametrize(
    ("size", "levels", "step"), [(1, 2, 2), (7, 2, 2), ([8, 6], 3, 4), (12, 4, 8)], ids=str
)
def test_a_sample_size_the_unet_cannot_take_is_refused_at_load_with_the_sizes_that_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], size: int | list[int], levels: int, step: int
) -> None:
    folder = _sized_model(tmp_path / "model", size, levels)
    with pytest.raises(ModelLoadError, match=rf"must be a multiple of {step} \({step}, {2 * step}, "):
        load_model(str(folder))
    out = tmp_path / "out"
    code, _, err = cli(capsys, "sample", "--model", str(folder), "--out", str(out), "--num", "1")
    line = one_error_line(err, "sample")
    assert code == 1 and f"does not fit its {levels} resolution levels" in line and not out.exists()


def test_a_sample_size_that_fits_its_levels_still_loads_and_samples(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _sized_model(tmp_path / "model", 6, 2)  # 6 → 3 → 6: a multiple of 2
    code, _, err = cli(capsys, "sample", "--model", str(folder), "--out", str(tmp_path / "o"), "--num", "1")
    assert code == 0, err


# ---- 4. one harmonize bound: the command line, the operations and saved parameters


def test_harmonize_above_the_bound_is_refused_in_one_line(
    model_dir: Path, picture: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["edit", str(picture), "--model", str(model_dir), "--out", str(out), "--mask", str(picture)]
    with pytest.raises(SystemExit, match="^2$") as exit_info:  # the message is on stderr, checked below
        cli(capsys, *argv, "--harmonize", "1000000")
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1
    assert f"harmonize must be a whole number from 0 to {MAX_HARMONIZE}, got 1000000" in err
    mask = torch.ones(1, 1, 8, 8)
    settings = {"strength": 0.5, "start": "noise", "eta": 0.0, "sampler": "ddim"}
    check_edit(mask, harmonize=MAX_HARMONIZE, **settings)  # the bound itself is taken
    with pytest.raises(ValueError, match=f"0 to {MAX_HARMONIZE} times; {MAX_HARMONIZE + 1} is outside"):
        check_edit(mask, harmonize=MAX_HARMONIZE + 1, **settings)
    clean, bad = validate_params({"harmonize": MAX_HARMONIZE + 1})
    assert bad == ["harmonize"] and "harmonize" not in clean
    assert validate_params({"harmonize": MAX_HARMONIZE})[0] == {"harmonize": MAX_HARMONIZE}
    assert not out.exists()


# ---- 5. a latent file of several latents as an interpolation end


@pytest.fixture
def three_latents(tmp_path: Path) -> tuple[Path, torch.Tensor]:
    x_T = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(5))
    path = tmp_path / "many.safetensors"
    path.write_bytes(encode_latent(x_T, {"kind": "sample"}))
    return path, x_T


def test_a_file_of_several_latents_as_an_end_is_refused_with_how_to_pick_one(
    model_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    three_latents: tuple[Path, torch.Tensor],
) -> None:
    many, _ = three_latents
    out = tmp_path / "out"
    argv = ["interpolate", str(many), "seed:1", "--model", str(model_dir), "--out", str(out), "--frames", "3"]
    code, _, err = cli(capsys, *argv)
    line = one_error_line(err, "interpolate")
    assert code == 1 and "many.safetensors holds 3 latents; an end needs one — pick one with" in line
    assert "many.safetensors#N, N from 0 to 2" in line and not out.exists()
    code, _, err = cli(capsys, *argv[:1], f"{many}#3", *argv[2:])
    assert code == 1 and "holds 3 latents (#0 to #2); there is no latent #3" in one_error_line(
        err, "interpolate"
    )


def test_name_hash_n_picks_that_latent_of_the_file(
    model_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    three_latents: tuple[Path, torch.Tensor],
) -> None:
    many, x_T = three_latents
    single = tmp_path / "two.safetensors"
    single.write_bytes(encode_latent(x_T[2], {"kind": "sample"}))
    strips = []
    for end, out in ((f"{many}#2", "picked"), (str(single), "single")):
        argv = ["interpolate", end, "seed:1", "--model", str(model_dir), "--out", str(tmp_path / out)]
        code, summary, err = cli(capsys, *argv, "--frames", "3", "--steps", "2", "--json")
        assert code == 0, err
        strips.append(np.asarray(Image.open(json.loads(summary)["files"][0])))
    assert np.array_equal(strips[0], strips[1])


# ---- 6. a mask's alpha is coverage: transparent = keep


def _strokes_mask(path: Path) -> Path:
    """White strokes (the top-left 4×4) on a transparent background that is white underneath."""
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., :3] = 255  # colour white everywhere: only the alpha says where the strokes are
    rgba[:4, :4, 3] = 255
    Image.fromarray(rgba, "RGBA").save(path)
    return path


def test_a_transparent_mask_reads_as_keep(tmp_path: Path) -> None:
    clear = tmp_path / "clear.png"
    Image.new("RGBA", (8, 8), (255, 255, 255, 0)).save(clear)
    assert np.asarray(load_mask_image(clear).image.convert("L")).max() == 0
    grey = np.asarray(load_mask_image(_strokes_mask(tmp_path / "m.png")).image.convert("L"))
    assert (grey[:4, :4] == 255).all() and (grey[4:, :] == 0).all() and (grey[:, 4:] == 0).all()


def test_white_strokes_on_transparent_regenerate_only_the_strokes(
    model_dir: Path, picture: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mask = _strokes_mask(tmp_path / "strokes.png")
    argv = ["edit", str(picture), "--mask", str(mask), "--model", str(model_dir), "--strength", "1"]
    code, out, err = cli(capsys, *argv, "--steps", "3", "--out", str(tmp_path / "out"), "--json")
    assert code == 0, err
    result = np.asarray(Image.open(json.loads(out)["files"][0])).astype(int)
    source = np.asarray(Image.open(picture)).astype(int)
    keep = np.ones((8, 8), bool)
    keep[:4, :4] = False
    assert np.abs(result[keep] - source[keep]).max() <= 1  # kept pixels are the source's
    assert np.abs(result[~keep] - source[~keep]).max() > 8  # the strokes were regenerated
    assert read_params(json.loads(out)["files"][0])["mask"] is True


# ---- 8. SIGTERM is handled like SIGINT: exit 143, one line, no temp file left


SIGTERM_IN_THE_BLOCK = """
import os, signal
from ddim_studio.cli import Terminated, sigterm_interrupts
before = signal.getsignal(signal.SIGTERM)
try:
    with sigterm_interrupts():
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(10_000):  # the handler runs between bytecodes
            pass
    print("not raised")
except Terminated:
    print("raised", signal.getsignal(signal.SIGTERM) == before)
"""


def test_sigterm_inside_the_block_raises_terminated_and_the_handler_is_restored() -> None:
    """In a fresh interpreter. Sent to the pytest process itself, the signal killed the whole suite
    with SIGSEGV in two of three CI runs this round, after some 1,300 tests had left their threads
    and native libraries in that process (alone the test passed); the cause was not pinned down."""
    done = subprocess.run(
        [sys.executable, "-c", SIGTERM_IN_THE_BLOCK], capture_output=True, text=True, timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["raised", "True"]
    assert issubclass(Terminated, KeyboardInterrupt)  # every clean-up written for Ctrl+C runs


@pytest.mark.parametrize("command", ["sample", "edit", "decode"])
def test_sigterm_during_a_command_exits_143_with_one_line_and_no_temp_file(
    model_dir: Path, picture: Path, tmp_path: Path, command: str
) -> None:
    out = tmp_path / "out"
    first = {
        "sample": ["sample", "--num", "1000000000"],
        "edit": ["edit", str(picture), "--num", "1000000000"],
        "decode": ["decode", str(tmp_path / "many.safetensors")],
    }[command]
    if command == "decode":
        (tmp_path / "many.safetensors").write_bytes(encode_latent(torch.randn(20_000, 3, 8, 8), {}))
    proc = child(*first, "--model", str(model_dir), "--out", str(out), "--steps", "2", "--batch-size", "1")
    try:
        found = wait_for(out, "*.png", 3, proc, limit=120)
        assert found >= 3 and proc.poll() is None, proc.communicate()[1][-2000:]
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    lines = [line.rsplit("\r", 1)[-1] for line in err.splitlines()]
    lines = [line for line in lines if line.strip()]
    assert proc.returncode == 143, err[-2000:]
    assert (
        lines[-1] == "ddim-studio: terminated; files written so far are complete." and "Traceback" not in err
    )
    assert not [p.name for p in out.iterdir() if ".tmp-" in p.name]
