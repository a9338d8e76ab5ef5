"""Plain timm state dicts → the fakescope model wrapping the same timm network.

A state dict of a timm model (keys exactly as timm names them, e.g. ``conv_stem.weight``,
``blocks.0.0.conv_dw.weight``, ``classifier.weight``; an ``nn.DataParallel`` ``module.`` prefix is
dropped) whose classifier — ``classifier``, ``fc`` or ``head`` depending on the network — has 1 or
2 outputs. fakescope's timm-based models (:class:`~fakescope.models._layers.TimmClassifier`) hold
that network as ``backbone``.

* Architecture: ``--arch``, or the one registered model whose tensors all match (names and shapes).
  Several can match — ``efficientnet_b4`` and ``tf_efficientnet_b4`` have identical tensors but pad
  and normalise differently — and then the architecture must be named.
* Head: 1 output → the logit of fake; 2 outputs → z_fake − z_real with fake at index 1 unless
  ``fake_index`` says otherwise (a plain state dict does not record its class order).
* Preprocessing: not recorded in a state dict; the fakescope model's defaults (timm's for that
  network) are kept and said so in the notes.
"""

from __future__ import annotations

from ...errors import WeightsError
from .._layers import TimmClassifier
from .._registry import get_model_info, list_models
from ._base import Conversion, Importer, KeyPlan, meta_model, register_importer, target_shapes
from ._effnet import timm_effnet_variant

__all__ = ["TimmImporter"]

# A key only a given timm network has → the fakescope families built on it.
_MARKERS = {
    "conv_stem.weight": ("efficientnet", "efficientnet_lite"),
    "block1.rep.0.conv1.weight": ("xception",),
    "patch_embed.proj.weight": ("vit",),
    "features.conv0.weight": ("densenet",),
}


def _head_name(arch: str) -> str | None:
    model = meta_model(arch)
    if not isinstance(model, TimmClassifier):
        return None
    head = model.backbone.get_classifier()
    return next(n for n, m in model.backbone.named_modules() if m is head)


def _overlap(sd, arch: str) -> float:
    """Share of ``arch``'s backbone tensors (head and step counters aside) that ``sd`` has with the
    same shape; 1.0 + 1.0 when the two sets are exactly equal."""
    head = _head_name(arch)
    if head is None:
        return 0.0
    target = {k.removeprefix("backbone."): v for k, v in target_shapes(arch).items()}
    body = {k: v for k, v in target.items() if not k.startswith(head + ".") and not k.endswith("num_batches_tracked")}
    mine = {k: v for k, v in sd.items() if not k.startswith(head + ".") and not k.endswith("num_batches_tracked")}
    same = sum(k in mine and tuple(mine[k].shape) == tuple(s) for k, s in body.items())
    return same / max(len(body), 1) + (1.0 if same == len(body) == len(mine) else 0.0)


def _fits(sd, arch: str) -> bool:
    return _overlap(sd, arch) == 2.0


@register_importer
class TimmImporter(Importer):
    name = "timm"
    title = "a timm model's own state dict (huggingface/pytorch-image-models), 1- or 2-logit head"
    priority = 20
    fake_index = None

    def detect(self, sd, arch=None) -> bool:
        if arch is not None:
            return _head_name(arch) is not None and _fits(sd, arch)
        return any(marker in sd for marker in _MARKERS)

    def _resolve(self, sd, arch: str | None) -> str:
        if arch is not None:
            if _head_name(arch) is None:
                raise WeightsError(f"fakescope {arch!r} is not a timm network; the timm format does not apply")
            return arch
        families = {f for marker, fams in _MARKERS.items() if marker in sd for f in fams}
        candidates = [n for n in list_models() if get_model_info(n).family in families]
        if "conv_stem.weight" in sd:  # EfficientNets: the head width and depth name the B-index
            try:
                b = timm_effnet_variant(sd, "", self.name)
                candidates = [n for n in candidates if get_model_info(n).family != "efficientnet" or
                              n.endswith(f"_b{b}")]  # fmt: skip
            except WeightsError:
                pass
        scores = {n: _overlap(sd, n) for n in candidates}
        matches = [n for n, s in scores.items() if s == 2.0]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            # no exact fit: take the clearly closest model, so that the key plan names what differs
            best = sorted(scores, key=scores.get, reverse=True)[:2]
            if best and scores[best[0]] >= 0.5 and (len(best) == 1 or scores[best[0]] > scores[best[1]]):
                return best[0]
            raise WeightsError(
                "timm state dict matches no registered fakescope model"
                + (f" (tried {', '.join(candidates)})" if candidates else "")
                + "; name the architecture with --arch to see which tensors differ"
            )
        raise WeightsError(
            f"timm state dict fits several fakescope models ({', '.join(matches)}): their tensors are identical "
            "but padding or normalisation differ; name the one it was trained as with --arch"
        )

    def convert(self, sd, arch=None, fake_index=None) -> Conversion:
        arch = self._resolve(sd, arch)
        head = _head_name(arch)
        fake = self._fake_index(fake_index)
        plan = KeyPlan(sd, target_shapes(arch), self.name, arch)
        prefix = f"backbone.{head}."
        for t in plan.target:
            if not t.startswith(prefix):
                plan.copy(t, t.removeprefix("backbone."))
        plan.head((prefix + "weight", prefix + "bias"), (f"{head}.weight", f"{head}.bias"), fake)
        info = get_model_info(arch)
        notes = []
        if sd.get(f"{head}.weight") is not None and sd[f"{head}.weight"].shape[0] == 2:
            notes.append(f"2-logit head: index {fake} taken as fake (a plain state dict does not say; see fake_index)")
        notes.append(f"preprocessing not stored in the file: fakescope defaults of {arch} assumed "
                     f"({info.input_size} px, mean {info.mean}, std {info.std})")  # fmt: skip
        return Conversion(arch, plan.result(), self.name, info.input_size, info.mean, info.std,
                          notes=notes + plan.notes())  # fmt: skip
