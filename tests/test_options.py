"""Every documented option takes effect (issue 16): run with a non-default value, each test asserts the
recorded setting AND a visible effect on the result, against a default run of the same input.

The Python API is used where the CLI adds nothing; the CLI tests run many options at once and check
that each one reached the analysis. Inputs are small: the 5-face photo, 3–6 frames of the short clip,
the MesoNet authors' four test faces.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from fakescope import Analyzer as _Analyzer
from fakescope.cli import app
from fakescope.faces.crop import crop_face
from fakescope.media import load_image
from fakescope.models import create_model
from fakescope.rules import judge_track
from fakescope.tracking import iou

# These wiring tests check each option against the seed's simple setup (one model, raw scores, rule
# "share"), where an option's effect is computable by hand; the calibrated default is tested in
# tests/test_trust.py and tests/test_calibration.py.
LEGACY = {"model": "mesoinception4", "calibration": "none", "rule": "share"}


def Analyzer(**kw):  # noqa: N802  (stands in for the class)
    return _Analyzer(**{**LEGACY, **kw})

runner = CliRunner()
FACES = Path(__file__).parent / "data" / "mesonet" / "test_images"


def cli(*args, code: int = 0):
    r = runner.invoke(app, [str(a) for a in args])
    assert r.exit_code == code, r.output
    return r


def faces(result) -> list:
    return [f for fr in result.frames for f in fr.faces]


def logits(result) -> np.ndarray:
    return np.array([f.logit for f in faces(result)])


def boxes(result) -> np.ndarray:
    return np.array([f.box for f in faces(result)])


@pytest.fixture(scope="module")
def photo(samples) -> Path:
    return samples / "multi_face.jpg"  # 1000 × 667: detected at 640 px by default


@pytest.fixture(scope="module")
def base(photo):
    """The default analysis of the photo, and its analyzer."""
    a = Analyzer()
    return a, a.analyze(photo)


@pytest.fixture(scope="module")
def clip_base(samples):
    a = Analyzer(sampling="even:6")
    return a, a.analyze(samples / "single_face.mp4")


def _model_logits(model, crops: list[np.ndarray]) -> np.ndarray:
    x = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 255.0
    with torch.no_grad():
        return model(x).reshape(-1).numpy()


# --------------------------------------------------------------------------- analyze: Python API


def test_default_settings_are_recorded(photo):
    r = _Analyzer().analyze(photo)
    s = r.settings
    assert (s.margin, s.threshold, s.min_faces, s.rule, s.detect_max_side) == (0.3, 0.5, 1, "calibrated", 640)
    assert (s.model, s.weights, s.detector, s.backend, s.min_face_size) == ("mesoinception4,meso4", "df", "yunet",
                                                                             "torch", 24)
    assert s.band == [0.35, 0.65] and s.models == ["mesoinception4:df", "meso4:df"] and s.combine == "mean"
    assert len(faces(r)) == 5


def test_margin_changes_the_crops_the_model_scores(base, photo):
    a, r0 = base
    m = Analyzer(margin=0.0)
    r = m.analyze(photo)
    assert r.settings.margin == 0.0
    np.testing.assert_allclose(boxes(r), boxes(r0))  # same faces...
    image = load_image(photo)
    dets = m.detector.detect(image)
    for margin, result in ((0.0, r), (0.3, r0)):  # ...each scored on its own crop
        expected = _model_logits(m.model, [crop_face(image, d.box, 256, margin, padding="reflect", resize="cubic")
                                           for d in dets])  # MesoNet's own crop rule (ModelInfo)
        np.testing.assert_allclose(logits(result), expected, rtol=1e-4, atol=1e-4)
    assert np.abs(logits(r) - logits(r0)).max() > 0.05


@pytest.mark.parametrize("side", [None, 160])
def test_detect_size_changes_where_faces_are_found(base, photo, side):
    _, r0 = base
    r = Analyzer(detect_max_side=side).analyze(photo)
    assert r.settings.detect_max_side == side
    if side is None:  # full resolution: the same five faces, boxes a little different
        assert len(faces(r)) == 5
        assert 0.5 < np.abs(boxes(r) - boxes(r0)).max() < 20
        assert all(iou(a, b) > 0.7 for a, b in zip(boxes(r), boxes(r0), strict=True))
    else:  # 160 px: faces of ~25 detector pixels; fewer or coarser boxes
        b = boxes(r)
        assert len(b) != 5 or np.abs(b - boxes(r0)).max() > 2


def test_threshold_decides_each_face(base, photo):
    _, r0 = base
    assert {t.label for t in r0.tracks} == {"real", "fake"} or len(r0.tracks) == 5
    low = Analyzer(threshold=0.0).analyze(photo)
    assert low.settings.threshold == 0.0 and {t.label for t in low.tracks} == {"fake"}
    high = Analyzer(threshold=1.0).analyze(photo)
    assert high.settings.threshold == 1.0 and {t.label for t in high.tracks} == {"real"}
    assert high.verdict.label == "real" and low.verdict.label == "fake"
    # one in between: each face is fake exactly when its p_fake exceeds it
    p = sorted(f.p_fake for f in faces(r0))
    mid = (p[1] + p[2]) / 2
    r = Analyzer(threshold=mid).analyze(photo)
    got = {t.id: t.label for t in r.tracks}
    assert got == {f.track_id: ("fake" if f.p_fake > mid else "real") for f in faces(r)}
    assert sorted(got.values()).count("fake") == 3


def test_min_faces_on_an_image(photo):
    r = Analyzer(min_faces=2).analyze(photo)
    assert r.settings.min_faces == 2
    assert {t.label for t in r.tracks} == {"uncertain"} and r.verdict.label == "uncertain"
    assert all("at least 2 needed" in t.reason and t.too_few_faces for t in r.tracks)


def test_min_faces_on_a_video(clip_base, samples):
    _, r0 = clip_base
    assert r0.settings.min_faces == 3 and r0.tracks[0].label in ("real", "fake")
    r = Analyzer(sampling="even:6", min_faces=7).analyze(samples / "single_face.mp4")
    assert r.settings.min_faces == 7 and r.tracks[0].label == "uncertain" and r.tracks[0].n_faces == 6
    assert r.tracks[0].too_few_faces
    r = Analyzer(sampling="even:2", min_faces=2).analyze(samples / "single_face.mp4")
    assert r.tracks[0].label in ("real", "fake")  # the default (3) would leave 2 faces uncertain


@pytest.mark.parametrize("rule", ["mean", "confident"])
def test_rule_is_the_one_that_judges(clip_base, samples, rule):
    _, r0 = clip_base
    assert "faces have p_fake >" in r0.tracks[0].reason and r0.settings.rule == "share"
    r = Analyzer(sampling="even:6", rule=rule).analyze(samples / "single_face.mp4")
    t = r.tracks[0]
    probs = [f.p_fake for f in faces(r) if f.track_id == t.id]
    assert r.settings.rule == rule and len(probs) == 6
    if rule == "mean":
        assert t.reason.startswith("mean p_fake") and t.score == pytest.approx(np.mean(probs))
    else:
        assert t.reason.startswith("confident score")
        assert t.score == pytest.approx(judge_track(probs, "confident").score)
    assert r.verdict.score == pytest.approx(t.score)


def test_rule_params_reach_the_rule(photo):
    r = Analyzer(rule_params={"share": 1.0}).analyze(photo)  # "more than 100 %" never happens
    assert {t.label for t in r.tracks} == {"real"} and all("(≤ 100%)" in t.reason for t in r.tracks)


def test_frames_sampling(clip_base, samples):
    _, r0 = clip_base
    assert [f.index for f in r0.frames] == [0, 14, 28, 43, 57, 71]
    r = Analyzer(sampling="even:3").analyze(samples / "single_face.mp4")
    assert r.settings.sampling == "even:3" and [f.index for f in r.frames] == [0, 36, 71]


def test_detector_choice(base, photo):
    _, r0 = base
    r = Analyzer(detector="centerface").analyze(photo)
    assert r.settings.detector == "centerface" and len(faces(r)) == 5
    assert not np.array_equal(boxes(r), boxes(r0))
    assert all(iou(a, b) > 0.4 for a, b in zip(boxes(r), boxes(r0), strict=True))
    h = Analyzer(detector="haar").analyze(photo)
    assert h.settings.detector == "haar" and all(f.landmarks is None for f in faces(h))
    assert all(len(f.landmarks) == 5 for f in faces(r0))


def test_detector_thresholds(photo):
    r = Analyzer(min_face_size=400).analyze(photo)
    assert r.settings.min_face_size == 400 and r.n_faces == 0 and r.verdict.label == "inconclusive"
    assert Analyzer(det_threshold=1.0).analyze(photo).n_faces == 0


def test_model_and_weights(base, photo):
    _, r0 = base
    r = Analyzer(model="meso4").analyze(photo)
    assert (r.settings.model, r.settings.weights) == ("meso4", "df")
    np.testing.assert_allclose(boxes(r), boxes(r0))
    assert np.abs(logits(r) - logits(r0)).max() > 0.1
    u = Analyzer(weights=None).analyze(photo)
    assert u.settings.weights is None and not np.allclose(logits(u), logits(r0), atol=1e-3)


def test_batch_size_does_not_change_scores(base, photo):
    _, r0 = base
    r = Analyzer(batch_size=1).analyze(photo)
    np.testing.assert_allclose(logits(r), logits(r0), rtol=1e-5, atol=1e-5)


def test_bf16_scores_numerically_close_but_not_float32(base, photo):
    _, r0 = base
    r = Analyzer(bf16=True).analyze(photo)
    assert r.settings.backend == "torch-bf16"
    p, p0 = np.array([f.p_fake for f in faces(r)]), np.array([f.p_fake for f in faces(r0)])
    assert np.abs(p - p0).max() < 0.05  # bf16 keeps the scores (bench/RESULTS.md: ~1e-2)
    assert np.abs(logits(r) - logits(r0)).max() > 1e-5  # ...and really ran in bfloat16


def test_onnx_backend(base, photo, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKESCOPE_CACHE", str(tmp_path))
    _, r0 = base
    r = Analyzer(backend="onnx").analyze(photo)
    assert r.settings.backend == "onnxruntime" and list((tmp_path / "onnx").glob("mesoinception4-*.onnx"))
    np.testing.assert_allclose(logits(r), logits(r0), atol=1e-3)


def test_track_max_gap(samples, tmp_path):
    """A face missing from one sampled frame: one identity by default, two with track_max_gap=0."""
    img = np.asarray(Image.open(samples / "single_face.jpg").convert("RGB"))[:560, :570]
    path = tmp_path / "gap.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=5)
        s.width, s.height, s.pix_fmt = 570, 560, "yuv420p"
        for i in range(5):
            frame = np.zeros_like(img) if i == 2 else img
            for p in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    r = Analyzer(sampling="all", min_faces=1).analyze(path)
    assert [len(f.faces) for f in r.frames] == [1, 1, 0, 1, 1] and len(r.tracks) == 1
    r = Analyzer(sampling="all", min_faces=1, track_max_gap=0).analyze(path)
    assert len(r.tracks) == 2 and [t.n_faces for t in r.tracks] == [2, 2]


def test_explain_target_and_per_track(photo):
    kw = {"explain": ("saliency",), "explain_options": {"saliency": {"abs": False}}}
    fake = Analyzer(explain_per_track=1, **kw).analyze(photo)
    real = Analyzer(explain_per_track=1, explain_target="real", **kw).analyze(photo)
    assert {e.target for e in real.explanations} == {"real"} and {e.target for e in fake.explanations} == {"fake"}
    assert len(fake.explanations) == 5  # one per identity (each has one face)
    for ef, er in zip(fake._explained, real._explained, strict=True):
        m = ef["maps"]["saliency"]
        assert np.abs(m).max() > 0
        np.testing.assert_allclose(er["maps"]["saliency"], -m, rtol=1e-5, atol=1e-6 * np.abs(m).max())


def test_explain_per_track_keeps_the_most_fake_faces(samples):
    for rule in ("share", "calibrated"):  # explained faces: most fake unless the identity is real (then typical)
        r = Analyzer(sampling="even:6", explain=("gradcam",), explain_per_track=2, rule=rule,
                     calibration="default").analyze(samples / "single_face.mp4")
        assert len(r.explanations) == 2
        t = r.tracks[0]
        probs = sorted(f.p_fake for f in faces(r))
        if t.label in ("fake", "uncertain"):
            assert {e.why for e in r.explanations} == {"most fake"}
            assert sorted(e.p_fake for e in r.explanations) == pytest.approx(probs[-2:])
        else:
            target = t.score if t.score is not None else t.mean_p_fake
            closest = sorted(abs(p - target) for p in probs)[:2]
            assert {e.why for e in r.explanations} == {"typical"}
            assert sorted(abs(e.p_fake - target) for e in r.explanations) == pytest.approx(closest)


# ----------------------------------------------------------------------------------- analyze: CLI


@pytest.fixture(scope="module")
def cli_run(photo, tmp_path_factory):
    """One CLI run with many non-default options, and the API runs it should equal."""
    out = tmp_path_factory.mktemp("cli")
    cache = tmp_path_factory.mktemp("cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("FAKESCOPE_CACHE", str(cache))
    try:
        cli("analyze", photo, "--out", out, "--model", "mesoinception4", "--calibration", "none",
            "--margin", "0", "--detect-size", "0", "--threshold", "0.0",
            "--min-faces", "1", "--rule", "mean", "--annotate", "--no-report", "--batch-size", "2",
            "--backend", "onnx")
    finally:
        mp.undo()
    return out, json.loads((out / "multi_face" / "result.json").read_text())


def test_cli_options_are_recorded(cli_run):
    out, res = cli_run
    s = res["settings"]
    assert (s["margin"], s["detect_max_side"], s["threshold"], s["min_faces"], s["rule"], s["backend"]) == (
        0.0, None, 0.0, 1, "mean", "onnxruntime")
    summary = json.loads((out / "summary.json").read_text())["settings"]
    assert summary["batch_size"] == 2 and summary["margin"] == 0.0 and summary["detect_max_side"] is None


def test_cli_options_take_effect(cli_run, photo):
    out, res = cli_run
    ref = Analyzer(margin=0.0, detect_max_side=None).analyze(photo)  # the scores the options ask for
    got = [f for fr in res["frames"] for f in fr["faces"]]
    np.testing.assert_allclose([f["box"] for f in got], boxes(ref))
    np.testing.assert_allclose([f["logit"] for f in got], logits(ref), atol=1e-3)
    assert {t["label"] for t in res["tracks"]} == {"fake"}  # threshold 0
    assert all(t["reason"].startswith("mean p_fake") for t in res["tracks"])
    # --annotate without --explain: the annotated image, no heatmaps; --no-report: no report
    folder = out / "multi_face"
    assert res["artifacts"] == {"annotated": "annotated.png"} and res["explanations"] == []
    assert not (folder / "report.html").exists() and not (folder / "heatmaps").exists()
    drawn = np.asarray(Image.open(folder / "annotated.png").convert("RGB")).astype(int)
    plain = load_image(photo).astype(int)
    assert drawn.shape == plain.shape and np.abs(drawn - plain).max() > 100  # boxes drawn


def test_cli_defaults_write_a_report_and_no_annotation(photo, tmp_path):
    cli("analyze", photo, "--out", tmp_path)
    res = json.loads((tmp_path / "multi_face" / "result.json").read_text())
    assert res["artifacts"] == {"report": "report.html"} and (tmp_path / "multi_face" / "report.html").is_file()
    assert not (tmp_path / "multi_face" / "annotated.png").exists()


def test_cli_video_options(samples, tmp_path):
    cli("analyze", samples / "single_face.mp4", "--out", tmp_path, "--frames", "even:3", "--detector", "centerface",
        "--model", "meso4", "--bf16", "--explain", "saliency", "-E", "abs=false", "--explain-per-track", "1",
        "--no-annotate")
    res = json.loads((tmp_path / "single_face" / "result.json").read_text())
    s = res["settings"]
    assert (s["sampling"], s["detector"], s["model"], s["backend"]) == ("even:3", "centerface", "meso4", "torch-bf16")
    assert [f["index"] for f in res["frames"]] == [0, 36, 71]
    assert len(res["explanations"]) == 1 and res["explanations"][0]["method"] == "saliency"
    assert res["explanations"][0]["params"]["abs"] is False
    assert "annotated" not in res["artifacts"] and (tmp_path / "single_face" / res["explanations"][0]["map"]).is_file()


# ----------------------------------------------------------------------------------- explain: CLI


@pytest.fixture(scope="module")
def explained(tmp_path_factory):
    """`explain` on the two DF test faces, target fake and target real (batch size 1)."""
    base = tmp_path_factory.mktemp("explain")
    src = FACES / "df"
    cli("explain", src, "--methods", "saliency,gradcam", "-E", "saliency.abs=false", "--out", base / "fake")
    cli("explain", src, "--methods", "saliency,gradcam", "-E", "saliency.abs=false", "--out", base / "real",
        "--target", "real", "--batch-size", "1")
    return base


def test_explain_target_negates_signed_maps(explained):
    meta = json.loads((explained / "real" / "explanations.json").read_text())
    assert meta["target"] == "real" and meta["methods"]["saliency"]["params"]["abs"] is False
    for stem in ("df00204", "df01254"):
        fake = np.load(explained / "fake" / stem / "saliency.npy")
        real = np.load(explained / "real" / stem / "saliency.npy")
        assert np.abs(fake).max() > 0
        np.testing.assert_allclose(real, -fake, rtol=1e-4, atol=1e-5 * np.abs(fake).max())
        # Grad-CAM of the other logit is another map, not the same one
        assert not np.allclose(np.load(explained / "fake" / stem / "gradcam.npy"),
                               np.load(explained / "real" / stem / "gradcam.npy"), atol=1e-3)


def _csv_probs(path: Path) -> dict[str, float]:
    with open(path) as f:
        return {Path(r["path"]).stem: float(r["p_fake"]) for r in csv.DictReader(f)}


def test_explain_model_option(explained, tmp_path):
    cli("explain", FACES / "df", "--methods", "saliency", "--out", tmp_path, "--model", "meso4")
    got = _csv_probs(tmp_path / "explanations.csv")
    default = _csv_probs(explained / "fake" / "explanations.csv")
    from fakescope.explain_faces import face_tensor

    meso4 = create_model("meso4")
    for stem, p in got.items():
        x = face_tensor(np.asarray(Image.open(FACES / "df" / f"{stem}.jpg").convert("RGB")), 256)[None]
        with torch.no_grad():
            assert p == pytest.approx(torch.sigmoid(meso4(x)).item(), abs=1e-5)
        assert abs(p - default[stem]) > 1e-3


# ---------------------------------------------------------------------------------- evaluate: CLI


@pytest.fixture(scope="module")
def crops_csv(tmp_path_factory) -> Path:
    """The four MesoNet test faces as a faces.csv of two 2-face clips (fake, real), split test/val."""
    d = tmp_path_factory.mktemp("crops")
    rows = ["path,label,video,split"]
    for sub, label in (("df", "fake"), ("real", "real")):
        for i, p in enumerate(sorted((FACES / sub).glob("*.jpg"))):
            rows.append(f"{p},{label},{sub}_clip,{'test' if i == 0 else 'val'}")
    (d / "faces.csv").write_text("\n".join(rows) + "\n")
    (d / "extract.json").write_text(json.dumps({"margin": 0.3, "size": 256}))
    return d / "faces.csv"


def _evaluate(crops_csv, out, *args) -> dict:
    cli("evaluate", crops_csv, "--model", "mesoinception4", "--out", out, *args)
    return json.loads((out / "metrics.json").read_text())


def test_evaluate_options(crops_csv, tmp_path):
    d = _evaluate(crops_csv, tmp_path / "default")
    assert (d["threshold"], d["rule"], d["min_faces"], d["sbi_pseudo_fakes"]) == (0.5, "share", 1, False)
    assert d["frame"]["n"] == 4 and d["frame"]["confusion_matrix"] == [[2, 0], [0, 2]] and d["video"]["n"] == 2
    r = _evaluate(crops_csv, tmp_path / "opts", "--threshold", "0.999999", "--rule", "mean", "--min-faces", "2",
                  "--batch-size", "1")
    assert (r["threshold"], r["rule"], r["min_faces"]) == (0.999999, "mean", 2)
    assert r["frame"]["confusion_matrix"] == [[2, 0], [2, 0]]  # nothing is that fake
    assert r["video"]["decision_threshold"] == 0.999999 and r["video"]["n"] == 2
    with open(tmp_path / "opts" / "videos.csv") as f:
        assert {v["verdict"] for v in csv.DictReader(f)} == {"real"}
    assert r["frame"]["roc_auc"] == d["frame"]["roc_auc"]  # the scores themselves are unchanged
    few = _evaluate(crops_csv, tmp_path / "few", "--min-faces", "3")
    assert few["video"] is None  # every clip has 2 faces: all inconclusive


def test_evaluate_sbi_and_split(crops_csv, tmp_path):
    r = _evaluate(crops_csv, tmp_path / "sbi", "--sbi")
    assert r["sbi_pseudo_fakes"] is True and r["frame"]["n"] == 6 and "SBI" in r["per_manipulation"]
    s = _evaluate(crops_csv, tmp_path / "split", "--split", "test")
    assert s["frame"]["n"] == 2


# ------------------------------------------------------------------------------------ serve: CLI


def test_serve_options_reach_the_server(tmp_path, monkeypatch):
    pytest.importorskip("uvicorn")
    import uvicorn
    from fastapi.testclient import TestClient

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app_, **kw: seen.update(app=app_, **kw))
    token = "a-token-of-twenty-chars"
    cli("serve", "--host", "0.0.0.0", "--port", "8123", "--data-dir", tmp_path / "data", "--token", token,
        "--workers", "2", "--no-ui")
    assert (seen["host"], seen["port"]) == ("0.0.0.0", 8123)
    settings = seen["app"].state.settings
    assert settings.data_dir == (tmp_path / "data").resolve() and settings.workers == 2 and settings.ui is False
    with TestClient(seen["app"]) as client:
        assert client.get("/v1/rules").status_code == 401  # the token is required...
        ok = client.get("/v1/rules", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and {r["name"] for r in ok.json()} >= {"share", "mean", "confident"}
        assert client.get("/healthz").json()["workers"] == 2
        assert client.get("/ui/", follow_redirects=False).status_code == 404  # --no-ui
    assert (tmp_path / "data" / "jobs.sqlite3").is_file()
