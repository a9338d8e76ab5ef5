"""The *quality* stage: per input, its compression; per face, size, pose, blur and the weight and flags
the aggregate stage reads (fakescope.quality)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..quality import MediaQuality, QualityConfig, assess_face, media_quality_for
from ..schema import Face, FaceQuality


class QualityStage:
    def __init__(self, config: QualityConfig, margin: float) -> None:
        self.config = config
        self.margin = margin

    def media(self, path: Path | None, info) -> MediaQuality:
        """The input's compression measures (none for frames that come without a file: a live stream)."""
        if path is None:
            return MediaQuality()
        quant = None
        if info.kind == "image":
            try:
                from PIL import Image

                with Image.open(path) as im:
                    quant = getattr(im, "quantization", None)
            except Exception:  # quality is a measurement, never a reason to fail the analysis
                quant = None
        return media_quality_for(info, path.stat().st_size, quant)

    def __call__(self, crop: np.ndarray, face: Face, frame_size: tuple[int, int], media: MediaQuality) -> FaceQuality:
        return FaceQuality(**assess_face(crop, tuple(face.box), face.landmarks, frame_size, self.margin, media,
                                         self.config))
