"""Registry-driven tests: every model in ``list_models()`` honours the model contract.

Contract: N×3×S×S RGB in [0, 1] at ``info.input_size`` → N finite float logits; eval mode after
``create_model``; every trainable parameter receives a gradient; a safetensors state-dict round trip
reproduces the outputs; the ONNX export matches onnxruntime. Big networks run only with
``-m slow``; at least one model per family stays in the default run. Fully convolutional networks
are exercised at a reduced size (the contract size is still checked once, without gradients).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from fakescope.errors import WeightsError
from fakescope.models import (
    attention_layers,
    capture_attention,
    create_model,
    get_model_info,
    list_models,
)
from fakescope.models.export import OnnxModel, autocast_bf16, export_onnx

ALL = list_models()
# Expensive at their contract size on a small CPU: run with -m slow.
SLOW = {f"efficientnet_b{i}" for i in range(1, 8)} | {f"tf_efficientnet_b{i}" for i in range(1, 8)}
SLOW |= {"clip_vit_large_patch14"}  # 300 M parameters: its small configurations run in test_convert_published
SLOW |= {"forensics_adapter"}  # CLIP ViT-L/14 + adapter: its small configuration runs in test_convert_ucf_fa
# ONNX export (tracing) of these is slow: large graphs (TF "same" padding adds ops per conv) or large
# weights. The default run still exports one CNN with depthwise convs, one transformer, MesoNet.
SLOW_ONNX = SLOW | {
    "xception", "vgg16", "densenet121", "tf_efficientnet_b0", "efficientnet_lite0", "efficientvit",
    "tf_efficientnet_b4_att", "clip_probe", "ucf_xception",
}  # fmt: skip
# Models whose layers fix the input size (flatten → FC, positional embeddings).
FIXED_SIZE = {"meso4", "mesoinception4", "vgg16", "efficientvit", "vit_small_patch16_224", "clip_probe",
              "clip_vit_large_patch14", "forensics_adapter"}  # fmt: skip
SMALL = 64  # test size for fully convolutional models
# heads, tokens, and a shallower configuration (same token layout) to keep the test fast
ATTENTION = {
    "efficientvit": (8, 50, {"dim": 64, "depth": 2, "mlp_dim": 128}),
    "vit_small_patch16_224": (6, 197, {"depth": 2}),
}


# Shallower configurations for the ONNX test only (same layers, fewer blocks: tracing is slow).
ONNX_KWARGS = {"vit_small_patch16_224": {"depth": 2}, "efficientvit": {"depth": 2}}


def _params(names, slow):
    return [pytest.param(n, marks=pytest.mark.slow) if n in slow else n for n in names]


def _size(name: str) -> int:
    size = get_model_info(name).input_size
    return size if name in FIXED_SIZE else min(size, SMALL)


def _build(name: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return create_model(name, weights=None)


def _inputs(n: int, size: int, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One intra-op thread: on a shared, oversubscribed CPU, OpenMP thread teams stall at every
    barrier and a 2-thread forward can take 10× longer than a 1-thread one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module", params=_params(ALL, SLOW))
def zoo(request):
    """(name, model) — one model built per name for the tests of this module."""
    return request.param, _build(request.param)


def test_families_are_covered():
    families = {get_model_info(n).family for n in ALL}
    default = {get_model_info(n).family for n in ALL if n not in SLOW}
    assert families == default
    for name in ("xception", "efficientnet_b0", "tf_efficientnet_b7", "efficientvit", "vit_small_patch16_224",
                 "densenet121", "vgg16", "custom_cnn", "mobilenetv2", "efficientnet_lite0"):  # fmt: skip
        assert name in ALL


def test_info_eval_and_cam_layer(zoo):
    name, model = zoo
    info = get_model_info(name)
    assert model.info == info and info.name == name
    assert not model.training and not any(m.training for m in model.modules())
    assert len(info.mean) == len(info.std) == 3 and all(s > 0 for s in info.std)
    if info.cam_layer is not None:
        model.get_submodule(info.cam_layer)  # raises if the dotted name is wrong
    assert info.licence and info.paper and info.source


def test_forward_contract(zoo):
    name, model = zoo
    size = get_model_info(name).input_size
    with torch.no_grad():
        feats = model.forward_features(_inputs(2, size))
        out = model.forward_head(feats)
        pre = model.forward_head(feats, pre_logits=True)
    assert out.shape == (2,) and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    assert pre.ndim == 2 and pre.shape[0] == 2


def test_every_parameter_gets_a_gradient(zoo):
    name, model = zoo
    model.zero_grad(set_to_none=True)
    out = model(_inputs(2, _size(name)))
    assert out.shape == (2,) and torch.isfinite(out).all()
    out.sum().backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    model.zero_grad(set_to_none=True)
    assert not missing, f"{name}: no gradient for {missing[:5]} ({len(missing)} in all)"


def test_safetensors_round_trip(zoo, tmp_path):
    name, model = zoo
    path = tmp_path / f"{name}.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    fresh = _build(name, seed=123)
    fresh.load_state_dict(load_file(str(path)), strict=True)
    x = _inputs(1, _size(name))
    with torch.no_grad():
        assert torch.equal(model(x), fresh(x))


@pytest.mark.parametrize("name", _params(ALL, SLOW_ONNX))
def test_onnx_export_parity(name, tmp_path):
    torch.manual_seed(0)
    model = create_model(name, weights=None, **ONNX_KWARGS.get(name, {}))
    size = _size(name)
    # export_onnx checks onnxruntime against PyTorch itself: a batch of 3 (traced with 2, so the
    # batch axis must be dynamic), max |difference| <= 1e-4 · max(1, max |logit|); else RuntimeError.
    path = export_onnx(model, tmp_path / f"{name}.onnx", input_size=size)
    onnx_model = OnnxModel(path)
    assert onnx_model.info == get_model_info(name)  # ModelInfo travels in the metadata
    x = _inputs(2, size, seed=5)  # not the inputs the export checked
    got = onnx_model(x.numpy())
    assert got.shape == (2,) and got.dtype == torch.float32
    with torch.no_grad():
        ref = model.eval()(x).reshape(-1)
    assert not torch.equal(ref[0], ref[1])  # two faces, two scores
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-4 * max(1.0, float(ref.abs().max())))


@pytest.mark.parametrize("name", sorted(ATTENTION))
def test_attention_maps_are_exposed(name):
    heads, tokens, kwargs = ATTENTION[name]
    torch.manual_seed(0)
    model = create_model(name, weights=None, **kwargs)
    size = get_model_info(name).input_size
    probes = attention_layers(model)
    assert probes and not any(p.record_attn for p in probes)
    with capture_attention(model) as layers:
        out = model(_inputs(2, size))
        for p in layers:
            assert p.attn.shape == (2, heads, tokens, tokens)
            torch.testing.assert_close(p.attn.sum(-1), torch.ones(2, heads, tokens))
        out.sum().backward()
        for p in layers:
            assert p.attn_grad is not None and p.attn_grad.shape == p.attn.shape
    assert all(p.attn is None and p.attn_grad is None and not p.record_attn for p in probes)


def test_efficientvit_released_single_patch_layout():
    """patch_size=7 reproduces the released code's layout: one token plus the class token."""
    torch.manual_seed(0)
    model = create_model("efficientvit", weights=None, patch_size=7, dim=64, depth=1, mlp_dim=64)
    with capture_attention(model) as probes, torch.no_grad():
        assert model(_inputs(1, 224)).shape == (1,)
        assert probes[0].attn.shape == (1, 8, 2, 2)


