"""Property-based fuzzing of the checkpoint loaders and of ``load_model`` on a whole folder.

Random bytes and mutated real files (a small safetensors file, the tiny UNet's safetensors header,
a ``torch.save`` zip of a state dict with its ``data.pkl`` mutated, the legacy torch format) go to
``load_checkpoint`` / ``load_safetensors`` / ``load_pickle_checkpoint`` and, as the weights or the
``config.json`` of a model folder, to ``load_model``. The property: a value or a
``ModelLoadError``, nothing else (no wall-clock limit per example: the per-test timeout guards a
hang, and ``benchmarks/bench_refusals.py`` measures how fast refusals are). The image and latent
loaders are fuzzed in ``test_images_hostile.py`` and ``tests/core/test_latents.py``.
"""

from __future__ import annotations

import io
import json
import shutil
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save as save_safetensors

from ddim_studio.core.models import (
    ModelLoadError,
    load_checkpoint,
    load_model,
    load_pickle_checkpoint,
    load_safetensors,
)
from tests.reliability.hostile_models import (
    PICKLED,
    SAFETENSORS,
    tiny_config,
    tiny_state_dict,
    write_good_folder,
)

#: Fast loaders (a file of a few kB): many examples.
FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
#: ``load_model`` builds a UNet per example: fewer.
FUZZ_MODEL = settings(FUZZ, max_examples=100)

SMALL = {
    "w": torch.arange(6, dtype=torch.float32).reshape(2, 3),
    "b": torch.ones(2),
    "h": torch.full((4,), 0.5, dtype=torch.float16),
    "i": torch.arange(3, dtype=torch.int64),
}
SMALL_SAFETENSORS = save_safetensors(SMALL)
TINY_SAFETENSORS = save_safetensors(tiny_state_dict())
TINY_HEADER_END = 8 + struct.unpack("<Q", TINY_SAFETENSORS[:8])[0]


def torch_bytes(obj: Any, **kwargs: Any) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf, **kwargs)
    return buf.getvalue()


SMALL_ZIP = torch_bytes(SMALL)
SMALL_LEGACY = torch_bytes(SMALL, _use_new_zipfile_serialization=False)
TINY_ZIP = torch_bytes(tiny_state_dict())


