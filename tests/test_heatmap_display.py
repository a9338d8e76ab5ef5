"""Heatmaps that do not mislead, and images laid out as images (issue 15)."""

from __future__ import annotations

import numpy as np
import pytest

from fakescope.pipeline import Analyzer
from fakescope.render.artifacts import display_max, to_display, write_artifacts


@pytest.fixture(scope="module")
def image_result(samples):
    pytest.importorskip("fakescope.explainers")
    return Analyzer(model="meso4", explain=("gradcam", "saliency")).analyze(samples / "multi_face.jpg")


def test_shared_scale_per_method_with_colour_bar_labels_and_raw_maps(image_result, tmp_path):
    result = image_result
    assert len({e["track_id"] for e in result._explained}) >= 2
    write_artifacts(result, tmp_path, annotate=True, report=True)
    for method in ("gradcam", "saliency"):
        recs = [r for r in result.explanations if r.method == method]
        maps = [e["maps"][method] for e in result._explained]
        shared = display_max(maps)
        assert all(r.display_max == pytest.approx(shared) for r in recs)  # one scale for every face
        own = [display_max([m]) for m in maps]
        assert min(own) < shared  # a face with weaker evidence is drawn weaker, not saturated like the strongest
        weakest = maps[int(np.argmin(own))]
        assert to_display(weakest, shared).mean() < to_display(weakest).mean()
        for r, e in zip(recs, result._explained, strict=True):  # the raw maps are kept unscaled
            assert np.array_equal(np.load(tmp_path / r.map), e["maps"][method])
    html = (tmp_path / "report.html").read_text()
    assert html.count("alt='colour scale'") == 2 and "shared by all its faces" in html
    assert "<b>face</b>" in html and "<b>gradcam</b>" in html and "<b>saliency</b>" in html  # column labels
    # per-face scaling on request: each face reaches full colour on its own
    result2 = Analyzer(model="meso4", explain=("gradcam",)).analyze(result.input.path)
    write_artifacts(result2, tmp_path / "face", annotate=False, report=True, heatmap_scale="face")
    assert len({r.display_max for r in result2.explanations}) == len(result2.explanations)
    assert "alt='colour scale'" not in (tmp_path / "face" / "report.html").read_text()


def test_annotated_frames_say_which_method_they_show(image_result):
    from fakescope.media import load_image
    from fakescope.render.annotate import _paths, draw_frame

    img = load_image(image_result.input.path)
    paths = _paths(image_result)
    heat = {(image_result.frames[0].index, tid): np.full((64, 64), 0.5, np.float32) for tid in paths}
    plain = draw_frame(img, 0, image_result, paths, heat, 1.0)
    labelled = draw_frame(img, 0, image_result, paths, heat, 1.0, caption="heatmap: gradcam")
    assert not np.array_equal(plain[:20, :60], labelled[:20, :60])  # the caption band in the corner
    assert np.array_equal(plain[-20:, -20:], labelled[-20:, -20:])
    # a frame that carries no heatmap carries no heatmap caption either (issue 22)
    bare = draw_frame(img, 0, image_result, paths, {}, 1.0, caption="heatmap: gradcam")
    assert np.array_equal(bare, draw_frame(img, 0, image_result, paths, {}, 1.0))


def test_image_report_has_an_image_layout(image_result, tmp_path):
    write_artifacts(image_result, tmp_path, annotate=False, report=True)
    html = (tmp_path / "report.html").read_text()
    assert "<h2>Timeline</h2>" not in html and "<th>span</th>" not in html
    assert "0.00–0.00" not in html and "t=0.00 s" not in html
    assert "word-break:keep-all" in html  # headers wrap between words, never inside one



# ------------------------------------------------------------------ mutation testing, 2026-12-07 (issue 21)


def test_every_sampling_describes_itself_as_it_is_written():
    from fakescope.media import Sampling

    for text in ("even:8", "every:5", "all", "keyframes", "keyframes:3"):
        assert Sampling.parse(text).describe() == text


def test_heatmap_file_names_keep_only_safe_characters():
    from fakescope.render.artifacts import _safe

    assert _safe("gradcam++") == "gradcam++" and _safe("Ig.v2-b_x") == "Ig.v2-b_x"
    assert _safe("a/b c:é") == "a_b_c__"


def test_by_default_the_pictures_are_the_annotated_image_and_the_report_with_progress(image_result, tmp_path):
    seen = []
    write_artifacts(image_result, tmp_path, progress=lambda *a: seen.append(a))
    assert (tmp_path / "annotated.png").is_file() and (tmp_path / "report.html").is_file()
    assert not (tmp_path / "report.pdf").exists()  # a PDF only when asked
    assert image_result.artifacts["annotated"] == "annotated.png"
    assert seen and seen[0][:2] == (0, None)  # an image: no frame count to follow
    with pytest.raises(ValueError) as e:
        write_artifacts(image_result, tmp_path, heatmap_scale="max")
    assert str(e.value) == "heatmap_scale must be one of shared, face, not 'max'"


def test_maps_without_positive_evidence_show_nothing():
    assert display_max([]) == 0.0  # nothing explained: nothing to scale
    assert display_max([np.full((4, 4), -2.0)]) == 0.0  # only evidence against: a zero scale, not a negative one
    for m in (np.zeros((3, 5)), np.full((3, 5), -1.0)):
        shown = to_display(m)
        assert shown.shape == (3, 5) and not shown.any()
