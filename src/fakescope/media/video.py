"""Video probing and frame sampling with PyAV.

Design (see ``bench/decode.py`` for the numbers behind it):

* Frames are decoded **sequentially**, with ``thread_type = "AUTO"`` (frame + slice threads), in one
  pass from the start. We never seek per sampled frame: on long-GOP footage every seek re-decodes from
  the previous keyframe, which is much slower than one linear pass, and seeking is inexact on many
  files. Decoding is streamed: only the current frame is alive, and only *sampled* frames are
  converted to RGB.
* **Decoding less** (issue 14). Before decoding, one demux-only pass (no decoding; ~1–2 % of a full
  decode) lists every packet's timestamp and keyframe flag, which gives each packet its presentation
  index (the rank of its pts). Then, for ``even``/``every``/``keyframes`` sampling: a GOP (keyframe to
  next keyframe, in decode order) holding no sampled frame is not decoded at all; in a GOP that holds
  some, decoding stops at the packet of its last sampled frame (the decoder is drained and reset, so
  the rest of the GOP is never decoded); and for H.264/HEVC, frames that no sample needs are decoded
  with ``skip_frame = NONREF``, so non-reference frames (most B-frames) are dropped unread while every
  reference frame is decoded exactly as before. The frames chosen and their pixels are the same as a
  full sequential decode's (tests compare them). The planned path is used only when it is provably
  equivalent: every packet has a unique pts, the first packet is a keyframe, no GOP is open (no frame
  after a keyframe in decode order is shown before it), and for ``even`` the packet count equals the
  frame count the plan was made from and the packets reach the recorded duration; otherwise (and
  with ``FAKESCOPE_DECODE_PLAN=0``) the reader decodes every frame sequentially as below. Reduced-
  resolution decoding is not used: FFmpeg's ``lowres`` exists only for MJPEG/old codecs, not H.264/
  HEVC/VP9/AV1, and crops are taken from full-resolution frames.
* ``keyframes`` sampling decodes only keyframe packets (each one alone, then the decoder is reset):
  the cheapest sample a video offers, but its frames are wherever the encoder put keyframes (scene
  cuts, every few seconds), not evenly spread.
* ``Sampling("even", n)`` picks ``round(linspace(0, count - 1, n))`` (unique) over the frame count.
  The count comes from the container when it records one (MP4/MOV ``stts``, AVI header). When it does
  not (Matroska/WebM, many streams), the probe keeps demuxing after the first frame and counts the video
  packets without decoding them (about 10 ms for 300 1080p frames) — exact for constant- and
  variable-frame-rate video alike, unlike ``duration × fps``, which :func:`probe_video` reports as an
  estimate when asked for properties only.
* If a video yields fewer frames than planned (truncated file, packets that produce no picture), the
  sampled indices past its real end cannot be produced; the reader then also yields the **last**
  decoded frame (if not already yielded) so the sample still reaches the end of what exists, and records
  a warning. It never goes back to re-plan (that would need a second decode or holding frames). If the
  video is *longer* than its count says, the tail past the last planned index is not sampled.
* Truncated/corrupt files: the frames that decode are yielded; an FFmpeg error while demuxing/decoding
  ends the iteration gracefully with a warning (``logging`` + ``reader.warnings``, ``reader.truncated``).
  Ending with fewer frames than the container announced, or (Matroska/WebM, which have no frame index)
  well before the track's recorded duration, is reported the same way. If *no* frame decodes at all,
  a :class:`~fakescope.errors.MediaError` is raised.
* Rotation: the stream's display matrix (MP4/MOV ``tkhd`` matrix, Matroska projection; else a legacy
  ``rotate`` stream tag) is honoured, with the same result as ffmpeg's autorotate; frames are turned
  with ``np.rot90`` so they come out upright. ``MediaInfo.rotation`` is the **clockwise** angle
  (0/90/180/270) applied, the convention of the legacy ``rotate`` tag (a portrait phone clip, whose
  matrix ffprobe shows as "rotation of -90 degrees", reports 90). Mirroring in the matrix is ignored.
  PyAV exposes the display matrix only on decoded frames (``VideoFrame.rotation``), so probing
  decodes the first frame.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import av
import av.error
import numpy as np

from fakescope.errors import MediaError
from fakescope.media.base import MAX_PIXELS, Frame, MediaInfo, Sampling

__all__ = ["VideoReader", "probe_video", "iter_video_frames", "plan_indices", "count_video_packets"]

log = logging.getLogger(__name__)

_MAYBE_TRUNCATED = "the file may be truncated or corrupt"
_AV_ERRORS = (av.error.FFmpegError, OSError, EOFError, ValueError)


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text[:200]


def _check_file(path: Path) -> None:
    if not path.exists():
        raise MediaError(f"{path}: no such file")
    if path.is_dir():
        raise MediaError(f"{path}: is a directory, not a video")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: empty file (0 bytes)")


def _open(path: Path):
    try:
        return av.open(str(path), mode="r")
    except av.error.InvalidDataError as e:
        raise MediaError(f"{path}: truncated or corrupt video (cannot read container: {_one_line(e)})") from None
    except _AV_ERRORS as e:
        raise MediaError(f"{path}: cannot open video ({_one_line(e)})") from None


def _video_stream(container, path: Path):
    attached = int(av.stream.Disposition.attached_pic)
    for stream in container.streams.video:
        if int(stream.disposition) & attached:  # cover art in an audio file is not a video
            continue
        return stream
    raise MediaError(f"{path}: no video stream (audio-only or unsupported file)")


def _rotation_from_degrees(ccw: float) -> int:
    """FFmpeg's counter-clockwise display angle -> clockwise degrees to apply, snapped to 0/90/180/270."""
    return int(round(-ccw / 90.0)) % 4 * 90


