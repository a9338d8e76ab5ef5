"""Stream a ``multipart/form-data`` upload to disk, enforcing the size limit while the bytes arrive.

Starlette's ``request.form()`` spools the whole body before a route runs; this parser writes the one
file part straight to disk in chunks and stops at the first byte over the limit, so an oversized
upload costs at most ``max_bytes`` of disk and is answered 413 at once. A body that stalls (no bytes
for ``idle_timeout`` seconds) or takes longer than ``total_timeout`` is answered 408, and a client
that goes away mid-body is reported as :class:`ClientGone` (a normal event, not an error).
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

FILE_FIELD = "file"
_FORM_SLACK = 256 * 1024  # headers and option fields around the file part
DEFAULT_IDLE_TIMEOUT = 30.0  # seconds without a byte before a body counts as stalled


class UploadError(Exception):
    """A malformed or refused upload: HTTP ``status_code`` and a one-line ``detail``."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


class ClientGone(Exception):
    """The client closed the connection before its body was complete."""


async def body_chunks(
    request: Request, idle_timeout: float = DEFAULT_IDLE_TIMEOUT, total_timeout: float = math.inf
) -> AsyncIterator[bytes]:
    """The request body in chunks, with a per-chunk idle timeout and a whole-body timeout.

    Raises :class:`UploadError` 408 when the client stalls and :class:`ClientGone` when it disconnects."""
    end = time.monotonic() + total_timeout
    stream = request.stream()
    while True:
        left = end - time.monotonic()
        wait = min(idle_timeout, left)
        if wait <= 0:
            raise UploadError(408, f"upload took longer than {total_timeout:g} s")
        try:
            with anyio.fail_after(wait):
                chunk = await stream.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            if wait < idle_timeout:
                raise UploadError(408, f"upload took longer than {total_timeout:g} s") from None
            raise UploadError(408, f"upload stalled: no bytes for {idle_timeout:g} s") from None
        except ClientDisconnect:
            raise ClientGone() from None
        yield chunk


def drain_limit(max_bytes: int) -> int:
    """How much of a refused body is read and thrown away (see :func:`discard`)."""
    return max_bytes + _FORM_SLACK


async def discard(chunks: AsyncIterator[bytes], limit: int) -> None:
    """Read and drop up to ``limit`` bytes of a request body that is being refused.

    A server that answers before reading the body closes a connection with unread data, which
    the client sees as "connection reset" instead of the 4xx. Draining (bounded; nothing is stored)
    lets ordinary clients read the refusal. Clients that send ``Expect: 100-continue`` (curl does for
    large bodies) never send the body at all."""
    n = 0
    try:
        async for chunk in chunks:
            n += len(chunk)
            if n > limit:
                return
    except (ClientDisconnect, ClientGone, UploadError, RuntimeError):  # RuntimeError: already consumed
        return


async def discard_body(request: Request, max_bytes: int, idle_timeout: float = DEFAULT_IDLE_TIMEOUT) -> None:
    """:func:`discard` the whole unread body of ``request``, unless its declared length is hopeless.

    A stalled body is dropped after ``idle_timeout`` (the refusal is sent anyway)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > drain_limit(max_bytes):
        return
    await discard(body_chunks(request, idle_timeout), drain_limit(max_bytes))


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    name: str | None = None
    filename: str | None = None
    data: bytearray = field(default_factory=bytearray)


@dataclass
class Upload:
    """What :func:`receive_upload` read: the client's file name (metadata only), its size and the fields."""

    filename: str | None
    size: int
    fields: dict[str, list[str]]


def _mib(n: int) -> str:
    return f"{n / 2**20:.3g} MiB"


