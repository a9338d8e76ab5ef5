"""DFDC winner (Selim Seferbekov, 2020) → fakescope ``tf_efficientnet_b<N>``.

Source: https://github.com/selimsef/dfdc_deepfake_challenge, ``training/zoo/classifiers.py``:
``DeepFakeClassifier`` = timm ``tf_efficientnet_b7_ns`` as ``encoder`` (its ``forward_features``,
average pooling, dropout) and ``fc = Linear(2560, 1)``; checkpoints (``predict_folder.py``) are
``{"state_dict": ..., "epoch": ..., "bce_best": ...}`` saved from ``nn.DataParallel``
(``module.`` prefixes).

* Head: one logit, ``kernel_utils.predict_on_video`` takes ``sigmoid`` of it as P(fake) — copied.
  The encoder's own ImageNet ``classifier`` (``encoder.classifier.*``) is never used by
  ``DeepFakeClassifier.forward`` and is ignored.
* Preprocessing (``kernel_utils.py``, ``predict_folder.py``): faces isotropically resized and
  zero-padded to 380×380, RGB, ``/255`` then ImageNet mean/std → input size 380 (the registered
  ``tf_efficientnet_b7`` defaults to the paper's 600), ImageNet mean/std.
* Architecture: the timm network itself (TF "same" padding computed from the actual input, in
  both). Other encoders of ``encoder_params`` (B2–B6) map the same way; ``DeepFakeClassifierSRM``
  and ``...GWAP`` (extra ``srm_conv`` / ``avg_pool.conv`` tensors) are refused.
"""

from __future__ import annotations

from ._base import IMAGENET_MEAN, IMAGENET_STD, Conversion, Importer, KeyPlan, register_importer, target_shapes
from ._effnet import timm_effnet_variant

__all__ = ["DFDCImporter"]


@register_importer
class DFDCImporter(Importer):
    name = "dfdc"
    title = "DFDC winner DeepFakeClassifier (selimsef/dfdc_deepfake_challenge training/zoo/classifiers.py)"
    priority = 0
    fake_index = 1

    def detect(self, sd, arch=None) -> bool:
        fc = sd.get("fc.weight")
        return "encoder.conv_stem.weight" in sd and fc is not None and fc.ndim == 2 and fc.shape[0] == 1

    def convert(self, sd, arch=None, fake_index=None) -> Conversion:
        b = timm_effnet_variant(sd, "encoder.", self.name)
        arch = self._arch(arch, f"tf_efficientnet_b{b}")
        plan = KeyPlan(sd, target_shapes(arch), self.name, arch)
        for t in plan.target:
            if not t.startswith("backbone.classifier."):
                plan.copy(t, "encoder." + t.removeprefix("backbone."))
        plan.head(("backbone.classifier.weight", "backbone.classifier.bias"), ("fc.weight", "fc.bias"),
                  self._fake_index(fake_index))  # fmt: skip
        plan.ignore(["encoder.classifier.weight", "encoder.classifier.bias"],
                    "the timm encoder's ImageNet classifier, unused by DeepFakeClassifier.forward")  # fmt: skip
        return Conversion(
            arch, plan.result(), self.name, 380, IMAGENET_MEAN, IMAGENET_STD,
            notes=["1-logit head (sigmoid = P(fake)) copied", "input 380 px as predict_folder.py", *plan.notes()],
        )  # fmt: skip
