"""Safe image loading, model-size fitting, tensor <-> image conversion and PNG parameter chunks.

Everything a person can drop on the app goes through :func:`load_image`, which either returns an
8-bit sRGB ``RGB`` image or raises :class:`ImageLoadError` with a message to show as is. It checks
the declared size before any pixel is decoded, and it never touches Pillow's process-wide switches
(``Image.MAX_IMAGE_PIXELS``, ``ImageFile.LOAD_TRUNCATED_IMAGES``). Pillow can only accept truncated
pixel data through that global flag, so a file whose pixel data is cut short is refused as
``corrupt``; a PNG cut only after its pixel data loads with a warning.

Only formats Pillow decodes in-process are opened (:mod:`core.image_formats`: PNG, JPEG, WebP,
GIF, BMP, TIFF). Pillow hands EPS/PS to Ghostscript, an interpreter that runs the file's
PostScript; such files are refused before Pillow reads them, with one line naming the accepted
formats. Paths must be regular files (:func:`core.limits.check_regular_file`), so a
FIFO or ``/dev/zero`` never blocks the reader.

Transparent pixels are composited over **white**, the background most pictures with alpha (logos,
stickers, scans) are drawn for. A *mask* (:func:`load_mask_image`) is composited over black
instead: its alpha is coverage, so a transparent pixel keeps the picture there.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

try:  # LittleCMS is optional in Pillow builds.
    from PIL import ImageCms as _ImageCms
except ImportError:  # pragma: no cover - depends on the Pillow build
    _ImageCms = None  # type: ignore[assignment]

from ddim_studio.core.image_formats import (
    ACCEPTED_FORMATS_TEXT,
    IMAGE_FORMATS,
    interpreted_format,
    strip_png_text,
    text_too_large,
)
from ddim_studio.core.limits import MAX_IMAGE_FILE_BYTES, check_regular_file
from ddim_studio.core.saved_params import utf8_text, validate_params

PARAMS_KEY = "ddim_studio"
"""Name of the PNG iTXt chunk holding the generation parameters as JSON."""

DEFAULT_MAX_PIXELS = 64_000_000
BACKGROUND = (255, 255, 255)
#: A mask's background: transparent = black = keep (white strokes on transparent regenerate the strokes).
MASK_BACKGROUND = (0, 0, 0)

_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_KINDS = ("too_large", "corrupt", "unsupported", "missing")
_ALPHA_MODES = {"RGBA": "RGB", "LA": "L"}

ImageSource = str | os.PathLike[str] | bytes | bytearray | memoryview


class ImageLoadError(Exception):
    """An image that cannot be used; ``str(error)`` is a sentence for the person who chose the file.

    Attributes:
        kind: ``too_large``, ``corrupt``, ``unsupported`` or ``missing``.
        message: the same text as ``str(error)``.
    """

    def __init__(self, kind: str, message: str) -> None:
        if kind not in _KINDS:
            raise ValueError(f"ImageLoadError kind must be one of {_KINDS}, got {kind!r}.")
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass
class LoadedImage:
    """The result of :func:`load_image`.

    Attributes:
        image: the picture as displayed (EXIF orientation applied), 8-bit sRGB, mode ``RGB``.
        warnings: things a person may want to know (first frame only, colour profile ignored…).
        source: the path as text, or ``"<bytes>"``.
        original_size: ``(width, height)`` stored in the file, before EXIF orientation.
        original_mode: Pillow's mode of the decoded file, e.g. ``"I;16"`` or ``"CMYK"``.
        format: Pillow's format name, e.g. ``"PNG"``, or None.
    """

    image: Image.Image
    warnings: list[str] = field(default_factory=list)
    source: str = "<bytes>"
    original_size: tuple[int, int] = (0, 0)
    original_mode: str = ""
    format: str | None = None


def _label(name: str) -> str:
    """How a source is named in messages."""
    return "The image data" if name == "<bytes>" else f"“{Path(name).name}”"


def _source_bytes(source: ImageSource) -> tuple[Any, str, bytes]:
    """What Pillow opens (a path or BytesIO), the name for messages, and the file's first bytes."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        return io.BytesIO(data), "<bytes>", data[:8]
    name = os.fspath(source)
    label = _label(name)
    if Path(name).suffix.lower() == ".safetensors":
        raise ImageLoadError(
            "unsupported", f"{label} is a latent file (.safetensors), not an image; open it as a latent."
        )
    check_regular_file(name, MAX_IMAGE_FILE_BYTES, "an image", ImageLoadError)
    try:
        with open(name, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise ImageLoadError("missing", f"{label} could not be read: {exc.strerror or exc}.") from None
    return name, name, head


def _open(source: ImageSource, notes: list[str] | None = None) -> tuple[Image.Image, str]:
    """Open (header only) a path or bytes; map failures to :class:`ImageLoadError`.

    A PNG whose text chunks are larger than Pillow reads (1 MB each, 64 MB in all) is opened again
    without them, and a note is added to ``notes``: its pixels are fine, its parameters are not read.
    """
    fp, name, head = _source_bytes(source)
    label = _label(name)
    refusal = interpreted_format(head)
    if refusal:
        raise ImageLoadError(
            "unsupported",
            f"{label} is {refusal}, which DDIM Studio does not open (opening it would run the program "
            f"inside it). Use {ACCEPTED_FORMATS_TEXT}.",
        )
    try:
        try:
            return Image.open(fp, formats=IMAGE_FORMATS), name
        except ValueError as exc:
            if not text_too_large(exc, head):
                raise
        if isinstance(fp, str):
            with open(fp, "rb") as fh:
                data = fh.read(MAX_IMAGE_FILE_BYTES + 1)
        else:
            data = fp.getvalue()
        if notes is not None:
            notes.append("The picture's text (its saved parameters) is too large to read; it was ignored.")
        return Image.open(io.BytesIO(strip_png_text(data)), formats=IMAGE_FORMATS), name
    except FileNotFoundError as exc:
        raise ImageLoadError("missing", f"{label} does not exist (any more).") from exc
    except IsADirectoryError as exc:
        raise ImageLoadError("missing", f"{label} is a folder, not an image file.") from exc
    except PermissionError as exc:
        raise ImageLoadError("missing", f"{label} could not be read: permission denied.") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageLoadError("too_large", f"{label} is too large to open safely.") from exc
    except UnidentifiedImageError as exc:
        msg = f"{label} is not an image DDIM Studio can read. Use {ACCEPTED_FORMATS_TEXT}."
        raise ImageLoadError("unsupported", msg) from exc
    except Exception as exc:
        raise ImageLoadError("corrupt", f"{label} is damaged and cannot be opened ({exc}).") from exc


def load_image(
    source: ImageSource,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    background: tuple[int, int, int] = BACKGROUND,
) -> LoadedImage:
    """Load a file or bytes as an 8-bit sRGB RGB image, safely.

    The declared size is checked before decoding. EXIF orientation is applied, animations give
    their first frame, alpha is composited over white, 16/32-bit and float images are scaled from
    their real range, and an embedded ICC profile is converted to sRGB.

    Args:
        source: a path or the file's bytes.
        max_pixels: the largest width × height accepted.
        background: the colour transparent pixels are composited over (white; black for masks).

    Returns:
        The image and any warnings.

    Raises:
        ImageLoadError: for a missing, unsupported, damaged or too large file; never anything else.
    """
    notes: list[str] = []
    img, name = _open(source, notes)
    label = _label(name)
    try:
        width, height = img.size
        if width < 1 or height < 1:
            raise ImageLoadError("corrupt", f"{label} declares an empty size ({width}×{height}).")
        if width * height > max_pixels:
            raise ImageLoadError(
                "too_large",
                f"{label} is {width}×{height} pixels, more than the {max_pixels:,} DDIM Studio opens. "
                "Scale it down in an image editor first.",
            )
        result = LoadedImage(img, notes, name, (width, height), img.mode, img.format)
        if _is_animated(img):
            result.warnings.append("The image is animated; only its first frame is used.")
        img.seek(0)
        img.load()
        if img.format == "PNG" and not _ends_with_iend(source):
            result.warnings.append("The PNG file is incomplete (its end is missing); check the picture.")
        result.original_mode = img.mode
        result.image = _to_display_rgb(img, result.warnings, background)
        return result
    except ImageLoadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning, MemoryError) as exc:
        raise ImageLoadError("too_large", f"{label} is too large to open safely.") from exc
    except Exception as exc:
        msg = f"{label} is damaged or incomplete and cannot be used ({exc})."
        raise ImageLoadError("corrupt", msg) from exc
    finally:
        img.close()


