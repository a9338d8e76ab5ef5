"""Self-Blended Images (Shiohara & Yamasaki, CVPR 2022) → fakescope ``tf_efficientnet_b4``.

Source: https://github.com/mapooon/SelfBlendedImages, ``src/model.py`` / ``src/inference/model.py``:
``Detector.net = EfficientNet.from_pretrained("efficientnet-b4", advprop=True, num_classes=2)``
(``efficientnet_pytorch`` layout: ``net._conv_stem.weight``, ``net._blocks.<i>._depthwise_conv.weight``,
..., ``net._fc.weight``), saved by ``src/train_sbi.py`` as
``{"model": state_dict, "optimizer": ..., "epoch": ...}``.

* Head: 2 logits; ``collate_fn`` labels real 0 and self-blended 1, inference scores
  ``softmax(1)[:, 1]`` as "fakeness" → fake logit = z₁ − z₀.
* Preprocessing (``src/inference/preprocess.py``, ``inference_image.py``): RGB face crops resized
  to 380×380 and divided by 255 — no mean/std (``advprop=True`` only chose the pretrained weights;
  the [-1, 1] AdvProp scaling was never applied) → mean 0, std 1.
* Architecture: ``efficientnet_pytorch`` B4 is timm ``tf_efficientnet_b4`` (TF "same" padding,
  BatchNorm eps 1e-3); its static padding for 380 px equals timm's dynamic padding at 380 px, the
  size SBI runs at.
"""

from __future__ import annotations

from ..efficientnet import EFFICIENTNET_INPUT_SIZE
from ._base import Conversion, Importer, KeyPlan, register_importer, target_shapes
from ._effnet import effnet_variant, plan_effnet_backbone

__all__ = ["SelfBlendedImagesImporter"]


@register_importer
class SelfBlendedImagesImporter(Importer):
    name = "sbi"
    title = "SelfBlendedImages Detector (mapooon/SelfBlendedImages src/model.py)"
    priority = 0
    fake_index = 1

    def detect(self, sd, arch=None) -> bool:
        return "net._conv_stem.weight" in sd and "net._fc.weight" in sd

    def convert(self, sd, arch=None, fake_index=None) -> Conversion:
        b = effnet_variant(sd, "net.", self.name)
        arch = self._arch(arch, f"tf_efficientnet_b{b}")
        target = target_shapes(arch)
        plan = KeyPlan(sd, target, self.name, arch)
        plan_effnet_backbone(plan, target, "net.")
        plan.head(("backbone.classifier.weight", "backbone.classifier.bias"), ("net._fc.weight", "net._fc.bias"),
                  self._fake_index(fake_index))  # fmt: skip
        return Conversion(
            arch, plan.result(), self.name, EFFICIENTNET_INPUT_SIZE[b], (0.0, 0.0, 0.0), (1.0, 1.0, 1.0),
            notes=["2-logit head (index 1 = fake) → one logit z_fake − z_real",
                   "input RGB in [0, 1] without mean/std, as SBI's inference code feeds it", *plan.notes()],
        )  # fmt: skip
