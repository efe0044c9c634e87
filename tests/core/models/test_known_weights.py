"""Weights checked by an earlier load open again without building the torch network.

The point (issue 28's time to a picture): a model whose OpenVINO IR is on disk runs without
``import diffusers`` (1.5–3.5 s of ``torch._dynamo`` here). What must not change: every check of a
first load, the pictures, and a changed file is loaded and checked in full.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from ddim_studio.core.models import known_weights
from ddim_studio.core.models.backends import apply_backend
from ddim_studio.core.models.diffusers_adapter import load_diffusers_folder
from ddim_studio.core.models.protocol import ModelLoadError
from tests.helpers.models import tiny_unet

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DDIM_STUDIO_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    unet = tiny_unet(seed=11, size=8)
    path = tmp_path / "tiny"
    unet.save_pretrained(path, safe_serialization=True)
    return path


def _inputs() -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn((2, 3, 8, 8), generator=torch.Generator().manual_seed(1))
    return x, torch.tensor([3, 999])


@pytest.mark.parametrize("flip, shift, width", [(True, 0, 8), (False, 1, 8), (True, 1, 32), (False, 0, 7)])
def test_positional_embedding_is_diffusers_time_proj_bit_for_bit(flip: bool, shift: int, width: int) -> None:
    from diffusers.models.embeddings import Timesteps

    config = {"flip_sin_to_cos": flip, "freq_shift": shift, "block_out_channels": [width, 16]}
    t = torch.tensor([0, 1, 17, 500, 999])
    ours = known_weights.positional_embedding(config, t)
    assert ours is not None and ours.dtype == torch.float32
    assert torch.equal(ours, Timesteps(width, flip, shift)(t))


def test_other_embeddings_are_left_to_the_network() -> None:
    assert known_weights.positional_embedding({"time_embedding_type": "fourier"}, torch.tensor([1])) is None
    assert known_weights.embedding_size({"time_embedding_type": "learned"}) is None


def test_second_load_defers_the_network_and_gives_the_same_outputs(folder: Path, cache: Path) -> None:
    first, info1 = load_diffusers_folder(folder)
    second, info2 = load_diffusers_folder(folder)
    assert first.built and not second.built  # the first load checked the weights; the second trusts that
    assert info2.num_parameters == info1.num_parameters > 0
    x, t = _inputs()
    assert torch.equal(second.time_embedding(t), first.unet.time_proj(t))  # without building it
    assert not second.built
    assert torch.equal(second(x, t), first(x, t))  # a call builds it: the same network
    assert second.built


def test_a_changed_file_is_loaded_and_checked_in_full(folder: Path, cache: Path) -> None:
    load_diffusers_folder(folder)
    weights = folder / "diffusion_pytorch_model.safetensors"
    state = {k: v.clone() for k, v in tiny_unet(seed=11, size=8).state_dict().items()}
    state["conv_in.weight"][0, 0, 0, 0] = float("nan")
    stat = weights.stat()
    save_file(state, str(weights))
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    with pytest.raises(ModelLoadError, match="not numbers"):
        load_diffusers_folder(folder)


def test_a_file_rewritten_with_the_same_size_and_time_is_another_file(folder: Path, cache: Path) -> None:
    """A rewrite within the file system's timestamp granularity keeps size and mtime: the bytes tell."""
    first, _info = load_diffusers_folder(folder)
    weights = folder / "diffusion_pytorch_model.safetensors"
    stat = weights.stat()
    with open(weights, "r+b") as handle:  # in place: the top mantissa bit of conv_out.bias[0]
        size = int.from_bytes(handle.read(8), "little")
        start = 8 + size + json.loads(handle.read(size))["conv_out.bias"]["data_offsets"][0]
        handle.seek(start + 2)
        byte = handle.read(1)
        handle.seek(start + 2)
        handle.write(bytes([byte[0] ^ 0x40]))
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    after = weights.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (stat.st_size, stat.st_mtime_ns, stat.st_ino)
    model, _info = load_diffusers_folder(folder)
    assert model.built  # not taken for the file checked before
    x, t = _inputs()
    assert not torch.equal(model(x, t), first(x, t))  # the other weights really run


