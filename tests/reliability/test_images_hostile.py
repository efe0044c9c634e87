"""Hostile images: decompression bombs, truncated files, random and mutated bytes."""

from __future__ import annotations

import io
import os
import struct
import tracemalloc
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from ddim_studio.core.imaging import ImageLoadError, LoadedImage, load_image, read_params

FUZZ = settings(
    max_examples=300,
    deadline=None,  # no wall-clock limit per example: the suite's per-test timeout guards hangs
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def declared_png(width: int, height: int, idat: bytes | None = None) -> bytes:
    """A PNG whose IHDR declares ``width`` × ``height`` (8-bit grey) with a tiny, incomplete IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64) if idat is None else idat
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def sample(fmt: str, **kwargs: object) -> bytes:
    img = Image.new("RGB", (24, 16), (10, 120, 240))
    img.paste((250, 20, 20), (0, 0, 12, 8))
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


SEEDS = {
    "png": sample("PNG"),
    "jpeg": sample("JPEG", quality=90),
    "progressive-jpeg": sample("JPEG", progressive=True),
    "gif": sample("GIF"),
    "webp": sample("WEBP"),
    "tiff": sample("TIFF"),
    "bmp": sample("BMP"),
}


@pytest.fixture(autouse=True)
def pillow_globals_unchanged() -> Iterator[None]:
    """Every test here must leave Pillow's process-wide switches as it found them."""
    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
    yield
    assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES) == before


def refused(data: bytes, match: str, **kwargs: int) -> ImageLoadError:
    """The error ``load_image`` raises for ``data``; its message must match ``match``."""
    with pytest.raises(ImageLoadError, match=match) as info:
        load_image(data, **kwargs)
    return info.value


def test_declared_20000x20000_png_is_refused_without_allocating() -> None:
    data = declared_png(20_000, 20_000)
    tracemalloc.start()
    try:
        error = refused(data, "too large to open safely")
    finally:
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert error.kind == "too_large"
    assert peak < 50 * 1024**2


def test_own_size_check_does_not_depend_on_pillows_global_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # Pillow's own bomb check switched off
    tracemalloc.start()
    try:
        error = refused(declared_png(20_000, 20_000), "20000×20000 pixels, more than the 64,000,000")
    finally:
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert error.kind == "too_large" and "20000×20000" in str(error)
    assert peak < 50 * 1024**2  # refused from the header, never decoded


def test_size_between_our_limit_and_pillows_is_refused_by_ours() -> None:
    error = refused(
        declared_png(9_000, 9_000), "9000×9000 pixels, more than the 64,000,000"
    )  # 81 M pixels: under Pillow's 89 M, over our 64 M
    assert error.kind == "too_large" and "9000×9000" in str(error)
    assert (
        refused(
            declared_png(1_001, 1_000), "1001×1000 pixels, more than the 1,000,000", max_pixels=1_000_000
        ).kind
        == "too_large"
    )


def test_pillow_bomb_warning_raised_as_error_is_converted() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        error = refused(
            declared_png(10_000, 10_000), "too large to open safely", max_pixels=200_000_000
        )  # Pillow warns
    assert error.kind == "too_large"


def test_zero_sized_png_is_corrupt() -> None:
    assert refused(declared_png(0, 10), "not an image DDIM Studio can read|damaged or incomplete").kind in (
        "corrupt",
        "unsupported",
    )


@pytest.mark.parametrize("name", ["png", "jpeg", "progressive-jpeg", "gif", "webp", "tiff", "bmp"])
@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated_files_are_refused_or_warned(name: str, keep: float) -> None:
    data = SEEDS[name]
    try:
        loaded = load_image(data[: int(len(data) * keep)])
    except ImageLoadError as exc:
        assert exc.kind in ("corrupt", "unsupported")
        assert str(exc)
    else:
        assert loaded.warnings, "a truncated file may only load with a visible warning"


