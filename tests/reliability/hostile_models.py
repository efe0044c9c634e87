"""Hostile model folders and checkpoint files, built on demand for the reliability tests.

Every builder takes an empty folder and turns it into one hostile input: a diffusers model folder
(``config.json`` + weights) or a single checkpoint file. :data:`FOLDER_CASES` and
:data:`FILE_CASES` map a case name to ``(builder, what the error message must contain)``;
:mod:`tests.reliability.count_figures` counts them.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import save_file

from tests.helpers.models import tiny_unet

SENTINEL_NAME = "SENTINEL"
SAFETENSORS = "diffusion_pytorch_model.safetensors"
PICKLED = "diffusion_pytorch_model.bin"


def sentinel_for(folder: Path) -> Path:
    """The file a hostile payload built in ``folder`` would create: next to the folder, never inside."""
    return folder.parent / f"{folder.name}.{SENTINEL_NAME}"


class Evil:
    """Unpickling this runs ``touch <sentinel>`` through ``os.system``."""

    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch '{self.sentinel}'",))


def tiny_config() -> dict:
    """The config.json of the tiny 8×8 UNet of ``tests.helpers.models``."""
    return dict(tiny_unet(seed=0).config)


def tiny_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in tiny_unet(seed=seed).state_dict().items()}


def write_good_folder(folder: Path) -> Path:
    """A loadable tiny diffusers folder (config.json + safetensors weights)."""
    folder.mkdir(parents=True, exist_ok=True)
    tiny_unet(seed=0).save_pretrained(folder)
    return folder


def _config_only(folder: Path, config: dict | str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = config if isinstance(config, str) else json.dumps(config or tiny_config())
    (folder / "config.json").write_text(text, encoding="utf-8")
    return folder


# ---------------------------------------------------------------- hostile pickles


def hostile_payload(shape: str, sentinel: Path) -> object:
    """``os.system`` at the top, nested in a state dict, or inside a list beside real weights."""
    evil = Evil(sentinel)
    if shape == "top":
        return evil
    if shape == "dict":
        return {"state_dict": OrderedDict(w=torch.zeros(2), payload=evil)}
    return [tiny_state_dict(), {"nested": [1, 2, evil]}, 3]


def write_pickle(path: Path, obj: object, fmt: str) -> Path:
    """``obj`` as torch.save's zip, torch.save's legacy format, or a bare pickle."""
    if fmt == "zip":
        torch.save(obj, path)
    elif fmt == "legacy":
        torch.save(obj, path, _use_new_zipfile_serialization=False)
    else:
        path.write_bytes(pickle.dumps(obj, protocol=2))
    return path


def handmade_pickle(kind: str, sentinel: Path) -> bytes:
    """Pickles written opcode by opcode: the tricks a plain ``__reduce__`` does not produce."""
    cmd = f"touch '{sentinel}'".encode()
    string = b"X" + struct.pack("<I", len(cmd)) + cmd  # BINUNICODE
    if kind == "getattr-import":  # getattr(__import__('os'), 'system')('touch …')
        return (
            b"\x80\x02cbuiltins\ngetattr\ncbuiltins\n__import__\nX\x02\x00\x00\x00os\x85R"
            b"X\x06\x00\x00\x00system\x86R" + string + b"\x85R."
        )
    if kind == "eval":
        code = f"__import__('os').system(\"touch '{sentinel}'\")".encode()
        return b"\x80\x02cbuiltins\neval\nX" + struct.pack("<I", len(code)) + code + b"\x85R."
    if kind == "stack-global-memo":  # protocol 4: module and name pushed, memoized, fetched back
        return b"\x80\x04\x8c\x05posix\x94\x8c\x06system\x94h\x00h\x01\x93" + string + b"\x85R."
    if kind == "inst":  # the INST opcode: import and call in one
        return b"(" + string + b"iposix\nsystem\n."
    if kind == "nested-pickle":  # pickle.loads of an inner hostile pickle
        inner = pickle.dumps(Evil(sentinel), protocol=2)
        return b"\x80\x02cpickle\nloads\nB" + struct.pack("<I", len(inner)) + inner + b"\x85R."
    raise ValueError(kind)


HANDMADE = ("getattr-import", "eval", "stack-global-memo", "inst", "nested-pickle")


def _zip_with_pickle(path: Path, data_pkl: bytes) -> Path:
    """A torch.save-shaped zip whose data.pkl is ``data_pkl``."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/data.pkl", data_pkl)
        zf.writestr("archive/byteorder", "little")
        zf.writestr("archive/version", "3\n")
    return path


