"""Manipulated faces with ground-truth masks, for measuring where explanations point.

Three sources, all cropped exactly as the analysis crops faces (:func:`fakescope.faces.crop.crop_face`,
default margin, square at ``size`` pixels):

* **self-blended images** (:func:`fakescope.training.sbi.self_blend`, Shiohara & Yamasaki, CVPR 2022)
  of real faces: the mask is the blend weight of the altered copy (soft, centred on the face);
* **local splices**: one eye region or the mouth of *another* real face, aligned with a similarity
  transform fitted on the 68 landmarks, colour-matched (mean/std per channel inside the region) and
  feathered in; the mask is the feathered blend weight. These masks are small and off-centre, so a
  map that just peaks in the middle of the face cannot hit them;
* **FaceForensics++ masks** (:func:`read_ffpp`): ``manipulated_sequences/<method>/masks/videos/X.mp4``
  next to ``manipulated_sequences/<method>/<c0|c23|c40|raw>/videos/X.mp4`` (the layout of the
  dataset's download script); frames are sampled evenly, the face is found in the manipulated frame
  and the same square is cropped from the mask frame.

Real faces come from any folder of images and videos (:func:`real_faces`): faces are detected with the
analysis' detector, 68 landmarks come from dlib (see :mod:`fakescope.training.landmarks`). Face crops
that ``fakescope extract-faces`` already wrote (a CSV list whose ``landmarks`` column names each crop's
JSON with ``landmarks68``, e.g. the offline corpus' ``manifest.csv``) are read as they are
(:func:`extracted_faces`): no detection, one face per identity, optionally one split only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..faces.crop import DEFAULT_MARGIN, crop_face, square_box

log = logging.getLogger(__name__)

__all__ = [
    "SPLICE_PARTS",
    "MaskedFace",
    "RealFace",
    "build_masked_faces",
    "extracted_faces",
    "is_off_centre",
    "read_ffpp",
    "real_faces",
    "self_blended",
    "splice",
]

#: landmark indices (iBUG 68) of the regions a splice replaces: brow + eye, or the mouth
SPLICE_PARTS = {
    "left_eye": list(range(17, 22)) + list(range(36, 42)),  # image-left eye (the person's right)
    "right_eye": list(range(22, 27)) + list(range(42, 48)),
    "mouth": list(range(48, 60)),
}


@dataclass
class RealFace:
    """A real face crop (size×size×3 uint8 RGB) and its 68 landmarks in crop pixels."""

    image: np.ndarray
    landmarks: np.ndarray
    source: str  # file (and frame) it came from; faces of one source never splice into each other


@dataclass
class MaskedFace:
    """A manipulated face and where it was manipulated.

    ``fake``: size×size×3 uint8 RGB; ``mask``: size×size float32 in [0, 1] (blend weight of the
    foreign content; 0 = untouched); ``real``: the pristine face (None when unknown); ``kind``:
    ``"sbi"``, ``"splice"`` or ``"ffpp"``; ``part``: the SBI hull, the spliced part or the FF++ method.
    """

    fake: np.ndarray
    mask: np.ndarray
    kind: str
    source: str
    part: str = ""
    real: np.ndarray | None = field(default=None, repr=False)


# ------------------------------------------------------------------------------------ real faces


def _to_crop(points: np.ndarray, box: tuple[float, float, float, float], size: int, margin: float) -> np.ndarray:
    sx1, sy1, sx2, _ = square_box(box, margin)
    return ((np.asarray(points, np.float32) - (sx1, sy1)) * (size / (sx2 - sx1))).astype(np.float32)


def real_faces(
    paths: Iterable[str | Path],
    size: int = 256,
    frames_per_video: int = 4,
    min_face: int = 64,
    margin: float = DEFAULT_MARGIN,
    detector: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[RealFace]:
    """Real face crops with landmarks from image/video files or folders (searched recursively).

    Every face of at least ``min_face`` pixels (box side) is kept; videos give ``frames_per_video``
    evenly spaced frames. Needs dlib and its 68-landmark predictor file.
    """
    from ..faces import DEFAULT_FACE_DETECTOR, create_face_detector
    from ..media import Sampling, find_media, open_media
    from ..training.landmarks import landmarks68

    files, bad = find_media(paths)
    for path, why in bad:
        log.warning("skipped %s: %s", path, why)
    det = create_face_detector(detector or DEFAULT_FACE_DETECTOR)
    out: list[RealFace] = []
    for i, path in enumerate(files):
        try:
            for frame in open_media(path, Sampling("even", n=frames_per_video)):
                for k, d in enumerate(det.detect(frame.image)):
                    x1, y1, x2, y2 = d.box
                    if max(x2 - x1, y2 - y1) < min_face:
                        continue
                    lm = landmarks68(frame.image, d.box)
                    crop = crop_face(frame.image, d.box, size, margin)
                    pts = _to_crop(lm, d.box, size, margin)
                    out.append(RealFace(crop, pts, f"{Path(path).name}#{frame.index}.{k}"))
        except Exception as e:  # noqa: BLE001 - one unreadable file never loses the others
            log.warning("skipped %s: %s", path, str(e).splitlines()[0] if str(e) else type(e).__name__)
        if progress:
            progress(i + 1, len(files))
    return out


def extracted_faces(
    manifest: str | Path, split: str | None = None, limit: int | None = None, seed: int = 0
) -> list[RealFace]:
    """Real face crops listed in a fakescope CSV (``path,label,...,landmarks``; the output of
    ``fakescope extract-faces`` or the offline corpus' ``manifest.csv``) with their 68 landmarks.

    Only real rows (label 0) of ``split`` (all splits when None) that have 68 landmarks; one crop per
    identity, in a random order fixed by ``seed``; at most ``limit``.
    """
    import json

    from PIL import Image

    from ..training.datasets import read_csv

    rows = [r for r in read_csv(Path(manifest)) if r.label == 0 and (split is None or r.split == split)]
    if not rows:
        raise ValueError(f"{manifest}: no real faces{f' in split {split!r}' if split else ''}")
    rng = np.random.default_rng(seed)
    out: list[RealFace] = []
    seen: set[str] = set()
    for i in rng.permutation(len(rows)):
        r = rows[int(i)]
        if r.identity in seen or not r.landmarks:
            continue
        try:
            with open(r.landmarks, encoding="utf-8") as f:
                lm = json.load(f).get("landmarks68")
            if not lm or len(lm) != 68:
                continue
            with Image.open(r.path) as im:
                img = np.asarray(im.convert("RGB"))
        except (OSError, ValueError) as e:
            log.warning("skipped %s: %s", r.path, e)
            continue
        seen.add(r.identity)
        out.append(RealFace(img, np.asarray(lm, np.float32), f"{r.video}#{r.frame or 0}.{r.face or 0}"))
        if limit and len(out) >= limit:
            break
    return out


# ------------------------------------------------------------------------------ manipulated faces


def self_blended(face: RealFace, rng: np.random.Generator) -> MaskedFace:
    """A self-blended image of ``face`` (its mask is the blend weight)."""
    from ..training.sbi import self_blend

    s = self_blend(face.image, face.landmarks, rng)
    return MaskedFace(s.fake, s.mask, "sbi", face.source, s.hull, real=s.real)


def _feathered_hull(shape: tuple[int, int], pts: np.ndarray, grow: float, feather: float) -> np.ndarray:
    """Convex hull of ``pts`` grown by ``grow`` pixels, then Gaussian-feathered (σ = ``feather``)."""
    m = np.zeros(shape, np.float32)
    cv2.fillConvexPoly(m, cv2.convexHull(np.round(pts).astype(np.int32)), 1.0)
    if grow > 0:
        r = max(1, int(round(grow)))
        m = cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    if feather > 0:
        m = cv2.GaussianBlur(m, (0, 0), feather)
    return np.clip(m / max(float(m.max()), 1e-6), 0, 1).astype(np.float32)


def splice(target: RealFace, donor: RealFace, part: str, rng: np.random.Generator) -> MaskedFace:
    """``part`` (see :data:`SPLICE_PARTS`) of ``donor`` pasted onto ``target``: donor aligned on all
    68 landmarks (similarity transform), colour-matched inside the region, feathered in."""
    if part not in SPLICE_PARTS:
        raise ValueError(f"unknown splice part {part!r} (known: {', '.join(SPLICE_PARTS)})")
    h, w = target.image.shape[:2]
    m, _ = cv2.estimateAffinePartial2D(donor.landmarks, target.landmarks, method=cv2.LMEDS)
    if m is None:
        raise ValueError("cannot align the donor face")
    warped = cv2.warpAffine(donor.image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    side = min(h, w)
    pts = target.landmarks[SPLICE_PARTS[part]]
    mask = _feathered_hull((h, w), pts, grow=side * rng.uniform(0.02, 0.05), feather=side * rng.uniform(0.01, 0.025))
    inside = mask > 0.5
    src = warped.astype(np.float32)
    dst = target.image.astype(np.float32)
    if inside.sum() > 8:  # Reinhard-style colour transfer restricted to the region
        mu_s, sd_s = src[inside].mean(0), src[inside].std(0) + 1e-3
        mu_d, sd_d = dst[inside].mean(0), dst[inside].std(0) + 1e-3
        src = (src - mu_s) / sd_s * sd_d + mu_d
    a = mask[..., None]
    fake = np.clip(np.round(a * src + (1 - a) * dst), 0, 255).astype(np.uint8)
    fake[mask <= 0] = target.image[mask <= 0]
    return MaskedFace(fake, mask, "splice", target.source, part, real=target.image)


def build_masked_faces(
    faces: list[RealFace], n_sbi: int = 40, n_splice: int = 40, seed: int = 0
) -> list[MaskedFace]:
    """``n_sbi`` self-blended images and ``n_splice`` splices (parts in turn) from ``faces``; faces
    are used in turn (a face may serve more than once when there are fewer faces than samples), a
    donor always comes from another source file."""
    if not faces:
        raise ValueError("no real faces to build manipulated faces from")
    rng = np.random.default_rng(seed)
    out = [self_blended(faces[i % len(faces)], rng) for i in range(n_sbi)]
    parts = list(SPLICE_PARTS)
    order = rng.permutation(len(faces)) if faces else []
    for i in range(n_splice):
        target = faces[order[i % len(faces)]]
        donors = [f for f in faces if f.source.split("#")[0] != target.source.split("#")[0]] or [
            f for f in faces if f is not target
        ]
        if not donors:
            raise ValueError("splices need at least two real faces")
        donor = donors[int(rng.integers(len(donors)))]
        out.append(splice(target, donor, parts[i % len(parts)], rng))
    return out


def is_off_centre(mask: np.ndarray, min_offset: float = 0.12) -> bool:
    """True when the mask's weighted centroid lies more than ``min_offset`` × side from the centre."""
    h, w = mask.shape
    total = float(mask.sum())
    if total <= 0:
        return False
    ys, xs = np.mgrid[0:h, 0:w]
    cy, cx = float((ys * mask).sum() / total), float((xs * mask).sum() / total)
    return bool(np.hypot(cy - (h - 1) / 2, cx - (w - 1) / 2) > min_offset * min(h, w))


# --------------------------------------------------------------------------------- FaceForensics++


def read_ffpp(
    root: str | Path,
    size: int = 256,
    frames_per_video: int = 2,
    margin: float = DEFAULT_MARGIN,
    max_videos: int | None = None,
    detector: str | None = None,
) -> list[MaskedFace]:
    """Manipulated faces with masks from a FaceForensics++ tree (layout in the module docstring).

    The largest face of each sampled manipulated frame is cropped, and the same square of the mask
    frame (grey, > 0 = manipulated) becomes the mask. Videos without a mask video are skipped.
    """
    from ..faces import DEFAULT_FACE_DETECTOR, create_face_detector
    from ..media import Sampling, open_media

    root = Path(root)
    mask_videos = sorted(root.glob("manipulated_sequences/*/masks/videos/*.mp4"))
    if not mask_videos:
        raise FileNotFoundError(f"{root}: no manipulated_sequences/*/masks/videos/*.mp4 (FaceForensics++ layout)")
    det = create_face_detector(detector or DEFAULT_FACE_DETECTOR)
    out: list[MaskedFace] = []
    skipped_empty = 0
    for mpath in mask_videos[:max_videos]:
        method_dir = mpath.parents[2]
        fakes = [p for p in sorted(method_dir.glob(f"*/videos/{mpath.name}")) if p.parts[-3] != "masks"]
        if not fakes:
            log.warning("no manipulated video for %s", mpath)
            continue
        sampling = Sampling("even", n=frames_per_video)
        masks = {f.index: f.image for f in open_media(mpath, sampling)}
        for frame in open_media(fakes[0], sampling):
            mframe = masks.get(frame.index)
            if mframe is not None and mframe.shape[:2] != frame.image.shape[:2]:
                # a mask of another size would be cut at the wrong place: refuse, say what was found
                raise ValueError(f"{mpath}: mask frames are {mframe.shape[1]}x{mframe.shape[0]} but {fakes[0].name} "
                                 f"is {frame.image.shape[1]}x{frame.image.shape[0]}; masks must match their video")
            dets = det.detect(frame.image)
            if mframe is None or not dets:
                continue
            d = max(dets, key=lambda d: (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
            crop = crop_face(frame.image, d.box, size, margin)
            mcrop = crop_face(mframe, d.box, size, margin).astype(np.float32).mean(axis=2) / 255.0
            if mcrop.max() <= 0.05:
                skipped_empty += 1
                continue
            out.append(MaskedFace(crop, np.clip(mcrop, 0, 1), "ffpp", f"{fakes[0].name}#{frame.index}",
                                  method_dir.name))
    if not out and skipped_empty:
        raise ValueError(f"{root}: {skipped_empty} sampled face(s) found, but their masks are empty inside the face "
                         "crop (masks must mark the manipulated pixels of the same frames, > 5 % grey)")
    return out