@pytest.mark.parametrize("name", ["png", "jpeg"])
def test_truncated_png_and_jpeg_are_corrupt(name: str) -> None:
    data = SEEDS[name]
    assert (
        refused(data[: len(data) // 2], "is damaged( or incomplete)? and cannot be (used|opened)").kind
        == "corrupt"
    )


def test_intact_seeds_load() -> None:
    for data in SEEDS.values():
        assert load_image(data).image.size == (24, 16)


def check_only_image_load_error(data: bytes) -> None:
    try:
        result = load_image(data)
    except ImageLoadError as exc:
        assert exc.kind in ("too_large", "corrupt", "unsupported", "missing") and str(exc)
    else:
        assert isinstance(result, LoadedImage) and result.image.mode == "RGB"
    try:
        params = read_params(data)
    except ImageLoadError:
        pass
    else:
        assert params is None or isinstance(params, dict)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about some broken metadata
@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes_only_raise_image_load_error(data: bytes) -> None:
    check_only_image_load_error(data)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about some broken metadata
@FUZZ
@given(
    st.sampled_from(
        [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"RIFF\x00\x00\x00\x00WEBP", b"II*\x00"]
    ),
    st.binary(max_size=1024),
)
def test_random_bytes_after_a_magic_number_only_raise_image_load_error(magic: bytes, rest: bytes) -> None:
    check_only_image_load_error(magic + rest)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about some broken metadata
@FUZZ
@given(
    st.sampled_from(sorted(SEEDS)),
    st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1, max_size=8),
    st.one_of(st.none(), st.floats(0.0, 1.0)),
)
def test_mutated_real_files_only_raise_image_load_error(
    name: str, edits: list[tuple[int, int]], keep: float | None
) -> None:
    data = bytearray(SEEDS[name])
    for position, value in edits:
        data[position % len(data)] = value
    if keep is not None:
        data = data[: int(len(data) * keep)]
    check_only_image_load_error(bytes(data))


# ---------------------------------------------------------------- round two (issue 17)

EPS_PWNED = b"""%!PS-Adobe-3.0 EPSF-3.0
%%BoundingBox: 0 0 10 10
(pwned.txt) (w) file (pwned) writestring
showpage
%%EOF
"""
EPS_LOOP = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n{} loop\n"
#: A DOS EPS binary header in front of the PostScript (how some programs save EPS).
EPS_DOS = (
    b"\xc5\xd0\xd3\xc6" + struct.pack("<IIIIII", 30, len(EPS_PWNED), 0, 0, 0, 0) + b"\xff\xff" + EPS_PWNED
)


@pytest.fixture
def fake_gs(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """A ``gs`` first on PATH that leaves a mark if anything runs it."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    mark = tmp_path / "GS_WAS_RUN"
    for name in ("gs", "gsc", "gswin64c"):
        script = bindir / name
        script.write_text(f"#!/bin/sh\ntouch '{mark}'\nsleep 30\n")
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ.get('PATH', '')}")
    return mark


@pytest.mark.parametrize(
    ("name", "data"),
    [
        pytest.param("photo.eps", EPS_PWNED, id="eps-writes-a-file"),
        pytest.param("photo.eps", EPS_LOOP, id="eps-loops-forever"),
        pytest.param("photo.eps", EPS_DOS, id="eps-dos-binary-header"),
        pytest.param("photo.png", EPS_PWNED, id="eps-named-png"),
        pytest.param("photo.ps", b"%!PS\n(pwned.txt) (w) file (pwned) writestring\n", id="postscript"),
        pytest.param("doc.pdf", b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n", id="pdf"),
    ],
)
def test_an_eps_or_pdf_is_refused_without_running_ghostscript(
    tmp_path, monkeypatch, fake_gs, name: str, data: bytes
) -> None:  # type: ignore[no-untyped-def]
    """Pillow hands EPS to Ghostscript, which runs the file's PostScript: never opened."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("TMPDIR", str(work))
    path = work / name
    path.write_bytes(data)
    for source in (path, data):
        with pytest.raises(ImageLoadError, match=EPS_REFUSED) as info:
            load_image(source)  # type: ignore[arg-type]
        assert info.value.kind == "unsupported"
        message = str(info.value)
        assert "\n" not in message and "PNG, JPEG, WebP, GIF, BMP or TIFF" in message
        with pytest.raises(ImageLoadError, match=EPS_REFUSED):
            read_params(source)  # type: ignore[arg-type]
    assert not fake_gs.exists(), "Ghostscript was started"
    assert sorted(p.name for p in work.iterdir()) == [name], "the PostScript wrote a file"


def test_only_in_process_formats_are_allowed() -> None:
    from ddim_studio.core.imaging import IMAGE_FORMATS

    assert set(IMAGE_FORMATS) == {"PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"}
    assert not {"EPS", "PDF", "PS"} & set(IMAGE_FORMATS)


#: What the message says each path is, instead of an image.
NOT_A_FILE = {
    "fifo": r"is a named pipe \(FIFO\), not an image",
    "dev-zero": "is a device, not an image",
    "folder": "is a folder, not an image",
    "dev-null": "is a device, not an image",
}
EPS_REFUSED = (
    r"is (an EPS|a PostScript|a PostScript or EPS|a PDF) file, which DDIM Studio does not open "
    r"\(opening it would run"
)


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "folder", "dev-null"])
def test_an_image_path_that_is_not_a_regular_file_is_refused_unopened(tmp_path, kind: str) -> None:  # type: ignore[no-untyped-def]
    if kind == "fifo":
        path = tmp_path / "fifo.png"
        os.mkfifo(path)  # opening it for reading would block until a writer comes
    elif kind == "folder":
        path = tmp_path / "folder.png"
        path.mkdir()
    else:
        path = Path("/dev/zero" if kind == "dev-zero" else "/dev/null")
    what = NOT_A_FILE[kind]
    error = refused_path(path, what)  # a FIFO opened for reading would block: the per-test timeout guards it
    assert error.kind == "unsupported" and "not an image" in str(error) and "\n" not in str(error)
    with pytest.raises(ImageLoadError, match=what):
        read_params(path)