def test_autocast_bf16_close_to_fp32():
    model = _build("custom_cnn")
    x = _inputs(4, 224)
    with torch.no_grad():
        ref = torch.sigmoid(model(x))
        fast = autocast_bf16(model)
        got = fast(x)
    assert got.dtype == torch.float32 and got.shape == (4,)
    assert fast.info == model.info and not fast.training
    assert (torch.sigmoid(got) - ref).abs().max().item() < 0.01


def test_onnx_model_rejects_bad_input(tmp_path):
    path = export_onnx(_build("custom_cnn"), tmp_path / "m.onnx", input_size=64)
    with pytest.raises(ValueError, match="N×3×H×W"):
        OnnxModel(path)(np.zeros((3, 64, 64), np.float32))


# ------------------------------------------------------------------ packaged ImageNet backbones

IMAGENET = [n for n in ALL if "imagenet" in get_model_info(n).weights]


@pytest.mark.parametrize("name", IMAGENET)
def test_imagenet_backbone_loads_and_head_stays_random(name, tmp_path):
    wi = get_model_info(name).weights["imagenet"]
    if not wi.path.is_file():
        pytest.skip(f"{wi.source} not installed")
    torch.manual_seed(0)
    model = create_model(name, weights="imagenet")
    torch.manual_seed(0)
    random = create_model(name, weights=None)
    assert model.weights_tag == "imagenet"
    loaded, kept = model.backbone.state_dict(), random.backbone.state_dict()
    head = [k for k in loaded if k.startswith("classifier.")]
    assert head and all(torch.equal(loaded[k], kept[k]) for k in head)  # untrained head untouched
    body = [k for k in loaded if k not in head and loaded[k].is_floating_point()]
    assert sum(not torch.equal(loaded[k], kept[k]) for k in body) > 0.9 * len(body)

    # A fine-tuned checkpoint (1-logit head included) goes back in through checkpoint_path.
    ckpt = tmp_path / "finetuned.safetensors"
    with torch.no_grad():
        model.backbone.get_submodule(head[0].rsplit(".", 1)[0]).weight.fill_(0.01)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(ckpt))
    restored = create_model(name, checkpoint_path=ckpt)
    x = _inputs(1, 64)
    with torch.no_grad():
        assert torch.equal(restored(x), model(x))


def test_imagenet_loader_rejects_other_architecture(tmp_path):
    wrong = tmp_path / "wrong.pth"
    torch.save(_build("custom_cnn").state_dict(), wrong)
    for name in IMAGENET:
        with pytest.raises(WeightsError, match="another architecture"):
            create_model(name, checkpoint_path=wrong)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="cannot read"):
        create_model(IMAGENET[0], checkpoint_path=junk)


def test_efficientnet_input_sizes():
    sizes = {b: get_model_info(f"tf_efficientnet_b{b}").input_size for b in range(8)}
    assert sizes == {0: 224, 1: 240, 2: 260, 3: 300, 4: 380, 5: 456, 6: 528, 7: 600}
    assert all(get_model_info(f"efficientnet_b{b}").input_size == s for b, s in sizes.items())
    assert get_model_info("xception").input_size == 299
    vgg = get_model_info("vgg16")  # VGG-Face mean pixel, RGB order, in [0, 1] units; std 1/255
    assert math.isclose(vgg.mean[0] * 255, 129.1863) and math.isclose(vgg.mean[2] * 255, 93.5940)
    assert math.isclose(vgg.std[0], 1 / 255)