def zip_members(data: bytes) -> list[tuple[zipfile.ZipInfo, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return [(info, zf.read(info)) for info in zf.infolist()]


SMALL_ZIP_MEMBERS = zip_members(SMALL_ZIP)
TINY_ZIP_MEMBERS = zip_members(TINY_ZIP)

edits = st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1, max_size=8)
cut = st.one_of(st.none(), st.floats(0.0, 1.0))


def mutate(
    data: bytes, changes: list[tuple[int, int]], keep: float | None, limit: int | None = None
) -> bytes:
    """Overwrite bytes (positions modulo ``limit`` or the length), then maybe truncate."""
    out = bytearray(data)
    span = min(limit or len(out), len(out))
    for position, value in changes:
        out[position % span] = value
    return bytes(out if keep is None else out[: int(len(out) * keep)])


def with_data_pkl(members: list[tuple[zipfile.ZipInfo, bytes]], change: Callable[[bytes], bytes]) -> bytes:
    """The zip rebuilt with its ``data.pkl`` changed (valid CRCs: the mutation reaches the pickle)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for info, payload in members:
            zf.writestr(info, change(payload) if info.filename.endswith("/data.pkl") else payload)
    return buf.getvalue()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for the examples' files; diffusers' UNet is imported here, once."""
    folder = tmp_path_factory.mktemp("fuzz")
    load_model(write_good_folder(folder / "warm"), device="cpu")
    return folder


def only_model_load_error(load: Callable[[Path], Any], path: Path) -> Any:
    try:
        return load(path)
    except ModelLoadError as exc:
        assert str(exc)
        return None


# ---------------------------------------------------------------- checkpoint loaders

LOADERS = {
    "load_checkpoint": load_checkpoint,
    "load_safetensors": load_safetensors,
    "load_pickle_checkpoint": load_pickle_checkpoint,
}
SUFFIXES = [".safetensors", ".bin", ".pth", ".ckpt", ".pt"]


@FUZZ
@given(st.sampled_from(sorted(LOADERS)), st.sampled_from(SUFFIXES), st.binary(min_size=1, max_size=4096))
def test_random_bytes_only_raise_model_load_error(
    workdir: Path, loader: str, suffix: str, data: bytes
) -> None:
    path = workdir / f"random{suffix}"
    path.write_bytes(data)
    only_model_load_error(LOADERS[loader], path)


MAGICS = {
    "zip": b"PK\x03\x04",
    "pickle-2": b"\x80\x02",
    "pickle-4": b"\x80\x04\x95",
    "safetensors-small-header": struct.pack("<Q", 64) + b'{"w": {"dtype": "F32", ',
    "safetensors-2**63": struct.pack("<Q", 2**63),
}


@FUZZ
@given(st.sampled_from(sorted(MAGICS)), st.binary(max_size=2048))
def test_random_bytes_after_a_magic_number_only_raise_model_load_error(
    workdir: Path, magic: str, rest: bytes
) -> None:
    suffix = ".safetensors" if magic.startswith("safetensors") else ".pth"
    path = workdir / f"magic{suffix}"
    path.write_bytes(MAGICS[magic] + rest)
    only_model_load_error(load_checkpoint, path)


@FUZZ
@given(st.sampled_from(["small", "tiny-unet-header"]), edits, cut)
def test_mutated_safetensors_only_raise_model_load_error(
    workdir: Path, seed: str, changes: list[tuple[int, int]], keep: float | None
) -> None:
    if seed == "small":
        data = mutate(SMALL_SAFETENSORS, changes, keep)
    else:  # the header of a real model file: where a mutation changes what the file claims
        data = mutate(TINY_SAFETENSORS, changes, keep, limit=TINY_HEADER_END + 16)
    path = workdir / "mutated.safetensors"
    path.write_bytes(data)
    loaded = only_model_load_error(load_safetensors, path)
    if loaded is not None:
        assert all(isinstance(v, torch.Tensor) for v in loaded.values())


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch: "Detected pickle protocol 48"
@FUZZ
@given(st.sampled_from(["zip-bytes", "zip-data.pkl", "legacy"]), edits, cut)
def test_mutated_torch_files_only_raise_model_load_error(
    workdir: Path, seed: str, changes: list[tuple[int, int]], keep: float | None
) -> None:
    if seed == "zip-bytes":
        data = mutate(SMALL_ZIP, changes, keep)
    elif seed == "zip-data.pkl":
        data = with_data_pkl(SMALL_ZIP_MEMBERS, lambda pkl: mutate(pkl, changes, keep))
    else:
        data = mutate(SMALL_LEGACY, changes, keep, limit=len(SMALL_LEGACY) // 2)  # the pickles
    path = workdir / "mutated.pth"
    path.write_bytes(data)
    only_model_load_error(load_pickle_checkpoint, path)


# ---------------------------------------------------------------- load_model on a folder


def model_folder(workdir: Path, name: str, config: str | bytes, weights: tuple[str, bytes]) -> Path:
    folder = workdir / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    (folder / "config.json").write_bytes(config.encode("utf-8") if isinstance(config, str) else config)
    (folder / weights[0]).write_bytes(weights[1])
    return folder


GOOD_CONFIG = json.dumps(tiny_config())


def only_model_load_error_from_load_model(folder: Path) -> None:
    try:
        model, info = load_model(folder, device="cpu")
    except ModelLoadError as exc:
        assert str(exc)
    else:
        assert info.family == "diffusers" and len(model.sample_shape) == 3


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch: "Detected pickle protocol 48"
@FUZZ_MODEL
@given(st.sampled_from(["safetensors-header", "zip-data.pkl", "zip-bytes"]), edits, cut)
def test_load_model_on_a_folder_with_mutated_weights(
    workdir: Path, seed: str, changes: list[tuple[int, int]], keep: float | None
) -> None:
    if seed == "safetensors-header":
        weights = (SAFETENSORS, mutate(TINY_SAFETENSORS, changes, keep, limit=TINY_HEADER_END + 16))
    elif seed == "zip-data.pkl":
        weights = (PICKLED, with_data_pkl(TINY_ZIP_MEMBERS, lambda pkl: mutate(pkl, changes, keep)))
    else:
        weights = (PICKLED, mutate(TINY_ZIP, changes, keep))
    only_model_load_error_from_load_model(model_folder(workdir, "weights", GOOD_CONFIG, weights))


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-4, 64)
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)
CONFIG_KEYS = sorted(tiny_config())


@FUZZ_MODEL
@given(
    st.dictionaries(st.sampled_from(CONFIG_KEYS) | st.text(max_size=12), json_values, min_size=1, max_size=4)
)
def test_load_model_on_a_folder_with_a_mutated_config(workdir: Path, changes: dict[str, Any]) -> None:
    """Config values replaced by random JSON, huge integers included: every size field is bounded
    before the UNet is built, so a ``layers_per_block`` of 2^70 is refused at once."""
    config = {**tiny_config(), **changes}
    folder = model_folder(workdir, "config", json.dumps(config), (SAFETENSORS, TINY_SAFETENSORS))
    only_model_load_error_from_load_model(folder)


@FUZZ_MODEL
@given(st.one_of(st.text(max_size=300), st.binary(max_size=300)))
def test_load_model_on_a_folder_with_a_random_config_file(workdir: Path, config: str | bytes) -> None:
    folder = model_folder(workdir, "random-config", config, (SAFETENSORS, TINY_SAFETENSORS))
    only_model_load_error_from_load_model(folder)


@pytest.mark.parametrize("sample_size", [{}, {"h": 8, "w": 8}], ids=["empty-object", "object"])
def test_a_sample_size_that_is_an_object_is_a_model_load_error(workdir: Path, sample_size: dict) -> None:
    """Found by the fuzzer above: ``size[0]`` on a JSON object raised a bare KeyError."""
    config = {**tiny_config(), "sample_size": sample_size}
    folder = model_folder(workdir, "object-size", json.dumps(config), (SAFETENSORS, TINY_SAFETENSORS))
    with pytest.raises(ModelLoadError, match="sample_size"):
        load_model(folder, device="cpu")