def refused_path(path: Path, match: str) -> ImageLoadError:
    """The error ``load_image`` raises for ``path``; its message must match ``match``."""
    with pytest.raises(ImageLoadError, match=match) as info:
        load_image(path)
    return info.value


@pytest.mark.parametrize("name", ["X.SAFETENSORS", "x.safetensors", "x.SafeTensors"])
def test_a_latent_file_in_any_case_is_not_taken_for_an_image(tmp_path, name: str) -> None:  # type: ignore[no-untyped-def]
    from ddim_studio.core.latents import is_latent_path, save_latent

    path = save_latent(tmp_path / "x.safetensors", torch.zeros(3, 4, 4), {})
    path = path.rename(tmp_path / name)
    assert is_latent_path(path)
    error = refused_path(path, r"is a latent file \(\.safetensors\), not an image; open it as a latent")
    assert error.kind == "unsupported" and "latent file" in str(error)


def text_png(text_bytes: int) -> bytes:
    """A real 16×16 studio PNG plus a zTXt chunk that inflates to ``text_bytes`` bytes."""
    from ddim_studio.core.imaging import png_info

    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 30)).save(
        buf, "PNG", pnginfo=png_info({"kind": "sample", "seed": 3})
    )
    data = buf.getvalue()
    ztxt = chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"A" * text_bytes, 9))
    return data[:33] + ztxt + data[33:]  # after IHDR


def test_a_png_with_megabytes_of_text_is_shown_without_its_parameters(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Pillow refuses text chunks over 1 MB; the picture is fine, so it is shown, parameters ignored."""
    from ddim_studio.core.store import OutputStore

    data = text_png(3 * 1024 * 1024)
    assert len(data) < 20_000
    loaded = load_image(data)
    assert loaded.image.size == (16, 16) and loaded.image.getpixel((3, 3)) == (200, 30, 30)
    assert any("too large" in w for w in loaded.warnings)
    assert read_params(data) is None
    (tmp_path / "big-text.png").write_bytes(data)
    (item,) = OutputStore(tmp_path).list_items()  # listed, not hidden as damaged
    assert item.png.name == "big-text.png" and item.params == {}
    assert read_params(text_png(1000)) == {"kind": "sample", "seed": 3}  # small text: params read
