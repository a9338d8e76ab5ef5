"""Downloading one file to a ``.part`` file, resumable (HTTP ``Range``), from a URL or a folder.

Written by hand on the standard library (``urllib``): the resume logic (keep the partial file, ask
for the rest with ``Range: bytes=N-``, accept ``206`` only when ``Content-Range`` starts at N,
restart on ``200``) and the refusal of HTML bodies are the point, and no maintained library here
does both without adding a dependency.
"""

from __future__ import annotations

import http.client
import logging
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from ..errors import FakescopeError

__all__ = ["DownloadError", "DownloadInterrupted", "fetch", "looks_like_html", "source_for"]

log = logging.getLogger(__name__)
_CHUNK = 1 << 20
# done bytes, total bytes (None if unknown)
Progress = Callable[[int, int | None], None]


class DownloadError(FakescopeError):
    """A download failed for good (HTTP error, HTML page, missing file); nothing to resume."""


class DownloadInterrupted(DownloadError):
    """The connection broke before the end; the partial file is kept and the next pull resumes it."""


def looks_like_html(head: bytes) -> bool:
    """True for the first bytes of an HTML page (a login, quota or virus-scan page, not a checkpoint)."""
    text = head.lstrip()[:64].lower()
    return text.startswith((b"<!doctype html", b"<html", b"<head", b"<!--", b"<meta", b"<body"))


def source_for(file: str, url: str, mirror: str | None) -> str:
    """Where to fetch ``file`` from: the mirror (URL base or folder, same file names) or ``url``."""
    if not mirror:
        return url
    if "://" in mirror:
        return mirror.rstrip("/") + "/" + urllib.parse.quote(file)
    return str(Path(mirror).expanduser() / file)


def _html_error(where: str) -> DownloadError:
    return DownloadError(
        f"{where}: the server sent an HTML page, not a checkpoint (a login, download-quota or virus-scan page?); "
        "download it in a browser and use `fakescope weights add FILE --name NAME`"
    )


ENV_MAX_DOWNLOAD = "FAKESCOPE_MAX_DOWNLOAD"
DEFAULT_MAX_DOWNLOAD = 4 << 30  # bytes: above every published detector file; a body past it is refused


def max_download() -> int:
    """The size cap of a download whose source publishes no size: ``$FAKESCOPE_MAX_DOWNLOAD`` (bytes; a
    number with an optional K/M/G suffix), default 4 GiB."""
    raw = os.environ.get(ENV_MAX_DOWNLOAD, "").strip().upper()
    if not raw:
        return DEFAULT_MAX_DOWNLOAD
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(raw[-1:], 1)
    try:
        value = int(float(raw.rstrip("KMG")) * mult)
    except ValueError:
        raise DownloadError(f"{ENV_MAX_DOWNLOAD}={raw!r} is not a size (e.g. 2G, 500M, 1048576)") from None
    if value <= 0:
        raise DownloadError(f"{ENV_MAX_DOWNLOAD} must be positive, not {raw!r}")
    return value


def fetch(source: str, part: Path, *, progress: Progress | None = None, retries: int = 3, timeout: float = 60,
          max_bytes: int | None = None) -> Path:  # fmt: skip
    """Fetch ``source`` (http/https/file URL or a local path) into ``part``, resuming what is there.

    ``max_bytes`` (default :func:`max_download`) caps the file: a longer body — announced or streamed —
    is refused and ``part`` removed. Raises :class:`DownloadInterrupted` (``part`` kept) when the
    connection breaks ``retries + 1`` times, :class:`DownloadError` for anything not worth resuming
    (``part`` removed).
    """
    part.parent.mkdir(parents=True, exist_ok=True)
    cap = max_download() if max_bytes is None else max_bytes
    scheme = urllib.parse.urlsplit(source).scheme
    if scheme in ("http", "https"):
        return _fetch_http(source, part, progress, retries, timeout, cap)
    path = Path(urllib.request.url2pathname(urllib.parse.urlsplit(source).path)) if scheme == "file" else Path(source)
    return _copy(path, part, progress, cap)


def _too_big(source: str, part: Path, cap: int) -> DownloadError:
    part.unlink(missing_ok=True)
    return DownloadError(f"{source}: larger than {cap} bytes (the published size, or {ENV_MAX_DOWNLOAD}): refused")


