"""Deepfake detectors. Importing this package registers every built-in model."""

from . import (  # noqa: F401  (importing a family's module registers its models)
    backbones,
    custom_cnn,
    densenet,
    efficientnet,
    efficientvit,
    mesonet,  # registers meso4, mesoinception4
    sbi,  # the self-blended-images detector trained here (weights/sbi/DATA_CARD.md)
    vgg,
    vit,
    xception,
)
from ._layers import AttentionProbe, attention_layers, capture_attention
from ._registry import (
    ModelInfo,
    WeightsInfo,
    create_model,
    get_model_info,
    list_models,
    register_model,
    sha256_file,
)
from ._runnable import is_runnable, list_runnable_models, model_summary

__all__ = [
    "AttentionProbe",
    "ModelInfo",
    "WeightsInfo",
    "attention_layers",
    "capture_attention",
    "create_model",
    "get_model_info",
    "is_runnable",
    "list_runnable_models",
    "model_summary",
    "list_models",
    "register_model",
    "sha256_file",
]
