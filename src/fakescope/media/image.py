"""Still-image loading: any Pillow-readable JPEG, PNG, WebP, BMP, TIFF (and GIF) to upright RGB uint8.

Decisions:

* **EXIF orientation** is applied (``ImageOps.exif_transpose``), so the array is what a viewer shows.
* **Alpha** (RGBA, LA, palette or grey/RGB with a ``transparency`` entry) is *composited over white*,
  like a browser page or an image viewer shows it. Dropping alpha instead would expose whatever colour
  the encoder left under fully transparent pixels (often black or garbage).
* **High bit depth**: 16-bit greyscale (``I;16``, ``I;16B``, ``I;16L``, ``I;16N``) and 32-bit integer
  (``I``) pixels are scaled from 0..65535 to 0..255 (``round(v / 257)``), not clipped. Float (``F``)
  images in 0..1 are multiplied by 255, in 0..255 kept, otherwise min-max normalised.
* Other modes (``1``, ``L``, ``P``, ``CMYK``, ``YCbCr``, ``LAB``, ``HSV``...) go through Pillow's own
  conversion. Multi-frame files (animated GIF/WebP, multi-page TIFF) yield their first frame.
* Images above :data:`~fakescope.media.base.MAX_PIXELS` are refused *before* decoding (Pillow's own
  decompression-bomb limit is set to the same value, so its error is ours too).
"""

from __future__ import annotations

import io
import os
import struct
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from fakescope.errors import MediaError
from fakescope.media.base import MAX_PIXELS, Frame, MediaInfo

__all__ = ["load_image", "probe_image", "ImageSource"]

# Pillow warns above MAX_IMAGE_PIXELS and raises DecompressionBombError above twice that; we refuse
# anything above MAX_PIXELS ourselves, and let Pillow's guard agree with ours.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

_WHITE = (255, 255, 255)
_16BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I"}


def _check_file(path: Path) -> None:
    if not path.exists():
        raise MediaError(f"{path}: no such file")
    if path.is_dir():
        raise MediaError(f"{path}: is a directory, not an image")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: empty file (0 bytes)")


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")
TEXT_BOMB_NOTE = ("a compressed PNG text chunk decompresses to more than Pillow's limit (a metadata bomb?); "
                  "the image was read without its text chunks")


def _without_png_text(data: bytes) -> bytes:
    """The PNG ``data`` without its text chunks (tEXt, zTXt, iTXt). Written by hand: Pillow refuses the whole
    file when one compressed text chunk is too large, and no maintained library rewrites PNG chunks; the
    format is a signature and length-type-data-CRC records, so the pixels pass through untouched."""
    out, pos = [data[:8]], 8
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        end = pos + 12 + length
        if data[pos + 4 : pos + 8] not in _PNG_TEXT_CHUNKS:
            out.append(data[pos:end])
        pos = end
    return b"".join(out)


def _open(path: Path, notes: list[str] | None = None) -> Image.Image:
    """Open (header only, no pixel decoding) and enforce the pixel limit. A PNG whose text chunk is a
    decompression bomb is opened without its text chunks, with a note in ``notes``."""
    _check_file(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            try:
                img = Image.open(path)
            except ValueError as e:
                if "decompressed data too large" not in str(e).lower() or path.read_bytes()[:8] != _PNG_SIGNATURE:
                    raise
                img = Image.open(io.BytesIO(_without_png_text(path.read_bytes())))
                if notes is not None:
                    notes.append(TEXT_BOMB_NOTE)
    except Image.DecompressionBombError as e:
        raise MediaError(f"{path}: image too large ({e}); the limit is {MAX_PIXELS:,} pixels") from None
    except UnidentifiedImageError:
        raise MediaError(f"{path}: not a readable image (unknown or corrupt format)") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise MediaError(f"{path}: unreadable image ({_one_line(e)})") from None
    w, h = img.size
    if w * h > MAX_PIXELS:
        img.close()
        raise MediaError(f"{path}: image too large ({w}x{h} = {w * h:,} pixels; the limit is {MAX_PIXELS:,})")
    if w <= 0 or h <= 0:
        img.close()
        raise MediaError(f"{path}: image has no pixels ({w}x{h})")
    return img


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text[:200]


def _exif_orientation(img: Image.Image) -> int:
    try:
        return int(img.getexif().get(0x0112, 1) or 1)
    except Exception:  # a broken EXIF block must not make the image unreadable
        return 1


def _composite_over_white(img: Image.Image) -> Image.Image:
    rgba = img.convert("RGBA")
    background = Image.new("RGBA", rgba.size, _WHITE + (255,))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[:, :, None], 3, axis=2)


