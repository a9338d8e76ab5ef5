"""Media input: find, sniff, probe and read images and videos as upright RGB frames.

>>> from fakescope.media import open_media, Sampling
>>> src = open_media("clip.mp4", Sampling("even", n=32))   # doctest: +SKIP
>>> src.info.frame_count, [f.index for f in src], src.warnings   # doctest: +SKIP

The kind of a file is decided by its **magic bytes**, never its extension (a ``.mp4`` that is really a
JPEG is read as an image; a text file named ``.mp4`` is refused). Every failure is a
:class:`~fakescope.errors.MediaError` with a one-line message naming the file and the cause.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from fakescope.errors import MediaError
from fakescope.media.base import (
    IMAGE_EXTENSIONS,
    MAX_PIXELS,
    MEDIA_EXTENSIONS,
    VIDEO_EXTENSIONS,
    Frame,
    MediaInfo,
    Sampling,
)
from fakescope.media.image import ImageSource, load_image, probe_image
from fakescope.media.video import VideoReader, iter_video_frames, probe_video

__all__ = [
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS",
    "MEDIA_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "Frame",
    "ImageSource",
    "MediaError",
    "MediaInfo",
    "MediaSource",
    "Sampling",
    "VideoReader",
    "find_media",
    "iter_video_frames",
    "load_image",
    "open_media",
    "probe",
    "probe_image",
    "probe_video",
    "sniff_kind",
]

PathLike = str | os.PathLike[str]

# ISO-BMFF top-level boxes a video file may start with (``ftyp`` is the norm; old QuickTime files can
# start with ``moov``/``mdat``/``wide``/``free``/``skip``/``pnot``).
_BMFF_BOXES = {b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
# ``ftyp`` major brands of HEIF/AVIF *still images*, which share the ISO-BMFF container.
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}
_BMP_DIB_SIZES = {12, 16, 40, 52, 56, 64, 108, 124}


@runtime_checkable
class MediaSource(Protocol):
    """What :func:`open_media` returns: :class:`ImageSource` or :class:`VideoReader`."""

    info: MediaInfo
    warnings: list[str]

    def __iter__(self) -> Iterator[Frame]: ...


def _pillow_reads_avif() -> bool:
    try:
        from PIL import features

        return bool(features.check("avif"))
    except Exception:
        return False


def _check_file(path: Path) -> None:
    if not path.exists():
        raise MediaError(f"{path}: no such file")
    if path.is_dir():
        raise MediaError(f"{path}: is a directory, not an image or video file")
    if not path.is_file():
        raise MediaError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: empty file (0 bytes)")


def sniff_kind(path: PathLike) -> Literal["image", "video"]:
    """``"image"`` or ``"video"`` from the file's first bytes (magic numbers), not its extension.

    Images: JPEG, PNG, GIF, WebP, BMP, TIFF (and AVIF when Pillow reads it). Videos: ISO-BMFF
    (MP4/MOV/M4V/3GP), Matroska/WebM, AVI. Anything else raises :class:`MediaError`.
    """
    path = Path(path)
    _check_file(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(32)
    except OSError as e:
        raise MediaError(f"{path}: cannot read file ({e.strerror or e})") from None

    if head.startswith(b"\xff\xd8\xff"):
        return "image"  # JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "image"  # TIFF / BigTIFF
    if head[:2] == b"BM" and len(head) >= 18 and int.from_bytes(head[14:18], "little") in _BMP_DIB_SIZES:
        return "image"  # BMP: check the DIB header size too, "BM" alone is too weak
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "video"  # Matroska / WebM (EBML)
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video"
    if head[4:8] in _BMFF_BOXES:
        if head[4:8] == b"ftyp" and head[8:12] in _AVIF_BRANDS and _pillow_reads_avif():
            return "image"
        if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS | _AVIF_BRANDS:
            raise MediaError(f"{path}: HEIF/AVIF still images are not supported (convert to JPEG or PNG)")
        return "video"
    raise MediaError(f"{path}: not a supported image or video (unrecognised file signature)")


def open_media(path: PathLike, sampling: Sampling | None = None) -> MediaSource:
    """Open an image or video: a source with ``.info``, ``.warnings`` and iteration over :class:`Frame`.

    Images yield one ``Frame(0, 0.0, rgb)``; videos yield the frames picked by ``sampling``
    (default ``even:32``), decoded sequentially and streamed. See :class:`VideoReader`.
    """
    path = Path(path)
    if sniff_kind(path) == "image":
        return ImageSource(path)
    return VideoReader(path, sampling or Sampling())


def probe(path: PathLike) -> MediaInfo:
    """Properties of an image or video (size after rotation, fps, duration, frame count...)."""
    path = Path(path)
    return probe_image(path) if sniff_kind(path) == "image" else probe_video(path)


def _is_hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def find_media(paths: Iterable[PathLike]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Expand files and directories into media files.

    Files are kept as given (their kind is sniffed when opened, whatever the extension). Directories
    are searched recursively for files with a media extension (case-insensitive), skipping hidden files
    and folders (``.git``, macOS ``._*`` sidecars...), in sorted order. Duplicates are dropped.

    Returns ``(files, errors)``; ``errors`` holds ``(path, message)`` for paths that do not exist and
    directories that hold no media; each message is one self-contained line that names the path, like
    a :class:`MediaError` message.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files: list[Path] = []
    seen: set[Path] = set()
    errors: list[tuple[str, str]] = []

    def add(p: Path) -> None:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            files.append(p)

    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(
                f
                for f in p.rglob("*")
                if f.suffix.lower() in MEDIA_EXTENSIONS and not _is_hidden(f.relative_to(p)) and f.is_file()
            )
            if not found:
                errors.append((str(raw), f"{raw}: no images or videos found in directory"))
            for f in found:
                add(f)
        elif p.is_file():
            add(p)
        elif p.exists():
            errors.append((str(raw), f"{raw}: not a regular file"))
        else:
            errors.append((str(raw), f"{raw}: no such file or directory"))
    return files, errors
