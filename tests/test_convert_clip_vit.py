"""GenD and Effort checkpoints (CLIP ViT in Hugging Face layout) → fakescope ``clip_vit_large_patch14``.

The references below re-state the original forwards with the original module names, so their
``state_dict()`` has the published key layout:

* HF transformers ``CLIPVisionTransformer`` (``embeddings.{class_embedding, patch_embedding,
  position_embedding}``, ``pre_layrnorm``, ``encoder.layers.<i>.{layer_norm1, self_attn.{q,k,v,out}_proj,
  layer_norm2, mlp.fc1, mlp.fc2}``, ``post_layernorm``; QuickGELU; ``pooler_output`` = post_layernorm of the
  class token), as ``openai/clip-vit-large-patch14`` configures it, at a small width/depth (the original
  code takes any size from its config);
* GenD (yermandy/GenD ``src/hf/modeling_gend.py``): ``feature_extractor.{vision_model, visual_projection}``
  and ``model = LinearProbe(width, 2, normalize_inputs)`` (``LinearNorm``: ``F.normalize`` first);
* Effort (``effort_detector.py``): ``backbone`` = the vision tower with every ``self_attn`` Linear an
  ``SVDResidualLinear`` (``weight_main`` + ``U_residual · diag(S_residual) · V_residual``), ``head``.

The converted model must give the same fake logit (z₁ − z₀ of the 2-logit heads) to 1e-4.
"""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

from fakescope.models import create_model
from fakescope.models.clip_vit import CLIP_MEAN, CLIP_STD
from fakescope.models.convert import convert_file, convert_state_dict, detect_format, save_converted

