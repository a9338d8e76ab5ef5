"""Face-crop datasets for training and evaluation (PyTorch), with deterministic per-sample randomness.

Crops are read as uint8 RGB and handed to the model as float N×3×H×W in [0, 1] — exactly what
``fakescope.stages.score.classify`` does at inference; normalisation happens inside the model. A crop whose size
differs from the model's input size is resized with the rule of :func:`~fakescope.faces.crop.crop_face`
(area when shrinking, bilinear when enlarging) — extract the faces at the model's input size to make
training and inference identical (``fakescope extract-faces --size``).

With ``sbi=True`` every real face yields a pair: the face (as it enters the blend) and its
self-blended image (label 1), augmented with the same random draw (Shiohara & Yamasaki 2022).
Randomness for sample ``i`` of epoch ``e`` comes from ``SeedSequence([seed, e, i])``, so an epoch is
reproduced exactly, with any number of workers and after a resume.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ..faces.crop import DEFAULT_MARGIN
from .records import FAKE, REAL, FaceRecord

__all__ = ["FaceDataset", "collate_pairs", "epoch_batches", "load_crop", "sample_seed"]

log = logging.getLogger(__name__)


def sample_seed(*keys: int) -> int:
    """A 32-bit seed from integer keys (run seed, epoch, sample index ...)."""
    return int(np.random.SeedSequence([int(k) & 0xFFFFFFFF for k in keys]).generate_state(1)[0])


def load_crop(path: str | Path, size: int | None = None) -> np.ndarray:
    """H×W×3 uint8 RGB crop from disk, resized to ``size`` as ``crop_face`` would resize."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        from ..media import load_image

        img = load_image(path)  # formats OpenCV does not read (and EXIF orientation)
    else:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if size and (img.shape[0] != size or img.shape[1] != size):
        interp = cv2.INTER_AREA if max(img.shape[:2]) > size else cv2.INTER_LINEAR
        img = cv2.resize(img, (size, size), interpolation=interp)
    return img


class FaceDataset(Dataset):
    """Face crops → ``(images K×3×S×S float in [0, 1], labels K float)`` with K = 1, or 2 with SBI.

    ``augment``: an :class:`~fakescope.training.augment.Augmenter` (training only) or None.
    ``sbi``: pair every real face with its self-blended image. ``epoch`` (settable) feeds the seeds;
    evaluation sets use a fixed epoch so their pseudo-fakes are the same every time.
    """

    def __init__(
        self,
        records: list[FaceRecord],
        size: int,
        augment=None,
        sbi: bool = False,
        seed: int = 0,
        margin: float = DEFAULT_MARGIN,
        sbi_config=None,
    ) -> None:
        self.records = list(records)
        self.size = size
        self.augment = augment
        self.sbi = sbi
        self.seed = seed
        self.epoch = 0
        self.margin = margin
        self.sbi_config = sbi_config
        self._lm_cache: dict[str, np.ndarray | None] = {}
        self._warned = False

    def __len__(self) -> int:
        return len(self.records)

    def labels(self) -> np.ndarray:
        """Label of every *output* sample in order (a real with SBI gives 0 then 1)."""
        out = []
        for r in self.records:
            out += [REAL, FAKE] if (self.sbi and r.label == REAL) else [r.label]
        return np.array(out, dtype=np.int64)

    def _landmarks(self, r: FaceRecord, img: np.ndarray) -> np.ndarray:
        if r.path in self._lm_cache and self._lm_cache[r.path] is not None:
            return self._lm_cache[r.path]
        lm = None
        if r.landmarks and Path(r.landmarks).is_file():
            info = json.loads(Path(r.landmarks).read_text())
            if info.get("landmarks68"):
                lm = np.asarray(info["landmarks68"], np.float32) * (self.size / float(info.get("size", self.size)))
        if lm is None:  # no stored landmarks: dlib on the crop, the face box being its central square
            from .landmarks import landmarks68

            s = self.size / (1.0 + self.margin)
            o = (self.size - s) / 2
            lm = landmarks68(img, (o, o, o + s, o + s))
        self._lm_cache[r.path] = lm
        return lm

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        r = self.records[i]
        img = load_crop(r.path)
        if img.shape[:2] != (self.size, self.size):
            if not self._warned:
                log.warning("crops are %s px, the model takes %d px: resizing (extract at --size %d to match "
                            "inference)", img.shape[:2], self.size, self.size)  # fmt: skip
                self._warned = True
            img = load_crop(r.path, self.size)
        seed = sample_seed(self.seed, self.epoch, i)
        if self.sbi and r.label == REAL:
            from .sbi import SBIConfig, self_blend

            rng = np.random.default_rng(seed)
            s = self_blend(img, self._landmarks(r, img), rng, self.sbi_config or SBIConfig())
            images, labels = [s.real, s.fake], [REAL, FAKE]
        else:
            images, labels = [img], [r.label]
        if self.augment is not None:
            aug_seed = sample_seed(self.seed, self.epoch, i, 1)
            images = [self.augment(im, aug_seed) for im in images]
        x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().div_(255.0)
        return x, torch.tensor(labels, dtype=torch.float32)


def collate_pairs(batch: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*batch, strict=True)
    return torch.cat(xs), torch.cat(ys)


def epoch_batches(
    n: int, batch_size: int, seed: int, epoch: int, weights: np.ndarray | None = None, max_steps: int | None = None
) -> list[list[int]]:
    """The batches (lists of sample indices) of one epoch: a seeded permutation, or a seeded weighted
    draw with replacement when ``weights`` are given (class balancing). Depends only on the arguments."""
    rng = np.random.default_rng(sample_seed(seed, epoch, 0xBA7C4))
    if weights is None:
        order = rng.permutation(n)
    else:
        p = np.asarray(weights, np.float64)
        order = rng.choice(n, size=n, replace=True, p=p / p.sum())
    batches = [order[k : k + batch_size].tolist() for k in range(0, n, batch_size)]
    if len(batches) > 1 and len(batches[-1]) < max(2, batch_size // 4):
        batches = batches[:-1]  # a tiny last batch makes BatchNorm statistics noisy
    return batches[:max_steps] if max_steps else batches
