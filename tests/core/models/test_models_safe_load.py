"""The safe loader: malformed safetensors and hostile pickles become ModelLoadErrors, nothing runs."""

from __future__ import annotations

import io
import json
import os
import pickle
import random
import struct
import zipfile
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from ddim_studio.core.models import ModelLoadError, load_checkpoint, load_pickle_checkpoint, load_safetensors
from ddim_studio.core.models.safe_load import check_pickle


class Evil:
    """Unpickling this runs ``touch <sentinel>``."""

    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self):
        return (os.system, (f"touch {self.sentinel}",))


def _weights() -> OrderedDict[str, torch.Tensor]:
    return OrderedDict(w=torch.arange(6, dtype=torch.float32).reshape(2, 3), b=torch.ones(2))


def _hostile_payload(shape: str, sentinel: Path) -> object:
    evil = Evil(sentinel)
    if shape == "top":
        return evil
    if shape == "dict":
        return {"state_dict": {"w": torch.zeros(2), "payload": evil}}
    return [_weights(), {"nested": [1, 2, evil]}, 3]


def _write(path: Path, obj: object, fmt: str) -> Path:
    if fmt == "zip":
        torch.save(obj, path)
    elif fmt == "zip-protocol4":  # STACK_GLOBAL instead of GLOBAL
        torch.save(obj, path, pickle_protocol=4)
    elif fmt == "legacy":
        torch.save(obj, path, _use_new_zipfile_serialization=False)
    else:  # a bare pickle, not torch's format at all
        path.write_bytes(pickle.dumps(obj))
    return path


# ---------------------------------------------------------------- safetensors


def test_safetensors_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    save_file(dict(_weights()), path)
    loaded = load_safetensors(path)
    assert torch.equal(loaded["w"], _weights()["w"]) and torch.equal(loaded["b"], _weights()["b"])
    assert torch.equal(load_checkpoint(path)["w"], _weights()["w"])


def _raw_safetensors(header_len: int, body: bytes) -> bytes:
    return struct.pack("<Q", header_len) + body


@pytest.mark.parametrize("header_len", [2**63, 2**64 - 1, 10_000])
def test_safetensors_header_longer_than_file(tmp_path: Path, header_len: int) -> None:
    path = tmp_path / "lie.safetensors"
    path.write_bytes(_raw_safetensors(header_len, b'{"a": 1}'))
    with pytest.raises(ModelLoadError, match="header claims"):
        load_safetensors(path)


def test_safetensors_truncated(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    save_file({"w": torch.randn(64, 64)}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(ModelLoadError, match="truncated"):
        load_safetensors(path)
    path.write_bytes(data[:5])
    with pytest.raises(ModelLoadError, match="truncated"):
        load_safetensors(path)


def test_safetensors_bad_header(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    path.write_bytes(_raw_safetensors(4, b"nope"))
    with pytest.raises(ModelLoadError, match="not JSON"):
        load_safetensors(path)
    header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}}).encode()
    path.write_bytes(_raw_safetensors(len(header), header + bytes(8)))
    with pytest.raises(ModelLoadError, match="does not fill"):
        load_safetensors(path)
    for header, match in [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"w": ' + b"1" * 5000 + b"}", "not valid JSON"),
        (b'{"w": {"dtype": "F32", "shape": [Infinity], "data_offsets": [0, 8]}}', "malformed"),
    ]:
        path.write_bytes(_raw_safetensors(len(header), header + bytes(8)))
        with pytest.raises(ModelLoadError, match=match):
            load_safetensors(path)


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_checkpoint(tmp_path / "none.pth")
    (tmp_path / "empty.ckpt").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="empty"):
        load_checkpoint(tmp_path / "empty.ckpt")
    (tmp_path / "w.npz").write_bytes(b"x")
    with pytest.raises(ModelLoadError, match="unknown weight format"):
        load_checkpoint(tmp_path / "w.npz")


