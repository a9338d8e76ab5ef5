"""The *detect* stage: an RGB frame → the faces in it (a registered face detector, fakescope.faces)."""

from __future__ import annotations

import numpy as np

from ..faces import Detection, create_face_detector


class DetectStage:
    def __init__(self, name: str, threshold: float, max_side: int | None, min_size: int) -> None:
        self.detector = create_face_detector(name, threshold=threshold, max_side=max_side, min_size=min_size)

    def __call__(self, image: np.ndarray) -> list[Detection]:
        return self.detector.detect(image)
