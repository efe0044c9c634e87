"""Round two (issue 17): hostile latents and saved parameters, non-finite results, memory, names.

Latents with NaN/Inf/huge values used to decode into grey pictures written with exit 0; a studio
PNG whose ``steps`` was ``"abc"`` or ``10**12`` crashed the window's handlers; ``a..b`` was refused
as a name after all the compute. These tests drive the core functions the command line and the
window call.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import safetensors.torch
import torch

from ddim_studio.core.imaging import png_info, read_params
from ddim_studio.core.latents import LatentLoadError, encode_latent, load_latent, save_latent
from ddim_studio.core.limits import (
    MAX_BATCH_BYTES,
    NonFiniteError,
    check_batch_memory,
    check_finite,
    estimate_batch_bytes,
)
from ddim_studio.core.saved_params import bad_fields_message, carried_params, validate_params
from ddim_studio.core.store import OutputStore, StoreError, sanitize_stem
from tests.helpers.models import tiny_unet


def hand_written_latent(x: torch.Tensor, params: str = "{}") -> bytes:
    """A latent file written by safetensors itself: how another tool would write a hostile one."""
    return safetensors.torch.save({"x_T": x}, metadata={"ddim_studio": params, "format": "pt"})


def _one(value: float, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    x = torch.randn(3, 8, 8, generator=torch.Generator().manual_seed(0)).to(dtype)
    x[1, 2, 3] = value
    return x


@pytest.mark.parametrize(
    ("x", "match"),
    [
        pytest.param(_one(float("nan")), "not numbers", id="one-nan"),
        pytest.param(torch.full((3, 8, 8), float("nan")), "192 values", id="all-nan"),
        pytest.param(_one(float("inf")), "not numbers", id="inf"),
        pytest.param(_one(float("-inf"), torch.float16), "not numbers", id="-inf-float16"),
        pytest.param(_one(1e30), "1e+30", id="1e30"),
        pytest.param(_one(1e300, torch.float64), "1e+300", id="float64-1e300"),
        pytest.param(_one(float("nan"), torch.bfloat16), "not numbers", id="nan-bfloat16"),
    ],
)
def test_a_latent_that_is_not_finite_noise_is_refused_on_load(
    tmp_path: Path, x: torch.Tensor, match: str
) -> None:
    """One NaN in x_T made every pixel grey; float64 1e300 became inf when cast to float32."""
    path = tmp_path / "bad.safetensors"
    path.write_bytes(hand_written_latent(x))
    for source in (path, path.read_bytes()):
        with pytest.raises(LatentLoadError, match=re.escape(match)) as info:
            load_latent(source)
        assert info.value.kind == "unsupported" and match in str(info.value) and "\n" not in str(info.value)


def test_an_integer_latent_is_refused() -> None:
    with pytest.raises(LatentLoadError, match="only floating-point"):
        load_latent(hand_written_latent(torch.ones(3, 4, 4, dtype=torch.int32)))


def test_a_non_finite_latent_is_never_written() -> None:
    """What cannot be read back is not saved: NaN x_T is an error, not a file."""
    with pytest.raises(NonFiniteError, match="not numbers"):
        encode_latent(_one(float("nan")), {})


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "folder"])
def test_a_latent_path_that_is_not_a_regular_file_is_refused_unopened(tmp_path: Path, kind: str) -> None:
    """``decode /dev/zero`` used to read until the process was killed; a FIFO hung it."""
    if kind == "fifo":
        path = tmp_path / "fifo.safetensors"
        os.mkfifo(path)
    elif kind == "folder":
        path = tmp_path / "dir.safetensors"
        path.mkdir()
    else:
        path = Path("/dev/zero")
    with pytest.raises(LatentLoadError, match="not a latent file") as info:
        load_latent(path)  # a FIFO would block and /dev/zero never end: the per-test timeout guards both
    assert info.value.kind == "unsupported" and "not a latent file" in str(info.value)


_WRITE_ONE = (
    "import sys, torch; from ddim_studio.core.latents import encode_latent; "
    "x = torch.arange(48, dtype=torch.float32).reshape(3, 4, 4) / 7; "
    "sys.stdout.buffer.write(encode_latent(x, {'seed': 3, 'steps': 10, 'model': 'm', 'eta': 0.0}))"
)


def test_latent_files_are_byte_identical_between_runs() -> None:
    """safetensors orders metadata by a hash map, different in every process: the header is ours now."""
    blobs = {
        subprocess.run(
            [sys.executable, "-c", _WRITE_ONE], capture_output=True, check=True, timeout=120
        ).stdout
        for _ in range(3)
    }
    assert len(blobs) == 1
    (blob,) = blobs
    x, params = load_latent(blob)
    assert params == {"seed": 3, "steps": 10, "model": "m", "eta": 0.0}
    assert torch.equal(safetensors.torch.load(blob)["x_T"], x)  # still a plain safetensors file
    assert (8 + int.from_bytes(blob[:8], "little")) % 8 == 0  # data aligned as safetensors writes it


HOSTILE_FIELDS = [
    ("steps", "abc"),
    ("steps", 10**12),
    ("steps", 1e308),
    ("steps", [3]),
    ("steps", True),
    ("steps", 0),
    ("eta", [1]),
    ("eta", float("nan")),
    ("eta", 2.0),
    ("seed", "abc"),
    ("seed", 2**70),
    ("seed", -1),
    ("seed", 1.5),
    ("spacing", "sideways"),
    ("clip_sample", "yes"),
    ("timesteps", [999, "x"]),
    ("frame", -1),
    ("size", [8, 0]),
    ("model", "m" * 10_000),
]


@pytest.mark.parametrize(
    ("field", "value"), HOSTILE_FIELDS, ids=[f"{f}={str(v)[:12]}" for f, v in HOSTILE_FIELDS]
)
def test_validate_params_names_and_drops_a_hostile_field(field: str, value: object) -> None:
    raw = {"kind": "sample", "seed": 7, "steps": 20, "eta": 0.5, "note": {"any": "thing"}, field: value}
    clean, bad = validate_params(raw)
    assert bad == [field] and field not in clean
    assert {k: v for k, v in clean.items()} == {k: v for k, v in raw.items() if k != field}
    assert field in bad_fields_message(bad)


@pytest.mark.parametrize("raw", [None, [1, 2], "text", 5, {}])
def test_validate_params_of_something_that_is_not_a_mapping_is_empty(raw: object) -> None:
    assert validate_params(raw) == ({}, [])


def test_png_and_latent_readers_validate_the_same_way(tmp_path: Path) -> None:
    """Every reader goes through validate_params: the PNG's chunk and the latent's metadata."""
    from PIL import Image

    hostile = {"kind": "sample", "seed": 2**70, "steps": "abc", "eta": [1], "model": "m"}
    png = tmp_path / "p.png"
    Image.new("RGB", (8, 8)).save(png, pnginfo=png_info(hostile))
    bad: list[str] = []
    assert read_params(png, bad) == {"kind": "sample", "model": "m"}
    assert bad == ["seed", "steps", "eta"]
    latent = save_latent(tmp_path / "p.safetensors", torch.zeros(3, 8, 8), hostile)
    bad = []
    assert load_latent(latent, bad)[1] == {"kind": "sample", "model": "m"}
    assert bad == ["seed", "steps", "eta"]
    (item,) = OutputStore(tmp_path).list_items()  # the gallery shows the picture with the good fields
    assert item.params == {"kind": "sample", "model": "m"}


def test_carried_params_copy_only_known_valid_fields() -> None:
    """decode copied up to 10 MB of a latent's metadata into the PNG; only known fields go on now."""
    latent_params = {"seed": 5, "steps": 10, "junk": "x" * 10_000_000, "eta": "bad", "model": "m"}
    carried = carried_params(latent_params)
    assert carried == {"seed": 5, "steps": 10, "model": "m"}
    assert len(png_info(carried).chunks[0][1]) < 200


