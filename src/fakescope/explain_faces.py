"""Explain face images directly (no detection): a face image, a folder of them, or a CSV list.

Seed 001 runs its explainer over a CSV of face images; this is that job. Each image is taken as an
already-cropped face and resized to the model's input size with the same interpolation the pipeline's
crops use. Output, per image ``OUT/<stem>/``: ``<method>.png`` (heatmap over the face),
``<method>.npy`` (raw float32 map), ``montage.png`` (all methods side by side); and ``OUT/explanations.csv``
(one row per image: path, p_fake, status, error) and ``OUT/explanations.json`` (maps' metadata).
One bad image never stops the others.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from .errors import FakescopeError, MediaError
from .media import IMAGE_EXTENSIONS, load_image
from .schema import write_atomic
from .textsafe import csv_cell

log = logging.getLogger(__name__)

_PATH_COLUMNS = ("path", "image", "file", "filename", "filepath", "image_path")


def read_image_list(src: str | Path) -> list[Path]:
    """Images named by ``src``: an image file, a folder (recursive, sorted) or a CSV list.

    A CSV needs a header; the path column is the first of ``path, image, file, filename, filepath,
    image_path`` present, else the first column. Relative paths are resolved against the CSV's folder.
    """
    src = Path(src)
    if not src.exists():
        raise MediaError(f"{src}: no such file or directory")
    if src.is_dir():
        files = sorted(p for p in src.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise MediaError(f"{src}: no images found in directory")
        return files
    if src.suffix.lower() == ".csv":
        with open(src, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames:
                raise MediaError(f"{src}: empty CSV")
            lower = {c.lower().strip(): c for c in reader.fieldnames}
            col = next((lower[c] for c in _PATH_COLUMNS if c in lower), reader.fieldnames[0])
            rows = [r[col].strip() for r in reader if r.get(col)]
        return [p if p.is_absolute() else src.parent / p for p in map(Path, rows)]
    return [src]


def face_tensor(rgb: np.ndarray, size: int) -> torch.Tensor:
    """An RGB uint8 face image → 3×size×size float tensor in [0, 1] (the crop's interpolation)."""
    interp = cv2.INTER_AREA if max(rgb.shape[:2]) > size else cv2.INTER_LINEAR
    img = cv2.resize(rgb, (size, size), interpolation=interp)
    return torch.from_numpy(img).permute(2, 0, 1).float().div_(255.0)


@dataclass
class FaceExplained:
    path: str
    ok: bool
    p_fake: float | None = None
    files: dict[str, str] = field(default_factory=dict)
    error: str | None = None


def explain_images(
    images: Sequence[Path],
    model: nn.Module,
    methods: Sequence[str],
    out_dir: str | Path,
    target: str = "fake",
    batch_size: int = 8,
    on_progress: Callable[[int], None] | None = None,
    options: dict[str, dict] | None = None,
) -> list[FaceExplained]:
    from .explainers import explain
    from .render.annotate import png_bytes
    from .render.artifacts import to_display
    from .render.overlay import montage, overlay

    out = Path(out_dir)
    size = model.info.input_size
    results: list[FaceExplained] = []
    meta: dict[str, dict] = {}
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        faces, ok_items = [], []
        for p in chunk:
            try:
                rgb = load_image(p)
            except FakescopeError as e:
                results.append(FaceExplained(str(p), False, error=str(e)))
                continue
            faces.append((p, rgb, face_tensor(rgb, size)))
        if not faces:
            continue
        x = torch.stack([f[2] for f in faces])
        maps: dict[str, np.ndarray] = {}
        logits = None
        for m in methods:
            ex = explain(model, x, method=m, target=target, **(options or {}).get(m, {}))
            maps[m] = ex.maps
            logits = ex.logits
            meta[m] = ex.metadata()
        for i, (p, _rgb, t) in enumerate(faces):
            stem = p.stem
            shown = (t.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
            item = FaceExplained(str(p), True, p_fake=float(1 / (1 + np.exp(-float(logits[i])))))
            for m in methods:
                fname = m.replace("/", "_")
                write_atomic(out / stem / f"{fname}.png", png_bytes(overlay(shown, to_display(maps[m][i]))))
                buf = io.BytesIO()
                np.save(buf, maps[m][i].astype(np.float32))
                write_atomic(out / stem / f"{fname}.npy", buf.getvalue())
                item.files[m] = f"{stem}/{fname}.png"
            write_atomic(
                out / stem / "montage.png", png_bytes(montage(shown, {m: to_display(maps[m][i]) for m in methods}))
            )
            ok_items.append(item)
        results.extend(ok_items)
        if on_progress:
            on_progress(len(chunk))
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["path", "status", "p_fake", *methods, "error"])
    for r in results:
        w.writerow(
            [
                csv_cell(r.path),
                "ok" if r.ok else "error",
                "" if r.p_fake is None else f"{r.p_fake:.6f}",
                *(r.files.get(m, "") for m in methods),
                csv_cell(r.error or ""),
            ]
        )
    write_atomic(out / "explanations.csv", buf.getvalue())
    write_atomic(out / "explanations.json", json.dumps({"target": target, "methods": meta}, indent=2, default=str))
    return results
