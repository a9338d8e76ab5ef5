"""DeepfakeBench (Yan et al., NeurIPS 2023 Datasets & Benchmarks) detectors → fakescope models.

Source: https://github.com/SCLBD/DeepfakeBench, ``training/detectors/*_detector.py`` (a detector
holds its network as ``backbone``, so every key starts with ``backbone.``) and
``training/networks/*.py``. All detectors read here end in 2 logits and score
``softmax(pred)[:, 1]`` as the probability of fake (label 1 = fake in ``label_dict``) → fake logit
= z₁ − z₀. Their configs (``training/config/detector/*.yaml``) feed 256×256 RGB normalised with
mean = std = 0.5; the converted models keep that preprocessing (input size 256).

* ``xception`` (``networks/xception.py``, Cadene layout as FaceForensics++) → fakescope
  ``xception``. ``backbone.adjust_channel.*`` (a 1×1 conv + BN built by the network but only used by
  other detectors' ``adjust_channel`` mode) is ignored; head ``backbone.last_linear[.1]``.
* ``efficientnetb4`` (``networks/efficientnetb4.py``: ``efficientnet_pytorch`` B4 as
  ``backbone.efficientnet``, head ``backbone.last_layer``) → fakescope ``tf_efficientnet_b4`` with
  the ``efficientnet_pytorch_padding`` adapter: the strided convolutions pad statically for the
  nominal 380 px (efficientnet_pytorch), and the stem is DeepfakeBench's replacement
  ``nn.Conv2d(3, 48, 3, stride=2, bias=False)`` — no padding at all.
* ``meso4`` (``networks/mesonet.py``, from HongguLiu/MesoNet-Pytorch) → fakescope ``meso4``. Its
  convolutions have no bias (zeros are filled in); one BatchNorm ``bn1`` serves blocks 1 and 2 and
  ``bn2`` blocks 3 and 4 (each is copied to both); its BatchNorm eps is PyTorch's 1e-5 against the
  Keras 1e-3 of fakescope's port, folded exactly into the scale (γ·√(σ²+1e-3)/√(σ²+1e-5), exact in
  eval mode); it flattens N×C×H×W where the Keras port flattens N×H×W×C (``fc1`` columns permuted);
  fakescope's MesoNet negates its last unit, so ``fc2`` gets z_real − z_fake.
* ``meso4Inception`` (``networks/mesonet.py`` ``MesoInception4``; the release file
  ``meso4Incep_best.pth``) → fakescope ``mesoinception4`` built with ``branch_relu=False``: its
  inception layers (``InceptionLayer1/2``) have no ReLU after the branch convolutions, unlike the
  Keras original. Branch ``Incption<k>_conv1`` / ``conv2_1, conv2_2`` / ``conv3_1, conv3_2`` /
  ``conv4_1, conv4_2`` are branches a / b / c / d (concatenated in that order, as fakescope's);
  ``Incption<k>_bn`` is the layer's BatchNorm; the two plain blocks ``conv1``, ``conv2`` share ``bn1``.
  Bias-free convolutions, BatchNorm eps, flattening order and head as for ``meso4``.
* ``ucf`` (``detectors/ucf_detector.py`` ``UCFDetector``, config ``config/detector/ucf.yaml``; the release file
  ``ucf_best.pth``; read at the commit below) → fakescope ``ucf_xception``. Unlike the single-network
  detectors its keys are the detector's own modules: ``encoder_f.*`` (the forgery Xception in
  ``adjust_channel`` mode: Cadene trunk + ``adjust_channel.{0: conv, 1: BatchNorm}``; its ``last_linear`` is
  never called and is ignored), ``block_sha.conv2d.{0,2,4}`` and ``head_sha.mlp.{0,2}`` (the common-forgery
  branch that the test-time score reads). ``encoder_c`` (content encoder), ``con_gan`` (reconstruction
  generator), ``block_spe`` / ``head_spe`` (manipulation-specific branch) are training-only and ignored.
  Head ``head_sha.mlp.2`` (2 logits, ``softmax[:, 1]`` = fake; ``label_dict`` FF-real 0, fakes ≥ 1 scored
  as ``label >= 1``) → z₁ − z₀.

UCF read at SCLBD/DeepfakeBench@8a4a7bf5e966c5c5618bc27d1719c3683eae9a04 (``ucf_detector.py`` last changed in
ba02c47; the inference path is the same as at 14eb0ce, the v1.0.1 era).
"""