# ---------------------------------------------------------------- benign pickles


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
@pytest.mark.parametrize("force_unsafe", [False, True])
def test_plain_checkpoints_load(tmp_path: Path, monkeypatch, fmt: str, force_unsafe: bool) -> None:
    if force_unsafe:
        monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    opt = torch.optim.Adam([torch.nn.Parameter(torch.ones(2))])
    obj = [
        _weights(),
        opt.state_dict(),
        7,
        1000,
        {"w": torch.nn.Parameter(torch.zeros(3)), "h": torch.ones(2).half()},
    ]
    loaded = load_pickle_checkpoint(_write(tmp_path / "ckpt.pth", obj, fmt))
    assert torch.equal(loaded[0]["w"], _weights()["w"]) and loaded[2:4] == [7, 1000]
    assert loaded[4]["h"].dtype == torch.float16
    if force_unsafe:
        assert os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] == "1"  # restored after the load


def test_protocol4_checkpoint_gives_a_clear_error(tmp_path: Path) -> None:
    """torch's weights-only unpickler stops at protocol 4's FRAME opcode; the message says so."""
    path = _write(tmp_path / "ckpt.pth", _weights(), "zip-protocol4")
    with pytest.warns(UserWarning, match="protocol 4"), pytest.raises(ModelLoadError, match="149") as info:
        load_checkpoint(path)
    assert "convert it to safetensors" in str(info.value)


def test_garbage_is_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "junk.bin"
    # Fixed garbage: about 1 in 40 random 4 kB strings happens to hold a pickle import opcode and
    # is refused as code instead (also right; the hostile-file tests cover that), so urandom flaked.
    path.write_bytes(random.Random(0).randbytes(4096))
    with pytest.raises(ModelLoadError, match="not a readable PyTorch checkpoint|pickle data is corrupt"):
        load_checkpoint(path)
    path.write_bytes(pickle.dumps({"a": 1}))  # a valid pickle, but not torch's format
    with pytest.raises(ModelLoadError, match="is not a readable PyTorch checkpoint"):
        load_checkpoint(path)


# ---------------------------------------------------------------- hostile pickles


@pytest.mark.parametrize("suffix", [".pth", ".ckpt", ".bin"])
@pytest.mark.parametrize("shape", ["top", "dict", "list"])
@pytest.mark.parametrize("fmt", ["zip", "zip-protocol4", "legacy", "raw"])
@pytest.mark.parametrize("force_unsafe", [False, True])
def test_hostile_pickle_is_refused(
    tmp_path: Path, monkeypatch, suffix: str, shape: str, fmt: str, force_unsafe: bool
) -> None:
    sentinel = tmp_path / "SENTINEL"
    path = _write(tmp_path / f"model{suffix}", _hostile_payload(shape, sentinel), fmt)
    if force_unsafe:
        monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    with pytest.raises(ModelLoadError, match="Refusing to load .*: it contains code") as info:
        load_checkpoint(path)
    message = str(info.value)
    assert "Refusing to load" in message and "contains code" in message and "safetensors" in message
    # A bare pickle of a tensor goes through torch.storage._load_from_bytes (a full torch.load):
    # refused as well, before the os.system call is even reached.
    assert "system" in message or "_load_from_bytes" in message
    assert not sentinel.exists()


def test_prescan_stops_code_even_when_torch_would_allow_it(tmp_path: Path) -> None:
    """The opcode scan is a layer of its own: it refuses os.system even when torch's allow-list has it."""
    sentinel = tmp_path / "SENTINEL"
    path = _write(tmp_path / "model.pth", _hostile_payload("dict", sentinel), "zip")
    with torch.serialization.safe_globals([os.system]), pytest.raises(ModelLoadError, match="contains code"):
        load_checkpoint(path)
    assert not sentinel.exists()


def test_check_pickle_on_bytes(tmp_path: Path) -> None:
    check_pickle(io.BytesIO(pickle.dumps({"a": [1, 2.0, "x"]}, protocol=4)), "ok.pkl")
    with pytest.raises(ModelLoadError, match="builtins.eval"):
        check_pickle(io.BytesIO(pickle.dumps(eval, protocol=2)), "bad.pkl")
    with pytest.raises(ModelLoadError, match="builtins.exec"):
        check_pickle(io.BytesIO(pickle.dumps(exec, protocol=5)), "bad.pkl")


