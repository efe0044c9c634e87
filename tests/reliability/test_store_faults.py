"""Saving under faults: a full disk, no permission, failing writers, no hard links, concurrent saves."""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import pytest
import torch
from PIL import Image

from ddim_studio.core import store as store_module
from ddim_studio.core.imaging import load_image, read_params
from ddim_studio.core.latents import load_latent
from ddim_studio.core.store import OutputStore, StoreError, atomic_write

REAL_FDOPEN = os.fdopen
REAL_FSYNC = os.fsync


def picture(seed: int = 0) -> Image.Image:
    return Image.effect_noise((64, 64), 40 + seed).convert("RGB")  # ~12 kB of PNG data


def write_bytes(data: bytes) -> Callable[[BinaryIO], None]:
    def writer(fh: BinaryIO) -> None:
        fh.write(data)

    return writer


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


class FullDisk:
    """A file object that accepts ``budget`` bytes, then fails like a full disk (after a partial write)."""

    def __init__(self, fh: Any, budget: int) -> None:
        self._fh, self._budget = fh, budget

    def write(self, data: Any) -> int:
        room = self._budget
        self._budget -= len(data)
        if self._budget < 0:
            self._fh.write(bytes(data)[: max(room, 0)])
            raise OSError(errno.ENOSPC, "No space left on device")
        return self._fh.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)

    def __enter__(self) -> FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self._fh.close()


def fill_disk_after(monkeypatch: pytest.MonkeyPatch, budget: int) -> None:
    monkeypatch.setattr(store_module.os, "fdopen", lambda *a, **k: FullDisk(REAL_FDOPEN(*a, **k), budget))


def fail_fsync(monkeypatch: pytest.MonkeyPatch, code: int, *, on_call: int = 1) -> None:
    calls = {"n": 0}

    def fsync(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == on_call:
            raise OSError(code, os.strerror(code))
        REAL_FSYNC(fd)

    monkeypatch.setattr(store_module.os, "fsync", fsync)


def test_disk_full_during_write_leaves_nothing_and_saving_again_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = OutputStore(tmp_path)
    fill_disk_after(monkeypatch, budget=4096)
    with pytest.raises(StoreError, match=r"The disk is full: x\.png was not saved") as info:
        store.save_image(picture(), {"a": 1}, stem="x", latent=torch.zeros(4, 8, 8))
    assert info.value.kind == "disk_full"
    assert (
        "disk is full" in str(info.value)
        and "x.png" in str(info.value)
        and "Free some space" in str(info.value)
    )
    assert names(tmp_path) == []
    monkeypatch.undo()
    item = store.save_image(picture(), {"a": 1}, stem="x", latent=torch.zeros(4, 8, 8))
    assert names(tmp_path) == ["x.png", "x.safetensors"] and item.stem == "x"
    assert load_image(item.png).image.size == (64, 64)


def test_disk_full_on_the_latent_leaves_no_picture_either(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_fsync(monkeypatch, errno.ENOSPC, on_call=2)  # the PNG is fine, the latent's fsync fails
    with pytest.raises(StoreError, match="The disk is full") as info:
        OutputStore(tmp_path).save_image(picture(), {}, stem="x", latent=torch.zeros(4, 8, 8))
    assert info.value.kind == "disk_full" and names(tmp_path) == []


@pytest.mark.parametrize(
    ("code", "kind", "words"),
    [
        (errno.ENOSPC, "disk_full", "The disk is full"),
        (errno.EDQUOT, "disk_full", "The disk is full"),
        (errno.EACCES, "permission", "may not write to"),
        (errno.EROFS, "permission", "may not write to"),
        (errno.EIO, "io", "Input/output error"),
    ],
)
def test_os_errors_map_to_kinds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, kind: str, words: str
) -> None:
    fail_fsync(monkeypatch, code)
    with pytest.raises(StoreError, match=f"{words}.*f\\.bin|f\\.bin.*{words}") as info:
        atomic_write(tmp_path / "f.bin", write_bytes(b"data"))
    assert info.value.kind == kind and "f.bin" in str(info.value)
    assert isinstance(info.value.__cause__, OSError)
    assert names(tmp_path) == []


def test_a_failing_writer_leaves_no_temp(tmp_path: Path) -> None:
    def writer(fh: BinaryIO) -> None:
        fh.write(b"half")
        raise ValueError("encoder broke")

    with pytest.raises(StoreError, match=r"f\.bin was not saved in .*: encoder broke") as info:
        atomic_write(tmp_path / "f.bin", writer)
    assert info.value.kind == "io" and "encoder broke" in str(info.value)
    assert names(tmp_path) == []


def test_an_interrupt_propagates_and_leaves_no_temp(tmp_path: Path) -> None:
    def writer(fh: BinaryIO) -> None:
        fh.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "f.bin", writer)
    assert names(tmp_path) == []


