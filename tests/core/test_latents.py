"""Latent files: bit-exact round trips, accepted dtypes, and every way a file can be wrong."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import safetensors.torch
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ddim_studio.core.latents import (
    LatentLoadError,
    encode_latent,
    load_latent,
    save_latent,
)

PARAMS = {"prompt": "η = 0.5, 日本語, ✓", "eta": 0.5, "steps": 20, "seed": 7}


def raw_file(header: dict, data: bytes = b"") -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


@pytest.mark.parametrize("shape", [(4, 8, 8), (3, 4, 8, 8), (1, 3, 2, 5)])
def test_round_trip_is_bit_exact(tmp_path: Path, shape: tuple[int, ...]) -> None:
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    x.view(-1)[:3] = torch.tensor([-999.5, -0.0, 1e-42])  # -0.0, a subnormal and a large value survive too
    path = save_latent(tmp_path / "z.safetensors", x, PARAMS)
    assert path == tmp_path / "z.safetensors"
    loaded, params = load_latent(path)
    assert loaded.dtype == torch.float32 and loaded.shape == shape
    assert torch.equal(loaded.view(torch.int32), x.view(torch.int32))
    assert params == PARAMS
    assert load_latent(path.read_bytes())[1] == PARAMS


def test_save_never_overwrites(tmp_path: Path) -> None:
    first = save_latent(tmp_path / "z.safetensors", torch.zeros(4, 2, 2), {"n": 1})
    second = save_latent(tmp_path / "z.safetensors", torch.ones(4, 2, 2), {"n": 2})
    assert (first.name, second.name) == ("z.safetensors", "z-1.safetensors")
    assert load_latent(first)[1] == {"n": 1} and load_latent(second)[1] == {"n": 2}


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_other_float_dtypes_are_cast_to_float32(dtype: torch.dtype) -> None:
    x = torch.randn(4, 3, 3).to(dtype)
    loaded, params = load_latent(safetensors.torch.save({"x_T": x}))
    assert loaded.dtype == torch.float32 and torch.equal(loaded, x.to(torch.float32))
    assert params == {}


def test_saving_half_precision_stores_float32() -> None:
    x = torch.randn(4, 3, 3).to(torch.float16)
    header_len = struct.unpack("<Q", encode_latent(x, {})[:8])[0]
    header = json.loads(encode_latent(x, {})[8 : 8 + header_len])
    assert header["x_T"]["dtype"] == "F32"


@pytest.mark.parametrize(
    "bad",
    [
        torch.zeros(4, 4, dtype=torch.float32),
        torch.zeros(1, 1, 1, 1, 1),
        torch.zeros(2, 2, 2, dtype=torch.int64),
    ],
)
def test_saving_a_wrong_tensor_is_refused(tmp_path: Path, bad: torch.Tensor) -> None:
    with pytest.raises(ValueError, match="x_T"):
        save_latent(tmp_path / "z.safetensors", bad, {})
    assert list(tmp_path.iterdir()) == []


def wrong_files() -> dict[str, bytes]:
    good = encode_latent(torch.randn(4, 4, 4), PARAMS)
    return {
        "empty": b"",
        "short": b"\x01\x02",
        "huge header": struct.pack("<Q", 2**60) + b"{}",
        "header past end": struct.pack("<Q", 1000) + b"{}",
        "truncated data": good[:-10],
        "truncated header": good[:20],
        "not json": raw_file({})[:8] + b"xx",
        "json list": struct.pack("<Q", 2) + b"[]",
        "wrong name": safetensors.torch.save({"latent": torch.zeros(4, 2, 2)}),
        "two tensors": safetensors.torch.save({"x_T": torch.zeros(4, 2, 2), "y": torch.zeros(1)}),
        "no tensor": raw_file({"__metadata__": {"a": "b"}}),
        "integer": safetensors.torch.save({"x_T": torch.zeros(4, 2, 2, dtype=torch.int32)}),
        "bool": safetensors.torch.save({"x_T": torch.zeros(4, 2, 2, dtype=torch.bool)}),
        "ndim 2": safetensors.torch.save({"x_T": torch.zeros(4, 2)}),
        "ndim 5": safetensors.torch.save({"x_T": torch.zeros(1, 1, 4, 2, 2)}),
        "zero dim": safetensors.torch.save({"x_T": torch.zeros(4, 0, 2)}),
        "offsets lie": raw_file(
            {"x_T": {"dtype": "F32", "shape": [1, 1, 2], "data_offsets": [0, 4]}}, b"\0" * 4
        ),
        "offsets missing": raw_file({"x_T": {"dtype": "F32", "shape": [1, 1, 1]}}, b"\0" * 4),
        "entry not object": raw_file({"x_T": [1, 2, 3]}),
        "shape strings": raw_file({"x_T": {"dtype": "F32", "shape": ["1", 1, 1], "data_offsets": [0, 4]}}),
    }


#: What each wrong file's message says is wrong with it.
NOT_COMPLETE = "is not a complete latent \\(\\.safetensors\\) file: "
ONE_TENSOR = "must hold exactly one tensor named 'x_T'; it holds "
SHAPE = "x_T must have shape \\(C, H, W\\) or \\(N, C, H, W\\), not "
WRONG_FILE_WORDS = {
    "empty": NOT_COMPLETE + "it is only 0 bytes long",
    "short": NOT_COMPLETE + "it is only 2 bytes long",
    "huge header": NOT_COMPLETE + "its header claims 1,152,921,504,606,846,976 bytes",
    "header past end": NOT_COMPLETE + "it is truncated",
    "truncated data": "is damaged or truncated: x_T's data does not fit",
    "truncated header": NOT_COMPLETE + "it is truncated",
    "not json": NOT_COMPLETE + "its header is not valid JSON",
    "json list": NOT_COMPLETE + "its header is not a JSON object",
    "wrong name": ONE_TENSOR + "\\['latent'\\]",
    "two tensors": ONE_TENSOR + "\\['x_T', 'y'\\]",
    "no tensor": ONE_TENSOR + "\\[\\]",
    "integer": "stores x_T as I32; only floating-point latents can be used",
    "bool": "stores x_T as BOOL; only floating-point latents can be used",
    "ndim 2": SHAPE + "\\[4, 2\\]",
    "ndim 5": SHAPE + "\\[1, 1, 4, 2, 2\\]",
    "zero dim": SHAPE + "\\[4, 0, 2\\]",
    "offsets lie": "is damaged or truncated: x_T's data does not fit",
    "offsets missing": "is damaged: the x_T entry has no valid data range",
    "entry not object": NOT_COMPLETE + "the x_T entry is malformed",
    "shape strings": SHAPE + "\\['1', 1, 1\\]",
}


@pytest.mark.parametrize(("name", "data"), list(wrong_files().items()), ids=list(wrong_files()))
def test_wrong_files_raise_latent_load_error(name: str, data: bytes, tmp_path: Path) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(data)
    with pytest.raises(LatentLoadError, match=WRONG_FILE_WORDS[name]) as info:
        load_latent(path)
    assert info.value.kind in ("corrupt", "unsupported", "too_large") and "bad.safetensors" in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LatentLoadError, match=r"gone\.safetensors” does not exist") as info:
        load_latent(tmp_path / "gone.safetensors")
    assert info.value.kind == "missing"


@pytest.mark.parametrize(
    "metadata", [None, {"ddim_studio": "{broken"}, {"ddim_studio": "[1]"}, {"other": "x"}]
)
def test_missing_or_unreadable_params_give_an_empty_dict(metadata: dict[str, str] | None) -> None:
    x = torch.randn(4, 2, 2)
    loaded, params = load_latent(safetensors.torch.save({"x_T": x}, metadata=metadata))
    assert torch.equal(loaded, x) and params == {}


GOOD = encode_latent(torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(1)), PARAMS)
FUZZ = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def only_latent_load_error(data: bytes) -> None:
    try:
        x, params = load_latent(data)
    except LatentLoadError as exc:
        assert str(exc)
    else:
        assert x.dtype == torch.float32 and x.ndim in (3, 4) and isinstance(params, dict)


@FUZZ
@given(st.binary(max_size=512))
def test_random_bytes_only_raise_latent_load_error(data: bytes) -> None:
    only_latent_load_error(data)


@FUZZ
@given(
    st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1, max_size=6),
    st.one_of(st.none(), st.integers(min_value=0)),
)
def test_mutated_latents_only_raise_latent_load_error(edits: list[tuple[int, int]], cut: int | None) -> None:
    data = bytearray(GOOD)
    for position, value in edits:
        data[position % len(data)] = value
    only_latent_load_error(bytes(data if cut is None else data[: cut % len(data)]))
