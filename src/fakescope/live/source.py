"""Live sources: a camera, a network stream or a file played at its own pace, read by a thread into a
bounded queue.

The reader decodes every frame (a live decoder cannot skip), converts to RGB only the frames sampled at the
analysis rate (``fps``), and stamps each with the moment it was decoded (its *capture* time, from which
latency is measured). The queue holds ``queue_size`` frames (default 1): when the analysis is still busy
with an earlier frame, a newer one replaces the waiting one, so latency never grows; the replaced frames are
counted (``stats.dropped``). A file read without ``realtime`` is not live: nothing is dropped, the reader
waits for the analysis.

A stream that errors or stalls (no data for ``read_timeout`` seconds) is reopened up to ``reconnects``
times, with growing pauses; frames keep their session times across reconnects. A clean end of stream ends
the session. Problems are reported as one-line messages (:attr:`LiveSource.notes`), never tracebacks.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import av.error

from ..errors import FakescopeError
from ..media import Frame
from ..media.base import MAX_PIXELS

log = logging.getLogger(__name__)

STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt", "rtp", "hls")


class LiveError(FakescopeError):
    """A live source that cannot be opened or read."""


@dataclass
class Captured:
    frame: Frame  # index: sampled frames in order; time: seconds since the session's first frame
    captured: float  # time.monotonic() when it was decoded


@dataclass
class SourceStats:
    decoded: int = 0  # frames decoded
    sampled: int = 0  # frames taken at the analysis rate
    dropped: int = 0  # sampled frames replaced in the queue before the analysis could take them
    reconnects: int = 0
    skipped_large: int = 0  # frames over the pixel limit

    @property
    def dropped_share(self) -> float:
        return self.dropped / self.sampled if self.sampled else 0.0


def source_kind(spec: str) -> str:
    """"camera" (/dev/videoN), "stream" (a URL PyAV opens) or "file"."""
    if spec.startswith("/dev/video"):
        return "camera"
    scheme = spec.split("://", 1)[0].lower() if "://" in spec else ""
    if scheme in STREAM_SCHEMES:
        return "stream"
    if scheme:
        raise LiveError(f"{spec}: unknown stream scheme {scheme!r} (known: {', '.join(STREAM_SCHEMES)})")
    return "file"


def _one_line(e: BaseException) -> str:
    return (" ".join(str(e).split()) or type(e).__name__)[:200]


@dataclass
class LiveSource:
    """Frames of ``spec`` at ``fps``, read in a thread. Open with :meth:`open` (raises :class:`LiveError`
    with one line), iterate, then :meth:`close`."""

    spec: str
    fps: float = 5.0
    realtime: bool = False  # a file played at its own pace (live semantics: frames can be dropped)
    format: str | None = None  # an FFmpeg input format (v4l2, x11grab…); default: guessed
    queue_size: int = 1
    open_timeout: float = 10.0
    read_timeout: float = 10.0
    reconnects: int = 3
    stats: SourceStats = field(default_factory=SourceStats)
    notes: list[str] = field(default_factory=list)  # one-line messages: reconnects, stalls, size changes
    end_reason: str = ""

    def __post_init__(self) -> None:
        if not self.fps > 0:
            raise LiveError(f"--fps must be above 0, not {self.fps}")
        self.kind = source_kind(self.spec)
        self.live = self.kind != "file" or self.realtime
        self._queue: deque[Captured] = deque()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._container = None
        self._unread_notes = 0

    @property
    def path(self) -> Path | None:
        return Path(self.spec) if self.kind == "file" else None

    # -- opening -------------------------------------------------------------------------------------

    def _open_container(self):
        fmt = self.format or ("v4l2" if self.kind == "camera" else None)
        if self.kind == "camera" and not os.path.exists(self.spec):
            raise LiveError(f"{self.spec}: no such camera")
        if self.kind == "file" and not Path(self.spec).is_file():
            raise LiveError(f"{self.spec}: no such file")
        try:
            kwargs = {}
            if self.kind != "file":
                # a short probe: FFmpeg's default may read seconds of a stream before the first frame, which a
                # live view would then drop as stale ("fflags nobuffer" would discard the probed packets, and
                # with them the first keyframe)
                kwargs = {"timeout": (self.open_timeout, self.read_timeout),
                          "options": {"analyzeduration": "500000", "probesize": "500000"}}
            container = av.open(self.spec, format=fmt, **kwargs)
        except (av.error.FFmpegError, OSError, ValueError) as e:
            raise LiveError(f"{self.spec}: cannot open: {_one_line(e)}") from None
        if not container.streams.video:
            container.close()
            raise LiveError(f"{self.spec}: no video in this source")
        return container

    def open(self) -> LiveSource:
        """Open the source now (once; later calls do nothing): a bad one raises :class:`LiveError`."""
        if self._container is None:
            self._container = self._open_container()
        return self

    # -- reading (the thread) ------------------------------------------------------------------------

    def _note(self, text: str) -> None:
        log.warning("%s", text)
        with self._cond:
            self.notes.append(text)

    def _put(self, cap: Captured) -> None:
        with self._cond:
            if not self.live:  # a file read as fast as the analysis goes: wait, drop nothing
                while len(self._queue) >= self.queue_size and not self._stop.is_set():
                    self._cond.wait(0.1)
            elif len(self._queue) >= self.queue_size:
                self._queue.popleft()
                self.stats.dropped += 1
            self._queue.append(cap)
            self._cond.notify_all()

    def _read(self) -> None:
        period = 1.0 / self.fps
        next_t = 0.0
        t_first: float | None = None  # the stream time of the session's first frame
        offset = 0.0  # added after a reconnect, so that session times keep growing
        last_t = 0.0
        wall0 = None
        size = None
        tries = 0
        container = self._container
        try:
            while not self._stop.is_set():
                reason = None
                t_stream0 = None
                try:
                    stream = container.streams.video[0]
                    stream.thread_type = "AUTO"
                    for frame in container.decode(stream):
                        if self._stop.is_set():
                            break
                        tries = 0
                        self.stats.decoded += 1
                        now = time.monotonic()
                        pts = frame.time
                        if pts is None:
                            pts = now - (wall0 or now)
                        if t_stream0 is None:  # the first frame after (re)opening
                            t_stream0 = pts
                            if t_first is None:
                                t_first, wall0 = pts, now
                        t = offset + (pts - t_stream0)
                        if t < last_t - 1.0 or t > last_t + 60.0:  # timestamps jumped: continue from here
                            offset, t_stream0 = last_t + period, pts
                            t = offset
                        last_t = max(last_t, t)
                        if self.kind == "file" and self.realtime:  # play the file at its own pace
                            wait = wall0 + t - time.monotonic()
                            if wait > 0 and self._stop.wait(wait):
                                break
                        if t + 1e-6 < next_t:
                            continue
                        next_t += period
                        if next_t <= t:  # fell behind the rate (a gap in the stream): restart from here
                            next_t = t + period
                        if frame.width * frame.height > MAX_PIXELS:
                            self.stats.skipped_large += 1
                            continue
                        if size is not None and size != (frame.width, frame.height):
                            self._note(f"{self.spec}: the picture changed size from {size[0]}×{size[1]} to "
                                       f"{frame.width}×{frame.height} at {t:.1f} s")
                        size = (frame.width, frame.height)
                        image = frame.to_ndarray(format="rgb24")
                        self.stats.sampled += 1
                        self._put(Captured(Frame(self.stats.sampled - 1, round(t, 4), image), time.monotonic()))
                    else:
                        reason = "end of stream" if self.kind != "file" else "end of file"
                except (av.error.FFmpegError, OSError, ValueError) as e:
                    stalled = isinstance(e, (av.error.ExitError, TimeoutError)) or "timed out" in str(e).lower()
                    reason = (f"no data for {self.read_timeout:g} s (the stream stalled)" if stalled
                              else f"read error: {_one_line(e)}")
                if self._stop.is_set() or reason is None:
                    self.end_reason = self.end_reason or "stopped"
                    break
                if reason.startswith(("end of", )) or self.kind == "file" or tries >= self.reconnects:
                    if not reason.startswith("end of"):
                        self._note(f"{self.spec}: {reason}; gave up after {tries} reconnect(s)"
                                   if self.kind != "file" else f"{self.spec}: {reason}")
                    self.end_reason = reason
                    break
                tries += 1
                self.stats.reconnects += 1
                self._note(f"{self.spec}: {reason}; reconnecting ({tries} of {self.reconnects})")
                container.close()
                container = None
                while container is None and not self._stop.is_set():
                    if self._stop.wait(min(8.0, 0.5 * 2 ** (tries - 1))):
                        break
                    try:
                        container = self._open_container()
                    except LiveError as e:
                        if tries >= self.reconnects:
                            self._note(f"{e}; gave up after {tries} reconnect(s)")
                            self.end_reason = f"reconnect failed: {e}"
                            return
                        tries += 1
                        self.stats.reconnects += 1
                        self._note(f"{e}; reconnecting ({tries} of {self.reconnects})")
                if container is not None:
                    offset = last_t + period
        finally:
            if container is not None:
                container.close()
            with self._cond:
                self._cond.notify_all()

    # -- the consumer's side -------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Captured]:
        self.open()
        self._thread = threading.Thread(target=self._read, name="fakescope-live-reader", daemon=True)
        self._thread.start()
        while True:
            with self._cond:
                while not self._queue and self._thread.is_alive():
                    self._cond.wait(0.1)
                if not self._queue:
                    return
                cap = self._queue.popleft()
                self._cond.notify_all()
            yield cap

    def new_notes(self) -> list[str]:
        """The notes added since the last call."""
        with self._cond:
            out = self.notes[self._unread_notes :]
            self._unread_notes = len(self.notes)
        return out

    def close(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self.read_timeout + 2)
        elif self._container is not None:
            self._container.close()
