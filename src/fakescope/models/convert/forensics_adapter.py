"""Forensics Adapter (Cui et al., CVPR 2025) checkpoints → fakescope ``forensics_adapter``.

Source: OUC-VAS/ForensicsAdapter@a4cc94fa4255d2baa85cb26989fb884b098010e3. ``trainer.save_ckpt`` saves
``DS.state_dict()`` whole (``module.`` prefixed when trained with DDP) and ``test.py`` loads it with
``strict=False``. Keys:

* ``clip_model.visual.*`` — OpenAI's CLIP vision tower (``model/clip/model.py``: ``conv1``,
  ``class_embedding``, ``positional_embedding``, ``ln_pre``, ``transformer.resblocks.<i>.{ln_1, attn.in_proj_*,
  attn.out_proj, ln_2, mlp.c_fc, mlp.c_proj}``, ``ln_post``, ``proj``) → timm layout under ``clip.``
  (``in_proj`` is already the [q; k; v] stack timm's ``qkv`` holds; ``proj`` (C×768, used as ``x @ proj``) →
  ``proj.weight``, transposed). The text tower (``clip_model.transformer``, ``token_embedding``, …) is ignored.
  ``RecAttnClip`` shares the vision tower, so ``rec_attn_clip.{vit, resblocks, ln_post, proj}.*`` repeat it:
  ignored (read instead when the ``clip_model.visual.`` copy is absent).
* ``adapter.{patch_conv, query_embed, query_pos_embed, ln_pre}``, ``adapter.vit_model.pos_embed`` (14×14, no
  class entry), ``adapter.vit_model.blocks.0–7`` (timm ViT-Ti/16 blocks; the forward stops after the 8th, so
  blocks 8–11 are ignored, as is the unused ``vit_model.patch_embed``), ``adapter.mask_decoder.{query_mlp,
  attn_mlp, bias_scaling}`` (``xray_mlp`` only feeds the training target: ignored).
* ``rec_attn_clip.clip_intra_blocks.0.{conv_first, conv_second}`` → ``intra.{0, 2}``
  (``rec_attn_clip.intra_scale`` is a parameter the forward never reads: ignored).
* ``clip_post_process.first_process.{0,1,3,4,6}`` → ``head_tokens``; ``second_process.{0,2}`` → ``head.{0,2}``;
  ``second_process.4`` (2 logits, ``softmax[:, 1]`` = fake; ``label_dict`` real 0, every fake 1) → ``head.4``,
  z₁ − z₀. ``masked_xray_post_process.*`` (the x-ray map) is ignored.

Preprocessing: ``config/test.yaml`` — 256×256 face crops (DeepfakeBench's), CLIP mean/std; the network resizes
the face to 224 for CLIP itself. Sizes come from the shapes (CLIP width / depth / patch / positions / MLP /
projection; queries; adapter width; mask-decoder widths); the head count is width / 64 for both towers, and
the mask decoder's head count must equal CLIP's (``head_num`` of the config).
"""

from __future__ import annotations

import re

from ...errors import WeightsError
from ..clip_vit import CLIP_MEAN, CLIP_STD
from ..forensics_adapter import INTRA_AFTER_BLOCK, adapter_input_size
from ._base import Conversion, Importer, KeyPlan, register_importer, target_shapes

__all__ = ["ForensicsAdapterImporter"]

ARCH = "forensics_adapter"
_DEFAULTS = {"embed_dim": 1024, "depth": 24, "patch_size": 14, "clip_img_size": 224, "mlp_ratio": 4.0,
             "out_dim": 768, "num_queries": 128, "adapter_dim": 192, "adapter_depth": 8, "mlp_dim": 256,
             "mlp_out_dim": 128}  # fmt: skip
_TOWERS = ("clip_model.visual.", "rec_attn_clip.vit.")
_DEC = "adapter.mask_decoder."


def _tower(sd) -> str | None:
    return next((t for t in _TOWERS if t + "class_embedding" in sd), None)


