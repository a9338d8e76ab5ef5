"""Training-time augmentation (albumentations) and optional CLAHE.

Augmentations only happen at training time and only on uint8 face crops that were cut exactly as at
inference (:func:`fakescope.faces.crop.crop_face`); nothing here changes what the model sees at test
time — except CLAHE, which is a *preprocessing* step: when a training uses it, :class:`ClaheInput`
wraps the model so the same CLAHE runs inside ``forward`` at training, evaluation and inference.

Every augmentation call takes an explicit integer seed (derived from the run seed, the epoch and the
sample index), so an epoch is reproduced exactly after a resume, whatever the number of workers.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch import nn

__all__ = ["AugmentConfig", "Augmenter", "ClaheInput", "apply_clahe", "frame_edge"]


def apply_clahe(rgb: np.ndarray, clip_limit: float = 2.0, tile: int = 8) -> np.ndarray:
    """CLAHE (``cv2.createCLAHE``) on the L channel of CIE-Lab; H×W×3 uint8 RGB in and out."""
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
    clahe = cv2.createCLAHE(clipLimit=clip_limit, tileGridSize=(tile, tile))
    lab[..., 0] = clahe.apply(np.ascontiguousarray(lab[..., 0]))
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


class ClaheInput(nn.Module):
    """Wraps a fakescope model: applies :func:`apply_clahe` to its [0, 1] RGB input, then the model.

    The CLAHE itself is not differentiable; the backward pass treats it as the identity
    (straight-through), so gradient-based explainers still get an input gradient. Attributes of the
    wrapped model (``info``, ``weights_tag``, ``forward_features`` ...) are forwarded.
    """

    def __init__(self, model: nn.Module, clip_limit: float = 2.0, tile: int = 8) -> None:
        super().__init__()
        self.model = model
        self.clip_limit = clip_limit
        self.tile = tile

    def _clahe(self, x: torch.Tensor) -> torch.Tensor:
        arr = (x.detach().float().clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
        out = np.stack([apply_clahe(a, self.clip_limit, self.tile) for a in arr])
        return torch.from_numpy(out).permute(0, 3, 1, 2).to(x.device, x.dtype) / 255.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self._clahe(x)
        return self.model(x + (y - x).detach())

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["model"], name)


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities/ranges of the training augmentations (0 turns one off)."""

    hflip: float = 0.5
    affine: float = 0.3  # shear ±shear°, rotation ±rotate°, scale 1 ± scale
    shear: float = 8.0
    rotate: float = 10.0
    scale: float = 0.1
    jpeg: float = 0.3  # JPEG re-compression, quality 40–100
    jpeg_quality: tuple[int, int] = (40, 100)
    blur: float = 0.1  # Gaussian or motion blur, kernel 3–5
    colour: float = 0.3  # brightness/contrast/saturation ±0.2, hue ±0.02
    # frame edge: black out a band along 1–2 sides of the crop (up to ``edge_max`` of its side), as
    # ``crop_face`` fills the part of the square outside the frame for a face near the frame's border or
    # an image that is already a tight face crop. Off by default (older runs stay reproducible).
    edge: float = 0.0
    edge_max: float = 0.25

    @classmethod
    def from_dict(cls, d: dict | None) -> AugmentConfig:
        d = dict(d or {})
        if "jpeg_quality" in d:
            d["jpeg_quality"] = tuple(d["jpeg_quality"])
        return cls(**d)


class Augmenter:
    """``aug(image, seed) -> image``: the albumentations pipeline of an :class:`AugmentConfig`."""

    def __init__(self, cfg: AugmentConfig = AugmentConfig()) -> None:
        import albumentations as A

        c = cfg
        ts = []
        if c.hflip:
            ts.append(A.HorizontalFlip(p=c.hflip))
        if c.affine:
            ts.append(
                A.Affine(
                    shear=(-c.shear, c.shear),
                    rotate=(-c.rotate, c.rotate),
                    scale=(1 - c.scale, 1 + c.scale),
                    border_mode=cv2.BORDER_REFLECT_101,
                    p=c.affine,
                )
            )
        if c.jpeg:
            ts.append(A.ImageCompression(quality_range=tuple(c.jpeg_quality), p=c.jpeg))
        if c.blur:
            ts.append(A.OneOf([A.GaussianBlur(blur_limit=(3, 5)), A.MotionBlur(blur_limit=(3, 5))], p=c.blur))
        if c.colour:
            ts.append(A.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.02, p=c.colour))
        self.pipeline = A.Compose(ts, seed=0) if ts else None
        self.config = cfg

    def __call__(self, image: np.ndarray, seed: int) -> np.ndarray:
        if self.pipeline is not None:
            self.pipeline.set_random_seed(int(seed) % (2**32))
            image = self.pipeline(image=image)["image"]
        if self.config.edge:
            image = frame_edge(image, np.random.default_rng(int(seed) % (2**32)), self.config.edge,
                               self.config.edge_max)  # fmt: skip
        return image


def frame_edge(image: np.ndarray, rng: np.random.Generator, p: float, max_frac: float = 0.25) -> np.ndarray:
    """With probability ``p``, black bands along one or two adjacent sides of ``image`` (a copy).

    Written by hand (no library draws the out-of-frame fill of :func:`fakescope.faces.crop.crop_face`):
    each band is up to ``max_frac`` of the side, as when the crop square extends past the frame.
    """
    if rng.random() >= p:
        return image
    h, w = image.shape[:2]
    out = image.copy()
    sides = [int(rng.integers(4))]
    if rng.random() < 0.5:
        sides.append((sides[0] + 1) % 4)
    for side in sides:
        k = int(round(rng.uniform(0.03, max_frac) * (h if side in (0, 2) else w)))
        if side == 0:
            out[:k] = 0
        elif side == 1:
            out[:, w - k :] = 0
        elif side == 2:
            out[h - k :] = 0
        else:
            out[:, :k] = 0
    return out