def _ends_with_iend(source: ImageSource) -> bool:
    """Whether a PNG ends with its IEND chunk; Pillow decodes a PNG cut after its pixel data silently."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        tail = bytes(source[-len(_PNG_IEND) :])
    else:
        with open(source, "rb") as fh:
            fh.seek(max(0, os.fstat(fh.fileno()).st_size - len(_PNG_IEND)))
            tail = fh.read()
    return tail == _PNG_IEND


def _is_animated(img: Image.Image) -> bool:
    """Whether ``img`` has several frames; a damaged later frame counts as none."""
    try:
        return bool(getattr(img, "is_animated", False))
    except Exception:
        return False


def load_mask_image(source: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Load a mask picture (white = regenerate, black = keep) as :func:`load_image` does, with its
    alpha read as coverage: transparent pixels are black (keep), so white strokes on a transparent
    background regenerate only the strokes."""
    return load_image(source, max_pixels=max_pixels, background=MASK_BACKGROUND)


def _to_display_rgb(
    img: Image.Image, warnings: list[str], background: tuple[int, int, int] = BACKGROUND
) -> Image.Image:
    """Orientation, bit depth, colour profile and alpha: a decoded image to 8-bit sRGB RGB."""
    icc = img.info.get("icc_profile")
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:
        warnings.append("The EXIF orientation could not be read; the image is shown as stored.")
    rgb, alpha = split_alpha(to_8bit(img))
    try:
        if rgb.mode not in ("L", "RGB", "CMYK"):
            rgb = rgb.convert("RGB")
        if icc:
            rgb = _to_srgb(rgb, icc, warnings)
        rgb = rgb.convert("RGB")
    except ValueError as exc:
        raise ImageLoadError("unsupported", f"Images in colour mode {img.mode} are not supported.") from exc
    if alpha is None:
        return rgb
    return Image.composite(rgb, Image.new("RGB", rgb.size, background), alpha)


