"""Detectors trained in this repository on self-blended images (issue 5).

* ``sbi_mobilenetv2`` — MobileNet-V2 (torchvision layout, :class:`~fakescope.models.backbones.
  MobileNetV2Classifier`), 224 px, ImageNet mean/std inside, 1 fake-logit. Weights ``sbi``:
  ``weights/sbi/sbi_mobilenetv2.safetensors``, fine-tuned from the packaged ImageNet weights on real
  faces and their self-blended images (Shiohara & Yamasaki, CVPR 2022) by ``scripts/train_sbi.py``.
  What it was trained on and its limits: ``weights/sbi/DATA_CARD.md``. It is a small demonstration
  model trained on a few dozen identities — not a production detector. Weights ``corpus`` (issue 12,
  opt-in): the same network trained by ``fakescope train --config configs/sbi_corpus.yaml`` on the
  offline face corpus of ``scripts/build_corpus.py`` (~7,800 training identities); data and model card:
  ``weights/sbi_corpus/DATA_CARD.md``.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from ..errors import WeightsError
from ._layers import IMAGENET_MEAN, IMAGENET_STD
from ._registry import ModelInfo, WeightsInfo, register_model
from .backbones import MOBILENETV2_FUSION_LAYERS, MobileNetV2Classifier

__all__ = ["load_safetensors_strict", "sbi_mobilenetv2"]

SBI_PAPER = (
    "K. Shiohara, T. Yamasaki. Detecting Deepfakes with Self-Blended Images. CVPR 2022 (arXiv:2204.08376); "
    "backbone: M. Sandler et al., MobileNetV2, CVPR 2018"
)


def load_safetensors_strict(model: nn.Module, path: str | Path) -> None:
    """Load a fakescope training checkpoint (``model.safetensors`` of ``fakescope train``) strictly."""
    from safetensors.torch import load_file

    path = Path(path)
    try:
        sd = load_file(str(path))
    except FileNotFoundError:
        raise WeightsError(f"{path}: weight file not found") from None
    except Exception as e:
        raise WeightsError(f"{path}: cannot read as safetensors ({' '.join(str(e).split())[:200]})") from None
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        raise WeightsError(f"{path}: weights are for another architecture ({' '.join(str(e).split())[:200]})") from None


@register_model(
    ModelInfo(
        name="sbi_mobilenetv2",
        family="mobilenet",
        input_size=224,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        cam_layer="backbone.features.18",
        cam_layers=MOBILENETV2_FUSION_LAYERS,
        licence="Apache-2.0 (fakescope code); weights: see weights/sbi/DATA_CARD.md",
        paper=SBI_PAPER,
        source="scripts/train_sbi.py (this repository)",
        default_weights="sbi",
        weights={
            "sbi": WeightsInfo(
                tag="sbi",
                file="sbi/sbi_mobilenetv2.safetensors",
                sha256="eea879ed8790fdcca45baa79974ef9ff6f1a892d88c92c47fc4f46785a29017b",
                loader=load_safetensors_strict,
                licence="Apache-2.0 (trained here); derived from torchvision's BSD-3 ImageNet weights; training "
                "faces from MIT/public-domain packages (DATA_CARD.md); ImageNet terms of use",
                source="trained by scripts/train_sbi.py on self-blended images of packaged real faces",
                description="self-blended-images detector, demonstration scale (see DATA_CARD.md)",
            ),
            "corpus": WeightsInfo(
                tag="corpus",
                file="sbi_corpus/sbi_mobilenetv2_corpus.safetensors",
                sha256="fbf291075531aed1934287eae01518dfc1f4a78b294e6e5bdaf2738b2383daa4",
                loader=load_safetensors_strict,
                licence="trained here on UTKFace (non-commercial research only) and packaged faces: "
                "non-commercial research use; derived from torchvision's BSD-3 ImageNet weights "
                "(weights/sbi_corpus/DATA_CARD.md)",
                source="fakescope train --config configs/sbi_corpus.yaml on the corpus of scripts/build_corpus.py",
                description="self-blended-images detector trained on ~7,800 identities (issue 12; see DATA_CARD.md)",
            ),
        },
    )
)
def sbi_mobilenetv2(**kwargs) -> MobileNetV2Classifier:
    """MobileNet-V2, 224 px, 1 logit; ``weights="sbi"``: trained on self-blended images here."""
    return MobileNetV2Classifier(**kwargs)
