"""Training and evaluation of deepfake detectors (issue 5).

One module per concern:

* :mod:`.records` — :class:`FaceRecord` (one labelled sample; 0 = real, 1 = fake) and CSV I/O;
* :mod:`.datasets` — dataset readers behind a registry (``folder``, ``csv``, ``ffpp``, ``celebdf``,
  ``dfdc``, ``140k``, ``seed001``): :func:`read_dataset`, :func:`list_datasets`, :func:`register_dataset`;
* :mod:`.extract` — ``extract-faces``: crops cut exactly as ``analyze`` cuts them, with landmarks and masks;
* :mod:`.splits` — seeded, label-stratified, identity-grouped train/val/test splits saved as JSON;
* :mod:`.landmarks` / :mod:`.sbi` — dlib 68-point landmarks and self-blended images (Shiohara &
  Yamasaki, CVPR 2022);
* :mod:`.augment` — albumentations augmentation, CLAHE;
* :mod:`.data` — the PyTorch dataset of face crops;
* :mod:`.config` / :mod:`.trainer` / :mod:`.checkpoint` — ``fakescope train``;
* :mod:`.metrics` / :mod:`.evaluate` — ``fakescope evaluate``.

Heavy dependencies (scikit-learn, albumentations, dlib, matplotlib) are imported where they are used;
``pip install fakescope[train]`` installs them.
"""

from __future__ import annotations

from .checkpoint import load_trained_model, read_meta, save_checkpoint
from .config import TrainConfig, load_config
from .datasets import (
    detect_dataset,
    get_dataset_info,
    list_datasets,
    read_dataset,
    read_records_csv,
    register_dataset,
)
from .evaluate import evaluate_records
from .extract import ExtractConfig, FaceExtractor, extract_faces
from .metrics import binary_metrics, equal_error_rate
from .records import FaceRecord, parse_label, write_records_csv
from .sbi import SBIConfig, SBISample, self_blend
from .splits import assign_splits, load_splits, make_splits, save_splits, split_records
from .trainer import TrainResult, train

__all__ = [
    "ExtractConfig",
    "FaceExtractor",
    "FaceRecord",
    "SBIConfig",
    "SBISample",
    "TrainConfig",
    "TrainResult",
    "assign_splits",
    "binary_metrics",
    "detect_dataset",
    "equal_error_rate",
    "evaluate_records",
    "extract_faces",
    "get_dataset_info",
    "list_datasets",
    "load_config",
    "load_splits",
    "load_trained_model",
    "make_splits",
    "parse_label",
    "read_dataset",
    "read_meta",
    "read_records_csv",
    "register_dataset",
    "save_checkpoint",
    "save_splits",
    "self_blend",
    "split_records",
    "train",
    "write_records_csv",
]