def test_a_damaged_record_means_a_full_load(folder: Path, cache: Path) -> None:
    load_diffusers_folder(folder)
    records = list((cache / "known-weights").glob("*.json"))
    assert len(records) == 1
    for garbage in ("{", json.dumps({"version": 1, "num_parameters": "many"}), json.dumps([1])):
        records[0].write_text(garbage)
        model, info = load_diffusers_folder(folder)
        assert model.built and info.num_parameters > 0
        records[0].write_text(garbage)  # the full load wrote a good record again; damage it again


def test_the_torch_backend_builds_a_deferred_network_while_loading(folder: Path, cache: Path) -> None:
    load_diffusers_folder(folder)
    model, info = load_diffusers_folder(folder)
    assert not model.built
    wrapped, report = apply_backend(model, info, backend="torch", precision="exact")
    assert report.backend == "torch" and model.built and wrapped is model


def test_gpu_or_half_precision_loads_are_never_deferred(folder: Path, cache: Path) -> None:
    load_diffusers_folder(folder, dtype=torch.bfloat16)
    model, _info = load_diffusers_folder(folder, dtype=torch.bfloat16)
    assert model.built


def test_with_its_ir_on_disk_a_model_runs_without_importing_diffusers(folder: Path, cache: Path) -> None:
    """Two fresh processes: the first converts; the second samples without ``import diffusers``."""
    pytest.importorskip("openvino")
    code = textwrap.dedent(
        """
        import sys, torch
        from ddim_studio.core.models.backends import apply_backend
        from ddim_studio.core.models.loader import load_model
        model, info = load_model(sys.argv[1])
        wrapped, report = apply_backend(model, info, backend="openvino", precision="exact")
        x = torch.randn((2, 3, 8, 8), generator=torch.Generator().manual_seed(1))
        out = wrapped(x, torch.tensor([3, 999]))
        print(report.backend, "diffusers" in sys.modules, info.num_parameters, out.double().sum().item())
        """
    )
    env = {**os.environ, "DDIM_STUDIO_CACHE_DIR": str(cache)}
    runs = [
        subprocess.run(
            [sys.executable, "-c", code, str(folder)],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )  # fmt: skip
        for _ in range(2)
    ]
    for done in runs:
        assert done.returncode == 0, done.stderr
    first, second = (done.stdout.split() for done in runs)
    assert first[:2] == ["openvino", "True"]  # converting needs the torch network
    assert second[:2] == ["openvino", "False"]  # the IR and the records: no diffusers at all
    assert second[2:] == first[2:]  # the same parameter count and the same output


def test_a_deferred_model_whose_ir_was_pruned_converts_again(folder: Path, cache: Path) -> None:
    """The alias names an IR the cache budget removed: the network is built and converted, no error."""
    pytest.importorskip("openvino")
    model, info = load_diffusers_folder(folder)
    first, _ = apply_backend(model, info, backend="openvino", precision="exact", batch=2)
    x, t = _inputs()
    expected = first(x, t)
    for entry in (cache / "openvino").glob("*-b*"):
        shutil.rmtree(entry)  # what ir_cache.prune does to another model's entries
    deferred, info2 = load_diffusers_folder(folder)
    assert not deferred.built
    again, report = apply_backend(deferred, info2, backend="openvino", precision="exact", batch=2)
    assert report.backend == "openvino" and deferred.built
    assert any("prepared the model" in note for note in report.notes)
    torch.testing.assert_close(again(x, t), expected, rtol=0, atol=1e-6)


def test_records_past_the_limit_go_least_recently_used_first(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k in range(4):
        known_weights.remember(f"old{k}", 10 + k)
        stamp = 1_700_000_000 + k  # file times only: the order of use
        os.utime(known_weights.records_root() / f"old{k}.json", (stamp, stamp))
    monkeypatch.setattr(known_weights, "MAX_RECORDS", 3)  # the next write prunes to three
    assert known_weights.recall("old0") == {"version": known_weights.RECORD_VERSION, "num_parameters": 10}
    known_weights.remember("new", 99)
    kept = sorted(p.stem for p in known_weights.records_root().glob("*.json"))
    assert kept == ["new", "old0", "old3"]
