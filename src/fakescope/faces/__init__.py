"""Face detectors. Importing this package registers every built-in detector.

``DEFAULT_FACE_DETECTOR`` is chosen by measurement: see bench/RESULTS.md, "Face detectors".
"""

from .base import (
    Detection,
    FaceDetector,
    FaceDetectorInfo,
    create_face_detector,
    get_face_detector_info,
    list_face_detectors,
    register_face_detector,
)

from . import centerface, haar, yunet  # noqa: E402,F401,I001  (register the built-in detectors)

DEFAULT_FACE_DETECTOR = "yunet"

__all__ = [
    "DEFAULT_FACE_DETECTOR",
    "Detection",
    "FaceDetector",
    "FaceDetectorInfo",
    "create_face_detector",
    "get_face_detector_info",
    "list_face_detectors",
    "register_face_detector",
]
