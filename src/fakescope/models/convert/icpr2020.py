"""Politecnico di Milano ICPR 2020 models (Bonettini et al.) → fakescope models.

Source: https://github.com/polimi-ispl/icpr2020dfdc (GPL-3.0), read at commit bbd6411
(``architectures/fornet.py``, ``architectures/weights.py``, ``architectures/externals/xception.py``,
``isplutils/utils.py``, ``notebook/Video prediction.ipynb``). The published files are plain state
dicts (``net.load_state_dict(load_url(url, check_hash=True))``); the training script's own files
wrap them as ``{"net": ..., "opt": ..., ...}`` (both are read). Their names carry the file's full
sha256 after the last ``-`` (``EfficientNetB4_DFDC_bestval-c9f3…a09a.pth``, torch.hub's
``check_hash`` convention), which :func:`sha256_from_file_name` reads so that every download or
added file is checked against it.

Every model ends in one logit; ``expit(score)`` is P(fake) (labels: real 0, fake 1) → copied.
Preprocessing (``get_transformer(face_policy="scale", patch_size=224, ...)``, ``get_normalizer``):
the face isotropically scaled and padded to 224×224, RGB, ImageNet mean/std → input size 224.

* ``EfficientNetB4`` (``efficientnet.*`` = ``efficientnet_pytorch`` B4 without its ``_fc``;
  ``classifier`` = Linear(1792, 1)) → fakescope ``tf_efficientnet_b4`` with the
  ``efficientnet_pytorch_padding`` adapter: ``EfficientNet.from_pretrained("efficientnet-b4")``
  pads every strided convolution (stem included) statically for 380 px, and the network runs at 224.
* ``EfficientNetAutoAttB4`` (adds ``efficientnet.attconv`` = Conv2d(56, 1, 1) after block 9) →
  fakescope ``tf_efficientnet_b4_att`` (same adapter).
* ``EfficientNetB4ST`` / ``EfficientNetAutoAttB4ST`` (``SiameseTuning``: the network as
  ``feat_ext``, head ``classifier = Sequential(BatchNorm1d(1792), Linear(1792, 1))``) → the same
  fakescope models; the eval-mode BatchNorm1d is folded into the linear layer
  (w' = w·γ/√(σ²+ε), b' = b + w·(β − μ·γ/√(σ²+ε)), exact); ``feat_ext.classifier`` (the feature
  extractor's own head) is unused by ``SiameseTuning.forward`` and ignored.
* ``Xception`` (``xception.*`` Cadene layout, ``last_linear`` = Linear(2048, 1)) → fakescope
  ``xception`` (the FaceForensics++ mapping).
"""

from __future__ import annotations

import re

import torch

from ...errors import WeightsError
from ._base import IMAGENET_MEAN, IMAGENET_STD, Conversion, Importer, KeyPlan, register_importer, target_shapes
from ._effnet import effnet_variant, plan_effnet_backbone
from .ffpp import xception_plan

__all__ = ["ICPR2020Importer", "sha256_from_file_name"]

_SIZE = 224
_NOMINAL = 380  # efficientnet_pytorch's image_size for B4: the static padding of every strided conv
_BN1D_EPS = 1e-5
_HASH_IN_NAME = re.compile(r"-([0-9a-f]{64})(?:\.[A-Za-z0-9]+)?$")


def sha256_from_file_name(name: str) -> str | None:
    """The sha256 a file name carries after its last ``-`` (``X_bestval-<64 hex>.pth``), else None."""
    m = _HASH_IN_NAME.search(name)
    return m.group(1) if m else None


def _variant(sd) -> tuple[str, str] | None:
    """(kind, prefix of the EfficientNet or Xception) of an ICPR 2020 state dict."""
    if "xception.conv1.weight" in sd and "xception.last_linear.weight" in sd:
        return "xception", "xception."
    st = "classifier.0.running_mean" in sd and "classifier.1.weight" in sd
    prefix = "feat_ext.efficientnet." if st else "efficientnet."
    if f"{prefix}_conv_stem.weight" not in sd:
        return None
    head = sd.get("classifier.1.weight" if st else "classifier.weight")
    if head is None or head.ndim != 2 or head.shape[0] != 1:
        return None
    att = any(k.startswith(f"{prefix}attconv.") for k in sd)
    return ("att" if att else "plain") + ("_st" if st else ""), prefix


