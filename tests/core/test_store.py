"""The output folder: saving pairs, names, listing, trash, and the default location."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import platformdirs
import pytest
import torch
from PIL import Image

from ddim_studio.core.imaging import read_params
from ddim_studio.core.latents import load_latent
from ddim_studio.core.store import (
    OUTPUT_DIR_ENV,
    STALE_TEMP_SECONDS,
    OutputStore,
    StoreError,
    _write_temp,
    atomic_write,
    default_output_dir,
    sanitize_stem,
)

PARAMS = {"prompt": "η = 0.5, 日本語, ✓", "eta": 0.5, "seed": 3}


def picture(colour: tuple[int, int, int] = (200, 30, 30)) -> Image.Image:
    return Image.new("RGB", (8, 8), colour)


def write_bytes(data: bytes) -> Callable[[BinaryIO], None]:
    def writer(fh: BinaryIO) -> None:
        fh.write(data)

    return writer


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_save_image_writes_png_and_latent_with_params(tmp_path: Path) -> None:
    store = OutputStore(tmp_path / "out")
    x = torch.randn(4, 8, 8)
    item = store.save_image(picture(), PARAMS, stem="portrait", latent=x)
    assert item.png == tmp_path / "out" / "portrait.png"
    assert item.latent == tmp_path / "out" / "portrait.safetensors"
    assert item.params == PARAMS and item.stem == "portrait" and item.mtime > 0
    assert read_params(item.png) == PARAMS
    with Image.open(item.png) as img:
        assert img.convert("RGB").getpixel((0, 0)) == (200, 30, 30)
    loaded, params = load_latent(item.latent)
    assert torch.equal(loaded, x) and params == PARAMS


def test_taken_names_are_bumped_for_both_files(tmp_path: Path) -> None:
    store = OutputStore(tmp_path)
    first = store.save_image(picture(), {"n": 1}, stem="a", latent=torch.zeros(4, 2, 2))
    second = store.save_image(picture(), {"n": 2}, stem="a", latent=torch.ones(4, 2, 2))
    third = store.save_image(picture(), {"n": 3}, stem="a")
    assert (first.stem, second.stem, third.stem) == ("a", "a-1", "a-2")
    assert second.latent == tmp_path / "a-1.safetensors" and third.latent is None
    assert read_params(first.png) == {"n": 1} and load_latent(second.latent)[1] == {"n": 2}


def test_a_stray_latent_bumps_the_pair_and_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "a.safetensors").write_bytes(b"someone else's")
    item = OutputStore(tmp_path).save_image(picture(), {}, stem="a", latent=torch.zeros(4, 2, 2))
    assert (item.png.name, item.latent and item.latent.name) == ("a-1.png", "a-1.safetensors")
    assert (tmp_path / "a.safetensors").read_bytes() == b"someone else's"
    assert names(tmp_path) == ["a-1.png", "a-1.safetensors", "a.safetensors"]


def test_atomic_write_returns_the_written_path_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "notes.txt"
    target.write_bytes(b"old")
    written = atomic_write(target, write_bytes(b"new"))
    assert written == tmp_path / "notes-1.txt" and written.read_bytes() == b"new"
    assert target.read_bytes() == b"old" and names(tmp_path) == ["notes-1.txt", "notes.txt"]


def test_atomic_write_with_a_long_name(tmp_path: Path) -> None:
    target = tmp_path / ("n" * 240 + ".bin")
    assert atomic_write(target, write_bytes(b"x")) == target and names(tmp_path) == [target.name]


@pytest.mark.parametrize(
    "stem",
    ["../evil", "..", "a/../b", "/abs", "/etc/passwd", "a/b", "a\\b", "C:evil", "C:\\x", "", "...", " . "],
)
def test_path_tricks_and_empty_names_are_refused(tmp_path: Path, stem: str) -> None:
    with pytest.raises(StoreError, match="is not allowed: a name may not be|is empty once made safe") as info:
        OutputStore(tmp_path / "out").save_image(picture(), {}, stem=stem)
    assert info.value.kind == "bad_name"
    assert not (tmp_path / "out").exists() or names(tmp_path / "out") == []
    assert names(tmp_path) in ([], ["out"])


@pytest.mark.parametrize(
    ("stem", "clean"),
    [
        ("portrait", "portrait"),
        ("η 日本語 ✓", "η 日本語 ✓"),
        ("ab:c*d?e", "ab_c_d_e"),
        ("tab\there", "tab_here"),
        (".hidden", "hidden"),
        ("trailing. ", "trailing"),
        ("con", "con_"),
        ("LPT1.x", "LPT1.x_"),
        ("x" * 400, "x" * 150),
        ("日" * 100, "日" * 50),
    ],
)
def test_stems_are_sanitised(stem: str, clean: str) -> None:
    assert sanitize_stem(stem) == clean


def test_list_items_newest_first_pairs_latents_and_skips_junk(tmp_path: Path) -> None:
    store = OutputStore(tmp_path)
    old = store.save_image(picture(), {"n": "old"}, stem="b-old", latent=torch.zeros(4, 2, 2))
    new = store.save_image(picture(), {"n": "new"}, stem="a-new")
    same = store.save_image(picture(), {"n": "same"}, stem="c-same")
    os.utime(old.png, (1_000_000, 1_000_000))
    os.utime(new.png, (3_000_000, 3_000_000))
    os.utime(same.png, (3_000_000, 3_000_000))
    good = new.png.read_bytes()
    (tmp_path / "truncated.png").write_bytes(good[: len(good) // 2])
    (tmp_path / ".a-new.png.tmp-0123456789ab").write_bytes(good)
    (tmp_path / "notes.txt").write_text("not a picture")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "fake.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40 + b"\x00\x00\x00\x00IEND\xaeB`\x82")
    Image.new("RGB", (2, 2)).save(tmp_path / "foreign.png")
    os.utime(tmp_path / "foreign.png", (2_000_000, 2_000_000))
    items = store.list_items()
    assert [it.png.name for it in items] == ["a-new.png", "c-same.png", "foreign.png", "b-old.png"]
    assert [it.params for it in items] == [{"n": "new"}, {"n": "same"}, {}, {"n": "old"}]
    assert items[3].latent == old.latent and items[0].latent is None
    assert store.list_items() == items  # served from the cache the second time


def test_list_items_of_a_missing_folder_is_empty(tmp_path: Path) -> None:
    assert OutputStore(tmp_path / "never-created").list_items() == []


def test_list_items_sees_changes(tmp_path: Path) -> None:
    store = OutputStore(tmp_path)
    item = store.save_image(picture(), {"v": 1}, stem="x")
    assert store.list_items()[0].params == {"v": 1}
    item.png.unlink()
    assert store.list_items() == []


def test_list_items_removes_the_temp_files_of_killed_saves_once_they_are_stale(tmp_path: Path) -> None:
    """A save killed between writing its temp file and linking it leaves ``.NAME.tmp-XXXXXXXXXXXX``.

    Listing removes such files once untouched for STALE_TEMP_SECONDS; a younger one may belong to a
    save in progress in another process and stays, as does every other hidden file.
    """
    store = OutputStore(tmp_path)
    kept = store.save_image(picture(), {"n": 1}, stem="kept", latent=torch.zeros(4, 2, 2))
    stale = [
        _write_temp(tmp_path, "killed.png", write_bytes(b"png"), []),
        _write_temp(tmp_path, "killed.safetensors", write_bytes(b"x"), []),
    ]
    recent = _write_temp(tmp_path, "in-progress.png", write_bytes(b"png"), [])
    almost = _write_temp(tmp_path, "almost.png", write_bytes(b"png"), [])
    others = [tmp_path / ".notes", tmp_path / ".x.png.tmp-notrandomhex", tmp_path / "x.png.tmp-0123456789ab"]
    for path in others:
        path.write_text("not a temp file of the store")
    folder = tmp_path / ".dir.png.tmp-0123456789ab"
    folder.mkdir()
    now = time.time()
    for path in [*stale, *others, folder]:
        os.utime(path, (now - STALE_TEMP_SECONDS - 60, now - STALE_TEMP_SECONDS - 60))
    os.utime(almost, (now - STALE_TEMP_SECONDS + 60, now - STALE_TEMP_SECONDS + 60))
    assert [it.png for it in store.list_items()] == [kept.png]
    assert not any(path.exists() for path in stale)
    assert recent.exists() and almost.exists() and folder.is_dir()
    assert all(path.exists() for path in others)
    assert kept.png.exists() and kept.latent is not None and kept.latent.exists()


def test_delete_to_trash_and_restore(tmp_path: Path) -> None:
    store = OutputStore(tmp_path)
    item = store.save_image(picture(), {"k": 1}, stem="x", latent=torch.zeros(4, 2, 2))
    trashed = store.delete(item)
    assert trashed is not None and trashed.png.parent == store.trash_dir
    assert trashed.latent == store.trash_dir / "x.safetensors"
    assert store.list_items() == [] and names(tmp_path) == [".trash"]
    assert [it.png.name for it in store.list_trash()] == ["x.png"]
    store.save_image(picture(), {"k": 2}, stem="x")  # the name is free again
    restored = store.restore(trashed)
    assert restored.png.name == "x-1.png" and restored.latent == tmp_path / "x-1.safetensors"
    assert read_params(restored.png) == {"k": 1} and store.list_trash() == []


def test_trash_keeps_same_named_items_apart(tmp_path: Path) -> None:
    store = OutputStore(tmp_path)
    first = store.delete(store.save_image(picture(), {"n": 1}, stem="x"))
    second = store.delete(store.save_image(picture(), {"n": 2}, stem="x"))
    assert first is not None and second is not None
    assert (first.png.name, second.png.name) == ("x.png", "x-1.png")
    assert read_params(first.png) == {"n": 1} and read_params(second.png) == {"n": 2}


def test_delete_for_good(tmp_path: Path) -> None:
    store = OutputStore(tmp_path)
    item = store.save_image(picture(), {}, stem="x", latent=torch.zeros(4, 2, 2))
    assert store.delete(item, to_trash=False) is None
    assert names(tmp_path) == []
    store.delete(item, to_trash=False)  # already gone: nothing to do


def test_default_output_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(OUTPUT_DIR_ENV, str(tmp_path / "mine"))
    assert default_output_dir() == tmp_path / "mine"
    monkeypatch.setenv(OUTPUT_DIR_ENV, "  ")
    expected = Path(platformdirs.user_data_dir("ddim-studio", appauthor=False)) / "outputs"
    assert default_output_dir() == expected
    monkeypatch.delenv(OUTPUT_DIR_ENV)
    assert default_output_dir() == expected


def test_an_interrupt_right_after_the_temp_file_is_created_leaves_nothing(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Found by CI: SIGTERM (raised as an exception between two bytecodes) just after ``os.open``
    created the temp file, before any clean-up covered it, left ``.pic-edit-000024.png.tmp-…``."""
    from ddim_studio.core import atomic

    real_open = os.open

    def open_then_interrupted(path, flags, *args):  # type: ignore[no-untyped-def]
        os.close(real_open(path, flags, *args))
        raise KeyboardInterrupt  # the signal arrives as the call returns

    monkeypatch.setattr(atomic.os, "open", open_then_interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic.atomic_write_group(tmp_path, "pic", [(".png", write_bytes(b"png"))])
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


SIGNAL_DURING_A_WRITE = """
import signal, sys
from pathlib import Path
from ddim_studio.cli import sigterm_interrupts
from ddim_studio.core import atomic

folder, name, ignore = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "ignore"
signal.signal(signal.SIGINT, signal.SIG_IGN if ignore else signal.default_int_handler)

def interrupted(fh):
    signal.raise_signal(getattr(signal, name))  # the handler would raise right here, mid-write
    fh.write(b"png")

def source(fh):
    fh.write(b"s")

outcome = "returned"
try:
    with sigterm_interrupts():
        atomic.atomic_write_group(folder, "pic", [(".png", interrupted), (".source.png", source)])
except KeyboardInterrupt:
    outcome = "interrupted"
handler = signal.getsignal(signal.SIGINT)
kind = {signal.SIG_IGN: "ignored", signal.default_int_handler: "default"}.get(handler, "other")
print(outcome, kind)
print(*sorted(p.name for p in folder.iterdir()))
print((folder / "pic.png").read_bytes().decode())
"""


def _signal_during_a_write(folder: Path, name: str, ignore: bool) -> list[str]:
    """Run a group write that receives signal ``name`` mid-write, in a fresh interpreter.

    Its own process: a real signal raised inside the test process, among the native libraries of
    the tests before it, made the interpreter crash at exit (as the self-SIGTERM test did).
    """
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", SIGNAL_DURING_A_WRITE, str(folder), name, "ignore" if ignore else "handle"],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.splitlines()


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_a_signal_during_a_group_write_waits_for_it_and_leaves_no_temp(tmp_path: Path, signum: str) -> None:
    """Found by CI: SIGTERM raised between the placing of ``pic-edit.png`` + ``.source.png`` and the
    removal of their temp files left both temps. The signal now waits until the group is written."""
    outcome, names, content = _signal_during_a_write(tmp_path, signum, ignore=False)
    assert outcome == "interrupted default"  # raised once the group was written; the handlers are back
    assert names == "pic.png pic.source.png" and content == "png"  # complete, no temp file


def test_a_signal_ignored_before_a_write_stays_ignored(tmp_path: Path) -> None:
    outcome, names, content = _signal_during_a_write(tmp_path, "SIGINT", ignore=True)  # as under nohup
    assert outcome == "returned ignored"
    assert names == "pic.png pic.source.png" and content == "png"