def _sizes(sd, tower: str, fmt: str) -> dict:
    try:
        width = int(sd[tower + "class_embedding"].shape[0])
        patch = int(sd[tower + "conv1.weight"].shape[-1])
        tokens = int(sd[tower + "positional_embedding"].shape[0])
        hidden = int(sd[tower + "transformer.resblocks.0.mlp.c_fc.weight"].shape[0])
        out_dim = int(sd[tower + "proj"].shape[1])
        _, queries, adapter_dim = sd["adapter.query_embed"].shape
        mlp_dim = int(sd[_DEC + "query_mlp.layers.0.weight"].shape[0])
        mlp_out = int(sd[_DEC + "query_mlp.layers.2.weight"].shape[0])
        bias_channels = int(sd[_DEC + "attn_mlp.layers.2.weight"].shape[0])
        adapter_patch = int(sd["adapter.patch_conv.weight"].shape[-1])
    except (KeyError, IndexError, ValueError) as e:
        raise WeightsError(f"{fmt} checkpoint: no usable tensor {e.args[0] if e.args else ''}".rstrip()) from None
    rx = re.compile(re.escape(tower) + r"transformer\.resblocks\.(\d+)\.")
    depth = 1 + max(int(m.group(1)) for k in sd if (m := rx.match(k)))
    grid = int(round((tokens - 1) ** 0.5))
    problems = []
    if grid * grid != tokens - 1 or width % 64:
        problems.append(f"{tokens} position embeddings / width {width} is not a square-grid CLIP ViT with "
                        "64-wide heads")  # fmt: skip
    if bias_channels != mlp_out * (width // 64):
        problems.append(f"the mask decoder makes {bias_channels // max(mlp_out, 1)} attention biases for "
                        f"{width // 64} CLIP heads")  # fmt: skip
    if depth <= INTRA_AFTER_BLOCK or adapter_dim % 64:
        problems.append(f"a {depth}-block CLIP / {adapter_dim}-wide adapter is not a Forensics Adapter configuration")
    if problems:
        raise WeightsError(f"{fmt} checkpoint: " + "; ".join(problems))
    found = {"embed_dim": width, "depth": depth, "patch_size": patch, "clip_img_size": grid * patch,
             "mlp_ratio": hidden / width, "out_dim": out_dim, "num_queries": int(queries),
             "adapter_dim": int(adapter_dim), "mlp_dim": mlp_dim, "mlp_out_dim": mlp_out}  # fmt: skip
    kwargs = {k: v for k, v in found.items() if v != _DEFAULTS[k]}
    return kwargs, grid * adapter_patch


def _plan_clip(plan: KeyPlan, tower: str, depth: int) -> None:
    width = plan.target["clip.cls_token"][-1]
    plan.copy("clip.cls_token", tower + "class_embedding", lambda v: v.reshape(1, 1, width))
    plan.copy("clip.pos_embed", tower + "positional_embedding", lambda v: v.unsqueeze(0))
    plan.copy("clip.patch_embed.proj.weight", tower + "conv1.weight")
    plan.copy("proj.weight", tower + "proj", lambda v: v.t())
    for p in ("weight", "bias"):
        plan.copy(f"clip.norm_pre.{p}", f"{tower}ln_pre.{p}")
        plan.copy(f"clip.norm.{p}", f"{tower}ln_post.{p}")
    for i in range(depth):
        s, t = f"{tower}transformer.resblocks.{i}.", f"clip.blocks.{i}."
        plan.copy(t + "attn.qkv.weight", s + "attn.in_proj_weight")
        plan.copy(t + "attn.qkv.bias", s + "attn.in_proj_bias")
        for ours, theirs in (("attn.proj", "attn.out_proj"), ("norm1", "ln_1"), ("norm2", "ln_2"),
                             ("mlp.fc1", "mlp.c_fc"), ("mlp.fc2", "mlp.c_proj")):  # fmt: skip
            for p in ("weight", "bias"):
                plan.copy(f"{t}{ours}.{p}", f"{s}{theirs}.{p}")


@register_importer
class ForensicsAdapterImporter(Importer):
    name = "forensics-adapter"
    crop_align = "deepfakebench"  # DeepfakeBench preprocessing img_align_crop (the project trains on its data)
    title = "Forensics Adapter DS model (OUC-VAS/ForensicsAdapter model/ds.py; CLIP ViT-L/14 + adapter)"
    priority = 0
    fake_index = 1

    def detect(self, sd, arch=None) -> bool:
        return "adapter.query_embed" in sd and "clip_post_process.second_process.0.weight" in sd

    def convert(self, sd, arch=None, fake_index=None) -> Conversion:
        arch = self._arch(arch, ARCH)
        tower = _tower(sd)
        if tower is None:
            raise WeightsError(f"{self.name} checkpoint: no CLIP vision tower (clip_model.visual.class_embedding)")
        kwargs, size = _sizes(sd, tower, self.name)
        if size != adapter_input_size():
            raise WeightsError(f"{self.name} checkpoint: the adapter's patch grid needs {size} px faces, not 256")
        target = target_shapes(arch, **kwargs)
        plan = KeyPlan(sd, target, self.name, arch)
        _plan_clip(plan, tower, kwargs.get("depth", _DEFAULTS["depth"]))
        for t in target:
            if t.startswith("adapter."):
                name = t.removeprefix("adapter.")
                if name.startswith(("blocks.", "pos_embed")):
                    src = "adapter.vit_model." + name
                elif name.startswith(("query_mlp.", "attn_mlp.", "bias_scaling.")):
                    src = _DEC + name
                else:
                    src = t
                plan.copy(t, src)
        for i, conv in ((0, "conv_first"), (2, "conv_second")):
            for p in ("weight", "bias"):
                plan.copy(f"intra.{i}.{p}", f"rec_attn_clip.clip_intra_blocks.0.{conv}.{p}")
        for t in target:
            if t.startswith("head_tokens."):
                plan.copy(t, "clip_post_process.first_process." + t.removeprefix("head_tokens."))
        for i in (0, 2):
            for p in ("weight", "bias"):
                plan.copy(f"head.{i}.{p}", f"clip_post_process.second_process.{i}.{p}")
        plan.head(("head.4.weight", "head.4.bias"), ("clip_post_process.second_process.4.weight",
                  "clip_post_process.second_process.4.bias"), self._fake_index(fake_index))  # fmt: skip
        depth = kwargs.get("adapter_depth", _DEFAULTS["adapter_depth"])
        rx = re.compile(r"adapter\.vit_model\.blocks\.(\d+)\.")
        unused = [k for k in sd if (m := rx.match(k)) and int(m.group(1)) >= depth]
        plan.ignore(unused, f"adapter ViT blocks after the {depth}th: the adapter's forward stops there")
        plan.ignore_matching(r"^adapter\.vit_model\.patch_embed\.",
                             "the adapter embeds patches with its own patch_conv")  # fmt: skip
        plan.ignore_matching(r"^clip_model\.(transformer|token_embedding|positional_embedding|ln_final|text_projection|"
                             r"logit_scale)", "CLIP's text tower, unused")  # fmt: skip
        other = next(t for t in _TOWERS if t != tower)
        plan.ignore_matching(rf"^({re.escape(other)}|rec_attn_clip\.(resblocks\.|ln_post\.|proj$))",
                             "the same CLIP vision tower again (RecAttnClip shares it)")  # fmt: skip
        plan.ignore_matching(r"^(adapter\.mask_decoder\.xray_mlp|masked_xray_post_process)\.",
                             "the x-ray (blending boundary) decoder: a training target, not the score")  # fmt: skip
        plan.ignore(["rec_attn_clip.intra_scale"], "a parameter the forward never reads (the scale is 0.05)")
        return Conversion(
            arch, plan.result(), self.name, size, CLIP_MEAN, CLIP_STD, model_kwargs=kwargs,
            notes=["2-logit head (index 1 = fake) → one logit z_fake − z_real",
                   "the original's per-call randomly initialised CLIP→adapter Fusion (0.01 × a fresh random "
                   "projection, in no checkpoint) is left out: its expectation, zero", *plan.notes()],
        )  # fmt: skip
