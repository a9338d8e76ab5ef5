"""Efficient ViT (Coccomini et al., ICIAP 2022) → fakescope ``efficientvit``.

Source: https://github.com/davide-coccomini/Combining-EfficientNet-and-Vision-Transformers-for-Video-Deepfake-Detection,
``efficient-vit/efficient_vit.py`` (``EfficientViT``), ``configs/architecture.yaml``, ``test.py``.
Keys: ``efficient_net.*`` (``efficientnet_pytorch`` B0; its ImageNet ``_fc`` is unused by
``extract_features`` and ignored), ``patch_to_embedding``, ``cls_token``, ``pos_embedding``,
``transformer.layers.<i>.0.{norm,fn.to_qkv,fn.to_out.0}`` (attention),
``transformer.layers.<i>.1.{norm,fn.net.0,fn.net.3}`` (MLP), ``mlp_head.{0,2}``.

* Head: ``num-classes: 1``; ``test.py`` applies ``sigmoid`` and labels originals 0, fakes 1 → the
  logit of fake, copied.
* Preprocessing (``test.py``): ``cv2.imread`` crops (**BGR**, 0…255) isotropically resized and
  padded to 224×224, fed as float without normalisation. fakescope feeds RGB in [0, 1]: the
  converted model normalises with mean 0, std 1/255 (→ 0…255) and the stem convolution's input
  channels are reversed (B, G, R → R, G, B), which is exact.
* Architecture: the configuration is read from the shapes (``patch_size`` from
  ``patch_to_embedding``'s input width 1280·p², ``dim``, ``depth``, ``mlp_dim``); the number of
  heads is not recorded in a checkpoint and is taken as the config's 8 (× ``dim_head`` =
  qkv width / 24). The released config (patch 7) gives one token plus the class token.

What cannot be reproduced exactly, and what is done instead: the released ``pos_embedding`` has
shape (32, 1, dim) and ``forward`` adds ``pos_embedding[b]`` to every token of the *b*-th image of a
batch (a bug: scores depend on the batch position). fakescope's positional embedding is one vector
per token, the same for every image; the converted model uses row 0 for every token, i.e. it
reproduces the released model on a batch of one (or the first image of any batch); rows 1–31 are
dropped. The EfficientNet-B7 variant (``selected_efficient_net=7``, 2560 channels) has no
counterpart: fakescope's ``efficientvit`` is built on B0.
"""

from __future__ import annotations

import math
import re

from ...errors import WeightsError
from ._base import Conversion, Importer, KeyPlan, register_importer, target_shapes
from ._effnet import EffnetNames

__all__ = ["EfficientViTImporter"]

_B0_CHANNELS = 1280
_HEADS = 8  # configs/architecture.yaml


def _need(sd, key: str):
    if key not in sd:
        raise WeightsError(f"efficientvit checkpoint does not fit fakescope 'efficientvit': 1 missing: {key}")
    return sd[key]


def _pos_rows(e, n: int):
    """(batch positions, 1, dim) → row 0 for each of the ``n`` tokens: (1, n, dim)."""
    return e[0].expand(n, -1).unsqueeze(0) if e.ndim == 3 and e.shape[1] == 1 else e


def _config(sd) -> dict:
    head = _need(sd, "efficient_net._conv_head.weight").shape[0]
    if head != _B0_CHANNELS:
        raise WeightsError(
            f"efficientvit checkpoint has a {head}-channel EfficientNet (the B7 variant, selected_efficient_net=7); "
            "fakescope's efficientvit is built on EfficientNet-B0 (1280 channels): no faithful mapping"
        )
    dim, patch_dim = (int(n) for n in _need(sd, "patch_to_embedding.weight").shape)
    p = math.isqrt(patch_dim // _B0_CHANNELS)
    if p * p * _B0_CHANNELS != patch_dim:
        raise WeightsError(f"efficientvit checkpoint: patch_to_embedding takes {patch_dim} inputs, not 1280·p²")
    depth = 1 + max(int(m.group(1)) for k in sd if (m := re.match(r"transformer\.layers\.(\d+)\.", k)))
    inner = int(_need(sd, "transformer.layers.0.0.fn.to_qkv.weight").shape[0]) // 3
    mlp_dim = int(_need(sd, "mlp_head.0.weight").shape[0])
    return {"patch_size": p, "dim": dim, "depth": depth, "heads": _HEADS, "dim_head": inner // _HEADS,
            "mlp_dim": mlp_dim}  # fmt: skip


def _source_key(t: str) -> str:
    m = re.match(r"transformer\.layers\.(\d+)\.(attn|ff)\.(.+)$", t)
    if m:
        return f"transformer.layers.{m.group(1)}.{0 if m.group(2) == 'attn' else 1}.{m.group(3)}"
    return t


@register_importer
class EfficientViTImporter(Importer):
    name = "efficientvit"
    title = "Efficient ViT (davide-coccomini/Combining-EfficientNet-and-Vision-Transformers efficient-vit/)"
    priority = 0
    fake_index = 1

    def detect(self, sd, arch=None) -> bool:
        return all(k in sd for k in ("efficient_net._conv_stem.weight", "patch_to_embedding.weight",
                                     "transformer.layers.0.0.fn.to_qkv.weight", "mlp_head.2.weight"))  # fmt: skip

    def convert(self, sd, arch=None, fake_index=None) -> Conversion:
        arch = self._arch(arch, "efficientvit")
        kwargs = _config(sd)
        target = target_shapes(arch, **kwargs)
        names = EffnetNames(k.removeprefix("efficient_net.") for k in target if k.startswith("efficient_net."))
        plan = KeyPlan(sd, target, self.name, arch)
        for t in target:
            if t.startswith("efficient_net."):
                flip = (lambda w: w.flip(1)) if t == "efficient_net.conv_stem.weight" else None
                plan.copy(t, "efficient_net." + names.source_key(t.removeprefix("efficient_net.")), flip)
            elif t == "pos_embedding":
                plan.copy(t, "pos_embedding", lambda e, n=target[t][1]: _pos_rows(e, n))
            elif not t.startswith("mlp_head.2."):
                plan.copy(t, _source_key(t))
        plan.head(("mlp_head.2.weight", "mlp_head.2.bias"), ("mlp_head.2.weight", "mlp_head.2.bias"),
                  self._fake_index(fake_index))  # fmt: skip
        plan.ignore(["efficient_net._fc.weight", "efficient_net._fc.bias"],
                    "EfficientNet's ImageNet classifier, unused by extract_features")  # fmt: skip
        return Conversion(
            arch, plan.result(), self.name, 224, (0.0, 0.0, 0.0), (1 / 255, 1 / 255, 1 / 255), model_kwargs=kwargs,
            notes=["1-logit head (sigmoid = P(fake)) copied",
                   "BGR 0…255 input of the original: std 1/255 inside, stem conv input channels reversed",
                   "pos_embedding row 0 (rows are indexed by batch position in the original) used for every "
                   "token: matches the original on a batch of one",
                   f"heads = {_HEADS} as configs/architecture.yaml (not stored in the checkpoint)", *plan.notes()],
        )  # fmt: skip
