"""OpenCV Haar-cascade frontal face detector (Viola & Jones, CVPR 2001): a dependency-free baseline.

Low quality: misses turned faces and fires on textures; no landmarks and no calibrated score (every
detection gets score 1.0, so ``threshold`` has no effect). Needs ``opencv-python-headless<5``
(OpenCV 5 dropped the cascades).
"""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import FakescopeError
from .base import Detection, FaceDetector, FaceDetectorInfo, register_face_detector

_CASCADE = "haarcascade_frontalface_default.xml"


@register_face_detector
class HaarCascade(FaceDetector):
    """``cv2.CascadeClassifier`` with the stock frontal-face cascade."""

    info = FaceDetectorInfo(
        name="haar",
        description="OpenCV Haar cascade (frontal faces only): baseline, no landmarks, many false alarms",
        landmarks=0,
        licence="BSD-3-Clause (OpenCV; cascade by Intel, Intel licence in the file)",
        source="opencv-python-headless<5: cv2.data.haarcascades/" + _CASCADE,
    )

    def __init__(
        self, threshold: float = 0.6, max_side: int | None = 640, min_size: int = 24, min_neighbors: int = 5
    ) -> None:
        super().__init__(threshold=threshold, max_side=max_side, min_size=min_size)
        folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
        self._cascade = cv2.CascadeClassifier(f"{folder}/{_CASCADE}") if folder else None
        if self._cascade is None or self._cascade.empty():
            raise FakescopeError("OpenCV Haar cascades not found: install `opencv-python-headless<5`")
        self.min_neighbors = min_neighbors

    def _detect(self, rgb: np.ndarray) -> list[Detection]:
        gray = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        boxes = self._cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=self.min_neighbors)
        return [Detection((float(x), float(y), float(x + w), float(y + h)), 1.0) for x, y, w, h in boxes]