def to_8bit(img: Image.Image) -> Image.Image:
    """Bring high-bit-depth and bilevel modes to 8 bits per channel, scaling their actual range.

    ``I;16*`` are divided by 257 (65535 → 255); ``I`` is read as 16-bit when its values lie in
    0…65535, scaled by its maximum when larger, min-max normalised when negative; ``F`` in [0, 1]
    is multiplied by 255, otherwise min-max normalised. ``1`` becomes ``L``; other modes are
    returned unchanged. Pillow's own ``convert('L')`` clips instead, which turns most 16-bit
    pictures white.
    """
    if img.mode == "1":
        return img.convert("L")
    if not img.mode.startswith(("I", "F")):
        return img
    values = np.asarray(img).astype(np.float32)
    finite = np.isfinite(values)
    if not finite.all():
        values[~finite] = 0.0
    lo, hi = (float(values[finite].min()), float(values[finite].max())) if finite.any() else (0.0, 0.0)
    if img.mode.startswith("I;16"):
        scaled = values / 257.0
    elif img.mode == "F" and lo >= 0.0 and hi <= 1.0:
        scaled = values * 255.0
    elif img.mode == "I" and lo >= 0.0:
        scaled = values / 257.0 if hi <= 65535 else values * (255.0 / hi)
    else:
        scaled = (values - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(values)
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), "L")


