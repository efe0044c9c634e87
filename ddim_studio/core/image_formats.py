"""Which image files the studio opens, decided before Pillow reads them.

Pillow can open some formats only by running another program: EPS and PostScript go to
Ghostscript, a full interpreter that executes the file (it can write files, loop forever, and
outlive the app). :data:`IMAGE_FORMATS` lists the formats opened, each decoded in-process by
Pillow's own C code (JPEG also covers MPO, the multi-picture JPEG of cameras). Files that start
like PostScript, EPS (with or without its DOS binary header) or PDF are refused by their bytes,
whatever their name, so no plugin ever sees them.

A PNG whose text chunks are larger than Pillow reads (1 MB each, 64 MB in all) is still a
picture: :func:`strip_png_text` gives it back without those chunks.
"""

from __future__ import annotations

#: Pillow formats opened.
IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
#: The same, for messages.
ACCEPTED_FORMATS_TEXT = "PNG, JPEG, WebP, GIF, BMP or TIFF"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_INTERPRETED = (
    (b"%!", "a PostScript or EPS file"),
    (b"\xc5\xd0\xd3\xc6", "an EPS file"),
    (b"%PDF", "a PDF file"),
)
_TEXT_TOO_LARGE = ("decompressed data too large", "too much memory used in text chunks")
_TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")


def interpreted_format(head: bytes) -> str:
    """What a file starting with ``head`` is when opening it would run an interpreter, else ``""``."""
    for magic, words in _INTERPRETED:
        if head.startswith(magic):
            return words
    return ""


def text_too_large(exc: BaseException, head: bytes) -> bool:
    """Whether Pillow refused a PNG (starting with ``head``) only for the size of its text chunks."""
    return head.startswith(PNG_SIGNATURE) and any(t in str(exc).lower() for t in _TEXT_TOO_LARGE)


def strip_png_text(data: bytes) -> bytes:
    """``data`` (a PNG) without its tEXt/zTXt/iTXt chunks; other chunks are copied byte for byte."""
    out = [data[:8]]
    pos = 8
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if kind not in _TEXT_CHUNKS:
            out.append(data[pos:end])
        pos = end
    return b"".join(out)