def _stream_rotation_tag(stream) -> int | None:
    tag = stream.metadata.get("rotate")
    if tag is None:
        return None
    try:
        return int(round(float(tag) / 90.0)) % 4 * 90
    except ValueError:
        return None


def _rotate(image: np.ndarray, rotation_cw: int) -> np.ndarray:
    if rotation_cw == 0:
        return image
    # np.rot90 with positive k turns an image counter-clockwise.
    return np.ascontiguousarray(np.rot90(image, k=-(rotation_cw // 90)))


def plan_indices(count: int, n: int) -> list[int]:
    """``n`` unique, increasing frame indices spread evenly over ``[0, count - 1]`` (first and last)."""
    if count <= 0 or n <= 0:
        return []
    if n >= count:
        return list(range(count))
    if n == 1:
        return [0]
    return sorted({int(i) for i in np.rint(np.linspace(0, count - 1, n))})


def count_video_packets(path: str | os.PathLike[str], stream_index: int | None = None) -> int:
    """Count the packets of the (first) video stream by demuxing only — no decoding.

    For almost all codecs one packet is one frame, so this is the exact frame count even for VFR
    video or containers that record no count. Stops quietly at a truncation.
    """
    path = Path(path)
    with _open(path) as container:
        if stream_index is None:
            stream = _video_stream(container, path)
        else:
            stream = container.streams[stream_index]
        count = 0
        try:
            for packet in container.demux(stream):
                if packet.size:  # the final flush packet is empty
                    count += 1
        except _AV_ERRORS:
            pass
    return count


_SKIP_NONREF_CODECS = {"h264", "hevc"}  # decoders whose skip_frame=NONREF drops only non-reference frames


class _Plan:
    """What to decode: per needed GOP, the decode positions ``[start, stop]`` to feed; ``wanted``
    presentation indices; ``rank[pts]`` = presentation index of a packet; ``packets`` in total."""

    def __init__(self, ranges: list[tuple[int, int]], wanted: set[int], rank: dict[int, int], packets: int,
                 sampled: list[int]) -> None:  # fmt: skip
        self.ranges, self.wanted, self.rank, self.packets, self.sampled = ranges, wanted, rank, packets, sampled


def _decode_threads() -> int:
    """Decoder threads: ``$FAKESCOPE_DECODE_THREADS`` (a batch worker's budget), else 0 = FFmpeg's choice."""
    try:
        return max(0, int(os.environ.get("FAKESCOPE_DECODE_THREADS", "0")))
    except ValueError:
        return 0


def _time_base_seconds(value, time_base) -> float | None:
    if value is None or time_base is None:
        return None
    return float(value * time_base)


def _stream_duration(stream) -> float | None:
    """The video stream's own duration (not the container's, which includes audio), if recorded."""
    seconds = _time_base_seconds(stream.duration, stream.time_base)
    if not seconds:
        tag = stream.metadata.get("DURATION") or stream.metadata.get("duration")  # Matroska track tag
        if tag:
            try:
                hours, minutes, secs = tag.split(":")
                seconds = int(hours) * 3600 + int(minutes) * 60 + float(secs)
            except ValueError:
                seconds = None
    return seconds if seconds and seconds > 0 else None


def probe_video(path: str | os.PathLike[str]) -> MediaInfo:
    """Read a video's properties: fps, duration, frame count, upright size, rotation, codec.

    ``frame_count`` is the container's count when it records one, else ``round(duration × fps)``
    (an estimate), else ``None``. Decodes the first frame (to read the display matrix and to make sure
    the stream decodes at all).
    """
    info, _ = _probe(Path(path))
    return info


def _probe(path: Path, count_packets: bool = False) -> tuple[MediaInfo, bool]:
    """Return the info and whether its frame count is exact (from the container or a packet count).

    ``count_packets``: when the container records no frame count, demux the whole stream (no
    decoding) and use the number of video packets as the frame count.
    """
    _check_file(path)
    with _open(path) as container:
        stream = _video_stream(container, path)
        cc = stream.codec_context
        width, height = int(cc.width or 0), int(cc.height or 0)
        if width * height > MAX_PIXELS:
            raise MediaError(
                f"{path}: video frames too large ({width}x{height} = {width * height:,} pixels; "
                f"the limit is {MAX_PIXELS:,})"
            )
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else None
        if fps is not None and not (0 < fps < 10_000):
            fps = None
        duration = _stream_duration(stream)
        if not duration and container.duration:
            duration = container.duration / 1_000_000  # AV_TIME_BASE
        duration = duration if duration and duration > 0 else None
        exact = bool(stream.frames and stream.frames > 0)
        if exact:
            frame_count: int | None = int(stream.frames)
        elif duration and fps:
            frame_count = max(1, int(round(duration * fps)))
        else:
            frame_count = None
        codec = cc.name

        # Decode just the first frame (display matrix, proof that the stream decodes). When asked and
        # the container has no frame count, keep demuxing (no decoding) to count the packets.
        count_packets = count_packets and not exact
        first = None
        packets = 0
        # Slice threads only: frame threading would decode one frame per thread before the first
        # comes out (17 frames on a 16-core machine) — wasted work for a probe.
        stream.thread_type = "SLICE"
        try:
            for packet in container.demux(stream):
                if packet.size:
                    packets += 1
                if first is None:
                    first = next(iter(packet.decode()), None)  # the final empty packet flushes
                if first is not None and not count_packets:
                    break
        except _AV_ERRORS as e:
            if first is None:
                raise MediaError(
                    f"{path}: truncated or corrupt video (first frame does not decode: {_one_line(e)})"
                ) from None
        if count_packets and packets > 0:
            frame_count, exact = packets, True
        if first is None:
            raise MediaError(f"{path}: truncated or corrupt video (no decodable frames)")
        if first.width * first.height > MAX_PIXELS:
            raise MediaError(f"{path}: video frames too large ({first.width}x{first.height} pixels)")
        width, height = first.width, first.height
        # PyAV ≤ 18.1.0 iterates side data as SideData objects, 18.1.1 as their Type keys: accept both
        if any(getattr(sd, "type", sd) == av.sidedata.sidedata.Type.DISPLAYMATRIX for sd in first.side_data):
            rotation = _rotation_from_degrees(first.rotation)
        else:
            rotation = _stream_rotation_tag(stream) or 0

    if rotation in (90, 270):
        width, height = height, width
    info = MediaInfo(
        path=str(path),
        kind="video",
        width=width,
        height=height,
        fps=fps,
        duration=duration,
        frame_count=frame_count,
        rotation=rotation,
        codec=codec,
    )
    return info, exact


class VideoReader:
    """A video file as a lazy, streaming source of sampled, upright RGB :class:`Frame` objects.

    ``VideoReader(path, sampling)`` probes the file (raising :class:`MediaError` for missing, empty,
    non-video, stream-less, oversized or undecodable files). Attributes:

    * ``info`` — :class:`MediaInfo`. For ``even`` sampling with no container frame count, the frame
      count is made exact by a demux-only packet count, and ``info.frame_count`` holds it.
    * ``warnings`` — one-line, user-facing messages (truncation, fewer frames than expected); filled
      during iteration, also sent to ``logging``.
    * ``truncated`` — ``True`` when decoding ended early on an error or with fewer frames than announced.
    * ``frames_decoded`` — how many frames the last iteration decoded so far (it is updated live).

    Each ``iter(reader)`` decodes the file afresh, sequentially, without seeking.
    """

    def __init__(self, path: str | os.PathLike[str], sampling: Sampling | None = None):
        self.path = Path(path)
        self.sampling = sampling or Sampling()
        # even:N needs the exact count; the demux-only packet count runs in the probe's own pass.
        self.info, self._count_exact = _probe(self.path, count_packets=self.sampling.mode == "even")
        self.warnings: list[str] = []
        self.truncated = False
        self.frames_decoded = 0

    def __repr__(self) -> str:
        i = self.info
        return (
            f"VideoReader({str(self.path)!r}, {i.width}x{i.height}, frames={i.frame_count}, "
            f"sampling={self.sampling.describe()})"
        )

    def _warn(self, message: str) -> None:
        message = f"{self.path}: {message}"
        self.warnings.append(message)
        log.warning("%s", message)

    def planned_indices(self) -> list[int] | None:
        """The frame indices ``even`` sampling will yield (``None`` for ``every``/``all``)."""
        if self.sampling.mode != "even":
            return None
        return plan_indices(self.info.frame_count or 0, self.sampling.n)

    def __iter__(self) -> Iterator[Frame]:
        return self._frames()

    def _wanted(self):
        """``(predicate index -> bool, last planned index or None, stop after it?)``."""
        mode = self.sampling.mode
        if mode in ("all", "keyframes"):  # keyframes without a plan: filtered on the decoded frame's flag
            return (lambda i: True), None, False
        if mode == "every":
            k = max(1, self.sampling.k)
            return (lambda i: i % k == 0), None, False
        wanted = set(self.planned_indices() or [])
        if not wanted:  # no usable count at all: fall back to the first n frames, warn
            n = self.sampling.n
            self._warn(f"frame count unknown; sampling the first {n} frames")
            return (lambda i: i < n), n - 1, True
        return wanted.__contains__, max(wanted), False

    def _plan(self) -> _Plan | None:
        """A plan that decodes less than every frame with the same result, or None (see module doc)."""
        mode = self.sampling.mode
        if mode == "all" or os.environ.get("FAKESCOPE_DECODE_PLAN", "1") == "0":
            return None
        path = self.path
        try:
            with _open(path) as container:
                stream = _video_stream(container, path)
                stream.thread_type = "AUTO"  # no decoding happens in this pass; same settings as the decoding one
                tb = stream.time_base
                first_pts = stream.start_time
                duration = _stream_duration(stream)
                pkts = [(p.pts, p.is_keyframe) for p in container.demux(stream) if p.size]
        except (MediaError, *_AV_ERRORS):
            return None
        n = len(pkts)
        if n == 0 or not pkts[0][1] or any(pts is None for pts, _ in pkts):
            return None
        order = sorted(pkts)
        if len({pts for pts, _ in pkts}) != n or order[0][0] < (first_pts or 0):
            return None  # duplicate timestamps, or packets before the start (an edit list drops their pictures)
        rank = {pts: r for r, (pts, _) in enumerate(order)}
        fps = self.info.fps
        if duration and tb is not None and fps:  # short of the recorded duration: truncated, let the full path warn
            end = float((order[-1][0] - order[0][0]) * tb) + 1.0 / fps
            if end < duration - max(0.5, 0.05 * duration):
                return None
        if mode == "even":
            if not self._count_exact or self.info.frame_count != n:
                return None
            wanted = set(plan_indices(n, self.sampling.n))
        elif mode == "every":
            k = max(1, self.sampling.k)
            wanted = set(range(0, n, k))
        else:  # keyframes
            keys = sorted(rank[pts] for pts, key in pkts if key)
            wanted = set(keys if not self.sampling.n else [keys[i] for i in plan_indices(len(keys), self.sampling.n)])
        ranges = []
        starts = [i for i, (_, key) in enumerate(pkts) if key] + [n]
        for a, b in zip(starts, starts[1:], strict=False):
            kpts = pkts[a][0]
            if any(pkts[j][0] < kpts for j in range(a, b)):
                return None  # open GOP: its leading frames reference the previous GOP
            need = [j for j in range(a, b) if rank[pkts[j][0]] in wanted]
            if need:
                ranges.append((a, max(need)))
        return _Plan(ranges, wanted, rank, n, sorted(wanted))

    def _frames(self) -> Iterator[Frame]:
        self.warnings.clear()
        self.truncated = False
        self.frames_decoded = 0
        plan = self._plan()
        if plan is not None:
            yield from self._frames_planned(plan)
            return
        wanted, last_wanted, stop_after_last = self._wanted()
        rotation = self.info.rotation
        path = self.path

        fps = self.info.fps

        def frame_time(index: int, vf, start) -> float:
            if vf.pts is not None and vf.time_base is not None:
                return max(0.0, float((vf.pts - (start or 0)) * vf.time_base))
            return index / fps if fps else 0.0

        def to_frame(index: int, vf, start) -> Frame:
            if vf.width * vf.height > MAX_PIXELS:
                raise MediaError(f"{path}: video frame {index} too large ({vf.width}x{vf.height} pixels)")
            image = vf.to_ndarray(format="rgb24")
            return Frame(index=index, time=frame_time(index, vf, start), image=_rotate(image, rotation))

        keyframes_only = self.sampling.mode == "keyframes"
        yielded = 0
        last_yielded = -1
        last_frame = None  # the most recent decoded (not converted) frame, for the short-video fallback
        container = _open(path)
        try:
            stream = _video_stream(container, path)
            stream.thread_type = "AUTO"
            stream.codec_context.thread_count = _decode_threads()
            start = stream.start_time
            stream_duration = _stream_duration(stream)
            index = -1
            error: str | None = None
            try:
                for packet in container.demux(stream):
                    for vf in packet.decode():
                        index += 1
                        self.frames_decoded = index + 1
                        last_frame = vf
                        if wanted(index) and (not keyframes_only or vf.key_frame):
                            yield to_frame(index, vf, start)
                            yielded += 1
                            last_yielded = index
                    if stop_after_last and index >= last_wanted:
                        break
            except _AV_ERRORS as e:
                error = _one_line(e)
            decoded = index + 1
            if decoded == 0:
                cause = f": {error}" if error else ""
                raise MediaError(f"{path}: truncated or corrupt video (no decodable frames{cause})")
            expected = self.info.frame_count if self._count_exact else None
            if error is not None:
                self.truncated = True
                self._warn(f"decoding stopped after {decoded} frames ({error}); the file may be truncated")
            elif expected is not None and decoded < expected:
                self.truncated = True
                self._warn(f"video ended after {decoded} of {expected} frames; {_MAYBE_TRUNCATED}")
            elif stream_duration and last_frame is not None and not stop_after_last:
                # Containers without a frame index (Matroska/WebM) still record the track duration.
                end = frame_time(decoded - 1, last_frame, start) + (1.0 / fps if fps else 0.0)
                if end < stream_duration - max(0.5, 0.05 * stream_duration):
                    self.truncated = True
                    self._warn(f"video ended at {end:.2f} s of {stream_duration:.2f} s; {_MAYBE_TRUNCATED}")
            if (
                self.sampling.mode == "even"
                and not stop_after_last
                and last_wanted is not None
                and decoded - 1 < last_wanted
                and last_frame is not None
                and last_yielded < decoded - 1
            ):
                # Planned indices past the real end were lost: still cover the end of what exists.
                yield to_frame(decoded - 1, last_frame, start)
                yielded += 1
            if self.sampling.mode == "even" and not self.truncated and yielded < min(self.sampling.n, decoded):
                self._warn(
                    f"sampled {yielded} of {self.sampling.n} requested frames "
                    f"(the video has fewer frames than its header announced)"
                )
        finally:
            last_frame = None
            container.close()


    def _frames_planned(self, plan: _Plan) -> Iterator[Frame]:
        """Decode only the GOP prefixes that hold sampled frames (see the module docstring)."""
        path, rotation, fps = self.path, self.info.rotation, self.info.fps
        container = _open(path)
        yielded: set[int] = set()
        decoded = 0
        try:
            stream = _video_stream(container, path)
            stream.thread_type = "AUTO"
            cc = stream.codec_context
            cc.thread_count = _decode_threads()
            skip_nonref = cc.name in _SKIP_NONREF_CODECS
            start = stream.start_time
            ranges = iter(plan.ranges)
            cur = next(ranges, None)
            pos = -1

            def emit(frames) -> Iterator[Frame]:
                nonlocal decoded
                for vf in frames:
                    decoded += 1
                    self.frames_decoded = decoded
                    r = plan.rank.get(vf.pts)
                    if r is None or r not in plan.wanted or r in yielded:
                        continue
                    if vf.width * vf.height > MAX_PIXELS:
                        raise MediaError(f"{path}: video frame {r} too large ({vf.width}x{vf.height} pixels)")
                    yielded.add(r)
                    tb = vf.time_base or stream.time_base  # frames from codec_context.decode carry none
                    if vf.pts is not None and tb is not None:
                        t = max(0.0, float((vf.pts - (start or 0)) * tb))
                    else:
                        t = r / fps if fps else 0.0
                    yield Frame(index=r, time=t, image=_rotate(vf.to_ndarray(format="rgb24"), rotation))

            error = None
            try:
                for packet in container.demux(stream):
                    if cur is None:
                        break
                    if not packet.size:
                        continue
                    pos += 1
                    if pos < cur[0]:
                        continue  # a GOP (or the tail of one) that no sample needs: never decoded
                    if skip_nonref:
                        cc.skip_frame = "DEFAULT" if plan.rank.get(packet.pts) in plan.wanted else "NONREF"
                    yield from emit(cc.decode(packet))
                    if pos == cur[1]:  # this GOP's last sampled frame is in: drain, reset, skip the rest
                        cc.skip_frame = "DEFAULT"
                        yield from emit(cc.decode(None))
                        cc.flush_buffers()
                        cur = next(ranges, None)
            except _AV_ERRORS as e:
                error = _one_line(e)
            if error is not None:
                self.truncated = True
                self._warn(f"decoding stopped ({error}); the file may be truncated")
                if not yielded:
                    raise MediaError(f"{path}: truncated or corrupt video (no decodable frames: {error})")
            if error is None and len(yielded) < len(plan.wanted):
                container.close()
                yield from self._planned_tail(plan, yielded)
        finally:
            container.close()

    def _planned_tail(self, plan: _Plan, yielded: set[int]) -> Iterator[Frame]:
        """Planned frames went missing (packets that make no picture, typically a damaged end): decode
        the last planned GOP again, every frame, and do what the sequential path does — yield the
        planned frames that exist and, when the plan reaches past the last picture, that last picture."""
        path, rotation, fps = self.path, self.info.rotation, self.info.fps
        first = plan.ranges[-1][0] if plan.ranges else 0
        last = None  # (rank, frame) of the latest picture in presentation order
        with _open(path) as container:
            stream = _video_stream(container, path)
            start = stream.start_time

            def to_frame(r: int, vf) -> Frame:
                tb = vf.time_base or stream.time_base
                t = max(0.0, float((vf.pts - (start or 0)) * tb)) if vf.pts is not None and tb else (r / fps if fps
                                                                                                  else 0.0)  # fmt: skip
                return Frame(index=r, time=t, image=_rotate(vf.to_ndarray(format="rgb24"), rotation))

            pos = -1
            try:
                for packet in container.demux(stream):
                    if packet.size:
                        pos += 1
                        if pos < first:
                            continue
                    for vf in packet.decode():
                        r = plan.rank.get(vf.pts)
                        if r is None:
                            continue
                        if last is None or r > last[0]:
                            last = (r, vf)
                        if r in plan.wanted and r not in yielded:
                            yielded.add(r)
                            yield to_frame(r, vf)
            except _AV_ERRORS:
                pass
            missing = len(plan.wanted) - len(yielded)
            if last is not None and max(plan.wanted) > last[0]:
                self.truncated = True
                self._warn(f"video ended after {last[0] + 1} of {plan.packets} frames; {_MAYBE_TRUNCATED}")
                if last[0] not in yielded:
                    yielded.add(last[0])
                    yield to_frame(*last)
            elif missing:
                self._warn(f"{missing} of {len(plan.wanted)} planned frames did not decode; {_MAYBE_TRUNCATED}")


def iter_video_frames(path: str | os.PathLike[str], sampling: Sampling | None = None) -> Iterator[Frame]:
    """Sampled, upright RGB frames of a video, streamed (see :class:`VideoReader` for warnings)."""
    return iter(VideoReader(path, sampling))
