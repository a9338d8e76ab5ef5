"""CLIP ViT detectors in Hugging Face ``CLIPVisionModel`` layout → fakescope ``clip_vit_large_patch14``.

Both projects keep HF transformers' CLIP vision tower under their own prefix and put a 2-logit linear head
on its ``pooler_output`` (``post_layernorm`` of the class token); label 1 = fake, scored as
``softmax(logits)[:, 1]`` → fake logit = z₁ − z₀ (exact, see :func:`~._base.binary_head`).

* ``gend`` — GenD (Yermakov et al., WACV 2026), ``yermandy/GenD`` ``src/hf/modeling_gend.py`` (read at
  e03532d53b372bb365c54ee1d42ef426ed44b3a2) and the Hugging Face repository ``yermandy/GenD_CLIP_L_14``
  (``model.safetensors``, ``config.json``: ``backbone = "openai/clip-vit-large-patch14"``,
  ``head = "LinearNorm"``). Keys ``feature_extractor.vision_model.*`` (the tower),
  ``feature_extractor.visual_projection.weight`` (CLIP's image-text projection, unused by GenD's forward:
  ignored) and ``model.linear.{weight,bias}`` (the head). ``LinearNorm`` L2-normalises the pooled feature
  before the linear layer; the published config says so, and the file itself does not — format
  ``gend-linear`` reads a checkpoint trained with GenD's plain ``linear`` head. Labels: ``src/dataset/
  dataset.py`` (a source whose name contains "real" is 0, every other 1).
* ``effort`` — Effort (Yan et al., ICML 2025), DeepfakeBench-style ``training/detectors/effort_detector.py``
  (``backbone = CLIPModel.vision_model`` with every ``self_attn`` Linear replaced by ``SVDResidualLinear``,
  ``head = nn.Linear(1024, 2)``; read in yermandy/GenD ``src/model/effort/model.py`` at the commit above
  and roeehub/Effort-AIGI-Detection@fb077777cbb18cca489f96ce19d440731d6e9597, a fork of
  YZY-stack/Effort-AIGI). An ``SVDResidualLinear`` computes ``F.linear(x, weight_main + U_residual ·
  diag(S_residual) · V_residual, bias)``: the importer folds the residual into one weight (exact up to
  float rounding); ``U_r``/``S_r``/``V_r`` (the frozen principal part, already inside ``weight_main``) are
  ignored. No L2 normalisation before the head.

Preprocessing (both): HF ``CLIPProcessor`` — bicubic resize of the shorter side to 224, centre crop 224,
CLIP mean/std. Sizes are read from the shapes: width (class embedding), depth (layers), patch (patch
embedding), image size (√(positions − 1) · patch), MLP width; the head count is not stored in a state
dict and is width / 64 (every CLIP ViT has 64-wide heads: B/16 12, L/14 16).
"""

from __future__ import annotations

import math
import re

import torch

from ...errors import WeightsError
from ..clip_vit import CLIP_MEAN, CLIP_STD
from ._base import Conversion, Importer, KeyPlan, register_importer, target_shapes

__all__ = ["EffortImporter", "GenDImporter", "GenDLinearImporter", "clip_vit_kwargs"]

ARCH = "clip_vit_large_patch14"
_DEFAULTS = {"embed_dim": 1024, "depth": 24, "num_heads": 16, "patch_size": 14, "img_size": 224, "mlp_ratio": 4.0}
_HEAD_NOTE = "2-logit head (index 1 = fake) → one logit z_fake − z_real"


