"""Issue 22: what the evidence means, in words — a headline and a next step for every verdict, the caveat on
every REAL, heatmaps the measurement flags kept out of the evidence, a report that reads the same on its own
(key frames embedded, no links to files that may not travel), labels that fit the frame, model cards that sum
up in one sentence."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from fakescope.cards import card_html, load_card, summary_line
from fakescope.pipeline import Analyzer
from fakescope.render.annotate import COLOURS, draw_frame, key_frame_indices
from fakescope.render.artifacts import write_artifacts
from fakescope.render.report import render_report
from fakescope.rules import TrackEvidence, calibrated_rule
from fakescope.wording import NEXT_STEPS, REAL_CAVEAT, describe, headline


@pytest.fixture(scope="module")
def photo_result(samples):
    return Analyzer().analyze(samples / "multi_face.jpg")


def _as(result, label: str, **track):
    """A copy of ``result`` whose verdict (and first identity) says ``label``; the sentences rewritten."""
    r = result.model_copy(deep=True)
    t = r.tracks[0]
    for k, v in {"label": label, **track}.items():
        setattr(t, k, v)
    r.verdict.label = label
    r.verdict.fake_tracks = [t.id] if label == "fake" else []
    return describe(r)


def test_every_verdict_has_a_headline_and_a_next_step(photo_result, samples):
    r = photo_result
    assert r.verdict.label == "uncertain"
    assert r.verdict.headline.startswith("Cannot tell:") and "image" in r.verdict.headline
    assert r.verdict.next_step == NEXT_STEPS["uncertain"] and r.verdict.caveat is None
    none = Analyzer().analyze(samples / "no_face.mp4")
    assert none.verdict.label == "inconclusive" and none.verdict.headline.startswith("No face found")
    assert none.verdict.next_step.startswith("What you can do next")
    real = _as(r, "real")
    assert real.verdict.headline.startswith("No sign of manipulation found by these detectors; this is not proof")
    assert real.verdict.caveat == REAL_CAVEAT and real.verdict.next_step == NEXT_STEPS["real"]


def test_a_fake_headline_says_what_it_rests_on(photo_result):
    r = _as(photo_result, "fake", n_faces=32, share_above=27 / 32, model_scores={"a": 0.9, "b": 0.8})
    assert r.verdict.headline == f"Likely manipulated: 2 detectors agree on 27 of 32 faces of person #{r.tracks[0].id}."
    one = _as(photo_result, "fake", n_faces=32, share_above=27 / 32, model_scores={"a": 0.9, "b": 0.5})
    assert one.verdict.headline.startswith("Likely manipulated: the detector finds signs of manipulation in 27 of 32")
    assert r.verdict.next_step == NEXT_STEPS["fake"]


@pytest.mark.parametrize(
    ("reason", "too_few", "start"),
    [("the models disagree (a 0.9, b 0.1)", False, "Cannot tell: the detectors disagree"),
     ("leans fake (...), but 3 of 4 faces are blurry or small, where", False, "Cannot tell: most faces are too blurry"),
     ("only 1 face(s); at least 3 needed for a verdict", True, "Cannot tell: the faces were seen too few times")],
)
def test_uncertain_headlines_name_the_cause(photo_result, reason, too_few, start):
    r = photo_result.model_copy(deep=True)
    for t in r.tracks:
        t.reason, t.too_few_faces = reason, too_few
    assert headline(r).startswith(start)


def test_no_real_without_the_caveat_in_the_report(photo_result):
    html = render_report(_as(photo_result, "real"))
    assert "id='caveat'" in html and "This is not proof that the file is authentic" in html
    assert html.index("id=\"headline\"") < html.index("id='caveat'") < html.index("id=\"verdict\"")
    assert "id='caveat'" not in render_report(photo_result)
    assert "id=\"next-step\"" in html and NEXT_STEPS["real"].split(":")[0] in html


def test_a_comparison_in_a_reason_is_true_as_printed():
    z = 2 * np.log(0.6504 / 0.3496)
    o = calibrated_rule(TrackEvidence(logits=np.array([z]), is_video=False))
    assert o.label == "fake" and o.reason.startswith("P(fake) 0.6504 [") and o.reason.endswith("> 0.65")
    z = 2 * np.log(0.3499 / 0.6501)
    o = calibrated_rule(TrackEvidence(logits=np.array([z]), is_video=False))
    assert o.label == "real" and o.reason.startswith("P(fake) 0.3499 [")


def test_flagged_heatmaps_are_hidden_behind_their_warning(photo_result):
    crop = np.zeros((32, 32, 3), np.uint8)
    faces = [{"crop": crop, "overlays": {"gradcam": crop, "saliency": crop}, "track_id": 0, "time": 0.0,
              "p_fake": 0.7, "why": "most fake",
              "checks": {"gradcam": {"faithfulness": 5.35, "flags": ["no_better_than_random"]},
                         "saliency": {"faithfulness": 1.2, "flags": []}}},
             {"crop": crop, "overlays": {"gradcam": crop}, "track_id": 1, "time": 0.0, "p_fake": 0.1,
              "why": "typical", "checks": {"gradcam": {"faithfulness": 0.3, "flags": []}}}]  # fmt: skip
    html = render_report(photo_result, faces)
    hidden = re.findall(r"<span class='cell flagged'><b>(\w+)</b><details><summary>⚑ hidden: not evidence", html)
    assert hidden == ["gradcam"]
    shown = re.findall(r"<span class='cell'><b>(\w+)</b><img alt='\w+ heatmap'", html)
    assert shown == ["saliency", "gradcam"]  # the unflagged map of the first face, the second face's map
    assert "+5.35 logit vs random patches" in html and "not evidence: no better than random" in html
    assert "typical face of an identity judged real" in html and "not evidence of manipulation" in html
    assert "The heatmaps are of" in html and "the verdict combines all of them" in html


def test_a_video_report_stands_alone(samples, tmp_path):
    result = Analyzer(sampling="even:6").analyze(samples / "single_face.mp4")
    write_artifacts(result, tmp_path, annotate=True, report=True)
    html = (tmp_path / "report.html").read_text()
    assert "next to this report" not in html and "href='annotated.mp4'" not in html
    keys = re.findall(r"<img class='keyframe' alt='annotated frame (\d+)' src='data:image/png;base64,", html)
    assert [int(k) for k in keys] == key_frame_indices(result) and keys
    srcs = re.findall(r"src=['\"]([^'\"]+)", html)
    assert srcs and all(s.startswith("data:") for s in srcs)  # nothing outside the file
    assert not re.findall(r"href=['\"](?!https?:|#)", html)


def test_key_frames_are_each_identitys_most_suspicious_face(photo_result):
    r = photo_result.model_copy(deep=True)
    assert key_frame_indices(r) == [r.frames[0].index]
    r.frames = []
    assert key_frame_indices(r) == []


def test_labels_fit_the_frame_and_are_readable_at_1080p(photo_result):
    r = photo_result.model_copy(deep=True)
    r.frames = r.frames[:1]
    r.frames[0].faces = r.frames[0].faces[:1]
    face = r.frames[0].faces[0]
    face.box = [1800.0, 500.0, 1900.0, 600.0]  # at the right edge of a 1920×1080 frame
    r.tracks = [t for t in r.tracks if t.id == face.track_id]
    from fakescope.render.annotate import _paths

    img = np.zeros((1080, 1920, 3), np.uint8)
    out = draw_frame(img, r.frames[0].index, r, _paths(r), {}, 1.0, caption="heatmap: x")
    colour = np.array(COLOURS[r.tracks[0].label])
    ys, xs = np.nonzero((out[:500] == colour).all(axis=2))  # the label band above the box
    assert xs.size and xs.max() <= 1919 and xs.min() < 1800  # moved left to stay inside
    assert ys.max() - ys.min() + 1 >= 24  # at least ~2 % of the frame height
    assert not out[:40, :200].any()  # no heatmap drawn: no heatmap banner either


def test_model_cards_sum_up_in_one_sentence_and_lead_with_measurements():
    card = load_card("mesoinception4", "df")
    line = summary_line(card)
    assert line == ("On held-out data, this detector found 4 of 18 deepfakes (11 more were called uncertain) and "
                    "judged 1 of 36 real inputs fake (25 uncertain).")
    html = card_html(card)
    assert html.index(line) < html.index("Measured here") < html.index("Published by the authors")
    assert "1 judged fake, 25 uncertain, of 36" in html and "1 / 25 of 36" not in html
    assert summary_line({"measured": []}) is None


def test_weights_list_gives_sizes_in_words_and_a_published_accuracy(tmp_path, monkeypatch):
    import json

    from typer.testing import CliRunner

    from fakescope.cli import app

    monkeypatch.setenv("FAKESCOPE_HOME", str(tmp_path))
    rows = json.loads(CliRunner().invoke(app, ["weights", "list", "--json"]).output)
    assert rows and all(r["size"].endswith(("MB", "kB", " B")) or r["size"].startswith("not published")
                        for r in rows)  # fmt: skip
    by_name = {r["name"]: r for r in rows}
    assert by_name["deepfakebench-meso4"]["accuracy"] == "frame AUC 0.91 on DF-1.0 (authors')"
    assert by_name["dfdc-winner-b7"]["accuracy"].startswith("rank 1st of 2,116 teams")
    out = CliRunner().invoke(app, ["weights", "list"], env={"COLUMNS": "250"}).output
    assert "published accuracy" in out and "size (bytes)" not in out


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Debian's Chromium")
def test_the_report_reads_in_a_browser_at_1280_and_390_px(photo_result, tmp_path):
    """report.html in Chromium: headline and caveat visible, identities headers whole, screenshots kept."""
    from conftest import CHROMIUM_ARGS
    from playwright.sync_api import sync_playwright

    real = _as(photo_result, "real")
    page_file = tmp_path / "report.html"
    page_file.write_text(render_report(real))
    shots = Path(__file__).resolve().parent.parent / "bench" / "out"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            for width in (1280, 390):
                page = browser.new_page(viewport={"width": width, "height": 900})
                page.goto(page_file.as_uri())
                assert page.locator("#headline").is_visible() and page.locator("#caveat").is_visible()
                assert "not proof" in page.locator("#caveat").inner_text()
                cut = page.evaluate("() => [...document.querySelectorAll('#identities th')]"
                                    ".filter(th => th.scrollWidth > th.clientWidth + 1).map(th => th.innerText)")
                assert cut == [], (width, cut)
                wide = page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
                assert wide, f"the page scrolls sideways at {width} px"
                page.screenshot(path=str(shots / f"report-{width}.png"), full_page=True)
                page.close()
        finally:
            browser.close()


def test_explanations_follow_the_member_that_drives_the_verdict(samples):
    r = Analyzer(explain=("saliency",), explain_per_track=1).analyze(samples / "multi_face.jpg")
    assert r.verdict.label == "uncertain" and len(r.settings.models) == 2
    deciding = max((t for t in r.tracks if t.label == "uncertain"), key=lambda t: t.score or 0.0)
    top = max(deciding.model_scores, key=deciding.model_scores.get)
    assert {e.model for e in r.explanations} == {top}
    from fakescope.render.report import explained_model_note

    note = explained_model_note(r)
    assert note.startswith(f"The heatmaps are of {top} — of the ensemble's 2 models")
    assert "the one that scored the deciding identity highest" in note
