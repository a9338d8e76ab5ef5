"""`analyze --explain`: heatmaps, the annotated video and the HTML report, on real media."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import CHROMIUM_ARGS
from typer.testing import CliRunner

import fakescope
from fakescope.batch import run_batch
from fakescope.cli import app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def explained_run(samples, tmp_path_factory):
    out = tmp_path_factory.mktemp("explained")
    analyzer = fakescope.Analyzer(sampling="even:8", explain=("gradcam", "saliency"), explain_per_track=2,
                                  explain_options={"saliency": {"abs": False}})
    items = run_batch([samples / "WolfgangLanger_Pexels.mp4", samples / "multi_face.jpg"], out, analyzer)
    assert all(it.ok for it in items), [it.error for it in items]
    return out, items


def test_explanations_recorded_and_written(explained_run):
    out, items = explained_run
    res = json.loads((out / "WolfgangLanger_Pexels" / "result.json").read_text())
    recs = res["explanations"]
    main_track = max(res["tracks"], key=lambda t: t["n_faces"])["id"]
    assert {r["method"] for r in recs} == {"gradcam", "saliency"}
    # the options each method ran with: per-method options reach their method only
    assert all(r["params"]["abs"] is False for r in recs if r["method"] == "saliency")
    assert all(r["params"]["backend"] == "fast" and "abs" not in r["params"] for r in recs if r["method"] == "gradcam")
    # at most 2 faces per identity: the highest-p_fake ones when the identity is fake or uncertain, else
    # the 2 whose p_fake is closest to the identity's score (the most typical)
    per_track = [r for r in recs if r["track_id"] == main_track and r["method"] == "gradcam"]
    assert len(per_track) == 2
    track = next(t for t in res["tracks"] if t["id"] == main_track)
    probs = [f["p_fake"] for fr in res["frames"] for f in fr["faces"] if f["track_id"] == main_track]
    if track["label"] in ("fake", "uncertain"):
        assert {r["why"] for r in per_track} == {"most fake"}
        assert sorted(r["p_fake"] for r in per_track) == pytest.approx(sorted(probs)[-2:])
    else:
        assert {r["why"] for r in per_track} == {"typical"}
        closest = sorted(probs, key=lambda p: abs(p - track["score"]))[:2]
        assert sorted(abs(r["p_fake"] - track["score"]) for r in per_track) == pytest.approx(
            sorted(abs(p - track["score"]) for p in closest))
    for r in recs:
        png, npy = out / "WolfgangLanger_Pexels" / r["overlay"], out / "WolfgangLanger_Pexels" / r["map"]
        assert png.is_file() and npy.is_file()
        m = np.load(npy)
        assert m.shape == (256, 256) and m.dtype == np.float32 and np.isfinite(m).all()
    assert res["artifacts"] == {"annotated": "annotated.mp4", "report": "report.html"}
    img = json.loads((out / "multi_face" / "result.json").read_text())
    assert img["artifacts"]["annotated"] == "annotated.png"
    assert len([r for r in img["explanations"] if r["method"] == "gradcam"]) == 5


def test_annotated_video_has_input_frame_count_and_size(explained_run, samples):
    out, _ = explained_run
    with av.open(str(samples / "WolfgangLanger_Pexels.mp4")) as c:
        n_in = sum(1 for _ in c.decode(video=0))
    with av.open(str(out / "WolfgangLanger_Pexels" / "annotated.mp4")) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "h264"
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == n_in == 472
    assert frames[0].shape == (360, 640, 3)
    # the annotation is really drawn: some pixels carry the verdict colour (pure-ish red or green)
    f = frames[len(frames) // 2].astype(int)
    red = (f[..., 0] > 200) & (f[..., 1] < 80) & (f[..., 2] < 80)
    green = (f[..., 1] > 170) & (f[..., 0] < 90) & (f[..., 2] < 120)
    assert red.sum() + green.sum() > 200


def test_report_is_self_contained(explained_run):
    out, _ = explained_run
    html = (out / "WolfgangLanger_Pexels" / "report.html").read_text()
    assert "<svg" in html and "identity #" in html
    assert html.count("data:image/png;base64,") >= 4  # crop + 2 methods for each explained face
    # nothing is loaded from elsewhere (the model card may cite its sources' addresses as text)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html and "url(http" not in html


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed (make test installs it)")
def test_report_renders_in_headless_chromium(explained_run, tmp_path):
    from playwright.sync_api import sync_playwright

    out, _ = explained_run
    report = out / "WolfgangLanger_Pexels" / "report.html"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
        )
        try:
            page = browser.new_page()
            page.goto(report.as_uri())
            assert page.locator("#headline").inner_text().split()[0] in ("REAL", "FAKE", "INCONCLUSIVE")
            sizes = page.eval_on_selector_all("img", "els => els.map(e => [e.complete, e.naturalWidth])")
            assert len(sizes) >= 4 and all(ok and w > 0 for ok, w in sizes)
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_cli_explain_on_face_images_and_csv(mesonet_faces, tmp_path):
    csv = tmp_path / "faces.csv"
    rows = ["path,label"] + [f"{p},{p.parent.name}" for p in sorted(mesonet_faces.rglob("*.jpg"))] + ["missing.jpg,x"]
    csv.write_text("\n".join(rows) + "\n")
    r = CliRunner().invoke(app, ["explain", str(csv), "--methods", "gradcam,ig", "--out", str(tmp_path / "o")])
    assert r.exit_code == 1  # the missing image fails, the four faces are explained
    assert "missing.jpg" in r.output
    for stem in ("df00204", "real00772"):
        for name in ("gradcam.png", "ig.npy", "montage.png"):
            assert (tmp_path / "o" / stem / name).is_file()
    lines = (tmp_path / "o" / "explanations.csv").read_text().splitlines()
    assert len(lines) == 6 and lines[0].startswith("path,status,p_fake,gradcam,ig")
    r = CliRunner().invoke(app, ["explain", str(mesonet_faces / "df"), "--methods", "nosuch"])
    assert r.exit_code == 2 and "unknown explainer" in r.output


def test_cli_explainer_options(mesonet_faces, tmp_path):
    """-E KEY=VALUE reaches every chosen method that has the option; METHOD.KEY=VALUE only that one;
    what ran (with "auto" values resolved) is recorded in explanations.json."""
    out = tmp_path / "o"
    r = CliRunner().invoke(app, ["explain", str(mesonet_faces / "df"), "--methods", "ig,gradcam", "--out", str(out),
                                 "-E", "bf16=true", "-E", "ig.n_steps=4", "-E", "ig.baseline=blurred"])
    assert r.exit_code == 0, r.output
    meta = json.loads((out / "explanations.json").read_text())["methods"]
    assert meta["ig"]["params"]["n_steps"] == 4 and meta["ig"]["params"]["baseline"] == "blurred"
    assert meta["ig"]["params"]["bf16"] is True and meta["gradcam"]["params"]["bf16"] is True
    assert meta["ig"]["params"]["internal_batch_size"] == 8  # "auto" on a CPU
    for args, message in [
        (["-E", "n_samples=5"], "'n_samples' is not accepted by ig, gradcam"),
        (["-E", "lime.n_samples=5"], "'lime' is not among the chosen methods"),
        (["-E", "n_steps"], "is not KEY=VALUE"),
        (["-E", "ig.internal_batch_size=0"], "internal_batch_size must be a positive integer or 'auto'"),
    ]:
        r = CliRunner().invoke(app, ["explain", str(mesonet_faces / "df"), "--methods", "ig,gradcam",
                                     "--out", str(tmp_path / "bad"), *args])
        assert r.exit_code == 2, (args, r.output)
        assert message in r.output, (args, r.output)
