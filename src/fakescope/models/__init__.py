"""Deepfake detectors. Importing this package registers every built-in model."""

from ._registry import (
    ModelInfo,
    WeightsInfo,
    create_model,
    get_model_info,
    list_models,
    register_model,
    sha256_file,
)

from . import mesonet  # noqa: E402,F401  (registers meso4, mesoinception4)

__all__ = [
    "ModelInfo",
    "WeightsInfo",
    "create_model",
    "get_model_info",
    "list_models",
    "register_model",
    "sha256_file",
]