WIDTH, DEPTH, PATCH, SIZE = 128, 2, 14, 56  # 2 heads of 64, a 4×4 patch grid


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _x(n: int, size: int = SIZE, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _clip_norm(x: torch.Tensor) -> torch.Tensor:  # CLIPProcessor's normalisation (after its resize/crop)
    mean = torch.tensor(CLIP_MEAN, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - mean) / std


# ------------------------------------------------------------------ HF CLIPVisionTransformer, re-stated


class _Attention(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads, self.scale = heads, (width // heads) ** -0.5
        self.q_proj, self.k_proj = nn.Linear(width, width), nn.Linear(width, width)
        self.v_proj, self.out_proj = nn.Linear(width, width), nn.Linear(width, width)

    def forward(self, x):
        b, t, c = x.shape

        def split(y):
            return y.view(b, t, self.heads, c // self.heads).transpose(1, 2)

        q, k, v = split(self.q_proj(x) * self.scale), split(self.k_proj(x)), split(self.v_proj(x))
        attn = (q @ k.transpose(-1, -2)).softmax(-1)
        return self.out_proj((attn @ v).transpose(1, 2).reshape(b, t, c))


class _MLP(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)

    def forward(self, x):
        h = self.fc1(x)
        return self.fc2(h * torch.sigmoid(1.702 * h))  # quick_gelu (hidden_act of openai/clip-vit-large-patch14)


class _Layer(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.layer_norm1, self.layer_norm2 = nn.LayerNorm(width, eps=1e-5), nn.LayerNorm(width, eps=1e-5)
        self.self_attn, self.mlp = _Attention(width, heads), _MLP(width)

    def forward(self, x):
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class _Embeddings(nn.Module):
    def __init__(self, width: int, patch: int, size: int) -> None:
        super().__init__()
        self.class_embedding = nn.Parameter(torch.randn(width))
        self.patch_embedding = nn.Conv2d(3, width, patch, stride=patch, bias=False)
        n = (size // patch) ** 2 + 1
        self.position_embedding = nn.Embedding(n, width)
        self.register_buffer("position_ids", torch.arange(n).expand((1, -1)), persistent=False)

    def forward(self, x):
        patches = self.patch_embedding(x).flatten(2).transpose(1, 2)
        cls = self.class_embedding.expand(x.shape[0], 1, -1)
        return torch.cat([cls, patches], dim=1) + self.position_embedding(self.position_ids)


class _Encoder(nn.Module):
    def __init__(self, width: int, depth: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(_Layer(width, width // 64) for _ in range(depth))


class _VisionTransformer(nn.Module):
    """HF ``CLIPVisionTransformer``; ``forward`` returns ``pooler_output``."""

    def __init__(self, width=WIDTH, depth=DEPTH, patch=PATCH, size=SIZE) -> None:
        super().__init__()
        self.embeddings = _Embeddings(width, patch, size)
        self.pre_layrnorm = nn.LayerNorm(width, eps=1e-5)
        self.encoder = _Encoder(width, depth)
        self.post_layernorm = nn.LayerNorm(width, eps=1e-5)

    def forward(self, pixel_values):
        h = self.pre_layrnorm(self.embeddings(pixel_values))
        for layer in self.encoder.layers:
            h = layer(h)
        return self.post_layernorm(h[:, 0])


def _randomise(module: nn.Module, seed: int) -> nn.Module:
    """Non-trivial LayerNorm affines and biases (default init leaves them at 1 and 0)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("bias") or "norm" in name:
                p.add_(torch.randn(p.shape, generator=g) * 0.1)
    return module.eval()


# ---------------------------------------------------------------------------------------------- GenD


class _CLIPEncoder(nn.Module):  # src/hf/modeling_gend.py CLIPEncoder
    def __init__(self) -> None:
        super().__init__()
        self.vision_model = _VisionTransformer()
        self.visual_projection = nn.Linear(WIDTH, 96, bias=False)

    def forward(self, x):
        return self.vision_model(x)


class _LinearProbe(nn.Module):  # src/hf/modeling_gend.py LinearProbe
    def __init__(self, normalize_inputs: bool) -> None:
        super().__init__()
        self.linear = nn.Linear(WIDTH, 2)
        self.normalize_inputs = normalize_inputs

    def forward(self, x):
        return self.linear(F.normalize(x, p=2, dim=1) if self.normalize_inputs else x)


class GenDReference(nn.Module):
    """GenD(config) with ``head = "LinearNorm"`` (published) or ``"linear"``; input: CLIPProcessor output."""

    def __init__(self, head: str = "LinearNorm", seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.feature_extractor = _CLIPEncoder()
        self.model = _LinearProbe(head == "LinearNorm")
        _randomise(self, seed)
        with torch.no_grad():  # a head that separates the (unit-norm) features visibly
            self.model.linear.weight.mul_(30.0)

    def forward(self, inputs):
        return self.model(self.feature_extractor(inputs))


def gend_state_dict(head: str = "LinearNorm", seed: int = 0) -> tuple[dict, GenDReference]:
    ref = GenDReference(head, seed)
    return {k: v.contiguous() for k, v in ref.state_dict().items()}, ref


def _close(got: torch.Tensor, want: torch.Tensor, tol: float = 1e-4) -> None:
    assert got.shape == want.shape
    assert (got - want).abs().max().item() <= tol * max(1.0, want.abs().max().item()), (got, want)
    assert want.std().item() > 1e-3  # not a comparison between constants


@pytest.mark.parametrize("head, fmt", [("LinearNorm", "gend"), ("linear", "gend-linear")])
def test_gend_published_layout_gives_the_original_logits(tmp_path, head, fmt):
    sd, ref = gend_state_dict(head)
    path = tmp_path / "model.safetensors"  # as on the Hugging Face repository
    save_file(sd, str(path), metadata={"format": "pt"})
    assert detect_format(sd) == "gend"  # the published LinearNorm layout is what auto-detection takes
    conv = convert_file(path, format=fmt)
    assert (conv.source_format, conv.arch, conv.input_size) == (fmt, "clip_vit_large_patch14", SIZE)
    assert conv.model_kwargs == {"embed_dim": WIDTH, "depth": DEPTH, "num_heads": 2, "img_size": SIZE,
                                 **({} if head == "LinearNorm" else {"l2_normalize": False})}  # fmt: skip
    assert (conv.mean, conv.std) == (CLIP_MEAN, CLIP_STD)
    assert any("visual_projection" in n for n in conv.notes)
    model = create_model("clip_vit_large_patch14", checkpoint_path=save_converted(conv, tmp_path / "c.safetensors"))
    assert model.info.input_size == SIZE and model.info.mean == CLIP_MEAN
    assert conv.crop_align == model.info.crop_align == "gend"  # GenD's own five-landmark alignment
    x = _x(4).double()
    with torch.no_grad():
        z = ref.double()(_clip_norm(x))
        _close(model.double()(x), z[:, 1] - z[:, 0])
    if head == "LinearNorm":  # the other head reading is not the same model: the format matters
        wrong = convert_state_dict(sd, "gend-linear")
        other = create_model("clip_vit_large_patch14", weights=None, **wrong.model_kwargs).double()
        other.load_state_dict({k: v.double() for k, v in wrong.state_dict.items()})
        with torch.no_grad():
            assert (other(x) - (z[:, 1] - z[:, 0])).abs().max() > 1e-2


def test_gend_refuses_a_damaged_layout():
    from fakescope.errors import WeightsError

    sd, _ = gend_state_dict()
    del sd["feature_extractor.vision_model.encoder.layers.1.self_attn.k_proj.weight"]
    sd["feature_extractor.vision_model.extra.weight"] = torch.zeros(3)
    with pytest.raises(WeightsError) as e:
        convert_state_dict(sd)
    assert "k_proj.weight" in str(e.value) and "extra.weight" in str(e.value) and "no tensor was loaded" in str(e.value)


def test_token_cam_and_relevancy_run_on_the_converted_vit(tmp_path):
    """Plumbing only (random weights): the ViT's explainers give one finite map per face at crop size."""
    from fakescope.explainers import explain

    sd, _ = gend_state_dict()
    conv = convert_state_dict(sd)
    model = create_model("clip_vit_large_patch14", checkpoint_path=save_converted(conv, tmp_path / "c.safetensors"))
    assert model.info.cam_layer == "backbone.blocks.1.norm1"  # the last of this checkpoint's 2 blocks
    for method in ("gradcam", "attention_relevancy"):
        ex = explain(model, _x(2), method=method)
        assert ex.maps.shape == (2, SIZE, SIZE) and torch.isfinite(torch.as_tensor(ex.maps)).all()
        assert float(torch.as_tensor(ex.maps).std()) > 0


# -------------------------------------------------------------------------------------------- Effort


class _SVDResidualLinear(nn.Module):
    """Effort's SVDResidualLinear after training: fixed ``weight_main`` (top-r SVD part of the CLIP weight)
    plus a trained rank-(n−r) residual ``U_residual · diag(S_residual) · V_residual``."""

    def __init__(self, linear: nn.Linear, r: int, g: torch.Generator) -> None:
        super().__init__()
        u, s, vh = torch.linalg.svd(linear.weight.data, full_matrices=False)
        self.weight_main = nn.Parameter(u[:, :r] @ torch.diag(s[:r]) @ vh[:r], requires_grad=False)
        self.bias = nn.Parameter(linear.bias.data.clone())
        # "trained": the residual moved away from the discarded singular directions
        self.S_residual = nn.Parameter(s[r:] + 0.5 + torch.rand(len(s) - r, generator=g))
        self.U_residual = nn.Parameter(u[:, r:] + 0.05 * torch.randn(u[:, r:].shape, generator=g))
        self.V_residual = nn.Parameter(vh[r:] + 0.05 * torch.randn(vh[r:].shape, generator=g))
        self.S_r, self.U_r, self.V_r = (nn.Parameter(t.clone(), requires_grad=False) for t in (s[:r], u[:, :r], vh[:r]))

    def forward(self, x):
        weight = self.weight_main + self.U_residual @ torch.diag(self.S_residual) @ self.V_residual
        return F.linear(x, weight, self.bias)


class EffortReference(nn.Module):
    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        g = torch.Generator().manual_seed(seed + 1)
        self.backbone = _randomise(_VisionTransformer(), seed)
        for layer in self.backbone.encoder.layers:  # apply_svd_residual_to_self_attn(r = width − 1)
            for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
                setattr(layer.self_attn, name, _SVDResidualLinear(getattr(layer.self_attn, name), WIDTH - 1, g))
        self.head = nn.Linear(WIDTH, 2)
        self.eval()

    def forward(self, x):
        return self.head(self.backbone(x))


def test_effort_svd_residual_layout_gives_the_original_logits(tmp_path):
    ref = EffortReference()
    sd = {"module." + k: v for k, v in ref.state_dict().items()}  # saved from nn.DataParallel
    assert "module.backbone.encoder.layers.0.self_attn.q_proj.U_r" in sd
    path = tmp_path / "effort_clip_L14_trainOn_FaceForensic.pth"
    torch.save(sd, path)
    conv = convert_file(path)
    assert (conv.source_format, conv.arch, conv.model_kwargs["l2_normalize"]) == ("effort", "clip_vit_large_patch14",
                                                                                  False)  # fmt: skip
    assert any("principal SVD part" in n for n in conv.notes)
    model = create_model("clip_vit_large_patch14", checkpoint_path=save_converted(conv, tmp_path / "e.safetensors"))
    assert conv.crop_align == model.info.crop_align == "deepfakebench"  # Effort trains on DeepfakeBench's faces
    x = _x(4).double()
    with torch.no_grad():
        z = ref.double()(_clip_norm(x))
        _close(model.double()(x), z[:, 1] - z[:, 0])
        # the residual matters: the weight_main part alone gives other logits
        plain = {k: v for k, v in conv.state_dict.items()}
        assert not torch.equal(plain["backbone.blocks.0.attn.proj.weight"].double(),
                               ref.backbone.encoder.layers[0].self_attn.out_proj.weight_main)  # fmt: skip


def test_converted_metadata_records_the_head(tmp_path):
    sd, _ = gend_state_dict()
    path = save_converted(convert_state_dict(sd), tmp_path / "c.safetensors")
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    assert json.loads(meta["model_kwargs"])["depth"] == DEPTH and "LinearNorm" in meta["notes"]
