"""Downloading one file to a ``.part`` file, resumable (HTTP ``Range``), from a URL or a folder.

Written by hand on the standard library (``urllib``): the resume logic (keep the partial file, ask
for the rest with ``Range: bytes=N-``, accept ``206`` only when ``Content-Range`` starts at N,
restart on ``200``) and the refusal of HTML bodies are the point, and no maintained library here
does both without adding a dependency.

Where detector weights are published (issue 26):

* **Hugging Face** ``…/resolve/<revision>/<file>`` answers with a 302 to its CDN; ``urllib`` follows
  redirects (keeping the ``Range`` header). A ``…/blob/…`` page URL is rewritten to ``…/resolve/…``.
* **Google Drive**: ``drive.google.com/uc?export=download&id=X`` and ``…/file/d/X/view`` answer large
  files with an HTML "can't scan this file for viruses" page. They are rewritten to
  ``drive.usercontent.google.com/download?id=X&export=download&confirm=t``, which sends the file; and an
  HTML page that still comes back is searched for Drive's confirmation form (``action`` + hidden inputs)
  or a ``confirm=`` link, followed once or twice. Any other HTML is refused as before.
* **Dropbox** share links (``www.dropbox.com/…?dl=0``) are rewritten to ``dl=1``, which sends the file.
"""

from __future__ import annotations

import html
import http.client
import logging
import os
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from ..errors import FakescopeError

__all__ = ["DownloadError", "DownloadInterrupted", "confirm_url", "direct_url", "fetch", "looks_like_html",
           "source_for"]  # fmt: skip

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


def direct_url(url: str) -> str:
    """The URL that sends the file itself, for the page or share URLs of Google Drive, Dropbox and Hugging
    Face (see the module docstring); any other URL unchanged."""
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "").lower()
    query = urllib.parse.parse_qs(parts.query)
    if host in ("drive.google.com", "docs.google.com", "drive.usercontent.google.com"):
        found = re.search(r"/file/d/([\w-]+)", parts.path)
        file_id = found.group(1) if found else (query.get("id") or [None])[0]
        if file_id and re.fullmatch(r"[\w-]+", file_id):
            return ("https://drive.usercontent.google.com/download?"
                    + urllib.parse.urlencode({"id": file_id, "export": "download", "confirm": "t"}))  # fmt: skip
        return url
    if host in ("dropbox.com", "www.dropbox.com"):
        pairs = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True) if k != "dl"]
        return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode([*pairs, ("dl", "1")])))
    if host in ("huggingface.co", "hf.co") and "/blob/" in parts.path:
        return urllib.parse.urlunsplit(parts._replace(path=parts.path.replace("/blob/", "/resolve/", 1)))
    return url


_FORM = re.compile(r"<form\b[^>]*\bid=[\"']download-form[\"'][^>]*>(.*?)</form>", re.I | re.S)
_ACTION = re.compile(r"\baction=[\"']([^\"']+)[\"']", re.I)
_INPUT = re.compile(r"<input\b[^>]*>", re.I)
_ATTR = re.compile(r"\b(name|value|type)=[\"']([^\"']*)[\"']", re.I)
_CONFIRM_HREF = re.compile(r"href=[\"']([^\"']*[?&](?:amp;)?confirm=[^\"']+)[\"']", re.I)


def confirm_url(page: str, base: str) -> str | None:
    """The download URL behind Google Drive's "can't scan this file for viruses" page: its
    ``download-form`` (``action`` + hidden inputs: id, export, confirm, uuid), else a link carrying
    ``confirm=``; None when the page has neither (a login or quota page: refused)."""
    form = _FORM.search(page)
    if form:
        action = _ACTION.search(page[form.start() : form.end()])
        fields = []
        for tag in _INPUT.findall(form.group(1)):
            attrs = {k.lower(): html.unescape(v) for k, v in _ATTR.findall(tag)}
            if attrs.get("name") and attrs.get("type", "hidden").lower() == "hidden":
                fields.append((attrs["name"], attrs.get("value", "")))
        if action and fields:
            target = urllib.parse.urljoin(base, html.unescape(action.group(1)))
            sep = "&" if urllib.parse.urlsplit(target).query else "?"
            return target + sep + urllib.parse.urlencode(fields)
    link = _CONFIRM_HREF.search(page)
    if link:
        return urllib.parse.urljoin(base, html.unescape(link.group(1)))
    return None


class _FollowPage(Exception):
    """An HTML interstitial named the real download URL: fetch that instead."""

    def __init__(self, url: str) -> None:
        super().__init__(url)  # pragma: no mutate (the message of an exception that is always caught)
        self.url = url


_MAX_PAGE = 512 << 10  # bytes of an HTML page read to look for a confirmation form
_MAX_HOPS = 3


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
        url = direct_url(source)
        for _ in range(_MAX_HOPS):
            try:
                return _fetch_http(url, part, progress, retries, timeout, cap)
            except _FollowPage as hop:
                log.info("%s: a confirmation page; following its download link", url)
                url = hop.url
        part.unlink(missing_ok=True)
        raise _html_error(source)
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
            _follow_or_refuse(url, resp.geturl(), resp.read(_MAX_PAGE))
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
                        _follow_or_refuse(url, resp.geturl(), block + resp.read(_MAX_PAGE))
                if done + len(block) > cap:  # an endless or lying body: stop before the disk fills
                    f.close()
                    raise _too_big(url, part, cap)
                f.write(block)
                done += len(block)
                if progress:
                    progress(done, total)
    return total is None or done >= total


def _follow_or_refuse(url: str, final: str, body: bytes):
    """An HTML body: follow a Drive confirmation form in it (:class:`_FollowPage`), else refuse it."""
    target = confirm_url(body.decode("utf-8", "replace"), final or url)
    if target and target != url:
        raise _FollowPage(target)
    raise _html_error(url)


def _range_start(content_range: str) -> int | None:
    # "bytes 100-199/200"
    try:
        return int(content_range.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def move(src: Path, dst: Path) -> None:
    """Move a file (across file systems too)."""
    shutil.move(str(src), str(dst))
