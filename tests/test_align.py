"""Five-landmark face alignment of the published detectors (issue 26: "the preprocessing must be each paper's
own: their face alignment and margin") — fakescope.faces.align, the crop stage and the heatmap overlay.

The template numbers are worked out by hand from the originals' arithmetic (yermandy/GenD detector.py
``align_face``; DeepfakeBench preprocessing ``img_align_crop``), at their 256-px output and scale 1.3."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fakescope.faces.align import ALIGN_SIZE, align_face, align_matrix, crop_matrix, five_points, template
from fakescope.stages.crop import CropStage


def _similar(points: np.ndarray, deg: float = 17.0, scale: float = 0.6, shift=(300.0, 120.0)) -> np.ndarray:
    a = np.deg2rad(deg)
    r = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) * scale
    return points @ r.T + np.asarray(shift)


def test_templates_are_the_originals_at_256_px_and_scale_1_3():
    # GenD: (t·256 + 256·0.15) / 1.3 — left eye (0.34, 0.46), mouth right (0.63, 0.82)
    g = template("gend")
    assert g[0] == pytest.approx([(0.34 * 256 + 38.4) / 1.3, (0.46 * 256 + 38.4) / 1.3])
    assert g[4] == pytest.approx([(0.63 * 256 + 38.4) / 1.3, (0.82 * 256 + 38.4) / 1.3])
    # DeepfakeBench: ArcFace's 112-px template, x + 8, scaled to 256, then the same margin
    d = template("deepfakebench")
    assert d[0] == pytest.approx([((30.2946 + 8) * 256 / 112 + 38.4) / 1.3, (51.6963 * 256 / 112 + 38.4) / 1.3])
    assert d[2] == pytest.approx([((48.0252 + 8) * 256 / 112 + 38.4) / 1.3, (71.7366 * 256 / 112 + 38.4) / 1.3])
    with pytest.raises(ValueError, match="unknown alignment"):
        template("dlib")


@pytest.mark.parametrize("mode", ["gend", "deepfakebench"])
def test_the_transform_puts_the_landmarks_on_the_template_whatever_the_detector_order(mode):
    t = template(mode)
    frame_pts = _similar(t)  # a face rotated 17°, 0.6× the aligned size, elsewhere in the frame
    yunet_order = frame_pts[[1, 0, 2, 4, 3]]  # YuNet lists the person's right eye (image-left) second
    for pts in (frame_pts, yunet_order):
        m = align_matrix(pts, mode)
        assert np.abs(np.c_[frame_pts, np.ones(5)] @ m.T - t).max() < 1e-3
    # a rotation is undone: the eyes of the aligned face are level
    m = align_matrix(yunet_order, mode)
    eyes = np.c_[frame_pts[:2], np.ones(2)] @ m.T
    assert abs(eyes[0, 1] - eyes[1, 1]) < 0.5 < abs(frame_pts[0, 1] - frame_pts[1, 1])


def test_unusable_landmarks_give_no_alignment():
    assert five_points(None) is None
    assert five_points(np.zeros((4, 2))) is None
    assert five_points([[0, 0], [1, 1], [2, 2], [3, 3], [np.nan, 0]]) is None
    assert align_matrix(np.zeros((5, 2)), "deepfakebench") is None  # all points on one spot
    assert align_face(np.zeros((64, 64, 3), np.uint8), None, "gend", 224) is None


@pytest.mark.parametrize("mode", ["gend", "deepfakebench"])
def test_a_frame_point_lands_where_crop_matrix_says(mode):
    img = np.zeros((720, 1280, 3), np.uint8)
    pts = _similar(template(mode))[[1, 0, 2, 4, 3]]
    cv2.circle(img, (340, 200), 3, (255, 255, 255), -1)
    crop = align_face(img, pts, mode, 224)
    assert crop.shape == (224, 224, 3)
    q = crop_matrix(pts, mode, 224) @ [340.0, 200.0, 1.0]
    ys, xs = np.nonzero(crop[..., 0] > 100)
    assert abs(xs.mean() - q[0]) < 1.0 and abs(ys.mean() - q[1]) < 1.0
    assert align_face(img, pts, mode, ALIGN_SIZE).shape == (256, 256, 3)


def test_the_crop_stage_aligns_per_model_and_falls_back_to_the_square_crop():
    img = np.random.default_rng(0).integers(0, 255, (480, 640, 3), np.uint8)
    pts = _similar(template("gend"), deg=0.0, scale=0.5, shift=(200.0, 100.0))
    box = (pts[:, 0].min() - 30, pts[:, 1].min() - 40, pts[:, 0].max() + 30, pts[:, 1].max() + 20)
    square, aligned = (224, "black", "cubic", "none"), (224, "black", "cubic", "gend")
    stage = CropStage([square, aligned], margin=0.3)
    crops = stage(img, box, pts)
    assert not np.array_equal(crops[square], crops[aligned])
    assert np.array_equal(crops[aligned], align_face(img, pts, "gend", 224, "cubic"))
    assert stage.square_fallbacks == 0
    crops = stage(img, box, None)  # a detector without landmarks
    assert np.array_equal(crops[aligned], crops[square]) and stage.square_fallbacks == 1


def test_an_aligned_map_is_drawn_back_onto_the_face_it_explains():
    from fakescope.render.annotate import _blend_aligned

    pts = _similar(template("gend"), deg=25.0, scale=0.5, shift=(300.0, 150.0))
    m = crop_matrix(pts, "gend", 224)
    hm = np.zeros((224, 224), np.float32)
    hm[100:124, 100:124] = 1.0  # a hot square around the crop's centre
    centre = cv2.invertAffineTransform(m) @ [111.5, 111.5, 1.0]  # where the crop's centre lies in the frame
    for shift in ((0.0, 0.0, 0.0, 0.0), (12.0, -8.0, 12.0, -8.0)):  # at the sample, then after the face moved
        out = np.zeros((480, 640, 3), np.uint8)
        assert _blend_aligned(out, hm, m, np.array(shift), alpha=1.0)
        ys, xs = np.nonzero(out.sum(-1) > 0)
        assert abs(xs.mean() - (centre[0] + shift[0])) < 1.5 and abs(ys.mean() - (centre[1] + shift[1])) < 1.5
        # the 24-px square of the 224-px crop is 27 px of the 256-px aligned face, 14 px in the frame (≈ 190 pixels)
        assert 120 < len(xs) < 320
    out = np.zeros((480, 640, 3), np.uint8)
    assert not _blend_aligned(out, hm, m, np.array([2000.0, 0, 2000.0, 0]), alpha=1.0) and not out.any()