def test_check_finite_passes_finite_values_and_names_non_finite_ones() -> None:
    x = torch.randn(2, 3, 4, 4)
    assert check_finite(x, "The batch") is x
    x[0, 0, 0, 0] = float("nan")
    x[1, 0, 0, 0] = float("inf")
    with pytest.raises(
        ValueError,
        match=r"The batch of seeds 3–4 holds 2 of .* values that are not numbers \(1 NaN, 1 infinite\)",
    ) as info:
        check_finite(x, "The batch of seeds 3–4")
    assert "seeds 3–4" in str(info.value) and "1 NaN, 1 infinite" in str(info.value)


def test_check_finite_catches_a_model_whose_weights_became_nan() -> None:
    """All-NaN weights are refused at load (test_models_hostile); a model going NaN later is caught here."""
    unet = tiny_unet(seed=0)
    with torch.no_grad():
        for p in unet.parameters():
            p.fill_(float("nan"))
        out = unet(torch.randn(1, 3, 8, 8), torch.tensor([10])).sample
    with pytest.raises(NonFiniteError, match="not numbers"):
        check_finite(out, "The model's output")


def test_the_batch_memory_estimate_and_its_refusal() -> None:
    """The figure is stated, and so is a batch size that fits."""
    one = estimate_batch_bytes((3, 256, 256), 1)
    assert estimate_batch_bytes((3, 256, 256), 10) == 10 * one
    assert estimate_batch_bytes((3, 256, 256), 1, torch.float16) == one // 2

    class Model:
        sample_shape = (3, 256, 256)

    assert estimate_batch_bytes(Model(), 4) == 4 * one
    check_batch_memory((3, 32, 32), 64)
    with pytest.raises(ValueError, match=r"A batch of 1000000 needs about .* GiB") as info:
        check_batch_memory((3, 256, 256), 1_000_000)
    fits = MAX_BATCH_BYTES // one
    assert f"batch size of {fits} or less" in str(info.value) and "GiB" in str(info.value)
    check_batch_memory((3, 256, 256), fits)