def _to_rgb_array(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode in _16BIT_MODES:
        data = np.asarray(img).astype(np.int64)
        data = np.clip(data, 0, 65535)
        return _gray_to_rgb(((data + 128) // 257).astype(np.uint8))
    if mode == "F":
        data = np.asarray(img, dtype=np.float64)
        data = np.nan_to_num(data, nan=0.0, posinf=0.0, neginf=0.0)
        lo, hi = float(data.min()), float(data.max())
        if lo >= 0.0 and hi <= 1.0:
            data = data * 255.0
        elif not (lo >= 0.0 and hi <= 255.0):
            data = (data - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(data)
        return _gray_to_rgb(np.clip(np.rint(data), 0, 255).astype(np.uint8))
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
    if has_alpha:
        img = _composite_over_white(img)
    elif mode != "RGB":
        img = img.convert("RGB")
    arr = np.asarray(img)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:  # defensive; Pillow RGB is HxWx3 u8
        raise ValueError(f"unexpected pixel layout {arr.dtype} {arr.shape}")
    return np.ascontiguousarray(arr)


def load_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Decode an image file to an upright ``H×W×3`` ``uint8`` RGB array.

    Raises :class:`~fakescope.errors.MediaError` for a missing, empty, truncated, non-image or
    oversized file.
    """
    path = Path(path)
    img = _open(path, [])
    try:
        with img:
            img.seek(0)
            img.load()
            try:
                upright = ImageOps.exif_transpose(img)
            except (ValueError, TypeError, KeyError, SyntaxError, struct.error):
                upright = None  # a broken EXIF block must not make the image unreadable
            return _to_rgb_array(upright if upright is not None else img)
    except MediaError:
        raise
    except Image.DecompressionBombError as e:
        raise MediaError(f"{path}: image too large ({_one_line(e)})") from None
    except MemoryError:
        raise MediaError(f"{path}: image too large to decode in memory") from None
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        msg = _one_line(e)
        if "truncated" in msg.lower():
            raise MediaError(f"{path}: truncated or corrupt image ({msg})") from None
        raise MediaError(f"{path}: corrupt or unreadable image ({msg})") from None


def probe_image(path: str | os.PathLike[str], notes: list[str] | None = None) -> MediaInfo:
    """Read an image's header: upright size (EXIF orientation applied) and format. No pixel decoding.
    ``notes`` receives what was worked around (a PNG text bomb)."""
    path = Path(path)
    with _open(path, notes) as img:
        w, h = img.size
        orientation = _exif_orientation(img)
        codec = (img.format or "").lower() or None
    if orientation in (5, 6, 7, 8):  # transposed / rotated by 90 or 270 degrees
        w, h = h, w
    rotation = {3: 180, 4: 180, 5: 90, 6: 90, 7: 270, 8: 270}.get(orientation, 0)
    return MediaInfo(path=str(path), kind="image", width=w, height=h, rotation=rotation, codec=codec)


class ImageSource:
    """A still image as a media source: ``.info``, ``.warnings`` (what was worked around) and one :class:`Frame`.

    The header is read on construction (so missing/corrupt/oversized files fail early); pixels are
    decoded when iterated.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.warnings: list[str] = []
        self.info: MediaInfo = probe_image(self.path, self.warnings)

    def __iter__(self):
        yield Frame(index=0, time=0.0, image=load_image(self.path))

    def __repr__(self) -> str:
        return f"ImageSource({str(self.path)!r}, {self.info.width}x{self.info.height})"
