"""LRP on MobileNet-V2 (issue 13): relevance is conserved through the linear-bottleneck residual
blocks, on the shipped ``sbi_mobilenetv2`` weights and on a small random torchvision network.

Before the fix the maps of ``sbi_mobilenetv2`` summed to ~2 % of the logit (merged BatchNorm biases
and bias-only depthwise units absorbed it) or, ignoring biases, to ~2¹⁰ × (each residual addition
doubled it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from fakescope.explainers import UnsupportedModelError, create_explainer, explain
from fakescope.explainers._lrp_mobilenet import InvertedResidualCanonizer
from fakescope.models import create_model
from fakescope.xai_eval.metrics import randomised_copy, spearman

FACES = Path(__file__).parent / "data" / "mesonet" / "test_images"


def _faces(size: int = 224) -> torch.Tensor:
    """Three of the MesoNet authors' test faces (sbi_mobilenetv2's logits: 1.7, −4.7, 5.8), RGB in [0, 1]."""
    paths = sorted(FACES.glob("*/*.jpg"))[1:]
    arr = np.stack([np.asarray(Image.open(p).convert("RGB").resize((size, size), Image.Resampling.BILINEAR))
                    for p in paths])
    return torch.from_numpy(arr).permute(0, 3, 1, 2).float() / 255


def _hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules())


@pytest.fixture(scope="module")
def sbi():
    """The shipped detector, its faces and their LRP maps for target "fake"."""
    model = create_model("sbi_mobilenetv2", weights="default")
    faces = _faces()
    return model, faces, explain(model, faces, "lrp")


def _check_sums(ex, min_faces: int = 2) -> None:
    big = np.abs(ex.logits) > 0.5  # a ratio to a score near 0 says nothing
    assert big.sum() >= min_faces
    np.testing.assert_allclose(ex.maps.sum(axis=(1, 2))[big], ex.logits[big], rtol=0.05)


def test_lrp_on_sbi_mobilenetv2_sums_to_the_target_score(sbi):
    """Σ map = target score (measured 0.99–1.006× on 20 faces; was 0.009–0.047×), for either target,
    and the map of the target the model favours is mostly positive."""
    model, faces, ex = sbi
    _check_sums(ex)
    real = explain(model, faces, "lrp", target="real")
    np.testing.assert_allclose(real.maps, -ex.maps, rtol=1e-4, atol=1e-6 * np.abs(ex.maps).max())
    assert (ex.logits > 0).any() and (ex.logits < 0).any()
    for fake_map, real_map, logit in zip(ex.maps, real.maps, ex.logits, strict=True):
        favoured = fake_map if logit > 0 else real_map
        assert favoured.max() > 0
        assert favoured.clip(min=0).sum() > 0.9 * np.abs(favoured).sum()
    assert _hooks(model) == 0


def test_lrp_on_sbi_mobilenetv2_corpus_weights_sums_to_the_logit(sbi):
    _, faces, _ = sbi
    _check_sums(explain(create_model("sbi_mobilenetv2", weights="corpus"), faces, "lrp"), min_faces=1)


def test_lrp_on_sbi_mobilenetv2_depends_on_the_weights(sbi):
    """Model-randomisation check (Adebayo et al.): the maps of a weight-randomised copy are
    unrelated to the trained model's (measured mean Spearman ρ ≈ 0.07 on 8 faces)."""
    model, faces, ex = sbi
    randomised = explain(randomised_copy(model), faces, "lrp").maps
    rho = np.mean([spearman(a, b) for a, b in zip(ex.maps, randomised, strict=True)])
    assert rho < 0.4


def test_lrp_refuses_epsilon_gamma_box_on_mobilenetv2_with_the_layer_named():
    model = create_model("sbi_mobilenetv2", weights=None)
    with pytest.raises(UnsupportedModelError, match=r"'EpsilonGammaBox'.*'backbone\.features\.3' \(InvertedResidual\)"):
        explain(model, torch.rand(1, 3, 224, 224), "lrp", composite="EpsilonGammaBox")


class _TinyMobileNet(nn.Module):
    """torchvision MobileNet-V2 (width ¼) with random weights and random BatchNorm statistics, so that
    the merged biases are large; a bias-free 1-logit head."""

    def __init__(self) -> None:
        super().__init__()
        from torchvision.models import mobilenet_v2

        torch.manual_seed(0)
        self.net = mobilenet_v2(num_classes=1, width_mult=0.25)
        with torch.no_grad():
            for m in self.net.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.5, 0.5)
                    m.running_var.uniform_(0.5, 2.0)
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.5, 0.5)
            self.net.classifier[1].bias.zero_()
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[:, 0]


def test_inverted_residual_canonizer_keeps_the_forward_and_adds_a_sum():
    model = _TinyMobileNet()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        before = model(x)
        instances = InvertedResidualCanonizer().apply(model)
        try:
            after = model(x)
            sums = [n[: -len(".canonizer_sum")] for n, _ in model.named_modules() if n.endswith("canonizer_sum")]
        finally:
            for inst in instances:
                inst.remove()
        restored = model(x)
    shortcuts = [n for n, m in model.named_modules() if getattr(m, "use_res_connect", False)]
    assert sums == shortcuts and len(shortcuts) >= 10
    torch.testing.assert_close(after, before)
    torch.testing.assert_close(restored, before)
    assert not any(n.endswith("canonizer_sum") for n, _ in model.named_modules())


def test_lrp_conserves_relevance_on_a_random_torchvision_mobilenetv2():
    """Random BatchNorm shifts (merged into the convolutions) and 11 shortcuts: Σ map = logit."""
    model = _TinyMobileNet()
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    ex = create_explainer("lrp", model).explain(x)
    with torch.no_grad():
        logits = model(x).numpy()
    assert np.abs(logits).min() > 1e-3
    np.testing.assert_allclose(ex.maps.sum(axis=(1, 2)), logits, rtol=0.02)
    assert _hooks(model) == 0