from __future__ import annotations

import math

import torch

from ...errors import WeightsError
from ..efficientnet import EFFICIENTNET_INPUT_SIZE
from ..mesonet import _KERAS_BN_EPS
from ._base import Conversion, Importer, KeyPlan, meta_model, register_importer, target_shapes
from ._effnet import effnet_variant, plan_effnet_backbone
from .ffpp import xception_plan

__all__ = ["DeepfakeBenchImporter"]

_MEAN = _STD = (0.5, 0.5, 0.5)
_SIZE = 256
_HEAD_NOTE = "2-logit head (index 1 = fake) → one logit z_fake − z_real"


def _variant(sd) -> str | None:
    if "backbone.block1.rep.0.conv1.weight" in sd and any(k.startswith("backbone.last_linear.") for k in sd):
        return "xception"
    if "backbone.efficientnet._conv_stem.weight" in sd and "backbone.last_layer.weight" in sd:
        return "efficientnetb4"
    if (
        all(f"backbone.{k}.weight" in sd for k in ("conv1", "conv4", "fc2"))
        and "backbone.block1.rep.0.conv1.weight" not in sd
    ):
        return "meso4"
    if "backbone.Incption1_conv1.weight" in sd:
        return "meso4Inception"
    if "encoder_f.block1.rep.0.conv1.weight" in sd and "head_sha.mlp.2.weight" in sd:
        return "ucf"
    return None


