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


_DETECT_BUFFER = 0x9000  # bytes libfacedetection writes its results into (its DETECT_BUFFER_SIZE)


def _facedetect_cnn():
    """libfacedetection's ``facedetect_cnn`` called through ctypes with a result buffer that numpy owns.

    ``yuface.c_detect`` wraps the same call but never frees the 36-KB buffer it allocates per image: a
    long live session lost ~35 KB a frame (measured: RSS +10.5 MB per 300 calls; with this call, flat).
    The library is the one ``yuface`` ships and loads (same .so, same weights), so results are identical
    in the 15 columns it fills (tests/test_yunet_memory.py). Written here: no maintained binding frees it.
    """
    import ctypes

    yuface = _import_yuface()
    lib = ctypes.CDLL(os.path.join(os.path.dirname(yuface.__file__), "libfacedetection.so"))
    # int *facedetect_cnn(unsigned char *result, unsigned char *bgr, int width, int height, int step)
    fn = lib._Z14facedetect_cnnPhS_iii
    fn.restype = ctypes.POINTER(ctypes.c_int)
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]

    def detect(bgr: np.ndarray) -> np.ndarray:
        buf = np.zeros(_DETECT_BUFFER, np.uint8)
        h, w = bgr.shape[:2]
        res = fn(buf.ctypes.data, bgr.ctypes.data, w, h, int(bgr.strides[0]))
        n = int(res[0]) if res else 0
        n = max(0, min(n, (_DETECT_BUFFER - 4) // 32))
        return np.frombuffer(buf, dtype=np.int16, count=16 * n, offset=4).reshape(n, 16).copy()

    return detect


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
        self._facedetect = _facedetect_cnn()

    def _detect(self, rgb: np.ndarray) -> list[Detection]:
        bgr = np.ascontiguousarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        # One row per face, int16: score in percent, x, y, w, h, then 5 (x, y) landmarks, 1 unused.
        rows = self._facedetect(bgr).astype(np.float32)
        out = []
        for r in rows:
            score = r[0] / 100.0
            if score < self.threshold:
                continue
            x, y, w, h = (float(v) for v in r[1:5])
            out.append(Detection((x, y, x + w, y + h), float(score), r[5:15].reshape(5, 2).copy()))
        return out