def write_hostile_bin(folder: Path, shape: str, fmt: str) -> Path:
    """A valid tiny config with a hostile ``diffusion_pytorch_model.bin``."""
    _config_only(folder)
    sentinel = sentinel_for(folder)
    if fmt.startswith("hand-"):
        data = handmade_pickle(fmt[5:], sentinel)
        if shape == "zip":
            _zip_with_pickle(folder / PICKLED, data)
        else:
            (folder / PICKLED).write_bytes(data)
        return folder
    write_pickle(folder / PICKLED, hostile_payload(shape, sentinel), fmt)
    return folder


# ---------------------------------------------------------------- malformed folders and files


def _good_zip(path: Path) -> Path:
    torch.save(tiny_state_dict(), path)
    return path


def _rezip(path: Path, extra: dict[str, bytes]) -> None:
    data = path.read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            zout.writestr(info, zin.read(info))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Duplicate name" is the point
            for name, payload in extra.items():
                zout.writestr(name, payload)


def _prefix(path: Path) -> str:
    with zipfile.ZipFile(path) as zf:
        return zf.namelist()[0].split("/")[0]


def two_data_pkl(folder: Path) -> None:
    _config_only(folder)
    path = _good_zip(folder / PICKLED)
    _rezip(path, {f"{_prefix(path)}/data.pkl": handmade_pickle("eval", sentinel_for(folder))})


def extra_code_member(folder: Path) -> None:
    _config_only(folder)
    path = _good_zip(folder / PICKLED)
    _rezip(path, {f"{_prefix(path)}/code/__torch__/evil.py": b"import os\nos.system('true')\n"})


def extra_constants_pkl(folder: Path) -> None:
    _config_only(folder)
    path = _good_zip(folder / PICKLED)
    _rezip(path, {f"{_prefix(path)}/constants.pkl": pickle.dumps(Evil(sentinel_for(folder)), protocol=2)})


def _patch_central_directory(path: Path, member: str, offset: int, value: int) -> None:
    """Overwrite a 2-byte field of ``member``'s central directory entry (and its local header)."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    central = data.find(b"PK\x01\x02")
    while central != -1:
        name_len = struct.unpack("<H", data[central + 28 : central + 30])[0]
        if data[central + 46 : central + 46 + name_len] == name:
            break
        central = data.find(b"PK\x01\x02", central + 4)
    assert central != -1, member
    local = struct.unpack("<I", data[central + 42 : central + 46])[0]
    data[central + offset : central + offset + 2] = struct.pack("<H", value)
    data[local + offset - 2 : local + offset] = struct.pack("<H", value)  # local header: 2 bytes earlier
    path.write_bytes(bytes(data))


def _zip_with_patched_data_pkl(folder: Path, offset: int, value: int) -> None:
    _config_only(folder)
    path = _good_zip(folder / PICKLED)
    _patch_central_directory(path, f"{_prefix(path)}/data.pkl", offset, value)


def zip_member_encrypted(folder: Path) -> None:
    _zip_with_patched_data_pkl(folder, 8, 0x0001)  # general purpose flag: encrypted


def zip_unknown_compression(folder: Path) -> None:
    _zip_with_patched_data_pkl(folder, 10, 99)  # compression method 99 (AES)


def zip_version_6_4(folder: Path) -> None:
    _zip_with_patched_data_pkl(folder, 6, 64)  # version needed to extract: 6.4


def truncated_safetensors(folder: Path) -> None:
    write_good_folder(folder)
    path = folder / SAFETENSORS
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])


def header_claims_2_63(folder: Path) -> None:
    write_good_folder(folder)
    path = folder / SAFETENSORS
    data = path.read_bytes()
    path.write_bytes(struct.pack("<Q", 2**63) + data[8:])


def tensor_claims_2_63(folder: Path) -> None:
    """A valid header length, but one tensor's byte range and shape claim 2⁶³ bytes."""
    _config_only(folder)
    header = {"w": {"dtype": "U8", "shape": [2**63], "data_offsets": [0, 2**63]}}
    text = json.dumps(header).encode()
    (folder / SAFETENSORS).write_bytes(struct.pack("<Q", len(text)) + text + bytes(16))


def header_not_json(folder: Path) -> None:
    write_good_folder(folder)
    path = folder / SAFETENSORS
    data = path.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    path.write_bytes(data[:8] + b"\xff" * n + data[8 + n :])


def config_not_json(folder: Path) -> None:
    write_good_folder(folder)
    (folder / "config.json").write_text('{"_class_name": "UNet2DModel", "sample_size": 8,', encoding="utf-8")


def config_binary(folder: Path) -> None:
    write_good_folder(folder)
    (folder / "config.json").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")


