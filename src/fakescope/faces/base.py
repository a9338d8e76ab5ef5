"""Face detector interface: one ``Detection`` type, one base class, one registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from .._registry import Registry


@dataclass
class Detection:
    """One face in frame pixel coordinates (of the full-size frame)."""

    box: tuple[float, float, float, float]  # x1, y1, x2, y2
    score: float
    landmarks: np.ndarray | None = None  # K×2 float32 (x, y), 5 points for YuNet/CenterFace

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


@dataclass(frozen=True)
class FaceDetectorInfo:
    name: str
    description: str
    landmarks: int  # number of landmarks returned (0 if none)
    licence: str
    source: str


class FaceDetector:
    """Base class. Subclasses implement ``_detect`` on an RGB uint8 image at working resolution.

    ``detect`` downscales the frame so its longer side is at most ``max_side`` (``None``: never),
    runs ``_detect``, maps boxes/landmarks back to full-resolution pixels and drops faces whose
    shorter box side is below ``min_size`` pixels (full resolution) or whose score is below
    ``threshold``.
    """

    info: FaceDetectorInfo

    def __init__(self, threshold: float = 0.6, max_side: int | None = 640, min_size: int = 24) -> None:
        self.threshold = threshold
        self.max_side = max_side
        self.min_size = min_size

    def _detect(self, rgb: np.ndarray) -> list[Detection]:
        raise NotImplementedError

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        h, w = rgb.shape[:2]
        scale = 1.0
        img = rgb
        if self.max_side and max(h, w) > self.max_side:
            scale = self.max_side / max(h, w)
            img = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))),
                             interpolation=cv2.INTER_AREA)
        out = []
        for d in self._detect(np.ascontiguousarray(img)):
            if d.score < self.threshold:
                continue
            x1, y1, x2, y2 = (v / scale for v in d.box)
            x1, y1 = max(0.0, x1), max(0.0, y1)
            x2, y2 = min(float(w), x2), min(float(h), y2)
            if min(x2 - x1, y2 - y1) < self.min_size:
                continue
            lm = None if d.landmarks is None else (np.asarray(d.landmarks, np.float32) / scale)
            out.append(Detection((x1, y1, x2, y2), float(d.score), lm))
        out.sort(key=lambda d: d.box[0])
        return out


_DETECTORS: Registry[Callable[..., FaceDetector]] = Registry("face detector")


def register_face_detector(cls):
    """Class decorator: register a FaceDetector subclass under ``cls.info.name``."""
    _DETECTORS.register(cls.info.name, cls)
    return cls


def create_face_detector(name: str, **kwargs) -> FaceDetector:
    return _DETECTORS.get(name)(**kwargs)


def list_face_detectors() -> list[str]:
    return _DETECTORS.names()


def get_face_detector_info(name: str) -> FaceDetectorInfo:
    return _DETECTORS.get(name).info
