"""Image loading, fitting, tensor conversion and PNG parameters, on real encoded files."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms, PngImagePlugin

from ddim_studio.core import imaging
from ddim_studio.core.imaging import (
    ImageLoadError,
    crop_box,
    fit_to_model,
    load_image,
    pil_to_tensor,
    png_info,
    read_params,
    tensor_to_pil,
    tensor_to_pils,
    tensor_to_uint8,
)

MODEL_SIZE = 32
WHITE, BLACK, RED, GREEN, BLUE = (255, 255, 255), (0, 0, 0), (255, 0, 0), (0, 255, 0), (0, 0, 255)


def px(img: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    """The pixel at ``xy`` as a tuple (typed for mypy)."""
    value = img.getpixel(xy)
    assert isinstance(value, tuple)
    return value


def encode(img: Image.Image, fmt: str, **kwargs: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def halves(mode: str, left: Any, right: Any) -> Image.Image:
    """A 16×8 image: ``left`` in columns 0–7, ``right`` in columns 8–15."""
    img = Image.new(mode, (16, 8), left)
    img.paste(right, (8, 0, 16, 8))
    return img


def palette_halves(mode: str, alpha: tuple[int, int] | None) -> Image.Image:
    """A palette image: index 0 (red) on the left, index 1 (blue) on the right."""
    idx = Image.fromarray(np.repeat(np.array([[0] * 8 + [1] * 8], np.uint8), 8, axis=0), "L")
    bands = [idx] if alpha is None else [idx, halves("L", *alpha)]
    img = Image.merge(mode, bands) if mode == "PA" else idx.convert("P")
    img.putpalette([255, 0, 0, 0, 0, 255] + [0, 0, 0] * 254)
    return img


def p_with_transparency() -> Image.Image:
    img = palette_halves("P", None)
    img.info["transparency"] = 0
    return img


# (id, image factory, format, expected left RGB, expected right RGB)
MODE_CASES = [
    ("1", lambda: halves("1", 0, 255), "PNG", BLACK, WHITE),
    ("L", lambda: halves("L", 30, 200), "PNG", (30,) * 3, (200,) * 3),
    ("P-png-transparency", p_with_transparency, "PNG", WHITE, BLUE),
    ("P-gif-transparency", p_with_transparency, "GIF", WHITE, BLUE),
    ("LA", lambda: halves("LA", (0, 0), (100, 128)), "PNG", WHITE, (177,) * 3),
    ("PA", lambda: palette_halves("PA", (255, 0)), "TIFF", RED, WHITE),
    ("RGB", lambda: halves("RGB", RED, GREEN), "PNG", RED, GREEN),
    ("RGBA", lambda: halves("RGBA", (255, 0, 0, 255), (0, 0, 255, 0)), "PNG", RED, WHITE),
    ("CMYK", lambda: halves("CMYK", (0, 0, 0, 0), (255, 0, 0, 0)), "TIFF", WHITE, (0, 255, 255)),
    ("I;16", lambda: halves("I;16", 0, 65535), "PNG", BLACK, WHITE),
    ("I;16-mid", lambda: halves("I;16", 257 * 40, 257 * 200), "PNG", (40,) * 3, (200,) * 3),
    ("I;16B", lambda: halves("I;16B", 257 * 10, 65535), "TIFF", (10,) * 3, WHITE),
    ("I-16bit-range", lambda: halves("I", 257 * 100, 65535), "TIFF", (100,) * 3, WHITE),
    ("I-wide-range", lambda: halves("I", 0, 1_000_000), "TIFF", BLACK, WHITE),
    ("I-negative", lambda: halves("I", -5000, 5000), "TIFF", BLACK, WHITE),
    ("F-unit", lambda: halves("F", 0.2, 1.0), "TIFF", (51,) * 3, WHITE),
    ("F-other-range", lambda: halves("F", -10.0, 30.0), "TIFF", BLACK, WHITE),
]


@pytest.mark.parametrize(
    ("make", "fmt", "left", "right"), [c[1:] for c in MODE_CASES], ids=[c[0] for c in MODE_CASES]
)
def test_every_mode_becomes_the_right_rgb_image(make: Any, fmt: str, left: tuple, right: tuple) -> None:
    loaded = load_image(encode(make(), fmt))
    assert loaded.image.mode == "RGB" and loaded.image.size == (16, 8)
    assert px(loaded.image, (2, 4)) == left
    assert px(loaded.image, (13, 4)) == right
    fitted = fit_to_model(loaded.image, MODEL_SIZE)
    assert fitted.mode == "RGB" and fitted.size == (MODEL_SIZE, MODEL_SIZE)
    assert np.abs(np.subtract(px(fitted, (1, 16)), left)).max() <= 2
    assert np.abs(np.subtract(px(fitted, (30, 16)), right)).max() <= 2


def test_cmyk_jpeg_is_converted_to_rgb() -> None:
    loaded = load_image(encode(halves("CMYK", (0, 0, 0, 0), (0, 0, 0, 255)), "JPEG", quality=95))
    assert loaded.original_mode == "CMYK" and loaded.image.mode == "RGB"
    assert min(px(loaded.image, (2, 4))) >= 240 and max(px(loaded.image, (13, 4))) <= 15


def test_16bit_gradient_keeps_its_full_range() -> None:
    ramp = np.round(np.linspace(0, 65535, 256)).astype(np.uint16)
    img = Image.fromarray(np.tile(ramp, (4, 1)))
    big_endian = Image.frombytes("I;16B", img.size, np.tile(ramp, (4, 1)).astype(">u2").tobytes())
    assert img.mode == "I;16"
    for data in (encode(img, "PNG"), encode(big_endian, "TIFF")):
        row = np.asarray(load_image(data).image)[0, :, 0].astype(int)
        assert row.max() >= 250 and row.min() <= 5
        assert np.all(np.diff(row) >= 0)
        assert np.abs(row - np.round(ramp / 257)).max() <= 1


# EXIF orientation n: how to build the stored pixels from the displayed ones (EXIF 2.32, tag 0x0112).
STORED_FROM_DISPLAYED = {
    1: lambda a: a,
    2: np.fliplr,
    3: lambda a: np.rot90(a, 2),
    4: np.flipud,
    5: lambda a: np.transpose(a, (1, 0, 2)),  # row 0 = visual left, column 0 = visual top
    6: lambda a: np.rot90(a, 1),  # row 0 = visual right, column 0 = visual top
    7: lambda a: np.rot90(np.transpose(a, (1, 0, 2)), 2),  # row 0 = visual right, column 0 = visual bottom
    8: lambda a: np.rot90(a, -1),  # row 0 = visual left, column 0 = visual bottom
}


def quadrants() -> np.ndarray:
    """24×16 displayed image: red top-left, green top-right, blue bottom-left, white bottom-right."""
    a = np.zeros((16, 24, 3), np.uint8)
    a[:8, :12], a[:8, 12:], a[8:, :12], a[8:, 12:] = RED, GREEN, BLUE, WHITE
    return a


def with_orientation(displayed: np.ndarray, orientation: int, fmt: str) -> bytes:
    stored = Image.fromarray(np.ascontiguousarray(STORED_FROM_DISPLAYED[orientation](displayed)))
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(stored, fmt, exif=exif.tobytes(), **({"quality": 95} if fmt == "JPEG" else {}))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(orientation: int) -> None:
    loaded = load_image(with_orientation(quadrants(), orientation, "PNG"))
    assert loaded.image.size == (24, 16)
    np.testing.assert_array_equal(np.asarray(loaded.image), quadrants())
    fitted = fit_to_model(loaded.image, MODEL_SIZE)
    for (x, y), colour in {(2, 2): RED, (29, 2): GREEN, (2, 29): BLUE, (29, 29): WHITE}.items():
        assert np.abs(np.subtract(px(fitted, (x, y)), colour)).max() <= 2


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_of_a_jpeg(orientation: int) -> None:
    displayed = np.repeat(np.repeat(quadrants(), 4, axis=0), 4, axis=1)  # 96×64, JPEG-friendly blocks
    loaded = load_image(with_orientation(displayed, orientation, "JPEG"))
    assert loaded.image.size == (96, 64)
    for (x, y), colour in {(10, 10): RED, (85, 10): GREEN, (10, 53): BLUE, (85, 53): WHITE}.items():
        assert np.abs(np.subtract(px(loaded.image, (x, y)), colour)).max() <= 30


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animation_gives_its_first_frame_with_a_warning(fmt: str) -> None:
    frames = [Image.new("RGB", (12, 10), c) for c in (RED, GREEN, BLUE)]
    extra = {"lossless": True} if fmt == "WEBP" else {}
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=50, **extra)
    loaded = load_image(data)
    assert px(loaded.image, (5, 5)) == RED
    assert any("animated" in w for w in loaded.warnings)
    assert fit_to_model(loaded.image, MODEL_SIZE).getpixel((16, 16)) == RED


def srgb_bytes() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def test_embedded_srgb_profile_is_converted_without_warning() -> None:
    data = encode(Image.new("RGB", (8, 8), (200, 100, 50)), "PNG", icc_profile=srgb_bytes())
    loaded = load_image(data)
    assert loaded.warnings == []
    assert np.abs(np.subtract(px(loaded.image, (3, 3)), (200, 100, 50))).max() <= 2


@pytest.mark.parametrize(
    "icc",
    [b"this is no ICC profile", ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()],
    ids=["garbage", "lab-profile-on-rgb"],
)
def test_unusable_profile_keeps_pixels_and_warns(icc: bytes) -> None:
    loaded = load_image(encode(Image.new("RGB", (8, 8), (200, 100, 50)), "PNG", icc_profile=icc))
    assert px(loaded.image, (3, 3)) == (200, 100, 50)
    assert any("colour profile" in w for w in loaded.warnings)


def test_profile_without_littlecms_keeps_pixels_and_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imaging, "_ImageCms", None)
    loaded = load_image(encode(Image.new("RGB", (8, 8), (200, 100, 50)), "PNG", icc_profile=srgb_bytes()))
    assert px(loaded.image, (3, 3)) == (200, 100, 50)
    assert any("profile" in w for w in loaded.warnings)


def test_one_pixel_image() -> None:
    fitted = fit_to_model(load_image(encode(Image.new("RGB", (1, 1), BLUE), "PNG")).image, MODEL_SIZE)
    assert fitted.size == (MODEL_SIZE, MODEL_SIZE)
    assert set(fitted.get_flattened_data()) == {BLUE}


def test_thin_strip_is_cropped_at_its_centre() -> None:
    strip = Image.new("RGB", (1, 4000), RED)
    strip.paste(BLUE, (0, 2000, 1, 4000))
    assert crop_box(strip.size, MODEL_SIZE) == (0, 1999, 1, 2000)
    fitted = fit_to_model(load_image(encode(strip, "PNG")).image, MODEL_SIZE)
    assert fitted.size == (MODEL_SIZE, MODEL_SIZE) and set(fitted.get_flattened_data()) == {RED}
    assert fit_to_model(Image.new("RGB", (4000, 1)), (48, 16)).size == (48, 16)


@pytest.mark.parametrize(
    ("img_size", "size", "box"),
    [
        ((100, 50), 32, (25, 0, 75, 50)),
        ((50, 100), 32, (0, 25, 50, 75)),
        ((64, 64), 32, (0, 0, 64, 64)),
        ((300, 100), (64, 32), (50, 0, 250, 100)),
        ((3, 3), (10, 1), (0, 1, 3, 2)),
    ],
)
def test_crop_box_is_centred_with_the_target_aspect(img_size: Any, size: Any, box: Any) -> None:
    assert crop_box(img_size, size) == box


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageLoadError, match=r"nope\.png” does not exist") as info:
        load_image(tmp_path / "nope.png")
    assert info.value.kind == "missing" and "nope.png" in str(info.value)


def test_loading_from_a_path_records_the_source(tmp_path: Path) -> None:
    path = tmp_path / "pic.png"
    Image.new("RGB", (5, 3), GREEN).save(path)
    loaded = load_image(path)
    assert loaded.source == str(path) and loaded.original_size == (5, 3) and loaded.format == "PNG"


def test_pil_tensor_round_trip_is_exact() -> None:
    array = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    array[0, 0], array[0, 1] = 0, 255
    x = pil_to_tensor(Image.fromarray(array))
    assert x.shape == (1, 3, 5, 7) and x.dtype == torch.float32
    assert x[0, :, 0, 0].tolist() == [-1.0] * 3 and x[0, :, 0, 1].tolist() == [1.0] * 3
    back = tensor_to_pil(x[0])
    assert isinstance(back, Image.Image)
    np.testing.assert_array_equal(np.asarray(back), array)
    np.testing.assert_array_equal(tensor_to_uint8(x)[0], array)


def test_tensor_to_uint8_clamps_rounds_and_batches() -> None:
    x = torch.tensor([-5.0, -1.0, 0.0, 1.0, 7.0, float("nan")]).reshape(1, 1, 1, 6).expand(2, 3, 1, 6)
    out = tensor_to_uint8(x)
    assert out.shape == (2, 1, 6, 3) and out.dtype == np.uint8
    assert out[1, 0, :, 0].tolist() == [0, 0, 128, 255, 255, 128]
    images = tensor_to_pil(x)
    assert isinstance(images, list) and len(images) == 2 and images[0].size == (6, 1)
    assert len(tensor_to_pils(x[0])) == 1
    with pytest.raises(ValueError, match="shape"):
        tensor_to_uint8(torch.zeros(2, 2))


PARAMS = {"prompt": "η = 0.5, 日本語, ✓", "eta": 0.5, "steps": 50, "seed": 42, "path": Path("/x")}


def test_png_params_round_trip_with_non_ascii_text(tmp_path: Path) -> None:
    path = tmp_path / "p.png"
    Image.new("RGB", (4, 4)).save(path, pnginfo=png_info(PARAMS))
    expected = {**PARAMS, "path": "/x"}
    assert read_params(path) == expected
    assert read_params(path.read_bytes()) == expected
    with Image.open(path) as img:
        assert read_params(img) == expected
        assert "η = 0.5, 日本語, ✓" in img.info["parameters"] and "steps: 50" in img.info["parameters"]


def test_read_params_absent_or_invalid_is_none() -> None:
    assert read_params(encode(Image.new("RGB", (4, 4)), "PNG")) is None
    assert read_params(encode(Image.new("RGB", (4, 4)), "JPEG")) is None
    for text in ("{not json", "[1, 2]", "null"):
        info = PngImagePlugin.PngInfo()
        info.add_itxt(imaging.PARAMS_KEY, text)
        assert read_params(encode(Image.new("RGB", (4, 4)), "PNG", pnginfo=info)) is None
    with pytest.raises(ImageLoadError, match="is not an image DDIM Studio can read"):
        read_params(b"definitely not an image")