def test_missing_folder_is_an_io_error(tmp_path: Path) -> None:
    with pytest.raises(
        StoreError, match=r"f\.bin was not saved in .*nope: No such file or directory"
    ) as info:
        atomic_write(tmp_path / "nope" / "f.bin", lambda fh: None)
    assert info.value.kind == "io"


def test_root_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="the folder was not created in .*file: File exists"):
        OutputStore(tmp_path / "file").save_image(picture(), {}, stem="x")


def test_without_hard_links_saves_still_never_overwrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(src: Any, dst: Any, *a: Any, **k: Any) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(store_module.os, "link", no_links)
    store = OutputStore(tmp_path)
    items = [
        store.save_image(picture(i), {"i": i}, stem="x", latent=torch.full((4, 2, 2), float(i)))
        for i in range(3)
    ]
    assert [it.stem for it in items] == ["x", "x-1", "x-2"]
    assert len(names(tmp_path)) == 6  # no temp left
    for i, item in enumerate(items):
        assert read_params(item.png) == {"i": i}
        assert item.latent is not None and load_latent(item.latent)[0].flatten()[0].item() == i
    trashed = store.delete(items[0])
    assert trashed is not None and read_params(trashed.png) == {"i": 0} and len(names(tmp_path)) == 5


def test_failure_placing_the_latent_removes_the_placed_picture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_link, calls = os.link, {"n": 0}

    def link(src: Any, dst: Any, *a: Any, **k: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.EIO, "Input/output error")
        real_link(src, dst, *a, **k)

    monkeypatch.setattr(store_module.os, "link", link)
    with pytest.raises(StoreError, match=r"x\.png was not saved in .*: Input/output error") as info:
        OutputStore(tmp_path).save_image(picture(), {}, stem="x", latent=torch.zeros(4, 2, 2))
    assert info.value.kind == "io" and names(tmp_path) == []


def test_failed_delete_keeps_the_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = OutputStore(tmp_path)
    item = store.save_image(picture(), {}, stem="x", latent=torch.zeros(4, 2, 2))

    def broken_link(src: Any, dst: Any, *a: Any, **k: Any) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(store_module.os, "link", broken_link)
    with pytest.raises(StoreError, match=r"x\.png was not moved in .*\.trash: Input/output error") as info:
        store.delete(item)
    assert info.value.kind == "io" and item.png.exists() and item.latent is not None and item.latent.exists()


def concurrent_saves(root: Path, count: int) -> list[Any]:
    store = OutputStore(root)
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def save(i: int) -> None:
        barrier.wait()
        try:
            results[i] = store.save_image(
                picture(i), {"thread": i}, stem="same", latent=torch.full((4, 2, 2), float(i))
            )
        except BaseException as exc:  # reported by the assertion below
            results[i] = exc

    threads = [threading.Thread(target=save, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)  # a hang guard
    return results


@pytest.mark.parametrize("count", [2, 8])
def test_concurrent_saves_with_the_same_stem_all_survive(tmp_path: Path, count: int) -> None:
    results = concurrent_saves(tmp_path, count)
    assert all(not isinstance(r, BaseException) and r is not None for r in results), results
    assert len({r.png for r in results}) == count
    assert len(names(tmp_path)) == 2 * count  # PNG + latent each, no temp left
    for i, item in enumerate(results):
        assert read_params(item.png) == {"thread": i}
        assert load_image(item.png).image.size == (64, 64)
        x, params = load_latent(item.latent)
        assert params == {"thread": i} and torch.equal(x, torch.full((4, 2, 2), float(i)))
        assert item.latent.stem == item.png.stem