async def receive_upload(
    request: Request,
    dest: Path,
    max_bytes: int,
    *,
    max_fields: int = 32,
    max_field_bytes: int = 8192,
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
    total_timeout: float = math.inf,
) -> Upload:
    """Parse the request body; write the ``file`` part to ``dest``; return the text fields.

    Raises :class:`UploadError`: 415 (not multipart), 400 (malformed, no file, several files,
    too many or too long fields), 413 (more than ``max_bytes`` in the file part, or a declared
    ``Content-Length`` that cannot fit), 408 (the body stalled or took too long); :class:`ClientGone`
    when the client disconnects."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data":
        await discard_body(request, max_bytes, idle_timeout)
        raise UploadError(415, "send the file as multipart/form-data with a 'file' field")
    boundary = params.get(b"boundary")
    if not boundary:
        await discard_body(request, max_bytes, idle_timeout)
        raise UploadError(400, "multipart body without a boundary")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes + _FORM_SLACK:
        raise UploadError(413, f"upload is {_mib(int(declared))}, the limit is {_mib(max_bytes)}")

    fields: dict[str, list[str]] = {}
    state = {"part": _Part(), "hname": b"", "hvalue": b"", "file_seen": False, "in_file": False, "size": 0}
    pending: list[bytes] = []
    filename: list[str | None] = [None]

    def on_part_begin() -> None:
        state["part"] = _Part()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["hname"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["hvalue"] += data[start:end]

    def on_header_end() -> None:
        state["part"].headers[state["hname"].lower()] = state["hvalue"]
        state["hname"], state["hvalue"] = b"", b""

    def on_headers_finished() -> None:
        part: _Part = state["part"]
        _, opts = parse_options_header(part.headers.get(b"content-disposition", b""))
        if b"name" not in opts:
            raise UploadError(400, "a multipart part has no name")
        part.name = opts[b"name"].decode("utf-8", "replace")
        if b"filename" in opts or part.name == FILE_FIELD:
            if part.name != FILE_FIELD:
                raise UploadError(400, f"unexpected file field {part.name!r}; send the media as 'file'")
            if state["file_seen"]:
                raise UploadError(400, "send exactly one file per analysis")
            state["file_seen"] = True
            state["in_file"] = True
            filename[0] = opts.get(b"filename", b"").decode("utf-8", "replace") or None
        else:
            state["in_file"] = False
            if sum(len(v) for v in fields.values()) >= max_fields:
                raise UploadError(400, f"too many form fields (at most {max_fields})")

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["in_file"]:
            state["size"] += end - start
            if state["size"] > max_bytes:
                raise UploadError(413, f"upload is larger than the limit of {_mib(max_bytes)}")
            pending.append(data[start:end])
        else:
            part: _Part = state["part"]
            part.data += data[start:end]
            if len(part.data) > max_field_bytes:
                raise UploadError(400, f"form field {part.name!r} is too long (at most {max_field_bytes} bytes)")

    def on_part_end() -> None:
        part: _Part = state["part"]
        if not state["in_file"] and part.name is not None:
            fields.setdefault(part.name, []).append(part.data.decode("utf-8", "replace"))
        state["in_file"] = False

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
        },
    )
    fh = await anyio.open_file(dest, "wb")
    stream = body_chunks(request, idle_timeout, total_timeout)
    try:
        async for chunk in stream:
            try:
                parser.write(chunk)
            except FormParserError as e:
                raise UploadError(400, f"malformed multipart body ({e})") from None
            if pending:
                await fh.write(b"".join(pending))
                pending.clear()
        try:
            parser.finalize()
        except FormParserError as e:
            raise UploadError(400, f"malformed multipart body ({e})") from None
    except UploadError as e:
        await fh.aclose()
        await anyio.Path(dest).unlink(missing_ok=True)
        if e.status_code != 408:
            await discard(stream, drain_limit(max_bytes))  # the rest of the refused body, bounded
        raise
    except ClientGone:
        await fh.aclose()
        await anyio.Path(dest).unlink(missing_ok=True)
        raise
    finally:
        await fh.aclose()
    if not state["file_seen"]:
        raise UploadError(400, "no file: send the image or video in a multipart field named 'file'")
    if state["size"] == 0:
        raise UploadError(400, "the uploaded file is empty")
    return Upload(filename=filename[0], size=state["size"], fields=fields)
