"""Round two (issue 17) at the command line and in the operations both front ends share.

NaN pictures were written with exit 0; ``sample --num 1000000000`` and ``interpolate --frames
1000000000`` ran out of memory; ``decode`` ignored ``--batch-size``; ``--out`` naming a file, a
read-only folder or a 300-byte name gave tracebacks; two runs into one ``--out`` wrote every seed
twice; a rerun with other settings skipped everything silently; a full disk left the strip of an
interpolation without its GIF. Every command here is run as a person runs it (``main`` in this
process, or ``python -m ddim_studio`` in a child) on a small real model.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
from PIL import Image

from ddim_studio.cli import main
from ddim_studio.core.imaging import read_params
from ddim_studio.core.latents import encode_latent, save_latent
from ddim_studio.core.limits import NonFiniteError
from ddim_studio.core.noise import initial_noise
from ddim_studio.core.saved_params import utf8_text
from ddim_studio.core.schedule import NoiseSchedule
from ddim_studio.operations import decode_latents, encode_images, interpolate, resolve_endpoint, sample_seeds
from ddim_studio.operations.interpolation import MAX_INTERPOLATION_FRAMES, Endpoint
from ddim_studio.operations.outputs import claim
from tests.helpers.models import UNetModel, tiny_unet

ROOT = Path(__file__).resolve().parents[2]
SCHEDULER = {
    "_class_name": "DDIMScheduler",
    "num_train_timesteps": 1000,
    "beta_schedule": "linear",
    "prediction_type": "epsilon",
}


def _model_dir(folder: Path, *, overflow: bool = False) -> Path:
    unet = tiny_unet(seed=1)
    if overflow:  # huge but finite weights: the loader takes them, the output overflows to ±inf
        with torch.no_grad():
            unet.conv_out.weight.fill_(3e38)
    unet.save_pretrained(folder)
    (folder / "scheduler_config.json").write_text(json.dumps(SCHEDULER))
    return folder


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _model_dir(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="module")
def overflow_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _model_dir(tmp_path_factory.mktemp("overflow-model"), overflow=True)


@pytest.fixture(scope="module")
def overflow_model() -> UNetModel:
    unet = tiny_unet(seed=1)
    with torch.no_grad():
        unet.conv_out.weight.fill_(3e38)
    return UNetModel(unet, NoiseSchedule.linear())


@pytest.fixture(scope="module")
def model() -> UNetModel:
    return UNetModel(tiny_unet(seed=1), NoiseSchedule.linear())


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_error_line(err: str, command: str) -> str:
    # what stays on the terminal: a progress bar redraws itself after "\r" and is wiped at its end
    lines = [line.rsplit("\r", 1)[-1] for line in err.split("\n")]
    lines = [line for line in lines if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"ddim-studio {command}: error: "), err
    assert "Traceback" not in err and "Error:" not in lines[0].split("error: ", 1)[1]
    return lines[0]


def child(*argv: str, **popen: object) -> subprocess.Popen[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "ddim_studio", *argv],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,  # type: ignore[call-overload]
    )


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_for(folder: Path, pattern: str, count: int, proc: subprocess.Popen[str], limit: float) -> int:
    """Wait until ``count`` files match (or the child ends, or ``limit`` s pass); how many matched."""
    deadline = time.monotonic() + limit
    found = 0
    while time.monotonic() < deadline and proc.poll() is None:
        found = len(list(folder.glob(pattern))) if folder.is_dir() else 0
        if found >= count:
            break
        time.sleep(0.2)
    return found


# ---- 1. a non-finite result is an error, not a file


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["sample", "--num", "2", "--steps", "2"], id="sample"),
        pytest.param(["interpolate", "seed:1", "seed:2", "--frames", "3", "--steps", "2"], id="interpolate"),
    ],
)
def test_a_model_whose_output_overflows_writes_no_picture(
    overflow_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    out = tmp_path / "out"
    code, _, err = cli(capsys, *argv, "--model", str(overflow_dir), "--out", str(out))
    line = one_error_line(err, argv[0])
    assert code == 1 and "values that are not numbers" in line and "nothing was saved" in line
    assert not out.exists() or not list(out.iterdir())


def test_a_model_whose_output_overflows_is_refused_by_every_operation(overflow_model: UNetModel) -> None:
    with pytest.raises(NonFiniteError, match=r"The batch of seeds 3–4 holds 384 of 384 values"):
        list(sample_seeds(overflow_model, [3, 4], steps=2))
    with pytest.raises(NonFiniteError, match="The encoded latent holds"):
        list(encode_images(overflow_model, torch.zeros(1, 3, 8, 8), steps=2))
    a, b = Endpoint(torch.zeros(3, 8, 8)), Endpoint(torch.ones(3, 8, 8))
    with pytest.raises(NonFiniteError, match="The batch of frames 1–2 holds"):
        list(interpolate(overflow_model, a, b, frames=3, steps=2, batch_size=2))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_one_non_finite_value_in_a_given_input_is_refused_before_any_model_call(
    model: UNetModel, value: float
) -> None:
    x = torch.randn(2, 3, 8, 8)
    x[1, 2, 3, 4] = value
    with pytest.raises(NonFiniteError, match=r"latents to decode holds 1 of 384 values"):
        decode_latents(model, x, steps=2)  # refused when called, before iterating
    with pytest.raises(NonFiniteError, match="pictures to encode holds 1 of 384"):
        list(encode_images(model, x, steps=2))
    with pytest.raises(NonFiniteError, match="Endpoint B holds 1 of 192"):
        list(interpolate(model, Endpoint(x[0]), Endpoint(x[1]), frames=3, steps=2))


# ---- 2, 3. memory: batches checked before allocating, counts streamed or capped


def test_a_batch_too_large_for_memory_is_refused_with_the_figure_and_a_size_that_fits(
    model_dir: Path, model: UNetModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ValueError, match=r"A batch of 400000 needs about 9\.2 GiB .* 349525 or less"):
        list(sample_seeds(model, range(400_000), steps=2, batch_size=400_000))
    out = tmp_path / "out"
    argv = ["sample", "--model", str(model_dir), "--out", str(out), "--steps", "2"]
    code, _, err = cli(capsys, *argv, "--num", "400000", "--batch-size", "400000")
    line = one_error_line(err, "sample")
    assert code == 1 and "9.2 GiB" in line and "use a batch size of 349525 or less" in line
    assert not out.exists()  # refused before anything was made


def test_sample_a_billion_streams_in_batches(model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = child(
        "sample",
        "--model",
        str(model_dir),
        "--out",
        str(out),
        "--num",
        "1000000000",
        "--steps",
        "1",
        "--batch-size",
        "2",
    )
    try:
        found = wait_for(out, "seed-*.png", 4, proc, limit=120)
        rss = rss_mib(proc.pid) if proc.poll() is None else 0.0
        assert proc.poll() is None, proc.communicate()[1][-2000:]
    finally:
        proc.kill()
        proc.wait()
    assert found >= 4 and rss < 1500  # a list of a billion seeds alone would be ~36 GB


@pytest.mark.parametrize("frames", [1_000_000_000, MAX_INTERPOLATION_FRAMES + 1])
def test_interpolate_refuses_more_frames_than_its_stated_limit_at_once(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], frames: int
) -> None:
    out = tmp_path / "out"
    code, _, err = cli(
        capsys,
        "interpolate",
        "seed:1",
        "seed:2",
        "--model",
        str(model_dir),
        "--out",
        str(out),
        "--frames",
        str(frames),
    )
    line = one_error_line(err, "interpolate")
    assert code == 1 and f"at most {MAX_INTERPOLATION_FRAMES:,} frames" in line and f"{frames:,}" in line
    assert not out.exists()


def test_interpolate_refuses_frames_whose_pictures_would_not_fit_in_memory() -> None:
    class Big:  # a 4-channel 4096² model: what core.limits still lets load
        sample_shape = (4, 4096, 4096)
        schedule = NoiseSchedule.linear()

    with pytest.raises(ValueError, match=r"at most 9 frames of this model's size .* 16 were asked for"):
        interpolate(Big(), Endpoint(torch.zeros(1)), Endpoint(torch.zeros(1)), frames=16)  # type: ignore[arg-type]


# ---- 4, 5. decode streams by --batch-size and carries only known fields


def test_decode_of_twenty_thousand_latents_with_batch_size_1_streams(model_dir: Path, tmp_path: Path) -> None:
    latents = tmp_path / "many.safetensors"
    latents.write_bytes(encode_latent(torch.randn(20_000, 3, 8, 8), {"kind": "sample"}))
    out = tmp_path / "out"
    proc = child(
        "decode",
        str(latents),
        "--model",
        str(model_dir),
        "--out",
        str(out),
        "--steps",
        "2",
        "--batch-size",
        "1",
    )
    try:  # 40,000 model calls before the first save would take minutes
        found = wait_for(out, "many-*-decoded.png", 3, proc, limit=60)
        running = proc.poll() is None
    finally:
        proc.kill()
        proc.wait()
    assert found >= 3 and running  # pictures saved while the other 19,997 are still to decode


def test_decode_saves_each_batch_exactly_as_one_at_a_time(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    latents = tmp_path / "five.safetensors"
    save_latent(latents, initial_noise(range(5), (3, 8, 8))[0], {"kind": "sample"})
    common = ["decode", str(latents), "--model", str(model_dir), "--steps", "2", "--json"]
    code, out2, _ = cli(capsys, *common, "--batch-size", "2", "--out", str(tmp_path / "b2"))
    assert code == 0
    names = sorted(Path(f).name for f in json.loads(out2)["files"])
    assert names == [f"five-{i}-decoded.png" for i in range(5)]
    assert main([*common, "--batch-size", "5", "--out", str(tmp_path / "b5")]) == 0
    for name in names:
        a, b = (torch.from_numpy(np.array(Image.open(tmp_path / d / name))).int() for d in ("b2", "b5"))
        assert int((a - b).abs().max()) <= 1  # kernels differ per batch shape only in round-off


def test_decode_copies_only_known_fields_of_a_latents_parameters(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = {"seed": 7, "steps": 3, "eta": [1], "notes": "x" * 5_000_000, "model": "m"}
    latents = tmp_path / "x.safetensors"
    latents.write_bytes(
        safetensors.torch.save({"x_T": torch.randn(3, 8, 8)}, metadata={"ddim_studio": json.dumps(junk)})
    )
    code, _, _ = cli(
        capsys,
        "decode",
        str(latents),
        "--model",
        str(model_dir),
        "--steps",
        "2",
        "--out",
        str(tmp_path / "out"),
    )
    png = tmp_path / "out" / "x-decoded.png"
    assert code == 0 and png.stat().st_size < 100_000
    params = read_params(png)
    assert params is not None and params["latent_params"] == {"seed": 7, "steps": 3, "model": "m"}


# ---- 6, 7. endpoint and file names


def test_a_latent_file_named_in_capitals_is_an_interpolation_endpoint(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    x = initial_noise([3], (3, 8, 8))[0][0]
    path = save_latent(tmp_path / "X.SAFETENSORS", x, {"kind": "sample"})
    end = resolve_endpoint(path, (3, 8, 8))
    assert not end.is_image and torch.equal(end.value, x)
    code, _, err = cli(
        capsys,
        "interpolate",
        str(path),
        "seed:3",
        "--model",
        str(model_dir),
        "--frames",
        "2",
        "--steps",
        "2",
        "--out",
        str(tmp_path / "out"),
    )
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "interp-X-seed_3-slerp.gif",
        "interp-X-seed_3-slerp.png",
    ]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param(b"a..b.png", "a..b-recon.png", id="double-dots"),
        pytest.param(b"caf\xe9.png", "caf\ufffd-recon.png", id="latin-1-bytes"),
        pytest.param(b"..png", "-recon.png", id="dot-dot-png"),
    ],
)
def test_encode_of_an_ordinary_or_non_utf8_file_name_is_saved(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: bytes, expected: str
) -> None:
    src = os.fsdecode(os.path.join(os.fsencode(tmp_path), name))
    Image.new("RGB", (8, 8), (200, 30, 40)).save(src, format="PNG")
    out = tmp_path / "out"
    code, _, err = cli(capsys, "encode", src, "--model", str(model_dir), "--steps", "2", "--out", str(out))
    assert code == 0, err
    stem = expected[: -len(".png")]
    assert sorted(p.name for p in out.iterdir()) == [expected, f"{stem}.safetensors"]
    assert read_params(out / expected)["source"] == utf8_text(os.fsdecode(name))


# ---- 8. the output folder: checked before anything, one line, nothing created


def test_out_naming_a_file_is_one_line_and_the_file_is_untouched(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    for argv in (["sample", "--num", "1"], ["interpolate", "seed:1", "seed:2"]):
        code, _, err = cli(capsys, *argv, "--model", str(model_dir), "--steps", "1", "--out", str(target))
        line = one_error_line(err, argv[0])
        assert code == 1 and "notes.txt is a file; choose a folder" in line
    code, _, err = cli(capsys, "sample", "--model", str(model_dir), "--out", str(target / "sub"))
    assert code == 1 and "notes.txt is a file" in one_error_line(err, "sample")
    assert target.read_text() == "mine" and sorted(os.listdir(tmp_path)) == ["notes.txt"]


def test_a_300_byte_folder_name_is_one_line_and_nothing_is_created(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for out in (tmp_path / ("é" * 150), tmp_path / ("é" * 150) / "inner", tmp_path / "ok" / ("x" * 300)):
        code, _, err = cli(capsys, "sample", "--num", "1", "--model", str(model_dir), "--out", str(out))
        line = one_error_line(err, "sample")
        assert code == 1 and "300 bytes long, more than the 255" in line and "shorter name" in line
    assert os.listdir(tmp_path) == []


def test_a_bad_seed_creates_no_output_folder(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, _, err = cli(
        capsys, "sample", "--seed", str(2**63 - 1), "--num", "2", "--model", str(model_dir), "--out", str(out)
    )
    line = one_error_line(err, "sample")
    assert code == 1 and "seeds up to 9223372036854775808" in line and not out.exists()
    code, _, err = cli(
        capsys, "interpolate", "seed:-4", "seed:2", "--model", str(model_dir), "--out", str(out)
    )
    assert code == 1 and "not a seed" in one_error_line(err, "interpolate") and not out.exists()


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1) for a read-only mount")
def test_out_on_a_read_only_mount_is_one_line_and_nothing_is_created(model_dir: Path, tmp_path: Path) -> None:
    mount = tmp_path / "ro"
    mount.mkdir()
    script = (  # a private mount namespace: a real read-only file system, even for root
        f"mount -t tmpfs -o size=1m tmpfs {mount} && mkdir {mount}/existing && "
        f"mount -o remount,ro {mount} || exit 77; "
        f"for out in {mount}/existing {mount}/new/deeper; do "
        f"{sys.executable} -m ddim_studio sample --num 1 --steps 1 --model {model_dir} --out $out; "
        f"echo status=$?; done; echo listing; ls -A {mount} {mount}/existing"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, env=env, cwd=ROOT
    )
    if done.returncode == 77 or "status=" not in done.stdout:
        pytest.skip(f"no read-only mount here: {done.stderr.strip()[:200]}")
    statuses, listing = done.stdout.split("listing")
    assert statuses.split() == ["status=1", "status=1"], done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2, lines
    assert all("is on a read-only disk; choose another folder" in line for line in lines), lines
    assert listing.split() == [f"{mount}:", "existing", f"{mount}/existing:"]  # nothing made in either


# ---- 9. two runs into one folder share the work


def test_two_concurrent_runs_into_one_folder_make_each_seed_once(model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = [
        "sample",
        "--model",
        str(model_dir),
        "--out",
        str(out),
        "--num",
        "16",
        "--steps",
        "3",
        "--batch-size",
        "1",
        "--json",
    ]
    runs = [child(*argv) for _ in range(2)]
    summaries = []
    for proc in runs:
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr[-2000:]
        summaries.append(json.loads(stdout))
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"seed-{s:06d}.png" for s in range(16)]  # no seed-…-1.png, no claim left
    made = [Path(f).name for s in summaries for f in s["files"]]
    assert sorted(made) == names  # each picture written by exactly one of the two runs
    for mine in summaries:
        written = {int(Path(f).stem[5:]) for f in mine["files"]}
        assert set(mine["made_by_another_run"]) | set(mine["skipped"]) | written == set(range(16))


def test_a_claim_held_by_a_live_run_is_left_to_it_and_a_dead_runs_claim_is_taken_over(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / ".seed-000001.claim").write_text("999999999\n")  # left by a run that was killed
    held = claim(out, "seed-000002")  # a live run (this process, another open file) makes seed 2
    assert held is not None
    argv = ["sample", "--model", str(model_dir), "--out", str(out), "--num", "4", "--steps", "2", "--json"]
    code, stdout, err = cli(capsys, *argv)
    summary = json.loads(stdout)
    assert code == 0 and summary["made_by_another_run"] == [2], err
    assert sorted(p.name for p in out.iterdir()) == [
        ".seed-000002.claim",
        "seed-000000.png",
        "seed-000001.png",
        "seed-000003.png",
    ]
    held.release()
    code, stdout, _ = cli(capsys, *argv)
    assert code == 0 and [Path(f).name for f in json.loads(stdout)["files"]] == ["seed-000002.png"]
    assert sorted(p.name for p in out.iterdir()) == [f"seed-{s:06d}.png" for s in range(4)]


def test_a_claim_of_a_run_killed_with_sigkill_is_taken_over_at_once(tmp_path: Path) -> None:
    code = (
        "import sys, time; from pathlib import Path; from ddim_studio.operations.outputs import claim; "
        "held = claim(Path(sys.argv[1]), 'seed-000009'); print('held' if held else 'refused', flush=True); "
        "time.sleep(600)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-c", code, str(tmp_path)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        assert claim(tmp_path, "seed-000009") is None  # a live run's claim is respected
        assert (tmp_path / ".seed-000009.claim").read_text() == f"{proc.pid}\n"
    finally:
        proc.kill()
        proc.wait()
    taken = claim(tmp_path, "seed-000009")  # the killed run's lock went with it
    assert taken is not None and (tmp_path / ".seed-000009.claim").read_text() == f"{os.getpid()}\n"
    taken.release()
    assert os.listdir(tmp_path) == []


# ---- 10. a rerun with other settings says what it kept


def test_a_rerun_with_other_parameters_says_it_kept_the_pictures(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    common = [
        "sample",
        "--model",
        str(model_dir),
        "--out",
        str(out),
        "--num",
        "3",
        "--save-latents",
        "--json",
    ]
    assert cli(capsys, *common, "--steps", "2")[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    (out / "seed-000002.safetensors").unlink()  # its latent is not added from other settings either
    code, stdout, err = cli(capsys, *common, "--steps", "3", "--num", "4")
    summary = json.loads(stdout)
    assert code == 0 and summary["kept_other_parameters"] == [0, 1, 2] and summary["skipped"] == []
    assert "kept 3 existing pictures made with other parameters (seeds 0, 1, 2)" in err
    assert [Path(f).name for f in summary["files"]] == ["seed-000003.png", "seed-000003.safetensors"]
    assert all((out / n).read_bytes() == b for n, b in before.items() if n != "seed-000002.safetensors")
    assert not (out / "seed-000002.safetensors").exists()
    code, stdout, err = cli(capsys, *common, "--steps", "3", "--num", "4")
    assert json.loads(stdout)["skipped"] == [3] and "kept 3" in err  # same settings: skipped quietly


# ---- 11. a full disk leaves no strip without its GIF


def test_disk_full_during_interpolate_leaves_neither_strip_nor_gif(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    real_fsync = os.fsync

    def fsync(fd: int) -> None:  # the disk fills up while the GIF is written, after the strip
        if ".gif.tmp-" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    argv = ["interpolate", "seed:1", "seed:2", "--model", str(model_dir), "--frames", "9", "--steps", "2"]
    code, _, err = cli(capsys, *argv, "--out", str(out))
    line = one_error_line(err, "interpolate")
    assert code == 1 and "The disk is full" in line and "Free some space" in line
    assert os.listdir(out) == []  # neither file, no temp file
    monkeypatch.undo()
    code, _, _ = cli(capsys, *argv, "--out", str(out))
    assert code == 0 and sorted(p.suffix for p in out.iterdir()) == [".gif", ".png"]
