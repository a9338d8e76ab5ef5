"""One labelled sample of a deepfake dataset, and reading/writing lists of them as CSV.

Label convention everywhere in fakescope: **0 = real, 1 = fake** (a model's output is the log-odds of
fake). Datasets that use another convention (Celeb-DF's test list says 1 for real, the "140k" CSVs say
1 for real) are converted by their reader.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

__all__ = ["FaceRecord", "parse_label", "write_records_csv"]  # read_records_csv: in .datasets

REAL, FAKE = 0, 1

_LABEL_WORDS = {
    "0": REAL, "real": REAL, "original": REAL, "pristine": REAL, "genuine": REAL, "bonafide": REAL,
    "bona fide": REAL, "live": REAL, "false": REAL, "no": REAL,
    "1": FAKE, "fake": FAKE, "manipulated": FAKE, "deepfake": FAKE, "synthesis": FAKE, "synthetic": FAKE,
    "forged": FAKE, "spoof": FAKE, "attack": FAKE, "generated": FAKE, "df": FAKE, "true": FAKE, "yes": FAKE,
}  # fmt: skip


def parse_label(value: object) -> int:
    """0 (real) or 1 (fake) from ``0/1``, ``real/fake``, ``REAL/FAKE``, ``original/manipulated`` ...

    Raises ValueError for anything else (a typo must not silently become "real").
    """
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)) and value in (0, 1):
        return int(value)
    key = str(value).strip().lower()
    if key in ("0.0", "1.0"):
        key = key[0]
    if key not in _LABEL_WORDS:
        raise ValueError(f"unknown label {value!r} (use 0/1 or real/fake)")
    return _LABEL_WORDS[key]


@dataclass(frozen=True)
class FaceRecord:
    """One sample: an image, a video, or (after ``extract-faces``) one face crop.

    ``video``: id of the clip it comes from (frames of one clip share it; an image is its own clip).
    ``identity``: the person shown (for a face swap: the *target* person whose body/scene is kept);
    ``source_identity``: the donor face of a swap, when known. Splits keep both on the same side.
    ``manipulation``: ``"original"`` for real samples, else the method (``Deepfakes``, ``SBI`` ...).
    ``mask``: file of the manipulation mask (white = manipulated), when the dataset has one.
    ``landmarks``: JSON file written by ``extract-faces`` (crop coordinates).
    ``split``: the dataset's official split (``train``/``val``/``test``), when it has one.
    ``frame``/``face``: frame index in the video and face index in that frame (face crops only).
    """

    path: str
    label: int
    video: str = ""
    identity: str = ""
    manipulation: str = "original"
    mask: str | None = None
    source_identity: str | None = None
    split: str | None = None
    dataset: str = ""
    landmarks: str | None = None
    frame: int | None = None
    face: int | None = None

    def __post_init__(self) -> None:
        if self.label not in (REAL, FAKE):
            raise ValueError(f"{self.path}: label must be 0 (real) or 1 (fake), got {self.label!r}")

    def with_(self, **changes) -> FaceRecord:
        return replace(self, **changes)

    def to_row(self) -> dict[str, str]:
        return {k: "" if v is None else str(v) for k, v in asdict(self).items()}

    @classmethod
    def columns(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def write_records_csv(records: list[FaceRecord], path: str | Path) -> Path:
    """Write records as CSV (all :class:`FaceRecord` columns, paths as given). Atomic."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=FaceRecord.columns())
        w.writeheader()
        for r in records:
            w.writerow(r.to_row())
    tmp.replace(path)
    return path
