"""Tests for fakescope.media: sniffing, image loading, video probing and sampled sequential decoding.

All fixtures are generated on the fly with PyAV and Pillow (no ffmpeg CLI needed). Test videos carry
their frame index as an 8-bit black/white pattern in the top half, so a test can check that the
frame a reader calls ``index`` really is that frame of the file.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

import fakescope.media.video as video_mod
from fakescope.media import (
    IMAGE_EXTENSIONS,
    MAX_PIXELS,
    MEDIA_EXTENSIONS,
    VIDEO_EXTENSIONS,
    Frame,
    ImageSource,
    MediaError,
    MediaInfo,
    MediaSource,
    Sampling,
    VideoReader,
    find_media,
    iter_video_frames,
    load_image,
    open_media,
    probe,
    sniff_kind,
)
from fakescope.media.video import count_video_packets, plan_indices

W, H = 64, 48


# --------------------------------------------------------------------------- fixtures / helpers


def _pattern(i: int, w: int = W, h: int = H) -> np.ndarray:
    """An RGB frame whose top half encodes ``i`` in binary (8 blocks); bottom half a fixed gradient."""
    a = np.zeros((h, w, 3), np.uint8)
    bw = w // 8
    for b in range(8):
        if (i >> b) & 1:
            a[: h // 2, b * bw : (b + 1) * bw] = 255
    a[h // 2 :, :, 1] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    return a


def _read_index(img: np.ndarray) -> int:
    h, w = img.shape[:2]
    bw = w // 8
    top = img[: h // 2].mean(axis=2)
    return sum(1 << b for b in range(8) if top[2 : h // 2 - 2, b * bw + 2 : (b + 1) * bw - 2].mean() > 128)


_FAST = {
    "libvpx": {"deadline": "realtime", "cpu-used": "8"},
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8"},
    "libx264": {"preset": "ultrafast"},
}


def make_video(
    path: Path,
    n: int = 100,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    fps: int = 25,
    size: tuple[int, int] = (W, H),
    pts: list[int] | None = None,
    time_base: Fraction | None = None,
    rotation: float | None = None,
    container_options: dict[str, str] | None = None,
    options: dict[str, str] | None = None,
) -> Path:
    """Write a test video with PyAV. ``pts`` (in ``time_base``) makes it variable-frame-rate."""
    w, h = size
    with av.open(str(path), "w", options=container_options or {}) as c:
        s = c.add_stream(codec, rate=fps, options={**_FAST.get(codec, {}), **(options or {})})
        s.width, s.height, s.pix_fmt = w, h, pix_fmt
        if time_base is not None:
            s.codec_context.time_base = time_base
            s.time_base = time_base
        if rotation is not None:
            s.set_display_rotation(rotation)
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(_pattern(i, w, h), format="rgb24")
            frame.pts = pts[i] if pts is not None else i
            if time_base is not None:
                frame.time_base = time_base
            for pk in s.encode(frame):
                c.mux(pk)
        for pk in s.encode():
            c.mux(pk)
    return path


def make_audio(path: Path, codec: str = "aac", seconds: float = 0.5) -> Path:
    rate = 48000
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=rate)
        s.layout = "mono"
        fmt = s.codec_context.codec.audio_formats[0].name
        nb = 960 if codec in ("libopus", "opus") else 1024
        for j in range(int(seconds * rate / nb)):
            data = np.zeros((1, nb), np.float32 if fmt.startswith("flt") else np.int16)
            if not fmt.endswith("p"):
                data = data.reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(data, format=fmt, layout="mono")
            frame.sample_rate = rate
            frame.pts = j * nb
            for pk in s.encode(frame):
                c.mux(pk)
        for pk in s.encode():
            c.mux(pk)
    return path


def _has_encoder(name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
    except Exception:
        return False
    return True


@pytest.fixture(scope="module")
def vids(tmp_path_factory) -> dict[str, Path]:
    """Shared 100-frame videos, one per container."""
    d = tmp_path_factory.mktemp("vids")
    out = {
        "mp4": make_video(d / "h264.mp4"),
        "avi": make_video(d / "mpeg4.avi", codec="mpeg4"),
        "mov": make_video(d / "mjpeg.mov", codec="mjpeg", pix_fmt="yuvj420p"),
        "mkv": make_video(d / "h264.mkv"),
    }
    vp = "libvpx-vp9" if _has_encoder("libvpx-vp9") else "libvpx"
    out["webm"] = make_video(d / "vp.webm", codec=vp)
    return out


def _indices(frames: list[Frame]) -> list[int]:
    return [f.index for f in frames]


# --------------------------------------------------------------------------- plan / sampling basics


def test_plan_indices():
    idx = plan_indices(100, 32)
    assert len(idx) == 32 and idx[0] == 0 and idx[-1] == 99
    assert idx == sorted(set(idx))
    assert plan_indices(10, 32) == list(range(10))
    assert plan_indices(100, 1) == [0]
    assert plan_indices(0, 5) == []
    assert plan_indices(5, 3) == [0, 2, 4]


def test_public_api_reexports():
    assert ".mp4" in VIDEO_EXTENSIONS and ".png" in IMAGE_EXTENSIONS
    assert MEDIA_EXTENSIONS == VIDEO_EXTENSIONS | IMAGE_EXTENSIONS
    assert MAX_PIXELS == 100_000_000
    assert Sampling.parse("even:8") == Sampling("even", n=8)
    assert issubclass(MediaError, Exception)


# --------------------------------------------------------------------------- containers


@pytest.mark.parametrize("kind", ["mp4", "avi", "mov", "mkv", "webm"])
def test_every_container_decodes_all_frames(vids, kind):
    path = vids[kind]
    assert sniff_kind(path) == "video"
    info = probe(path)
    assert isinstance(info, MediaInfo)
    assert info.kind == "video" and (info.width, info.height) == (W, H)
    assert info.fps == pytest.approx(25.0)
    assert info.duration == pytest.approx(4.0, abs=0.05)
    assert info.frame_count == 100  # container count, or duration x fps where the container has none
    assert info.rotation == 0

    src = open_media(path, Sampling("all"))
    assert isinstance(src, VideoReader) and isinstance(src, MediaSource)
    frames = list(src)
    assert _indices(frames) == list(range(100))
    for f in frames:
        assert f.image.shape == (H, W, 3) and f.image.dtype == np.uint8
        assert f.image.flags["C_CONTIGUOUS"]
    # the frame called i really is frame i of the file, and its time is its presentation time
    assert [_read_index(f.image) for f in frames] == list(range(100))
    assert [round(f.time, 3) for f in frames] == [round(i / 25, 3) for i in range(100)]
    assert src.warnings == [] and not src.truncated


def test_even_sampling_32_of_100(vids):
    src = open_media(vids["mp4"], Sampling("even", n=32))
    frames = list(src)
    idx = _indices(frames)
    assert len(idx) == 32 and len(set(idx)) == 32
    assert idx == sorted(idx) and idx[0] == 0 and idx[-1] == 99
    assert max(np.diff(idx)) <= 4  # spread over the whole range, no clumping
    assert [_read_index(f.image) for f in frames] == idx
    assert src.warnings == []


def test_every_k_and_all(vids):
    every = list(iter_video_frames(vids["mp4"], Sampling("every", k=7)))
    assert _indices(every) == list(range(0, 100, 7))
    assert [_read_index(f.image) for f in every] == list(range(0, 100, 7))
    assert len(list(iter_video_frames(vids["avi"], Sampling("all")))) == 100
    # even with n >= frame count returns every frame once
    assert _indices(list(iter_video_frames(vids["mov"], Sampling("even", n=500)))) == list(range(100))


@pytest.mark.parametrize("kind", ["mkv", "webm"])
def test_missing_container_count_still_samples_n(vids, kind):
    with av.open(str(vids[kind])) as c:
        assert c.streams.video[0].frames == 0  # Matroska records no frame count
    assert count_video_packets(vids[kind]) == 100
    src = open_media(vids[kind], Sampling("even", n=10))
    assert src.info.frame_count == 100  # made exact by the demux-only packet count
    frames = list(src)
    idx = _indices(frames)
    assert idx == plan_indices(100, 10) and idx[0] == 0 and idx[-1] == 99
    assert [_read_index(f.image) for f in frames] == idx


def test_vfr_video_sampled_evenly(tmp_path):
    rng = np.random.default_rng(1)
    gaps = rng.choice([10, 40, 100, 250], size=100)  # ms between frames: very irregular
    pts = np.concatenate([[0], np.cumsum(gaps[:-1])]).astype(int).tolist()
    path = make_video(tmp_path / "vfr.mkv", pts=pts, time_base=Fraction(1, 1000))
    src = open_media(path, Sampling("even", n=10))
    assert src.info.frame_count == 100  # not duration x fps
    frames = list(src)
    idx = _indices(frames)
    assert idx == plan_indices(100, 10) and idx[0] == 0 and idx[-1] == 99
    assert [_read_index(f.image) for f in frames] == idx
    assert [f.time for f in frames] == pytest.approx([pts[i] / 1000 for i in idx], abs=2e-3)


def test_vfr_mp4_times(tmp_path):
    pts = [0, 10, 20, 500, 510, 1500, 1510, 1520, 3000, 3010]
    path = make_video(tmp_path / "vfr.mp4", n=10, pts=pts, time_base=Fraction(1, 1000))
    frames = list(open_media(path, Sampling("all")))
    assert [_read_index(f.image) for f in frames] == list(range(10))
    assert [f.time for f in frames] == pytest.approx([p / 1000 for p in pts], abs=2e-3)


# --------------------------------------------------------------------------- streaming, no seek


def test_iteration_is_lazy_and_streams(tmp_path):
    path = make_video(tmp_path / "long.mp4", n=300)
    reader = VideoReader(path, Sampling("all"))
    it = iter(reader)
    first = next(it)
    assert first.index == 0 and _read_index(first.image) == 0
    # the first frame arrived after decoding only a handful of frames (decoder/thread delay), not 300
    assert reader.frames_decoded < 40
    second = next(it)
    assert second.index == 1
    it.close()  # stopping early closes the container


def test_no_seek_during_iteration(vids, monkeypatch):
    calls = []
    real_seek = av.container.InputContainer.seek

    def spy(self, *args, **kwargs):
        calls.append((args, kwargs))
        return real_seek(self, *args, **kwargs)

    monkeypatch.setattr(av.container.InputContainer, "seek", spy)
    for kind in ("mp4", "mkv"):
        for sampling in (Sampling("even", n=32), Sampling("every", k=3), Sampling("all")):
            frames = list(open_media(vids[kind], sampling))
            assert frames
    assert calls == []
    # the spy does intercept seeks (so the assertion above means something)
    with av.open(str(vids["mp4"])) as c:
        c.seek(0)
    assert len(calls) == 1


def test_threaded_decoding(vids, monkeypatch):
    seen = []
    real_demux = av.container.InputContainer.demux

    def spy(self, *streams, **kw):
        seen.extend(str(s.thread_type) for s in streams)
        return real_demux(self, *streams, **kw)

    monkeypatch.setattr(av.container.InputContainer, "demux", spy)
    src = open_media(vids["mp4"], Sampling("even", n=4))
    seen.clear()  # the probe decodes one frame with slice threads only
    assert len(list(src)) == 4
    assert seen and all(t.endswith("AUTO") for t in seen)  # the decoding pass: frame + slice threads


# --------------------------------------------------------------------------- rotation


@pytest.mark.parametrize(
    ("display", "expected_cw", "stripe_at"),
    [(-90, 90, "top"), (90, 270, "bottom"), (180, 180, "right")],
)
def test_rotation_metadata_honoured(tmp_path, display, expected_cw, stripe_at):
    """A landscape frame with a white stripe on its left edge, stored with a display matrix.

    ``set_display_rotation(-90)`` is what phones write for portrait clips (ffprobe: rotation -90);
    ffmpeg shows it turned 90 degrees clockwise, so the left edge ends up on top.
    """
    path = tmp_path / f"rot{display}.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=10, options={"preset": "ultrafast"})
        s.width, s.height, s.pix_fmt = 64, 32, "yuv420p"
        s.set_display_rotation(display)
        for i in range(5):
            a = np.zeros((32, 64, 3), np.uint8)
            a[:, :12] = 255  # left edge
            f = av.VideoFrame.from_ndarray(a, format="rgb24")
            f.pts = i
            for pk in s.encode(f):
                c.mux(pk)
        for pk in s.encode():
            c.mux(pk)
    info = probe(path)
    assert info.rotation == expected_cw
    frames = list(open_media(path, Sampling("all")))
    img = frames[0].image.mean(axis=2)
    if expected_cw in (90, 270):
        assert (info.width, info.height) == (32, 64)  # portrait
        assert img.shape == (64, 32)
    else:
        assert (info.width, info.height) == (64, 32)
        assert img.shape == (32, 64)
    edges = {
        "top": img[:8].mean(),
        "bottom": img[-8:].mean(),
        "left": img[:, :8].mean(),
        "right": img[:, -8:].mean(),
    }
    assert edges[stripe_at] > 200
    opposite = {"top": "bottom", "bottom": "top", "left": "right", "right": "left"}[stripe_at]
    assert edges[opposite] < 30


# --------------------------------------------------------------------------- broken / hostile videos


def _truncated_mp4(tmp_path: Path, keep: str) -> tuple[Path, int]:
    rng = np.random.default_rng(0)
    full = tmp_path / "full.mp4"
    with av.open(str(full), "w", options={"movflags": "faststart"}) as c:
        s = c.add_stream("libx264", rate=30, options={"preset": "ultrafast"})
        s.width, s.height, s.pix_fmt = 128, 96, "yuv420p"
        for i in range(60):
            f = av.VideoFrame.from_ndarray(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8), format="rgb24")
            f.pts = i
            for pk in s.encode(f):
                c.mux(pk)
        for pk in s.encode():
            c.mux(pk)
    data = full.read_bytes()
    moov, mdat = data.find(b"moov"), data.find(b"mdat")
    assert 0 < moov < mdat  # faststart: index first, then the frames
    cut = len(data) // 2 if keep == "half" else mdat + 8
    out = tmp_path / f"cut_{keep}.mp4"
    out.write_bytes(data[:cut])
    return out, len(data)


def test_truncated_mp4_yields_frames_then_warns(tmp_path, caplog):
    path, _ = _truncated_mp4(tmp_path, "half")
    src = open_media(path, Sampling("even", n=8))
    assert src.info.frame_count == 60  # what the (intact) header announces
    with caplog.at_level(logging.WARNING, logger="fakescope.media.video"):
        frames = list(src)
    idx = _indices(frames)
    assert 0 < len(frames) < 8
    assert idx == sorted(set(idx)) and idx[0] == 0
    assert src.truncated
    assert src.warnings and any("truncated" in w for w in src.warnings)
    assert all("\n" not in w and str(path) in w for w in src.warnings)
    assert any("truncated" in r.getMessage() for r in caplog.records)
    # the sample still reaches the last frame that exists
    assert idx[-1] == src.frames_decoded - 1
    all_frames = list(open_media(path, Sampling("all")))
    assert len(all_frames) == src.frames_decoded < 60


@pytest.mark.parametrize("kind", ["mkv", "webm"])
def test_truncated_matroska_detected_by_track_duration(vids, tmp_path, kind):
    data = vids[kind].read_bytes()
    path = tmp_path / f"cut.{kind}"
    path.write_bytes(data[: len(data) // 2])
    src = open_media(path, Sampling("even", n=8))
    frames = list(src)
    idx = _indices(frames)
    assert len(idx) == 8 and idx[0] == 0 and idx[-1] == src.frames_decoded - 1 < 99
    assert [_read_index(f.image) for f in frames] == idx
    assert src.truncated and "truncated" in src.warnings[0]


def test_truncated_mp4_without_frames_raises(tmp_path):
    path, _ = _truncated_mp4(tmp_path, "header")
    with pytest.raises(MediaError, match=r"cut_header\.mp4: truncated or corrupt video"):
        list(open_media(path))


def test_mp4_cut_before_index_raises(tmp_path):
    path = make_video(tmp_path / "moov_at_end.mp4", n=30)
    data = path.read_bytes()
    assert data.find(b"mdat") < data.find(b"moov")
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError, match="truncated or corrupt"):
        open_media(path)


@pytest.mark.parametrize(("name", "codec"), [("audio.m4a", "aac"), ("audio.mka", "libopus")])
def test_audio_only_file_has_no_video_stream(tmp_path, name, codec):
    path = make_audio(tmp_path / name, codec)
    assert sniff_kind(path) == "video"  # an MP4/Matroska container...
    with pytest.raises(MediaError, match="no video stream"):
        open_media(path)  # ...without a video stream
    with pytest.raises(MediaError, match="no video stream"):
        probe(path)


def test_oversized_video_frames_refused(vids, monkeypatch):
    monkeypatch.setattr(video_mod, "MAX_PIXELS", W * H - 1)
    with pytest.raises(MediaError, match="too large"):
        open_media(vids["mp4"])


def test_text_file_named_mp4(tmp_path):
    p = tmp_path / "notes.mp4"
    p.write_text("this is not a video\n" * 10)
    with pytest.raises(MediaError, match=r"notes\.mp4: not a supported image or video"):
        open_media(p)
    # even when read as a video directly, the error is clear
    with pytest.raises(MediaError, match="notes.mp4"):
        VideoReader(p)


# --------------------------------------------------------------------------- paths


def test_missing_directory_and_empty_paths(tmp_path):
    with pytest.raises(MediaError, match=r"nope\.mp4: no such file"):
        open_media(tmp_path / "nope.mp4")
    with pytest.raises(MediaError, match="is a directory"):
        open_media(tmp_path)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(MediaError, match=r"empty\.mp4: empty file"):
        open_media(empty)
    with pytest.raises(MediaError, match="empty file"):
        load_image(empty)
    for call in (sniff_kind, probe, load_image, VideoReader):
        with pytest.raises(MediaError) as exc:
            call(tmp_path / "nope.jpg")
        assert "\n" not in str(exc.value)


def test_find_media(tmp_path):
    root = tmp_path / "in"
    (root / "b" / "deep").mkdir(parents=True)
    (root / ".hidden").mkdir()
    for rel in ("b/deep/z.MP4", "a.jpg", "b/c.png", "b/notes.txt", ".hidden/x.jpg", "._a.jpg", "b/d.webm"):
        (root / rel).write_bytes(b"x")
    empty_dir = tmp_path / "nothing"
    empty_dir.mkdir()
    (empty_dir / "readme.txt").write_text("hi")
    single = tmp_path / "clip.bin"  # explicit files are kept whatever their extension
    single.write_bytes(b"x")

    files, errors = find_media([root, empty_dir, tmp_path / "missing.mp4", single, root / "a.jpg"])
    assert files == [root / "a.jpg", root / "b" / "c.png", root / "b" / "d.webm", root / "b" / "deep" / "z.MP4", single]
    assert [e[0] for e in errors] == [str(empty_dir), str(tmp_path / "missing.mp4")]
    assert errors[0][1] == f"{empty_dir}: no images or videos found in directory"
    assert errors[1][1] == f"{tmp_path / 'missing.mp4'}: no such file or directory"


def test_sniff_by_magic_not_extension(tmp_path, vids):
    jpg_named_mp4 = tmp_path / "photo.mp4"
    Image.new("RGB", (8, 8), (255, 0, 0)).save(jpg_named_mp4, format="JPEG")
    assert sniff_kind(jpg_named_mp4) == "image"
    src = open_media(jpg_named_mp4)
    assert isinstance(src, ImageSource)
    mkv_named_jpg = tmp_path / "video.jpg"
    mkv_named_jpg.write_bytes(vids["mkv"].read_bytes())
    assert sniff_kind(mkv_named_jpg) == "video"
    for fmt, ext in [("PNG", "png"), ("WEBP", "webp"), ("BMP", "bmp"), ("TIFF", "tif"), ("GIF", "gif")]:
        p = tmp_path / f"x.{ext}"
        Image.new("RGB", (8, 8)).save(p, format=fmt)
        assert sniff_kind(p) == "image", fmt
    for kind in ("mp4", "avi", "mov", "webm"):
        assert sniff_kind(vids[kind]) == "video"
    heic = tmp_path / "photo.heic"
    heic.write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64)
    with pytest.raises(MediaError, match="HEIF/AVIF still images are not supported"):
        sniff_kind(heic)
    bm_text = tmp_path / "bmw.bmp"
    bm_text.write_text("BMW is a car brand, not a bitmap header at all")
    with pytest.raises(MediaError, match="not a supported image or video"):
        sniff_kind(bm_text)


# --------------------------------------------------------------------------- images


def _save(img: Image.Image, path: Path, **kw) -> Path:
    img.save(path, **kw)
    return path


def test_image_source_yields_one_frame(tmp_path):
    p = _save(Image.new("RGB", (30, 20), (10, 200, 30)), tmp_path / "x.png")
    src = open_media(p, Sampling("even", n=32))
    assert src.info == MediaInfo(path=str(p), kind="image", width=30, height=20, codec="png")
    frames = list(src)
    assert len(frames) == 1 and frames[0].index == 0 and frames[0].time == 0.0
    assert frames[0].image.shape == (20, 30, 3) and tuple(frames[0].image[0, 0]) == (10, 200, 30)
    assert src.warnings == []


def test_exif_orientation_applied(tmp_path):
    img = Image.new("RGB", (40, 20), (0, 0, 0))
    img.paste((255, 255, 255), (0, 0, 8, 20))  # white stripe on the left edge
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    p = _save(img, tmp_path / "o6.jpg", exif=exif.tobytes(), quality=95)
    arr = load_image(p)
    assert arr.shape == (40, 20, 3)
    assert arr[:6].mean() > 200 and arr[-6:].mean() < 50  # left edge is now on top
    info = probe(p)
    assert (info.width, info.height, info.rotation) == (20, 40, 90)


@pytest.mark.parametrize(
    ("mode", "color", "fmt", "expected"),
    [
        ("L", 77, "PNG", (77, 77, 77)),
        ("1", 1, "PNG", (255, 255, 255)),
        ("RGB", (1, 2, 3), "BMP", (1, 2, 3)),
        ("RGB", (9, 120, 250), "TIFF", (9, 120, 250)),
        ("RGB", (9, 120, 250), "WEBP", (9, 120, 250)),
        ("LA", (100, 255), "PNG", (100, 100, 100)),
    ],
)
def test_image_modes_become_rgb_uint8(tmp_path, mode, color, fmt, expected):
    kw = {"lossless": True} if fmt == "WEBP" else {}
    p = _save(Image.new(mode, (16, 12), color), tmp_path / f"img.{fmt.lower()}", format=fmt, **kw)
    arr = load_image(p)
    assert arr.shape == (12, 16, 3) and arr.dtype == np.uint8
    assert np.abs(arr.astype(int) - np.array(expected)).max() <= 2


def test_rgba_composited_over_white(tmp_path):
    img = Image.new("RGBA", (3, 1))
    img.putdata([(0, 0, 255, 0), (255, 0, 0, 255), (0, 0, 0, 128)])  # transparent, opaque, half
    arr = load_image(_save(img, tmp_path / "a.png"))
    assert tuple(arr[0, 0]) == (255, 255, 255)
    assert tuple(arr[0, 1]) == (255, 0, 0)
    assert all(abs(int(v) - 127) <= 2 for v in arr[0, 2])


def test_palette_with_transparency(tmp_path):
    img = Image.new("P", (4, 1))
    img.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * (256 * 3 - 9))
    img.putdata([0, 1, 2, 1])
    p = _save(img, tmp_path / "p.png", transparency=0)
    with Image.open(p) as check:
        assert check.mode == "P" and "transparency" in check.info
    arr = load_image(p)
    assert [tuple(px) for px in arr[0]] == [(255, 255, 255), (255, 0, 0), (0, 255, 0), (255, 0, 0)]
    opaque = load_image(_save(img, tmp_path / "p2.gif"))
    assert tuple(opaque[0, 1]) == (255, 0, 0)


def test_16bit_png_scaled_not_clipped(tmp_path):
    data = np.array([[0, 257, 32768, 65535]], dtype=np.uint16)
    p = _save(Image.fromarray(data), tmp_path / "deep.png")
    with Image.open(p) as check:
        assert check.mode.startswith("I")
    arr = load_image(p)
    assert arr.shape == (1, 4, 3)
    assert arr[0, :, 0].tolist() == [0, 1, 128, 255]


def test_16bit_big_endian_and_float_tiff(tmp_path):
    raw = np.array([[0, 1000, 65535]], dtype=">u2")
    big = Image.frombytes("I;16B", (3, 1), raw.tobytes())
    arr = load_image(_save(big, tmp_path / "be.tif"))
    assert arr[0, :, 0].tolist() == [0, 4, 255]
    f = Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32), mode="F")
    arr = load_image(_save(f, tmp_path / "f.tif"))
    assert arr[0, :, 0].tolist() == [0, 128, 255] and arr.shape == (1, 3, 3)


def test_cmyk_jpeg(tmp_path):
    p = _save(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), tmp_path / "cmyk.jpg", quality=95)
    with Image.open(p) as check:
        assert check.mode == "CMYK"
    arr = load_image(p)
    assert arr.shape == (16, 16, 3)
    r, g, b = arr[8, 8].tolist()
    assert r > 200 and g < 60 and b < 60  # red


def test_bad_images(tmp_path):
    good = _save(
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)), tmp_path / "good.png"
    )
    cut = tmp_path / "cut.png"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(MediaError, match=r"cut\.png: truncated"):
        load_image(cut)
    jcut = tmp_path / "cut.jpg"
    data = _save(
        Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), np.uint8)), tmp_path / "g.jpg"
    ).read_bytes()
    jcut.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError, match="cut.jpg"):
        load_image(jcut)
    text = tmp_path / "text.jpg"
    text.write_text("hello")
    with pytest.raises(MediaError, match=r"text\.jpg: not a readable image"):
        load_image(text)


def test_large_image_loads_and_too_large_refused(tmp_path):
    big = _save(Image.new("1", (8000, 8000), 1), tmp_path / "big.png")
    assert big.stat().st_size < 200_000
    arr = load_image(big)
    assert arr.shape == (8000, 8000, 3) and arr.dtype == np.uint8 and arr[4000, 4000, 0] == 255
    del arr
    huge = _save(Image.new("1", (12000, 9000), 0), tmp_path / "huge.png")
    assert 12000 * 9000 > MAX_PIXELS
    with pytest.raises(MediaError, match=r"huge\.png: image too large \(12000x9000"):
        load_image(huge)
    with pytest.raises(MediaError, match="too large"):
        open_media(huge)