@register_importer
class DeepfakeBenchImporter(Importer):
    name = "deepfakebench"
    crop_align = "deepfakebench"  # DeepfakeBench preprocessing img_align_crop (the project trains on its data)
    title = ("DeepfakeBench xception / efficientnetb4 / meso4 / meso4Inception / ucf detectors "
             "(SCLBD/DeepfakeBench training/)")
    priority = 0
    fake_index = 1

    def detect(self, sd, arch=None) -> bool:
        return _variant(sd) is not None

    def convert(self, sd, arch=None, fake_index=None) -> Conversion:
        variant = _variant(sd)
        fake = self._fake_index(fake_index)
        if variant == "xception":
            return self._xception(sd, arch, fake)
        if variant == "efficientnetb4":
            return self._efficientnet(sd, arch, fake)
        if variant == "meso4":
            return self._meso4(sd, arch, fake)
        if variant == "meso4Inception":
            return self._meso4_inception(sd, arch, fake)
        if variant == "ucf":
            return self._ucf(sd, arch, fake)
        raise WeightsError(
            "deepfakebench checkpoint: not an xception, efficientnetb4, meso4, meso4Inception or ucf detector"
        )

    def _xception(self, sd, arch, fake) -> Conversion:
        arch = self._arch(arch, "xception")
        plan = KeyPlan(sd, target_shapes(arch), self.name, arch)
        head = "backbone.last_linear.1." if "backbone.last_linear.1.weight" in sd else "backbone.last_linear."
        xception_plan(plan, "backbone.", head, fake)
        plan.ignore_matching(r"^backbone\.adjust_channel\.", "adjust_channel is unused by the xception detector")
        return Conversion(arch, plan.result(), self.name, _SIZE, _MEAN, _STD, notes=[_HEAD_NOTE, *plan.notes()])

    def _efficientnet(self, sd, arch, fake) -> Conversion:
        b = effnet_variant(sd, "backbone.efficientnet.", self.name)
        arch = self._arch(arch, f"tf_efficientnet_b{b}")
        target = target_shapes(arch)
        plan = KeyPlan(sd, target, self.name, arch)
        plan_effnet_backbone(plan, target, "backbone.efficientnet.")
        plan.head(("backbone.classifier.weight", "backbone.classifier.bias"),
                  ("backbone.last_layer.weight", "backbone.last_layer.bias"), fake)  # fmt: skip
        nominal = EFFICIENTNET_INPUT_SIZE[b]  # efficientnet_pytorch's image_size for B<b>
        adapter = {"name": "efficientnet_pytorch_padding", "image_size": nominal, "stem_padding": [0, 0, 0, 0]}
        return Conversion(
            arch, plan.result(), self.name, _SIZE, _MEAN, _STD, adapter=adapter,
            notes=[_HEAD_NOTE, f"efficientnet_pytorch static 'same' padding for {nominal} px; unpadded stem "
                   "(DeepfakeBench replaced _conv_stem by nn.Conv2d(3, 48, 3, stride=2, bias=False))", *plan.notes()],
        )  # fmt: skip

    def _meso4(self, sd, arch, fake) -> Conversion:
        arch = self._arch(arch, "meso4")
        target = target_shapes(arch)
        plan = KeyPlan(sd, target, self.name, arch)
        for i in range(4):
            _meso_conv(plan, target, f"features.{i}.conv", f"backbone.conv{i + 1}.weight")
            _meso_bn(plan, f"features.{i}.bn", f"backbone.bn{1 if i < 2 else 2}.")
        _meso_head(plan, target, meta_model(arch), fake)
        return Conversion(
            arch, plan.result(), self.name, _SIZE, _MEAN, _STD,
            notes=[_HEAD_NOTE + " (stored negated: fakescope's MesoNet negates its last unit)",
                   "bias-free convolutions: zero biases filled in",
                   "shared BatchNorms bn1 (blocks 1, 2) and bn2 (blocks 3, 4) copied to each block",
                   "BatchNorm eps 1e-5 folded into the scale for fakescope's eps 1e-3 (exact in eval mode)",
                   "fc1 columns reordered from C×H×W to H×W×C flattening", *plan.notes()],
        )  # fmt: skip

    def _meso4_inception(self, sd, arch, fake) -> Conversion:
        arch = self._arch(arch, "mesoinception4")
        kwargs = {"branch_relu": False}
        target = target_shapes(arch, **kwargs)
        plan = KeyPlan(sd, target, self.name, arch)
        for k in (1, 2):
            block, src = f"features.{k - 1}.", f"backbone.Incption{k}_"
            for branch, conv in _INCEPTION_BRANCHES.items():
                _meso_conv(plan, target, block + branch, f"{src}{conv}.weight")
            _meso_bn(plan, block + "bn", f"{src}bn.")
        for i, conv in ((2, "conv1"), (3, "conv2")):
            _meso_conv(plan, target, f"features.{i}.conv", f"backbone.{conv}.weight")
            _meso_bn(plan, f"features.{i}.bn", "backbone.bn1.")
        _meso_head(plan, target, meta_model(arch, **kwargs), fake)
        return Conversion(
            arch, plan.result(), self.name, _SIZE, _MEAN, _STD, model_kwargs=kwargs,
            notes=[_HEAD_NOTE + " (stored negated: fakescope's MesoNet negates its last unit)",
                   "architecture variant without ReLU after the inception branch convolutions (branch_relu=False)",
                   "bias-free convolutions: zero biases filled in",
                   "shared BatchNorm bn1 (blocks 3, 4) copied to each block",
                   "BatchNorm eps 1e-5 folded into the scale for fakescope's eps 1e-3 (exact in eval mode)",
                   "fc1 columns reordered from C×H×W to H×W×C flattening", *plan.notes()],
        )  # fmt: skip


    def _ucf(self, sd, arch, fake) -> Conversion:
        arch = self._arch(arch, "ucf_xception")
        try:
            feat = int(sd["block_sha.conv2d.0.weight"].shape[1])
        except (KeyError, IndexError):
            raise WeightsError("deepfakebench ucf checkpoint: no 4-d tensor block_sha.conv2d.0.weight") from None
        kwargs = {} if feat == 512 else {"feat_dim": feat}
        plan = KeyPlan(sd, target_shapes(arch, **kwargs), self.name, arch)
        xception_plan(plan, "encoder_f.", None, fake)
        for p in ("weight", "bias"):
            plan.copy(f"adjust_channel.0.{p}", f"encoder_f.adjust_channel.0.{p}")
            plan.copy(f"head_sha.0.{p}", f"head_sha.mlp.0.{p}")
            for i in (0, 2, 4):
                plan.copy(f"block_sha.{i}.{p}", f"block_sha.conv2d.{i}.{p}")
        for p in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
            plan.copy(f"adjust_channel.1.{p}", f"encoder_f.adjust_channel.1.{p}")
        plan.head(("head_sha.2.weight", "head_sha.2.bias"), ("head_sha.mlp.2.weight", "head_sha.mlp.2.bias"), fake)
        plan.ignore_matching(r"^encoder_f\.last_linear\.", "the Xception classifier, never called in UCF's "
                             "adjust_channel mode")  # fmt: skip
        plan.ignore_matching(r"^(encoder_c|con_gan|block_spe|head_spe)\.", "training-only: content encoder, "
                             "reconstruction generator and manipulation-specific branch")  # fmt: skip
        return Conversion(
            arch, plan.result(), self.name, _SIZE, _MEAN, _STD, model_kwargs=kwargs,
            notes=[_HEAD_NOTE + " (head_sha: the common-forgery branch UCF scores with)",
                   "forgery encoder encoder_f up to bn4 → adjust_channel → block_sha → head_sha", *plan.notes()],
        )  # fmt: skip