def split_alpha(img: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    """Split an 8-bit image into its colour part and an alpha mask (None when fully opaque).

    Palette images with transparency and ``PA`` go through ``RGBA``; premultiplied ``RGBa``/``La``
    are un-premultiplied first.
    """
    if img.mode == "PA" or (img.mode in ("P", "RGB", "L") and "transparency" in img.info):
        img = img.convert("RGBA")
    elif img.mode in ("RGBa", "La"):
        img = img.convert("RGBA" if img.mode == "RGBa" else "LA")
    if img.mode not in _ALPHA_MODES:
        return img, None
    alpha = img.getchannel("A")
    colour = img.convert(_ALPHA_MODES[img.mode])
    lo, _hi = alpha.getextrema()
    return colour, (None if lo == 255 else alpha)


def _to_srgb(img: Image.Image, icc: bytes, warnings: list[str]) -> Image.Image:
    """Convert ``img`` from its embedded ICC profile to sRGB; keep the pixels (and warn) on failure."""
    if _ImageCms is None:
        warnings.append("Colour profiles are not supported by this build; colours may look slightly off.")
        return img
    try:
        src = _ImageCms.ImageCmsProfile(io.BytesIO(icc))
        dst = _ImageCms.createProfile("sRGB")
        converted = _ImageCms.profileToProfile(img, src, dst, outputMode="RGB")
    except Exception:
        warnings.append("The embedded colour profile could not be applied; colours may look slightly off.")
        return img
    return converted if converted is not None else img


def crop_box(img_size: tuple[int, int], size: int | tuple[int, int]) -> tuple[int, int, int, int]:
    """The centred box of ``img_size`` with the aspect ratio of ``size``.

    Args:
        img_size: ``(width, height)`` of the source image.
        size: the model size, an int for a square or ``(width, height)``.

    Returns:
        ``(left, top, right, bottom)`` in source pixels, at least 1×1.
    """
    width, height = img_size
    tw, th = (size, size) if isinstance(size, int) else size
    if min(width, height, tw, th) < 1:
        raise ValueError(f"Sizes must be positive, got image {img_size} and target {size}.")
    if width * th > height * tw:  # source is wider: crop the sides
        cw, ch = max(1, min(width, round(height * tw / th))), height
    else:  # source is taller: crop top and bottom
        cw, ch = width, max(1, min(height, round(width * th / tw)))
    left, top = (width - cw) // 2, (height - ch) // 2
    return left, top, left + cw, top + ch


def fit_to_model(img: Image.Image, size: int | tuple[int, int]) -> Image.Image:
    """Centre-crop ``img`` to the aspect ratio of ``size``, then resize it there with Lanczos.

    Args:
        img: any image (converted to RGB when it is not).
        size: the model size, an int for a square or ``(width, height)``.
    """
    target = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    rgb = img if img.mode == "RGB" else img.convert("RGB")
    box = crop_box(rgb.size, target)
    # Crop first: resize(box=…) would also sample pixels just outside the box.
    return rgb.crop(box).resize(target, Image.Resampling.LANCZOS)


def pil_to_tensor(img: Image.Image) -> torch.Tensor:
    """An image as a ``(1, 3, H, W)`` float32 tensor in [−1, 1] (0 → −1, 255 → 1)."""
    rgb = img if img.mode == "RGB" else img.convert("RGB")
    array = np.array(rgb, dtype=np.uint8, copy=True)
    x = torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).to(torch.float32)
    return x / 127.5 - 1.0