def _copy(path: Path, part: Path, progress: Progress | None, cap: int) -> Path:
    if not path.is_file():
        raise DownloadError(f"{path}: not found (FAKESCOPE_WEIGHTS_MIRROR folders hold the files under their "
                            "published names)")  # fmt: skip
    total = path.stat().st_size
    if total > cap:
        raise _too_big(str(path), part, cap)
    offset = part.stat().st_size if part.exists() else 0
    if offset > total:
        offset = 0
    with open(path, "rb") as src, open(part, "r+b" if offset else "wb") as dst:
        src.seek(offset)
        dst.seek(offset)
        dst.truncate()
        done = offset
        while block := src.read(_CHUNK):
            dst.write(block)
            done += len(block)
            if progress:
                progress(done, total)
    return part


def _fetch_http(url: str, part: Path, progress: Progress | None, retries: int, timeout: float, cap: int) -> Path:
    last: BaseException | None = None
    for attempt in range(retries + 1):
        offset = part.stat().st_size if part.exists() else 0
        try:
            if _http_once(url, part, offset, progress, timeout, cap):
                return part
            last = ConnectionError("connection closed before the end of the file")
        except urllib.error.HTTPError as e:
            if e.code == 416 and offset:  # the range starts at or after the end: start again
                part.unlink(missing_ok=True)
                last = e
                continue
            part.unlink(missing_ok=True)
            raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from None
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError, OSError) as e:
            if isinstance(e, urllib.error.URLError) and not part.exists() and attempt == retries:
                raise DownloadError(f"{url}: cannot connect ({getattr(e, 'reason', e)})") from None
            last = e
        log.info("%s: interrupted (%s); resuming (attempt %d of %d)", url, last, attempt + 2, retries + 1)
    size = part.stat().st_size if part.exists() else 0
    raise DownloadInterrupted(
        f"{url}: download interrupted after {size} bytes ({last}); run the same pull again to resume"
    )


def _http_once(url: str, part: Path, offset: int, progress: Progress | None, timeout: float, cap: int) -> bool:
    """One request; True when the whole file is in ``part``."""
    req = urllib.request.Request(url, headers={"User-Agent": "fakescope-weights", "Accept-Encoding": "identity"})
    if offset:
        req.add_header("Range", f"bytes={offset}-")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        ctype = resp.headers.get("Content-Type", "")
        if "text/html" in ctype.lower():
            part.unlink(missing_ok=True)
            raise _html_error(url)
        length = resp.headers.get("Content-Length")
        if resp.status == 206:
            start = _range_start(resp.headers.get("Content-Range", ""))
            if start != offset:  # not the part we asked for: start again
                offset = 0
                resp_offset_ok = False
            else:
                resp_offset_ok = True
            if not resp_offset_ok:
                part.unlink(missing_ok=True)
                return False
        else:  # 200: the whole file (the server ignored or did not get a Range)
            offset = 0
        total = offset + int(length) if length is not None and length.isdigit() else None
        if total is not None and total > cap:
            raise _too_big(url, part, cap)
        done = offset
        with open(part, "r+b" if offset else "wb") as f:
            f.seek(offset)
            f.truncate()
            first = offset == 0
            while True:
                try:
                    # read1: what has arrived, up to a chunk; a stall past the timeout then loses nothing
                    # already received (read() would drop its partial chunk), so the resume starts there
                    block = resp.read1(_CHUNK)
                except http.client.IncompleteRead as e:
                    f.write(e.partial)
                    return False
                if not block:
                    break
                if first:
                    first = False
                    if looks_like_html(block):
                        f.close()
                        part.unlink(missing_ok=True)
                        raise _html_error(url)
                if done + len(block) > cap:  # an endless or lying body: stop before the disk fills
                    f.close()
                    raise _too_big(url, part, cap)
                f.write(block)
                done += len(block)
                if progress:
                    progress(done, total)
    return total is None or done >= total


def _range_start(content_range: str) -> int | None:
    # "bytes 100-199/200"
    try:
        return int(content_range.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def move(src: Path, dst: Path) -> None:
    """Move a file (across file systems too)."""
    shutil.move(str(src), str(dst))
