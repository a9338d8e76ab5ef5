"""YuNet face detector from libfacedetection, through the ``yuface`` package (weights in its .so).

Paper: Wu, Peng, Yu, "YuNet: A Tiny Millisecond-level Face Detector", Machine Intelligence Research
2023. Returns boxes and 5 landmarks (right eye, left eye, nose tip, right and left mouth corners, as
seen in the image: left-to-right is the subject's right then left).
"""

from __future__ import annotations

import os
import sys

import cv2
import numpy as np

from .base import Detection, FaceDetector, FaceDetectorInfo, register_face_detector


def _import_yuface():
    """Import ``yuface`` (lazily, so that listing detectors never loads the .so) with its bundled
    OpenMP runtime told to sleep, not spin, between parallel regions.

    libgomp reads ``OMP_WAIT_POLICY`` once, when the library is loaded; yuface ships its own copy, so
    setting the variable just for this import affects only that copy (torch's is untouched) and the
    environment is restored afterwards. A value set by the user is respected. Measured on a shared
    2-core machine under heavy load (bench/RESULTS.md): with spinning threads YuNet took 0.6–0.9 s per
    640-px image, with passive waiting 0.1–0.2 s.
    """
    if "yuface" in sys.modules or "OMP_WAIT_POLICY" in os.environ:
        import yuface

        return yuface
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        import yuface
    finally:
        del os.environ["OMP_WAIT_POLICY"]
    return yuface


@register_face_detector
class YuNet(FaceDetector):
    """libfacedetection's YuNet (CPU, int8 weights compiled in). Scores are in [0, 1]."""

    info = FaceDetectorInfo(
        name="yunet",
        description="YuNet (libfacedetection via yuface): fast CPU detector, boxes + 5 landmarks",
        landmarks=5,
        licence="BSD-3-Clause (libfacedetection, yuface)",
        source="PyPI yuface==2023.5.1 (weights compiled into libfacedetection.so)",
    )

    def __init__(self, threshold: float = 0.6, max_side: int | None = 640, min_size: int = 24) -> None:
        super().__init__(threshold=threshold, max_side=max_side, min_size=min_size)
        yuface = _import_yuface()
        # ``yuface.detect`` only wraps this call, warns above 960 px and drops the last column; we
        # call the raw function to keep control of thresholds and warnings (the base class already
        # downscales to ``max_side``).
        self._c_detect = yuface.c_detect

    def _detect(self, rgb: np.ndarray) -> list[Detection]:
        bgr = np.ascontiguousarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        # One row per face, int16: score in percent, x, y, w, h, then 5 (x, y) landmarks, 1 unused.
        rows = np.asarray(self._c_detect(bgr)).reshape(-1, 16).astype(np.float32)
        out = []
        for r in rows:
            score = r[0] / 100.0
            if score < self.threshold:
                continue
            x, y, w, h = (float(v) for v in r[1:5])
            out.append(Detection((x, y, x + w, y + h), float(score), r[5:15].reshape(5, 2).copy()))
        return out
