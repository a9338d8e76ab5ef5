"""The *crop* stage: a frame and a face box → one crop per distinct model input (size, padding, resize),
with the documented margin (fakescope.faces.crop)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..faces.crop import crop_face

CropKey = tuple[int, str, str]  # input size, padding, resize filter


class CropStage:
    def __init__(self, keys: Iterable[CropKey], margin: float) -> None:
        self.keys = set(keys)
        self.margin = margin

    def __call__(self, image: np.ndarray, box) -> dict[CropKey, np.ndarray]:
        return {k: crop_face(image, box, k[0], self.margin, padding=k[1], resize=k[2]) for k in self.keys}