# fakescope _InceptionBlock branch → DeepfakeBench MesoInception4 conv name (Incption<k>_<name>)
_INCEPTION_BRANCHES = {
    "branch_a": "conv1", "branch_b_1x1": "conv2_1", "branch_b_3x3": "conv2_2", "branch_c_1x1": "conv3_1",
    "branch_c_3x3": "conv3_2", "branch_d_1x1": "conv4_1", "branch_d_3x3": "conv4_2",
}  # fmt: skip


def _meso_conv(plan: KeyPlan, target, tmodule: str, skey: str) -> None:
    """A bias-free DeepfakeBench conv → fakescope conv (zero bias filled in)."""
    plan.copy(f"{tmodule}.weight", skey)
    plan.fill(f"{tmodule}.bias", torch.zeros(target[f"{tmodule}.bias"]))


def _meso_bn(plan: KeyPlan, tmodule: str, bn: str, eps: float = _KERAS_BN_EPS) -> None:
    """A PyTorch BatchNorm (eps 1e-5) → fakescope's Keras-eps BatchNorm (scale folded, exact in eval)."""

    def fold(gamma: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
        return gamma * torch.sqrt(var + eps) / torch.sqrt(var + 1e-5)

    plan.combine(f"{tmodule}.weight", (bn + "weight", bn + "running_var"), fold)
    for p in ("bias", "running_mean", "running_var", "num_batches_tracked"):
        plan.copy(f"{tmodule}.{p}", bn + p)


def _meso_head(plan: KeyPlan, target, model, fake: int) -> None:
    side = int(math.isqrt(target["fc1.weight"][1] // model.num_features))

    def nhwc(w: torch.Tensor) -> torch.Tensor:  # columns c·64 + h·8 + w → (h·8 + w)·16 + c
        return w.reshape(w.shape[0], -1, side, side).permute(0, 2, 3, 1).reshape(w.shape[0], -1)

    plan.copy("fc1.weight", "backbone.fc1.weight", nhwc)
    plan.copy("fc1.bias", "backbone.fc1.bias")
    plan.head(("fc2.weight", "fc2.bias"), ("backbone.fc2.weight", "backbone.fc2.bias"), fake, negate=True)
