"""torchvision state dicts (``torchvision.models``) → fakescope ``densenet121``, ``vgg16``, ``mobilenetv2``.

* ``densenet121``: torchvision's names (``features.conv0``, ``features.denseblock1.denselayer1.norm1``,
  ..., ``classifier``) are timm's, under ``backbone.``; the pre-0.4 names ``norm.1``/``conv.2``
  are read too.
* ``mobilenet_v2``: ``features.*``/``classifier.1`` under ``backbone.`` (fakescope's mobilenetv2
  *is* torchvision's network).
* ``vgg16`` (``features.0`` … ``features.28``, ``classifier.0/3/6``) → fakescope ``vgg16`` in the
  VGG-Face layout: the 13 convolutions are renamed ``conv1_1`` … ``conv5_3``, the classifier
  ``fc6``/``fc7``/``fc8``. fakescope's VGG feeds the network BGR (VGG-Face's conv1_1 expects B, G, R),
  torchvision's RGB: conv1_1's input channels are reversed, and the normalisation is torchvision's
  ImageNet mean/std instead of the VGG-Face mean pixel — exact. ``vgg16_bn`` has no counterpart.

Heads: 1 output → the logit of fake; 2 outputs → z_fake − z_real, fake at index 1 unless
``fake_index`` says otherwise. Preprocessing: torchvision's ImageNet mean/std at 224 px.
"""

from __future__ import annotations

import re

from ...errors import WeightsError
from ._base import IMAGENET_MEAN, IMAGENET_STD, Conversion, Importer, KeyPlan, register_importer, target_shapes

__all__ = ["TorchvisionImporter"]

# torchvision vgg16 ``features`` indices of the 13 convolutions (cfg "D": conv/ReLU pairs, 5 max-pools)
_VGG16_CONVS = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
_VGG_NAMES = ("1_1", "1_2", "2_1", "2_2", "3_1", "3_2", "3_3", "4_1", "4_2", "4_3", "5_1", "5_2", "5_3")
_LEGACY_DENSE = re.compile(r"(denselayer\d+\.(?:norm|relu|conv))([12])\.")


def _kind(sd) -> str | None:
    if "features.0.weight" in sd and "classifier.6.weight" in sd:
        return "vgg16"
    if "features.conv0.weight" in sd and "classifier.weight" in sd:
        return "densenet121"
    if "features.0.0.weight" in sd and "classifier.1.weight" in sd:
        return "mobilenetv2"
    return None


@register_importer
class TorchvisionImporter(Importer):
    name = "torchvision"
    title = "a torchvision.models state dict (densenet121, vgg16, mobilenet_v2), 1- or 2-logit head"
    priority = 15
    fake_index = None

    def detect(self, sd, arch=None) -> bool:
        kind = _kind(sd)
        return kind is not None and (arch is None or arch == kind)

    def convert(self, sd, arch=None, fake_index=None) -> Conversion:
        kind = _kind(sd)
        if kind is None:
            raise WeightsError("torchvision checkpoint: not a densenet121, vgg16 or mobilenet_v2 state dict")
        arch = self._arch(arch, kind)
        fake = self._fake_index(fake_index)
        plan = KeyPlan(sd, target_shapes(arch), self.name, arch)
        notes = []
        if arch == "vgg16":
            if "features.1.running_mean" in sd:
                raise WeightsError("torchvision vgg16_bn (BatchNorm after every conv) has no fakescope counterpart")
            for idx, name in zip(_VGG16_CONVS, _VGG_NAMES, strict=True):
                flip = (lambda w: w.flip(1)) if name == "1_1" else None
                plan.copy(f"features.conv{name}.weight", f"features.{idx}.weight", flip)
                plan.copy(f"features.conv{name}.bias", f"features.{idx}.bias")
            for fc, idx in (("fc6", 0), ("fc7", 3)):
                plan.copy(f"head.{fc}.weight", f"classifier.{idx}.weight")
                plan.copy(f"head.{fc}.bias", f"classifier.{idx}.bias")
            plan.head(("head.fc8.weight", "head.fc8.bias"), ("classifier.6.weight", "classifier.6.bias"), fake)
            notes.append("conv1_1 input channels reversed (fakescope's VGG feeds BGR); ImageNet mean/std replace "
                         "the VGG-Face mean pixel")  # fmt: skip
        else:
            head = "classifier.1." if arch == "mobilenetv2" else "classifier."
            for t in plan.target:
                if t.startswith("backbone." + head):
                    continue
                key = t.removeprefix("backbone.")
                legacy = _LEGACY_DENSE.sub(r"\1.\2.", key)
                plan.copy(t, legacy if key not in sd and legacy in sd else key)
            plan.head(("backbone." + head + "weight", "backbone." + head + "bias"),
                      (head + "weight", head + "bias"), fake)  # fmt: skip
        head_w = next(k for k in ("classifier.6.weight", "classifier.1.weight", "classifier.weight") if k in sd)
        if sd[head_w].shape[0] == 2:
            notes.append(f"2-logit head: index {fake} taken as fake (a plain state dict does not say; see fake_index)")
        return Conversion(arch, plan.result(), self.name, 224, IMAGENET_MEAN, IMAGENET_STD, notes=notes + plan.notes())