@register_importer
class ICPR2020Importer(Importer):
    name = "icpr2020"
    title = "ICPR 2020 EfficientNetB4 / B4Att / B4ST / B4AttST / Xception (polimi-ispl/icpr2020dfdc fornet.py)"
    priority = 0
    fake_index = 1

    def detect(self, sd, arch=None) -> bool:
        return _variant(sd) is not None

    def convert(self, sd, arch=None, fake_index=None) -> Conversion:
        found = _variant(sd)
        if found is None:
            raise WeightsError("icpr2020 checkpoint: not an EfficientNetB4(Att)(ST) or Xception of fornet.py")
        kind, prefix = found
        fake = self._fake_index(fake_index)
        if kind == "xception":
            arch = self._arch(arch, "xception")
            plan = KeyPlan(sd, target_shapes(arch), self.name, arch)
            xception_plan(plan, prefix, prefix + "last_linear.", fake)
            return Conversion(arch, plan.result(), self.name, _SIZE, IMAGENET_MEAN, IMAGENET_STD,
                              notes=["1-logit head (sigmoid = P(fake)) copied", *plan.notes()])  # fmt: skip
        b = effnet_variant(sd, prefix, self.name)
        if b != 4:
            raise WeightsError(f"icpr2020 checkpoint: an EfficientNet-B{b}; the published models are B4")
        att, st = kind.startswith("att"), kind.endswith("_st")
        arch = self._arch(arch, "tf_efficientnet_b4_att" if att else "tf_efficientnet_b4")
        target = target_shapes(arch)
        plan = KeyPlan(sd, target, self.name, arch)
        plan_effnet_backbone(plan, [k for k in target if k.startswith("backbone.")], prefix)
        notes = []
        if att:
            if f"{prefix}attconv.weight" not in sd:
                raise WeightsError("icpr2020 checkpoint: a multi-layer attention (width > 0); the published "
                                   "EfficientNetAutoAttB4 has one 1×1 attconv")  # fmt: skip
            plan.copy("attconv.weight", f"{prefix}attconv.weight")
            plan.copy("attconv.bias", f"{prefix}attconv.bias")
        tkeys = ("backbone.classifier.weight", "backbone.classifier.bias")
        if st:
            self._fold_st_head(plan, tkeys)
            plan.ignore_matching(r"^feat_ext\.classifier\.", "the feature extractor's own head, unused by "
                                 "SiameseTuning.forward")  # fmt: skip
            notes.append("SiameseTuning head BatchNorm1d(1792) + Linear(1792, 1) folded into one linear layer")
        else:
            plan.head(tkeys, ("classifier.weight", "classifier.bias"), fake)
        adapter = {"name": "efficientnet_pytorch_padding", "image_size": _NOMINAL}
        return Conversion(
            arch, plan.result(), self.name, _SIZE, IMAGENET_MEAN, IMAGENET_STD, adapter=adapter,
            notes=["1-logit head (sigmoid = P(fake)) copied", *notes,
                   f"efficientnet_pytorch static 'same' padding for {_NOMINAL} px (from_pretrained), run at {_SIZE} px",
                   *plan.notes()],
        )  # fmt: skip

    @staticmethod
    def _fold_st_head(plan: KeyPlan, tkeys: tuple[str, str]) -> None:
        bn, lin = "classifier.0.", "classifier.1."

        def scale(gamma: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
            return gamma / torch.sqrt(var + _BN1D_EPS)

        def weight(w, gamma, var):
            return w * scale(gamma, var)

        def bias(w, b, gamma, beta, mean, var):
            return b + w @ (beta - mean * scale(gamma, var))

        plan.combine(tkeys[0], (lin + "weight", bn + "weight", bn + "running_var"), weight)
        plan.combine(tkeys[1], (lin + "weight", lin + "bias", bn + "weight", bn + "bias", bn + "running_mean",
                                bn + "running_var"), bias)  # fmt: skip
        plan.ignore([bn + "num_batches_tracked"], "a BatchNorm step counter")
