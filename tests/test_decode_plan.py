"""Planned decoding (issue 14): the same frames and pixels as a full sequential decode, with less decoded;
``keyframes`` sampling."""

from __future__ import annotations

import fractions

import av
import numpy as np
import pytest

from fakescope.media import Sampling, VideoReader


def _clip(path, n=150, gop=25, bframes=3, codec="libx264"):
    rng = np.random.default_rng(1)
    tex = rng.integers(0, 255, (160, 224, 3), dtype=np.uint8)
    with av.open(str(path), "w") as out:
        opts = {"g": str(gop), "bf": str(bframes), "preset": "veryfast"}
        if codec == "libx264":
            opts["x264-params"] = f"keyint={gop}:min-keyint={gop}:scenecut=0:b-pyramid=normal"
        s = out.add_stream(codec, rate=25, options=opts)
        s.width, s.height, s.pix_fmt = 192, 128, "yuv420p"
        for i in range(n):
            img = np.roll(tex, (i * 3) % 160, axis=0)[:128, (i % 32):(i % 32) + 192].copy()
            img[:20, : 2 * i % 192] = 255  # frame-specific content
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts, f.time_base = i, fractions.Fraction(1, 25)
            out.mux(s.encode(f))
        out.mux(s.encode(None))
    return path


def _read(path, sampling, monkeypatch, plan: bool):
    monkeypatch.setenv("FAKESCOPE_DECODE_PLAN", "1" if plan else "0")
    r = VideoReader(path, Sampling.parse(sampling))
    return list(r), r


@pytest.mark.parametrize("sampling", ["even:32", "even:5", "every:7", "even:150"])
def test_planned_decode_equals_sequential(tmp_path, monkeypatch, sampling):
    path = _clip(tmp_path / "b.mp4")
    planned, rp = _read(path, sampling, monkeypatch, True)
    full, rf = _read(path, sampling, monkeypatch, False)
    monkeypatch.setenv("FAKESCOPE_DECODE_PLAN", "1")
    assert rp._plan() is not None  # the planned path really ran
    assert [f.index for f in planned] == [f.index for f in full] and planned
    assert [f.time for f in planned] == pytest.approx([f.time for f in full], abs=1e-9)
    for a, b in zip(planned, full, strict=True):
        assert np.array_equal(a.image, b.image), a.index
    assert rf.frames_decoded == 150
    if sampling in ("even:5", "every:7"):  # sparse samples: less than every frame was decoded
        assert rp.frames_decoded < 150
    assert rp.warnings == rf.warnings == []


def test_keyframes_sampling(tmp_path, monkeypatch):
    path = _clip(tmp_path / "k.mp4")
    frames, r = _read(path, "keyframes", monkeypatch, True)
    assert [f.index for f in frames] == [0, 25, 50, 75, 100, 125]  # every keyframe (GOP 25)
    assert r.frames_decoded == 6  # and nothing else was decoded
    full, _ = _read(path, "all", monkeypatch, False)
    for f in frames:
        assert np.array_equal(f.image, full[f.index].image)
    two, _ = _read(path, "keyframes:2", monkeypatch, True)
    assert [f.index for f in two] == [0, 125]
    assert Sampling.parse("keyframes:2").describe() == "keyframes:2" and Sampling.parse("keyframes").n == 0


def test_open_gop_or_no_plan_falls_back(tmp_path, monkeypatch):
    """A stream whose packets cannot be planned safely (here: VP9 in WebM, no B-frame reordering but
    no pts issue) still gives the sequential result."""
    path = _clip(tmp_path / "v.webm", codec="libvpx-vp9", bframes=0)
    planned, _ = _read(path, "even:9", monkeypatch, True)
    full, _ = _read(path, "even:9", monkeypatch, False)
    assert [f.index for f in planned] == [f.index for f in full]
    for a, b in zip(planned, full, strict=True):
        assert np.array_equal(a.image, b.image)