def tensor_to_uint8(x: torch.Tensor) -> np.ndarray:
    """A ``(3, H, W)`` or ``(N, 3, H, W)`` tensor in [−1, 1] as an ``(N, H, W, 3)`` uint8 array.

    Values are clamped to [−1, 1] and rounded; NaN becomes mid-grey. One-channel tensors are
    repeated to grey RGB. Used for previews, so it stays in torch/numpy.
    """
    if x.ndim == 3:
        x = x.unsqueeze(0)
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"Expected a (3, H, W) or (N, 3, H, W) tensor, got shape {tuple(x.shape)}.")
    x = torch.nan_to_num(x.detach().to(torch.float32), nan=0.0).clamp_(-1.0, 1.0)
    pixels = ((x + 1.0) * 127.5).round_().to(torch.uint8)
    if pixels.shape[1] == 1:
        pixels = pixels.expand(-1, 3, -1, -1)
    return pixels.permute(0, 2, 3, 1).contiguous().cpu().numpy()


def tensor_to_pils(x: torch.Tensor) -> list[Image.Image]:
    """Every image of a ``(3, H, W)`` or ``(N, 3, H, W)`` tensor in [−1, 1] as an RGB image."""
    return [Image.fromarray(frame, "RGB") for frame in tensor_to_uint8(x)]


def tensor_to_pil(x: torch.Tensor) -> Image.Image | list[Image.Image]:
    """A ``(3, H, W)`` tensor as one image, an ``(N, 3, H, W)`` one as a list (see :func:`tensor_to_pils`)."""
    images = tensor_to_pils(x)
    return images[0] if x.ndim == 3 else images


def _json_default(value: Any) -> Any:
    """JSON fallback for values such as paths, numpy scalars and small tensors."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def params_to_json(params: Mapping[str, Any]) -> str:
    """``params`` as compact UTF-8 JSON; paths and other objects become strings, arrays lists."""
    # A non-UTF-8 file name (lone surrogates) would make the PNG chunk unwritable: U+FFFD instead.
    return utf8_text(json.dumps(dict(params), ensure_ascii=False, default=_json_default))


def params_summary(params: Mapping[str, Any]) -> str:
    """A one-line human summary of ``params``: ``key: value, key: value``."""
    parts = []
    for key, value in params.items():
        if not isinstance(value, str):
            value = json.dumps(value, ensure_ascii=False, default=_json_default)
        parts.append(f"{key}: {value}")
    return json.loads(params_to_json({"s": ", ".join(parts)}))["s"]  # UTF-8-safe like the JSON


def png_info(params: Mapping[str, Any]) -> PngImagePlugin.PngInfo:
    """PNG chunks for ``params``: a ``ddim_studio`` iTXt chunk with JSON and a human ``parameters`` one.

    iTXt is UTF-8, so any text round-trips. Pass the result as ``pnginfo=`` to ``Image.save``.
    """
    info = PngImagePlugin.PngInfo()
    info.add_itxt(PARAMS_KEY, params_to_json(params))
    info.add_itxt("parameters", params_summary(params))
    info.add_text("Software", "DDIM Studio")
    return info


def read_params(
    source: ImageSource | Image.Image, bad_fields: list[str] | None = None
) -> dict[str, Any] | None:
    """The parameters stored by :func:`png_info`, checked, without decoding pixels.

    Args:
        source: a path, the file's bytes, or an opened image.
        bad_fields: when given, the names of fields that fail
            :func:`saved_params.validate_params` (and were dropped) are added to it.

    Returns:
        The parameters, or None when the chunk is absent, is not a JSON object, or is too large
        to read (a PNG with megabytes of text is still a picture; it just has no parameters).

    Raises:
        ImageLoadError: when a path or bytes cannot be opened as an image at all.
    """
    if isinstance(source, Image.Image):
        text = source.info.get(PARAMS_KEY)
    else:
        img, _name = _open(source)
        with img:
            text = img.info.get(PARAMS_KEY)
    if not isinstance(text, str):
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict):
        return None
    clean, bad = validate_params(value)
    if bad_fields is not None:
        bad_fields.extend(bad)
    return clean