def clip_vit_kwargs(sd, tower: str, fmt: str) -> dict:
    """fakescope model keywords for the HF CLIP vision tower under ``tower`` (only those that differ from
    ViT-L/14's defaults)."""
    try:
        width = int(sd[tower + "embeddings.class_embedding"].shape[0])
        patch = int(sd[tower + "embeddings.patch_embedding.weight"].shape[-1])
        tokens = int(sd[tower + "embeddings.position_embedding.weight"].shape[0])
        hidden = int(sd[tower + "encoder.layers.0.mlp.fc1.weight"].shape[0])
    except KeyError as e:
        raise WeightsError(f"{fmt} checkpoint: no CLIP vision tower tensor {e.args[0]}") from None
    rx = re.compile(re.escape(tower) + r"encoder\.layers\.(\d+)\.")
    depth = 1 + max(int(m.group(1)) for k in sd if (m := rx.match(k)))
    grid = math.isqrt(tokens - 1)
    if grid * grid != tokens - 1 or width % 64:
        raise WeightsError(f"{fmt} checkpoint: {tokens} position embeddings / width {width} is not a square-grid "
                           "CLIP ViT with 64-wide heads")  # fmt: skip
    found = {"embed_dim": width, "depth": depth, "num_heads": width // 64, "patch_size": patch,
             "img_size": grid * patch, "mlp_ratio": hidden / width}  # fmt: skip
    return {k: v for k, v in found.items() if v != _DEFAULTS[k]}


def plan_clip_tower(plan: KeyPlan, tower: str, depth: int, attn_weight=None) -> None:
    """Every tensor of the timm CLIP ViT (``backbone.``) from the HF vision tower under ``tower``.

    ``attn_weight(prefix)`` gives the folded weight of one attention projection (Effort); default: the
    plain ``prefix + "weight"``.
    """
    e, b = tower + "embeddings.", "backbone."
    width = plan.target[b + "cls_token"][-1]
    plan.copy(b + "cls_token", e + "class_embedding", lambda v: v.reshape(1, 1, width))
    plan.copy(b + "pos_embed", e + "position_embedding.weight", lambda v: v.unsqueeze(0))
    plan.copy(b + "patch_embed.proj.weight", e + "patch_embedding.weight")
    plan.ignore([e + "position_ids"], "HF's position index buffer (0 … T−1), not a weight")
    for p in ("weight", "bias"):
        plan.copy(f"{b}norm_pre.{p}", f"{tower}pre_layrnorm.{p}")
        plan.copy(f"{b}norm.{p}", f"{tower}post_layernorm.{p}")
    for i in range(depth):
        s, t = f"{tower}encoder.layers.{i}.", f"{b}blocks.{i}."
        if attn_weight is None:
            plan.combine(t + "attn.qkv.weight", [f"{s}self_attn.{x}_proj.weight" for x in "qkv"],
                         lambda q, k, v: torch.cat([q, k, v]))  # fmt: skip
            plan.copy(t + "attn.proj.weight", s + "self_attn.out_proj.weight")
        else:
            attn_weight(plan, t + "attn.qkv.weight", [f"{s}self_attn.{x}_proj." for x in "qkv"])
            attn_weight(plan, t + "attn.proj.weight", [s + "self_attn.out_proj."])
        plan.combine(t + "attn.qkv.bias", [f"{s}self_attn.{x}_proj.bias" for x in "qkv"],
                     lambda q, k, v: torch.cat([q, k, v]))  # fmt: skip
        plan.copy(t + "attn.proj.bias", s + "self_attn.out_proj.bias")
        for ours, theirs in (("norm1", "layer_norm1"), ("norm2", "layer_norm2"), ("mlp.fc1", "mlp.fc1"),
                             ("mlp.fc2", "mlp.fc2")):  # fmt: skip
            for p in ("weight", "bias"):
                plan.copy(f"{t}{ours}.{p}", f"{s}{theirs}.{p}")


def _conversion(plan: KeyPlan, fmt: str, kwargs: dict, notes: list[str]) -> Conversion:
    return Conversion(ARCH, plan.result(), fmt, int(kwargs.get("img_size", 224)), CLIP_MEAN, CLIP_STD,
                      model_kwargs=kwargs, notes=notes + plan.notes())  # fmt: skip


_GEND_TOWER = "feature_extractor.vision_model."


