"""Importers added for the weights catalogue: ICPR 2020 (polimi-ispl/icpr2020dfdc) and DeepfakeBench's
MesoInception-4 without branch ReLUs (``meso4Incep_best.pth``).

Each reference below re-implements the original project's forward with the original module names
(so its ``state_dict()`` has the published key layout), on the reference EfficientNet implementation
(``efficientnet_pytorch``, which the ICPR 2020 code imports) where the original uses it; the
converted fakescope model must give the same logits to 1e-4 on the same synthetic weights.
"""

from __future__ import annotations

import pytest
import timm
import torch
import torch.nn.functional as F
from torch import nn

from fakescope.models import create_model
from fakescope.models._layers import IMAGENET_MEAN, IMAGENET_STD, Normalize
from fakescope.models.convert import build_model, convert_file, convert_state_dict, detect_format, save_converted
from fakescope.models.convert._adapters import set_input_normalization
from fakescope.models.convert.icpr2020 import sha256_from_file_name


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One intra-op thread: on a shared, oversubscribed CPU a 2-thread forward can be 20× slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _x(n: int, size: int, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _calibrate(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """Random BatchNorm affine parameters and running statistics measured on ``x`` (random running
    statistics would wash the input signal out of a deep random network)."""
    torch.manual_seed(0)
    for bn in model.modules():
        if isinstance(bn, nn.modules.batchnorm._BatchNorm):
            bn.momentum = None
            bn.reset_running_stats()
            bn.weight.data.uniform_(0.5, 1.5)
            bn.bias.data.uniform_(-0.2, 0.2)
    model.train()
    with torch.no_grad():
        model(x)
    return model.eval()


def _close(a: torch.Tensor, b: torch.Tensor, tol: float = 1e-4) -> None:
    assert a.shape == b.shape
    assert (a - b).abs().max().item() <= tol * max(1.0, b.abs().max().item()), (a, b)
    assert len(b) == 1 or b.std().item() > 1e-4  # not a comparison between constants


# ----------------------------------------------------------------- ICPR 2020 (architectures/fornet.py)

_NORM = Normalize(IMAGENET_MEAN, IMAGENET_STD)  # FeatureExtractor.get_normalizer()


class _ICPREfficientNet(nn.Module):
    """fornet.EfficientNetB4 / EfficientNetAutoAttB4 (width 0): efficientnet_pytorch B4 without ``_fc``,
    ``classifier = Linear(1792, 1)``, attention ``attconv`` (56 → 1) after block 9."""

    def __init__(self, att: bool) -> None:
        super().__init__()
        ep = pytest.importorskip("efficientnet_pytorch")
        self.efficientnet = ep.EfficientNet.from_name("efficientnet-b4")  # static padding for 380 px
        del self.efficientnet._fc
        self.att = att
        if att:
            self.efficientnet.att_block_idx = 9
            self.efficientnet.attconv = nn.Conv2d(kernel_size=1, in_channels=56, out_channels=1)
        self.classifier = nn.Linear(1792, 1)

    def features(self, x):  # EfficientNetAutoAtt.extract_features, then _avg_pooling and flatten
        en = self.efficientnet
        x = en._swish(en._bn0(en._conv_stem(x)))
        for idx, block in enumerate(en._blocks):
            rate = en._global_params.drop_connect_rate
            if rate:
                rate *= float(idx) / len(en._blocks)
            x = block(x, drop_connect_rate=rate)
            if self.att and idx == 9:
                x = x * torch.sigmoid(en.attconv(x))
        x = en._swish(en._bn1(en._conv_head(x)))
        return en._avg_pooling(x).flatten(start_dim=1)

    def forward(self, x):
        return self.classifier(self.efficientnet._dropout(self.features(x)))


class _SiameseTuning(nn.Module):
    """fornet.SiameseTuning: ``feat_ext`` and ``classifier = Sequential(BatchNorm1d, Linear(., 1))``."""

    def __init__(self, feat_ext: nn.Module, num_feat: int = 1792) -> None:
        super().__init__()
        self.feat_ext = feat_ext
        self.classifier = nn.Sequential(nn.BatchNorm1d(num_feat), nn.Linear(num_feat, 1))

    def forward(self, x):
        return self.classifier(self.feat_ext.features(x))


@pytest.fixture(scope="module")
def icpr_b4():
    """One calibrated ICPR EfficientNetAutoAttB4 for the four EfficientNet variants (building and
    calibrating a B4 is the slow part); the plain variants drop its attention."""
    torch.manual_seed(0)
    net = _ICPREfficientNet(att=True)
    return _calibrate(net, _NORM(_x(2, 64, seed=7)))


def _icpr_reference(net: _ICPREfficientNet, kind: str) -> nn.Module:
    net.att = "Att" in kind
    if not kind.endswith("ST"):
        return net
    ref = _SiameseTuning(net)
    bn = ref.classifier[0]
    g = torch.Generator().manual_seed(3)
    bn.running_mean.copy_(torch.randn(1792, generator=g) * 0.1)
    bn.running_var.copy_(torch.rand(1792, generator=g) + 0.5)
    bn.weight.data.uniform_(0.5, 1.5, generator=g)
    bn.bias.data.uniform_(-0.2, 0.2, generator=g)
    return ref.eval()


@pytest.mark.parametrize(
    "kind, arch",
    [("EfficientNetB4", "tf_efficientnet_b4"), ("EfficientNetAutoAttB4", "tf_efficientnet_b4_att"),
     ("EfficientNetB4ST", "tf_efficientnet_b4"), ("EfficientNetAutoAttB4ST", "tf_efficientnet_b4_att")],
)  # fmt: skip
def test_icpr2020_efficientnet_variants(icpr_b4, kind, arch, tmp_path):
    ref = _icpr_reference(icpr_b4, kind)
    sd = {k: v for k, v in ref.state_dict().items() if "Att" in kind or ".attconv." not in k}
    assert ("efficientnet.attconv.weight" in sd or "feat_ext.efficientnet.attconv.weight" in sd) == ("Att" in kind)
    assert detect_format(sd) == "icpr2020"
    conv = convert_state_dict(sd)
    assert (conv.arch, conv.input_size, conv.mean) == (arch, 224, IMAGENET_MEAN)
    path = save_converted(conv, tmp_path / f"{kind}.safetensors")
    model = create_model(arch, checkpoint_path=path)
    assert model.info.input_size == 224
    # float64: a random 32-block network amplifies float32 rounding (1e-7) to ~1e-3 of its logits;
    # in float64 any mapping error still shows, rounding does not
    x = _x(3, 64).double()
    with torch.no_grad():
        _close(model.double()(x), ref.double()(_NORM.double()(x))[:, 0])
    ref.float(), _NORM.float()


def test_icpr2020_xception():
    torch.manual_seed(0)
    # externals/xception.py is the Cadene Xception (timm legacy_xception has its module names);
    # fornet.Xception: .xception with last_linear = Linear(2048, 1), forward = features → ReLU → pool → linear
    ref = timm.create_model("legacy_xception", pretrained=False, num_classes=1)
    _calibrate(ref, _NORM(_x(2, 64, seed=7)))
    sd = {"xception." + k.replace("fc.", "last_linear."): v for k, v in ref.state_dict().items()}
    conv = convert_state_dict(sd)
    assert (conv.source_format, conv.arch, conv.input_size) == ("icpr2020", "xception", 224)
    model, _ = build_model(conv)
    x = _x(2, 64)
    with torch.no_grad():
        feats = F.relu(ref.forward_features(_NORM(x)))
        _close(model.eval()(x), ref.fc(F.adaptive_avg_pool2d(feats, 1).flatten(1))[:, 0])


def test_sha256_from_file_name():
    name = "EfficientNetB4_DFDC_bestval-c9f3663e2116d3356d056a0ce6453e0fc412a8df68ebd0902f07104d9129a09a.pth"
    assert sha256_from_file_name(name) == "c9f3663e2116d3356d056a0ce6453e0fc412a8df68ebd0902f07104d9129a09a"
    assert sha256_from_file_name("xception_best.pth") is None
    assert sha256_from_file_name("final_111_DeepFakeClassifier_tf_efficientnet_b7_ns_0_36") is None


# ------------------------------------------- DeepfakeBench MesoInception4 (training/networks/mesonet.py)


class _DFBMesoInception4(nn.Module):
    """DeepfakeBench MesoInception4 with its module names and forward: bias-free convs, no ReLU in
    the inception layers, one BatchNorm ``bn1`` shared by the two plain blocks, N×C×H×W flatten."""

    def __init__(self) -> None:
        super().__init__()
        for k, cin in ((1, 3), (2, 11)):
            a = 1 if k == 1 else 2
            setattr(self, f"Incption{k}_conv1", nn.Conv2d(cin, a, 1, padding=0, bias=False))
            setattr(self, f"Incption{k}_conv2_1", nn.Conv2d(cin, 4, 1, padding=0, bias=False))
            setattr(self, f"Incption{k}_conv2_2", nn.Conv2d(4, 4, 3, padding=1, bias=False))
            setattr(self, f"Incption{k}_conv3_1", nn.Conv2d(cin, 4, 1, padding=0, bias=False))
            setattr(self, f"Incption{k}_conv3_2", nn.Conv2d(4, 4, 3, padding=2, dilation=2, bias=False))
            setattr(self, f"Incption{k}_conv4_1", nn.Conv2d(cin, 2, 1, padding=0, bias=False))
            setattr(self, f"Incption{k}_conv4_2", nn.Conv2d(2, 2, 3, padding=3, dilation=3, bias=False))
            setattr(self, f"Incption{k}_bn", nn.BatchNorm2d(11 if k == 1 else 12))
        self.conv1 = nn.Conv2d(12, 16, 5, padding=2, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 16, 5, padding=2, bias=False)
        self.fc1 = nn.Linear(16 * 8 * 8, 16)
        self.fc2 = nn.Linear(16, 2)

    def _inception(self, k, x):
        c = lambda n: getattr(self, f"Incption{k}_{n}")  # noqa: E731
        y = torch.cat((c("conv1")(x), c("conv2_2")(c("conv2_1")(x)), c("conv3_2")(c("conv3_1")(x)),
                       c("conv4_2")(c("conv4_1")(x))), 1)  # fmt: skip
        return F.max_pool2d(c("bn")(y), 2)

    def forward(self, x):  # DeepfakeBench feeds (x - 0.5) / 0.5 at 256 px
        x = self._inception(2, self._inception(1, (x - 0.5) / 0.5))
        x = F.max_pool2d(self.bn1(F.relu(self.conv1(x))), 2)
        x = F.max_pool2d(self.bn1(F.relu(self.conv2(x))), 4)
        return self.fc2(F.leaky_relu(self.fc1(x.flatten(1)), 0.1))


class _Detector(nn.Module):
    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone


def dfb_meso4inception_state_dict() -> tuple[dict, nn.Module]:
    torch.manual_seed(0)
    ref = _calibrate(_DFBMesoInception4(), _x(2, 256, seed=7))
    return _Detector(ref).state_dict(), ref


def test_deepfakebench_meso4inception_without_branch_relu(tmp_path):
    sd, ref = dfb_meso4inception_state_dict()
    torch.save(sd, tmp_path / "meso4Incep_best.pth")
    conv = convert_file(tmp_path / "meso4Incep_best.pth")
    assert (conv.source_format, conv.arch, conv.model_kwargs) == ("deepfakebench", "mesoinception4",
                                                                 {"branch_relu": False})  # fmt: skip
    # mesoinception4 has a Keras loader of its own: the converted file is what create_model takes
    model = create_model("mesoinception4", checkpoint_path=save_converted(conv, tmp_path / "m.safetensors"))
    assert model.info.input_size == 256 and model.info.mean == (0.5, 0.5, 0.5)
    assert isinstance(model.features[0].act, nn.Identity)  # the variant, not the Keras original
    x = _x(3, 256)
    with torch.no_grad():
        z = ref(x)
        _close(model(x), z[:, 1] - z[:, 0])
        keras_like = create_model("mesoinception4", weights=None)  # same tensors, with branch ReLUs
        set_input_normalization(keras_like, (0.5,) * 3, (0.5,) * 3)
        keras_like.load_state_dict(model.state_dict())
        assert not torch.allclose(keras_like(x), model(x), atol=1e-3)
