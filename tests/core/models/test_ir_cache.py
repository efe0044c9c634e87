"""The converted-model cache stays within its budget: least recently used entries go, never the new one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from ddim_studio.core.models import ir_cache
from ddim_studio.core.models.backends import apply_backend
from ddim_studio.core.models.diffusers_adapter import DiffusersUNet
from ddim_studio.core.models.ir_cache import prune
from ddim_studio.core.schedule import NoiseSchedule
from tests.helpers.models import tiny_unet


def _entry(root: Path, name: str, size: int, used: float) -> Path:
    folder = root / name
    (folder / "compiled" / "bf16").mkdir(parents=True)
    (folder / "unet.bin").write_bytes(b"\0" * size)
    (folder / "compiled" / "bf16" / "blob").write_bytes(b"\0" * size)
    (folder / "manifest.json").write_text("{}")
    os.utime(folder / "manifest.json", (used, used))
    return folder


def test_prune_removes_least_recently_used_until_the_budget_fits(tmp_path: Path) -> None:
    now = 1_750_000_000.0  # file times only: which entry was used last
    old = _entry(tmp_path, "a" * 32 + "-b1", 1000, now - 300)
    middle = _entry(tmp_path, "b" * 32 + "-b4", 1000, now - 200)
    recent = _entry(tmp_path, "c" * 32 + "-b1", 1000, now - 100)
    new = _entry(tmp_path, "d" * 32 + "-b1", 1000, now - 500)  # the model just stored: kept
    same = _entry(tmp_path, "d" * 32 + "-b8", 1000, now - 400)  # its other batch sizes too
    (tmp_path / "aliases").mkdir()
    removed = prune(tmp_path, keep="d" * 32, budget=6500)  # 10000 bytes in five entries of 2000
    assert removed == [old, middle]
    assert recent.is_dir() and new.is_dir() and same.is_dir() and (tmp_path / "aliases").is_dir()


def test_prune_within_budget_removes_no_entry(tmp_path: Path) -> None:
    entries = [_entry(tmp_path, f"{k:032x}-b1", 100, 1_750_000_000.0 - k) for k in range(3)]
    assert prune(tmp_path, keep=f"{0:032x}", budget=10_000) == []
    assert all(e.is_dir() for e in entries)


def test_prune_removes_stale_staging_and_the_old_shared_blob_folder(tmp_path: Path) -> None:
    stale, fresh = tmp_path / ".staging-old", tmp_path / ".staging-now"
    for folder in (stale, fresh, tmp_path / "compiled" / "f32"):
        folder.mkdir(parents=True)
    os.utime(stale, (1_000_000_000, 1_000_000_000))  # 2001: long past the staging age
    removed = prune(tmp_path, keep="none", budget=1 << 30)
    assert set(removed) == {stale, tmp_path / "compiled"}
    assert fresh.is_dir()  # a conversion running now in another window


def test_a_new_model_prunes_the_oldest_and_blobs_live_beside_their_ir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("openvino")
    first = DiffusersUNet(tiny_unet(seed=11, size=8), NoiseSchedule.linear(), (3, 8, 8))
    model, _ = apply_backend(first, backend="openvino", precision="exact", batch=1, cache_dir=tmp_path)
    entry = model.cache.folder(1)  # type: ignore[attr-defined]
    again, _ = apply_backend(first, backend="openvino", precision="exact", batch=1, cache_dir=tmp_path)
    assert list((entry / "compiled" / "f32").iterdir()), "the compiled blob is kept in the entry"
    monkeypatch.setattr(ir_cache, "BUDGET_BYTES", 1)  # any second entry is over the budget
    second = DiffusersUNet(tiny_unet(seed=12, size=8), NoiseSchedule.linear(), (3, 8, 8))
    other, report = apply_backend(second, backend="openvino", precision="exact", batch=1, cache_dir=tmp_path)
    assert not entry.exists()
    assert other.cache.folder(1).is_dir()  # type: ignore[attr-defined]
    x = torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([400])
    assert (other(x, t) - second(x, t)).abs().max() < 1e-4
    assert (again(x, t) - first(x, t)).abs().max() < 1e-4  # the model already open keeps running