@pytest.mark.parametrize("stem", ["a..b", "a..b-recon", "..hidden", "x...y", "v1.2..3"])
def test_a_name_with_double_dots_that_escapes_nothing_is_saved(tmp_path: Path, stem: str) -> None:
    """``encode a..b.png`` used to be refused ("The name 'a..b-recon' is not allowed") after the compute."""
    from PIL import Image

    item = OutputStore(tmp_path).save_image(Image.new("RGB", (4, 4)), {}, stem=stem)
    assert item.png.parent == tmp_path and item.png.exists()


@pytest.mark.parametrize("stem", ["..", ".", "a/b", "../x", "a\\b", "a\x00b", "C:x"])
def test_a_name_that_escapes_the_folder_is_refused(stem: str) -> None:
    with pytest.raises(StoreError, match="is not allowed: a name may not be '..' or contain") as info:
        sanitize_stem(stem)
    assert info.value.kind == "bad_name"


def test_a_file_name_that_is_not_utf8_is_saved_with_its_bad_bytes_replaced(tmp_path: Path) -> None:
    from PIL import Image

    stem = os.fsdecode(b"caf\xe9-recon")  # how Python gives a Latin-1 file name on a UTF-8 system
    params = {"source": os.fsdecode(b"caf\xe9.png")}
    item = OutputStore(tmp_path).save_image(
        Image.new("RGB", (4, 4)), params, stem=stem, latent=torch.zeros(3, 2, 2)
    )
    assert item.png.name == "caf\ufffd-recon.png"
    assert read_params(item.png) == {"source": "caf\ufffd.png"}
    assert item.latent is not None and load_latent(item.latent)[1] == {"source": "caf\ufffd.png"}


def test_saved_params_needs_no_torch_and_shares_the_engine_bounds() -> None:
    """The window reads parameters before torch is imported; the bounds must still be the engine's."""
    from ddim_studio.core import noise, saved_params, schedule

    assert saved_params.MAX_SEED == noise.MAX_SEED
    assert saved_params.MAX_TRAIN_TIMESTEPS == schedule.MAX_TRAIN_TIMESTEPS
    assert saved_params.SPACINGS == schedule.SPACINGS
    code = "import sys, ddim_studio.core.saved_params, ddim_studio.ui.params; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "False", result.stderr