def config_is_a_list(folder: Path) -> None:
    write_good_folder(folder)
    (folder / "config.json").write_text("[1, 2, 3]", encoding="utf-8")


def config_deeply_nested(folder: Path) -> None:
    write_good_folder(folder)
    (folder / "config.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")


def unknown_block_type(folder: Path) -> None:
    write_good_folder(folder)
    config = tiny_config()
    config["down_block_types"] = ["DownBlock2D", "EvilBlock2D"]
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")


def other_model_class(folder: Path) -> None:
    write_good_folder(folder)
    config = tiny_config()
    config["_class_name"] = "UNet2DConditionModel"
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")


def shape_mismatch(folder: Path) -> None:
    write_good_folder(folder)
    config = tiny_config()
    config["block_out_channels"] = [8, 24]
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")


def missing_weight(folder: Path) -> None:
    _config_only(folder)
    state = tiny_state_dict()
    state.pop(sorted(state)[0])
    save_file(state, folder / SAFETENSORS)


def extra_weight(folder: Path) -> None:
    _config_only(folder)
    state = tiny_state_dict()
    state["evil.weight"] = torch.zeros(3)
    save_file(state, folder / SAFETENSORS)


def not_a_state_dict(folder: Path) -> None:
    _config_only(folder)
    torch.save([torch.zeros(2), 3], folder / PICKLED)


def no_weights(folder: Path) -> None:
    _config_only(folder)
    (folder / "model.ckpt.txt").write_text("not weights")


def no_config(folder: Path) -> None:
    write_good_folder(folder)
    (folder / "config.json").unlink()


def empty_weights(folder: Path) -> None:
    _config_only(folder)
    (folder / SAFETENSORS).write_bytes(b"")


def weights_are_a_folder(folder: Path) -> None:
    _config_only(folder)
    (folder / SAFETENSORS).mkdir()


def torchscript_archive(folder: Path) -> None:
    _config_only(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated, still loadable
        torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(folder / PICKLED))


Builder = Callable[[Path], object]

_ZIP_REFUSED = f"'{PICKLED}' is not a checkpoint torch can read safely"

#: Malformed diffusers folders: case → (builder, text the ModelLoadError must contain).
FOLDER_CASES: dict[str, tuple[Builder, str]] = {
    "zip-two-data-pkl": (two_data_pkl, "appears twice"),
    "zip-extra-code-member": (extra_code_member, "unexpected member"),
    "zip-extra-constants-pkl": (extra_constants_pkl, "expected one"),
    "torchscript-archive": (torchscript_archive, "not a plain PyTorch checkpoint"),
    "zip-member-encrypted": (zip_member_encrypted, _ZIP_REFUSED),
    "zip-unknown-compression": (zip_unknown_compression, _ZIP_REFUSED),
    "zip-version-6.4": (zip_version_6_4, _ZIP_REFUSED),
    "safetensors-truncated": (truncated_safetensors, "truncated"),
    "safetensors-header-2**63": (header_claims_2_63, "header claims 9223372036854775808 bytes"),
    "safetensors-tensor-2**63": (tensor_claims_2_63, "truncated"),
    "safetensors-header-not-json": (header_not_json, "not JSON"),
    "safetensors-empty": (empty_weights, "is empty"),
    "config-not-json": (config_not_json, "not valid JSON"),
    "config-binary": (config_binary, "not valid JSON"),
    "config-a-list": (config_is_a_list, "not a JSON object"),
    "config-nested-100000-deep": (config_deeply_nested, "is nested too deeply to be a model config"),
    "config-unknown-block": (unknown_block_type, "EvilBlock2D"),
    "config-other-model-class": (other_model_class, "UNet2DConditionModel"),
    "weights-shape-mismatch": (shape_mismatch, "has shape"),
    "weights-missing-key": (missing_weight, "lacks 1 weight"),
    "weights-extra-key": (extra_weight, "evil.weight"),
    "weights-not-a-state-dict": (not_a_state_dict, "does not hold a state dict"),
    "no-weights": (no_weights, "No UNet weights"),
    "weights-name-is-a-folder": (weights_are_a_folder, "No UNet weights"),
    "no-config": (no_config, "has no config.json"),
}

#: Hostile pickles as ``diffusion_pytorch_model.bin`` of a valid folder: (payload shape, format).
PICKLE_CASES: list[tuple[str, str]] = [
    (shape, fmt) for fmt in ("zip", "legacy", "raw") for shape in ("top", "dict", "list")
] + [(container, f"hand-{kind}") for kind in HANDMADE for container in ("zip", "raw")]


def pickle_case_id(case: tuple[str, str]) -> str:
    return f"{case[1]}-{case[0]}"
