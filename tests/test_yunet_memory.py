"""YuNet through libfacedetection's own call: the same detections as yuface's wrapper, without its leak."""

from __future__ import annotations

import cv2
import numpy as np
import psutil
import pytest

from fakescope.faces.yunet import _facedetect_cnn, _import_yuface
from fakescope.media import Sampling, load_image, open_media


def _images(samples):
    imgs = [f.image for f in open_media(samples / "WolfgangLanger_Pexels.mp4", Sampling.parse("even:3"))]
    return imgs + [load_image(samples / n) for n in ("multi_face.jpg", "single_face.jpg", "BWPictureHuman.jpg")]


def test_same_detections_as_the_yuface_wrapper(samples):
    yuface, detect = _import_yuface(), _facedetect_cnn()
    found = 0
    for im in _images(samples):
        bgr = np.ascontiguousarray(cv2.cvtColor(im, cv2.COLOR_RGB2BGR))
        theirs = np.asarray(yuface.c_detect(bgr)).reshape(-1, 16)
        ours = detect(bgr)
        # score, box and landmarks identical (the 16th column is never written: yuface leaves garbage there)
        np.testing.assert_array_equal(ours[:, :15], theirs[:, :15])
        assert (ours[:, 15] == 0).all()
        found += len(ours)
    assert found >= 8  # the multi-face photo alone has several


@pytest.mark.slow  # 240 detections; the call it guards is checked by the test above in the default run
def test_repeated_detection_does_not_grow_memory(samples):
    """yuface.c_detect never frees its 36-KB result buffer: RSS grew ~4 MB per 120 calls, steadily."""
    detect = _facedetect_cnn()
    im = cv2.resize(_images(samples)[0], (640, 360))
    bgr = np.ascontiguousarray(cv2.cvtColor(im, cv2.COLOR_RGB2BGR))
    proc = psutil.Process()
    for _ in range(120):  # first window: settles what the images above freed
        detect(bgr)
    before = proc.memory_info().rss
    for _ in range(120):
        detect(bgr)
    assert proc.memory_info().rss - before < 1.5 * 2**20