@register_importer
class GenDImporter(Importer):
    name = "gend"
    crop_align = "gend"  # yermandy/GenD detector.py align_face
    title = "GenD CLIP detector, LinearNorm head (yermandy/GenD src/hf/modeling_gend.py; HF yermandy/GenD_CLIP_L_14)"
    priority = 0
    fake_index = 1
    l2_normalize = True

    def detect(self, sd, arch=None) -> bool:
        return _GEND_TOWER + "embeddings.class_embedding" in sd and "model.linear.weight" in sd

    def convert(self, sd, arch=None, fake_index=None) -> Conversion:
        arch = self._arch(arch, ARCH)
        kwargs = clip_vit_kwargs(sd, _GEND_TOWER, self.name)
        if not self.l2_normalize:
            kwargs["l2_normalize"] = False
        plan = KeyPlan(sd, target_shapes(arch, **kwargs), self.name, arch)
        plan_clip_tower(plan, _GEND_TOWER, kwargs.get("depth", _DEFAULTS["depth"]))
        plan.head(("backbone.head.weight", "backbone.head.bias"), ("model.linear.weight", "model.linear.bias"),
                  self._fake_index(fake_index))  # fmt: skip
        plan.ignore(["feature_extractor.visual_projection.weight"],
                    "CLIP's image-text projection: GenD classifies the pooled feature before it")  # fmt: skip
        head = ("LinearNorm head: the pooled feature is L2-normalised before the linear layer (config.json of "
                "the published model)") if self.l2_normalize else "linear head on the pooled feature (no L2 norm)"
        return _conversion(plan, self.name, kwargs, [_HEAD_NOTE, head])


@register_importer
class GenDLinearImporter(GenDImporter):
    name = "gend-linear"
    title = "GenD CLIP detector trained with the plain 'linear' head (no L2 normalisation)"
    priority = 1  # auto-detection takes the published LinearNorm layout
    l2_normalize = False


_EFFORT_TOWER = "backbone."
_SVD = ("weight_main", "U_residual", "S_residual", "V_residual")


def _fold_svd(plan: KeyPlan, tkey: str, prefixes: list[str]) -> None:
    """W = weight_main + U_residual · diag(S_residual) · V_residual per projection, concatenated (qkv)."""

    def fold(*values: torch.Tensor) -> torch.Tensor:
        out = []
        for i in range(0, len(values), 4):
            main, u, s, v = (t.double() for t in values[i : i + 4])
            out.append((main + (u * s) @ v).to(values[i].dtype))
        return torch.cat(out)

    plan.combine(tkey, [p + n for p in prefixes for n in _SVD], fold)


@register_importer
class EffortImporter(Importer):
    name = "effort"
    crop_align = "deepfakebench"  # DeepfakeBench preprocessing img_align_crop (the project trains on its data)
    title = "Effort CLIP detector with SVD-residual attention (YZY-stack/Effort-AIGI effort_detector.py)"
    priority = 0
    fake_index = 1

    def detect(self, sd, arch=None) -> bool:
        return (_EFFORT_TOWER + "embeddings.class_embedding" in sd and "head.weight" in sd
                and _EFFORT_TOWER + "encoder.layers.0.self_attn.q_proj.weight_main" in sd)  # fmt: skip

    def convert(self, sd, arch=None, fake_index=None) -> Conversion:
        arch = self._arch(arch, ARCH)
        kwargs = {**clip_vit_kwargs(sd, _EFFORT_TOWER, self.name), "l2_normalize": False}
        plan = KeyPlan(sd, target_shapes(arch, **kwargs), self.name, arch)
        plan_clip_tower(plan, _EFFORT_TOWER, kwargs.get("depth", _DEFAULTS["depth"]), attn_weight=_fold_svd)
        plan.head(("backbone.head.weight", "backbone.head.bias"), ("head.weight", "head.bias"),
                  self._fake_index(fake_index))  # fmt: skip
        plan.ignore_matching(r"self_attn\.\w+_proj\.[USV]_r$",
                             "the frozen principal SVD part, already inside weight_main")  # fmt: skip
        return _conversion(plan, self.name, kwargs, [
            _HEAD_NOTE, "SVD-residual attention projections folded: W = weight_main + U_res·diag(S_res)·V_res",
            "linear head on the pooled feature (no L2 norm)"])  # fmt: skip