def test_non_tensor_objects_are_refused(tmp_path: Path) -> None:
    import argparse

    path = tmp_path / "ckpt.pth"
    torch.save({"state_dict": _weights(), "args": argparse.Namespace(lr=1.0)}, path)
    with pytest.raises(ModelLoadError, match="argparse.Namespace"):
        load_checkpoint(path)


# ---------------------------------------------------------------- zip containers


def _rezip(src: Path, dst: Path, extra: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            zout.writestr(info, zin.read(info))
        for name, data in extra.items():
            zout.writestr(name, data)
    return dst


def _prefix(path: Path) -> str:
    with zipfile.ZipFile(path) as zf:
        return zf.namelist()[0].split("/")[0]


@pytest.mark.parametrize(
    ("member", "match"),
    [
        ("{p}/data.pkl", "appears twice"),
        ("{p}/extra/data.pkl", "expected one"),
        ("{p}/constants.pkl", "expected one"),
        ("other/data.pkl", "one folder"),
        ("{p}/code/__torch__/evil.py", "unexpected member"),
        ("{p}/../../escape", "unexpected member"),
    ],
)
def test_odd_zip_members_are_refused(tmp_path: Path, member: str, match: str) -> None:
    good = tmp_path / "good.pth"
    torch.save(_weights(), good)
    name = member.format(p=_prefix(good))
    with pytest.warns(UserWarning) if "appears" in match else _no_warning():
        bad = _rezip(good, tmp_path / "bad.pth", {name: pickle.dumps({"x": 1}, protocol=2)})
    with pytest.raises(ModelLoadError, match=match):
        load_checkpoint(bad)


def test_damaged_zip(tmp_path: Path) -> None:
    good = tmp_path / "good.pth"
    torch.save(_weights(), good)
    data = good.read_bytes()
    bad = tmp_path / "bad.pth"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        ModelLoadError, match="is not a checkpoint torch can read safely: its zip archive is damaged"
    ):
        load_checkpoint(bad)


#: (offset in a zip header, new 16-bit value, also in the local header, what zipfile raises).
ZIP_HEADER_EDITS = {
    "version-needed-6.4": (6, 64, False, "NotImplementedError"),
    "unknown-compression": (10, 99, False, "NotImplementedError"),
    "deflate-zlib-error": (10, 8, True, "error"),  # zlib.error
    "bzip2": (10, 12, True, "OSError"),
    "encrypted": (8, 1, False, "RuntimeError"),
}


@pytest.mark.parametrize("edit", list(ZIP_HEADER_EDITS))
def test_a_zip_header_torch_save_never_writes_is_refused(tmp_path: Path, edit: str) -> None:
    """One field of ``data.pkl``'s zip headers changed: whatever zipfile raises is a ModelLoadError."""
    offset, value, local_too, error = ZIP_HEADER_EDITS[edit]
    good = tmp_path / "good.pth"
    torch.save(_weights(), good)
    data = bytearray(good.read_bytes())
    struct.pack_into("<H", data, data.index(b"PK\x01\x02") + offset, value)  # data.pkl comes first
    if local_too:
        struct.pack_into("<H", data, data.index(b"PK\x03\x04") + offset - 2, value)
    bad = tmp_path / "bad.pth"
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match=f"not a checkpoint torch can read safely.*{error}:"):
        load_checkpoint(bad)


class _no_warning:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def test_loaded_weights_do_not_change_with_the_file(tmp_path: Path) -> None:
    """safetensors maps the file into memory: its tensors were views of it, so a file rewritten in
    place changed a loaded model (and one truncated under it would crash the process)."""
    path = tmp_path / "w.safetensors"
    weights = {"a": torch.arange(1024, dtype=torch.float32), "b": torch.ones(4, 4)}
    save_file(weights, str(path))
    loaded = load_safetensors(path)
    size = path.stat().st_size
    with open(path, "r+b") as handle:  # the same file, every byte zero
        handle.write(bytes(size))
    assert torch.equal(loaded["a"], weights["a"]) and torch.equal(loaded["b"], weights["b"])
