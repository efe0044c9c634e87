"""Hostile images: decompression bombs, truncated files, random and mutated bytes."""

from __future__ import annotations

import io
import struct
import time
import tracemalloc
import warnings
import zlib
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from ddim_studio.core.imaging import ImageLoadError, LoadedImage, load_image, read_params

FUZZ = settings(
    max_examples=300,
    deadline=2000,
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


def refused(data: bytes, **kwargs: int) -> ImageLoadError:
    with pytest.raises(ImageLoadError) as info:
        load_image(data, **kwargs)
    return info.value


def test_declared_20000x20000_png_is_refused_without_allocating() -> None:
    data = declared_png(20_000, 20_000)
    tracemalloc.start()
    start = time.perf_counter()
    try:
        error = refused(data)
    finally:
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert error.kind == "too_large"
    assert time.perf_counter() - start < 1.0
    assert peak < 50 * 1024**2


def test_own_size_check_does_not_depend_on_pillows_global_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # Pillow's own bomb check switched off
    start = time.perf_counter()
    error = refused(declared_png(20_000, 20_000))
    assert error.kind == "too_large" and "20000×20000" in str(error)
    assert time.perf_counter() - start < 1.0


def test_size_between_our_limit_and_pillows_is_refused_by_ours() -> None:
    error = refused(declared_png(9_000, 9_000))  # 81 M pixels: under Pillow's 89 M, over our 64 M
    assert error.kind == "too_large" and "9000×9000" in str(error)
    assert refused(declared_png(1_001, 1_000), max_pixels=1_000_000).kind == "too_large"


def test_pillow_bomb_warning_raised_as_error_is_converted() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        error = refused(declared_png(10_000, 10_000), max_pixels=200_000_000)  # 100 M: Pillow warns
    assert error.kind == "too_large"


def test_zero_sized_png_is_corrupt() -> None:
    assert refused(declared_png(0, 10)).kind in ("corrupt", "unsupported")


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
    assert refused(data[: len(data) // 2]).kind == "corrupt"


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
