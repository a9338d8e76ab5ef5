"""Square face crops with a documented margin.

A crop is the square centred on the detector's box whose side is ``(1 + margin) × max(w, h)``
(default margin 0.3, i.e. 15 % of the box's longer side added on each side — the 1.3 scale that
DeepfakeBench and most FaceForensics++-style pipelines use). Parts of the square that fall outside
the frame are filled with black, so the face stays centred and undistorted. The square is then resized
to the model's input size (area interpolation when shrinking, bilinear when enlarging).

A model can ask for its training pipeline's own rule (``ModelInfo.crop_padding`` / ``crop_resize``):
the MesoNet authors' code fills outside the frame by *reflection* and resizes with a cubic spline
(``scipy.ndimage.zoom``, order 3), so MesoNet crops are made with ``padding="reflect"`` and
``resize="cubic"`` — on held-out real photos this halves MesoInception-4's false alarms on faces near
the frame edge (bench/RESULTS.md, "Quality").
"""

from __future__ import annotations

import cv2
import numpy as np

DEFAULT_MARGIN = 0.3


def square_box(box: tuple[float, float, float, float], margin: float = DEFAULT_MARGIN) -> tuple[int, int, int, int]:
    """Integer square (x1, y1, x2, y2) around ``box``, possibly extending beyond the frame."""
    x1, y1, x2, y2 = box
    side = max(x2 - x1, y2 - y1) * (1.0 + margin)
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    sx1, sy1 = int(round(cx - side / 2)), int(round(cy - side / 2))
    s = max(1, int(round(side)))
    return sx1, sy1, sx1 + s, sy1 + s


PADDINGS = ("black", "reflect")
RESIZES = ("auto", "cubic")


def crop_face(
    image: np.ndarray,
    box: tuple[float, float, float, float],
    size: int,
    margin: float = DEFAULT_MARGIN,
    padding: str = "black",
    resize: str = "auto",
) -> np.ndarray:
    """Crop the square around ``box`` from an H×W×3 uint8 image and resize it to size×size×3.

    ``padding``: what fills the square outside the frame, ``"black"`` or ``"reflect"`` (mirrored
    frame content, OpenCV's BORDER_REFLECT_101); ``resize``: ``"auto"`` (area when shrinking,
    bilinear when enlarging) or ``"cubic"`` (bicubic both ways).
    """
    if padding not in PADDINGS or resize not in RESIZES:
        raise ValueError(f"padding must be one of {PADDINGS} and resize one of {RESIZES}")
    h, w = image.shape[:2]
    sx1, sy1, sx2, sy2 = square_box(box, margin)
    side = sx2 - sx1
    cx1, cy1, cx2, cy2 = max(sx1, 0), max(sy1, 0), min(sx2, w), min(sy2, h)
    if cx1 >= cx2 or cy1 >= cy2:
        return np.zeros((size, size, 3), np.uint8)
    region = image[cy1:cy2, cx1:cx2]
    if (cx1, cy1, cx2, cy2) != (sx1, sy1, sx2, sy2):
        pads = (cy1 - sy1, sy2 - cy2, cx1 - sx1, sx2 - cx2)  # top, bottom, left, right
        if padding == "reflect" and max(pads) < min(region.shape[:2]):
            region = cv2.copyMakeBorder(np.ascontiguousarray(region), *pads, cv2.BORDER_REFLECT_101)
        else:  # black (or a reflection wider than what is visible: black then)
            canvas = np.zeros((side, side, 3), np.uint8)
            canvas[cy1 - sy1 : cy2 - sy1, cx1 - sx1 : cx2 - sx1] = region
            region = canvas
    if resize == "cubic":
        interp = cv2.INTER_CUBIC
    else:
        interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(region, (size, size), interpolation=interp)
