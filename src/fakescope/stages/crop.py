"""The *crop* stage: a frame and a face (box, landmarks) → one crop per distinct model input (size, padding,
resize, alignment): the square crop with the documented margin (fakescope.faces.crop), or, for a published
detector trained on aligned faces, its own five-landmark alignment (fakescope.faces.align)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..faces.align import align_face
from ..faces.crop import crop_face

CropKey = tuple[int, str, str, str]  # input size, padding, resize filter, alignment


class CropStage:
    def __init__(self, keys: Iterable[CropKey], margin: float) -> None:
        self.keys = set(keys)
        self.margin = margin
        self.square_fallbacks = 0  # aligned crops that fell back to the square crop (no usable landmarks)

    def __call__(self, image: np.ndarray, box, landmarks=None) -> dict[CropKey, np.ndarray]:
        out = {}
        for k in self.keys:
            size, padding, resize, align = k
            crop = None if align == "none" else align_face(image, landmarks, align, size, resize)
            if crop is None:
                if align != "none":
                    self.square_fallbacks += 1
                crop = crop_face(image, box, size, self.margin, padding=padding, resize=resize)
            out[k] = crop
        return out
