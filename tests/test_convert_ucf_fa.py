"""UCF (DeepfakeBench ``ucf_best.pth``) and Forensics Adapter (CVPR 2025) checkpoints → fakescope models.

The references below re-state the original networks with the original module names, so their
``state_dict()`` has the published key layout; the converted fakescope model must give the same fake logit
(z₁ − z₀ of the 2-logit heads) to 1e-4.

* UCF: SCLBD/DeepfakeBench@8a4a7bf5e966c5c5618bc27d1719c3683eae9a04 ``training/networks/xception.py``
  (``Xception`` with ``mode: adjust_channel``: ``features`` ends at ``bn4`` then ``adjust_channel``) and
  ``training/detectors/ucf_detector.py`` (``UCFDetector``: ``encoder_f``, ``encoder_c``, ``con_gan``,
  ``block_spe/sha`` = ``Conv2d1x1``, ``head_spe/sha`` = ``Head``; test-time path ``encoder_f.features`` →
  ``block_sha`` → ``head_sha``). The Xception is full size (the original has no size option); inputs are small.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fakescope.errors import WeightsError
from fakescope.models import create_model
from fakescope.models.clip_vit import CLIP_MEAN, CLIP_STD
from fakescope.models.convert import convert_file, convert_state_dict, detect_format, save_converted


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _x(n: int, size: int, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _close(got: torch.Tensor, want: torch.Tensor, tol: float = 1e-4) -> None:
    assert got.shape == want.shape
    assert (got - want).abs().max().item() <= tol * max(1.0, want.abs().max().item()), (got, want)
    assert want.std().item() > 1e-4  # not a comparison between constants


def _calibrate(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """Random BatchNorm affines, running statistics measured on ``x`` (random statistics would wash the
    input out of a deep random network)."""
    g = torch.Generator().manual_seed(5)
    for bn in model.modules():
        if isinstance(bn, nn.modules.batchnorm._BatchNorm):
            bn.momentum = None
            bn.reset_running_stats()
            bn.weight.data.copy_(torch.rand(bn.weight.shape, generator=g) + 0.5)
            bn.bias.data.copy_((torch.rand(bn.bias.shape, generator=g) - 0.5) * 0.4)
    model.train()
    with torch.no_grad():
        model(x)
    return model.eval()


# ---------------------------------------------------------------- DeepfakeBench Xception, re-stated


class _SepConv(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cin, 3, 1, 1, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x):
        return self.pointwise(self.conv1(x))


class _Block(nn.Module):
    """xception.py ``Block``: ReLU/SepConv/BN repeats (growing first or last), max-pool when strided, skip."""

    def __init__(self, cin: int, cout: int, reps: int, stride: int, start_relu: bool, grow_first: bool) -> None:
        super().__init__()
        self.skip = nn.Conv2d(cin, cout, 1, stride=stride, bias=False) if (cin != cout or stride != 1) else None
        if self.skip is not None:
            self.skipbn = nn.BatchNorm2d(cout)
        chans = [cin] + ([cout] * reps if grow_first else [cin] * (reps - 1) + [cout])
        rep: list[nn.Module] = []
        for a, b in zip(chans[:-1], chans[1:], strict=True):
            rep += [nn.ReLU(), _SepConv(a, b), nn.BatchNorm2d(b)]
        if not start_relu:
            rep = rep[1:]
        if stride != 1:
            rep.append(nn.MaxPool2d(3, stride, 1))
        self.rep = nn.Sequential(*rep)

    def forward(self, x):
        skip = x if self.skip is None else self.skipbn(self.skip(x))
        return self.rep(x) + skip


class DFBXception(nn.Module):
    """``Xception({"mode": "adjust_channel", "num_classes": 2, "inc": 3, "dropout": False})``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 32, 3, 2, 0, bias=False), nn.BatchNorm2d(32)
        self.conv2, self.bn2 = nn.Conv2d(32, 64, 3, bias=False), nn.BatchNorm2d(64)
        self.block1 = _Block(64, 128, 2, 2, False, True)
        self.block2 = _Block(128, 256, 2, 2, True, True)
        self.block3 = _Block(256, 728, 2, 2, True, True)
        for i in range(4, 12):
            setattr(self, f"block{i}", _Block(728, 728, 3, 1, True, True))
        self.block12 = _Block(728, 1024, 2, 2, True, False)
        self.conv3, self.bn3 = _SepConv(1024, 1536), nn.BatchNorm2d(1536)
        self.conv4, self.bn4 = _SepConv(1536, 2048), nn.BatchNorm2d(2048)
        self.last_linear = nn.Linear(2048, 2)
        self.adjust_channel = nn.Sequential(nn.Conv2d(2048, 512, 1, 1), nn.BatchNorm2d(512), nn.ReLU())

    def features(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        for i in range(1, 13):
            x = getattr(self, f"block{i}")(x)
        x = torch.relu(self.bn3(self.conv3(x)))
        x = self.bn4(self.conv4(x))  # no ReLU: adjust_channel follows
        return self.adjust_channel(x)


class _Conv2d1x1(nn.Module):
    def __init__(self, cin: int, hidden: int, cout: int) -> None:
        super().__init__()
        self.conv2d = nn.Sequential(nn.Conv2d(cin, hidden, 1, 1), nn.LeakyReLU(), nn.Conv2d(hidden, hidden, 1, 1),
                                    nn.LeakyReLU(), nn.Conv2d(hidden, cout, 1, 1))  # fmt: skip

    def forward(self, x):
        return self.conv2d(x)


class _Head(nn.Module):
    def __init__(self, cin: int, hidden: int, cout: int) -> None:
        super().__init__()
        self.do = nn.Dropout(0.2)
        self.mlp = nn.Sequential(nn.Linear(cin, hidden), nn.LeakyReLU(), nn.Linear(hidden, cout))

    def forward(self, x):
        return self.do(self.mlp(x.mean(dim=(2, 3))))


def _double_conv(cin: int, cout: int) -> nn.Sequential:  # r_double_conv
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(), nn.Conv2d(cout, cout, 3, padding=1), nn.ReLU())


class _ConditionalUNet(nn.Module):  # weights only (training-time reconstruction)
    def __init__(self) -> None:
        super().__init__()
        self.dconv_up3, self.dconv_up2, self.dconv_up1 = _double_conv(512, 256), _double_conv(256, 128), _double_conv(
            128, 64)
        self.conv_last = nn.Conv2d(64, 3, 1)


class UCFReference(nn.Module):
    """``UCFDetector`` (encoder_feat_dim 512, 4 FF++ training methods → head_spe of 5); ``forward`` is the
    ``inference=True`` score path, returning ``out_sha``."""

    def __init__(self, x_calib: torch.Tensor) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.encoder_f, self.encoder_c = DFBXception(), DFBXception()
        self.con_gan = _ConditionalUNet()
        self.head_spe, self.head_sha = _Head(256, 512, 5), _Head(256, 512, 2)
        self.block_spe, self.block_sha = _Conv2d1x1(512, 256, 256), _Conv2d1x1(512, 256, 256)
        _calibrate(self, x_calib)

    def forward(self, image):
        return self.head_sha(self.block_sha(self.encoder_f.features(image)))


_UCF_SIZE = 96  # Xception is fully convolutional: a small face keeps the test fast (256 px in the release)


@pytest.fixture(scope="module")
def ucf():
    return UCFReference((_x(4, _UCF_SIZE, seed=7) - 0.5) / 0.5)


def test_ucf_published_layout_gives_the_original_logits(ucf, tmp_path):
    sd = {"module." + k: v for k, v in ucf.state_dict().items()}  # as saved from nn.DataParallel
    path = tmp_path / "ucf_best.pth"
    torch.save(sd, path)
    conv = convert_file(path)
    assert (conv.source_format, conv.arch, conv.input_size) == ("deepfakebench", "ucf_xception", 256)
    assert (conv.mean, conv.std) == ((0.5,) * 3, (0.5,) * 3) and conv.model_kwargs == {}
    assert any("training-only" in n for n in conv.notes) and any("last_linear" in n for n in conv.notes)
    model = create_model("ucf_xception", checkpoint_path=save_converted(conv, tmp_path / "u.safetensors"))
    assert model.info.input_size == 256 and model.info.cam_layer == "block_sha.4"
    assert model.info.crop_align == "deepfakebench"
    x = _x(3, _UCF_SIZE).double()
    with torch.no_grad():
        z = ucf.double()((x - 0.5) / 0.5)
        _close(model.double()(x), z[:, 1] - z[:, 0])
    ucf.float()


def test_ucf_refuses_a_damaged_layout(ucf):
    sd = dict(ucf.state_dict())
    del sd["block_sha.conv2d.2.bias"]
    sd["encoder_f.extra.weight"] = torch.zeros(2)
    assert detect_format(sd) == "deepfakebench"
    with pytest.raises(WeightsError) as e:
        convert_state_dict(sd)
    msg = str(e.value)
    assert "block_sha.conv2d.2.bias" in msg and "encoder_f.extra.weight" in msg and "\n" not in msg


# ------------------------------------------------------------------------- Forensics Adapter, re-stated
#
# OUC-VAS/ForensicsAdapter@a4cc94fa4255d2baa85cb26989fb884b098010e3: model/ds.py (DS), model/adapters/adapter.py
# (Adapter, Mask_Decoder), model/attn.py (RecAttnClip, ClipIntraBlock), model/layer.py (MLP, Fusion, LayerNorm,
# PostClipProcess, MaskPostXrayProcess, PatchEmbed, VT_LN), model/clip/model.py (OpenAI CLIP, VTransformer with
# extract). Small configuration: a CLIP of width 128 (2 heads), 8 blocks, patch 14 at 224 px (the 16×16 grid and
# PostClipProcess's 768 are fixed in the code); 8 queries; the adapter is timm vit_tiny_patch16_224 as
# configured; mask decoder 32 → 16.

FA_WIDTH, FA_DEPTH, FA_Q, FA_OUT = 128, 8, 8, 768


class _ResBlock(nn.Module):  # clip/model.py ResidualAttentionBlock (LND, nn.MultiheadAttention, QuickGELU)
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(d, heads)
        self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.mlp = nn.Sequential()
        self.mlp.add_module("c_fc", nn.Linear(d, 4 * d))
        self.mlp.add_module("c_proj", nn.Linear(4 * d, d))

    def forward(self, x, attn_mask=None):
        x = x + self.attn(*(self.ln_1(x),) * 3, need_weights=False, attn_mask=attn_mask)[0]
        h = self.mlp.c_fc(self.ln_2(x))
        return x + self.mlp.c_proj(h * torch.sigmoid(1.702 * h))


class _Transformer(nn.Module):
    def __init__(self, d: int, depth: int, heads: int) -> None:
        super().__init__()
        self.resblocks = nn.Sequential(*[_ResBlock(d, heads) for _ in range(depth)])


class _Visual(nn.Module):  # clip/model.py VisionTransformer with extract=…
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, FA_WIDTH, 14, 14, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(FA_WIDTH) * FA_WIDTH**-0.5)
        self.positional_embedding = nn.Parameter(torch.randn(257, FA_WIDTH) * FA_WIDTH**-0.5)
        self.ln_pre, self.ln_post = nn.LayerNorm(FA_WIDTH), nn.LayerNorm(FA_WIDTH)
        self.transformer = _Transformer(FA_WIDTH, FA_DEPTH, FA_WIDTH // 64)
        self.proj = nn.Parameter(torch.randn(FA_WIDTH, FA_OUT) * FA_WIDTH**-0.5)

    def extract(self, x, layers):
        x = self.conv1(x).flatten(2).permute(0, 2, 1)
        x = torch.cat([self.class_embedding + torch.zeros(x.shape[0], 1, x.shape[-1]), x], dim=1)
        x = self.ln_pre(x + self.positional_embedding).permute(1, 0, 2)
        feats = {"layer_0_cls": x[0], 0: x[1:].permute(1, 0, 2)}
        for idx, layer in enumerate(self.transformer.resblocks.children(), start=1):
            x = layer(x)
            if idx in layers:
                feats[f"layer_{idx}_cls"], feats[idx] = x[0], x[1:].permute(1, 0, 2)
                if idx == max(layers):
                    break
        return feats


class _CLIP(nn.Module):  # the whole CLIP is in DS.state_dict(): a small text tower for its keys
    def __init__(self) -> None:
        super().__init__()
        self.visual = _Visual()
        self.transformer = _Transformer(64, 1, 1)
        self.token_embedding = nn.Embedding(10, 64)
        self.positional_embedding = nn.Parameter(torch.randn(5, 64))
        self.ln_final = nn.LayerNorm(64)
        self.text_projection = nn.Parameter(torch.randn(64, FA_OUT))
        self.logit_scale = nn.Parameter(torch.ones([]))


class _MLP(nn.Module):  # layer.MLP: L R L R L
    def __init__(self, cin, hidden, cout, n, conv=False):
        super().__init__()
        dims = [cin] + [hidden] * (n - 1) + [cout]
        pairs = zip(dims[:-1], dims[1:], strict=True)
        self.layers = nn.ModuleList((nn.Conv2d(a, b, 1) if conv else nn.Linear(a, b)) for a, b in pairs)

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = F.relu(layer(x)) if i < len(self.layers) - 1 else layer(x)
        return x


class _MaskDecoder(nn.Module):
    def __init__(self, d, mlp_dim, out_dim, heads):
        super().__init__()
        self.heads = heads
        self.query_mlp = _MLP(d, mlp_dim, out_dim, 3)
        self.xray_mlp = _MLP(d, mlp_dim, out_dim, 3, conv=True)
        self.attn_mlp = _MLP(d, mlp_dim, out_dim * heads, 3, conv=True)
        self.bias_scaling = nn.Linear(1, 1)

    def forward(self, query, x):
        query = self.query_mlp(query)
        attn = self.attn_mlp(x)
        n, _, h, w = attn.shape
        attn = attn.reshape(n, self.heads, -1, h, w)
        bias = torch.einsum("NQD,NHDhw->NHQhw", query, attn)
        return self.bias_scaling(bias[..., None]).squeeze(-1)


class _PatchEmbed(nn.Module):  # layer.PatchEmbed: built by timm, never called by Adapter.forward
    def __init__(self, img_size=224, patch_size=16, in_chans=3, embed_dim=192, bias=False, **kwargs):
        super().__init__()
        side = img_size[0] if isinstance(img_size, tuple) else img_size
        self.img_size, self.patch_size = (side, side), (patch_size, patch_size)
        self.grid_size = (side // patch_size,) * 2
        self.num_patches = self.grid_size[0] ** 2
        self.proj = nn.Conv2d(in_chans, embed_dim, patch_size, patch_size, bias=bias)
        self.norm = nn.LayerNorm(embed_dim)


class _ChannelLayerNorm(nn.Module):  # layer.LayerNorm (ConvNeXt style, eps 1e-6)
    def __init__(self, d):
        super().__init__()
        self.weight, self.bias = nn.Parameter(torch.ones(d)), nn.Parameter(torch.zeros(d))

    def forward(self, x):
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        return self.weight[:, None, None] * (x - u) / torch.sqrt(s + 1e-6) + self.bias[:, None, None]


class _Adapter(nn.Module):
    def __init__(self, fusion_map):
        super().__init__()
        import timm

        self.vit_model = timm.create_model("vit_tiny_patch16_224", pretrained=False, fc_norm=False, num_classes=0,
                                           embed_layer=_PatchEmbed)  # fmt: skip
        self.vit_model.pos_embed = nn.Parameter(self.vit_model.pos_embed[:, 1:].detach().clone())
        del self.vit_model.cls_token
        self.vit_model.cls_token = None
        self.vit_model.norm = nn.Identity()
        d = self.vit_model.num_features
        self.query_embed = nn.Parameter(torch.randn(1, FA_Q, d) * 0.02)
        self.query_pos_embed = nn.Parameter(torch.randn(1, FA_Q, d) * 0.02)
        self.fusion_map = fusion_map
        self.mask_decoder = _MaskDecoder(d, 32, 16, FA_WIDTH // 64)
        self.ln_pre = nn.LayerNorm(d)
        self.patch_conv = nn.Conv2d(3, d, 16, 16)
        self.random_fusion = False

    def forward(self, image, clip_features):
        x = self.patch_conv(image).flatten(2).permute(0, 2, 1)
        pe = self.vit_model.pos_embed.permute(0, 2, 1)
        pe = F.interpolate(pe.reshape(1, pe.shape[1], 14, 14), size=(16, 16), mode="bilinear", align_corners=False)
        pe = torch.cat([self.query_pos_embed, pe.reshape(1, -1, 256).permute(0, 2, 1)], dim=1)
        v_l = x.shape[1]
        x = self.ln_pre(torch.cat([self.query_embed.expand(x.shape[0], -1, -1), x], dim=1) + pe)
        for i, block in enumerate(self.vit_model.blocks, start=1):
            x = block(x)
            if self.random_fusion and i in self.fusion_map:  # Adapter.fuse: a fresh Fusion every call
                clip_x = clip_features[self.fusion_map[i]]
                n, length, d = clip_x.shape
                proj = nn.Sequential(_ChannelLayerNorm(d), nn.Conv2d(d, x.shape[2], 1)).to(x.dtype)
                fused = proj(clip_x.permute(0, 2, 1).reshape(n, d, 16, 16))
                fused = fused.reshape(n, x.shape[2], length).permute(0, 2, 1)
                x = torch.cat([x[:, :-v_l], x[:, -v_l:] + 0.01 * fused], dim=1)
            if i == 8:
                n, _, d = x.shape
                return self.mask_decoder(x[:, :-v_l], x[:, -v_l:].permute(0, 2, 1).reshape(n, d, 16, 16))
            x = x + pe


class _ClipIntraBlock(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.conv_first, self.conv_second = nn.Conv1d(d, 192, 1), nn.Conv1d(192, d, 1)


class _RecAttnClip(nn.Module):
    def __init__(self, vit):
        super().__init__()
        self.vit, self.resblocks, self.ln_post, self.proj = vit, vit.transformer.resblocks, vit.ln_post, vit.proj
        self.intra_scale = nn.Parameter(torch.zeros(1))
        self.clip_intra_blocks = nn.ModuleList([_ClipIntraBlock(FA_WIDTH)])

    def forward(self, feats, attn_bias):
        cls = feats["layer_0_cls"].unsqueeze(1).permute(1, 0, 2)
        vision = feats[0].permute(1, 0, 2)
        x = torch.cat([cls.repeat(FA_Q, 1, 1), cls, vision], dim=0)
        n, heads, q, h, w = attn_bias.shape
        bias = attn_bias.reshape(n * heads, q, -1)
        length = bias.shape[-1]
        mask = bias.new_zeros(q + 1 + length, q + 1 + length)
        mask[:, :q] = -100
        mask[torch.arange(q), torch.arange(q)] = 0
        mask[:q, q] = -100
        mask = mask[None].expand(n * heads, -1, -1).clone()
        mask[:, :q, -length:] = bias
        clip_l = vision.shape[0]
        for i, block in enumerate(self.resblocks.children()):
            x = block(x, mask)
            if i == 6:
                blk = self.clip_intra_blocks[0]
                intra = blk.conv_second(torch.relu(blk.conv_first(x.permute(1, 2, 0)[:, :, -clip_l:])))
                x = torch.cat([x[:-clip_l], intra.permute(2, 0, 1) * 0.05 + x[-clip_l:]], dim=0)
        tokens = self.ln_post(x.permute(1, 0, 2)[:, :FA_Q]) @ self.proj
        return F.normalize(tokens, dim=-1)


class _PostClipProcess(nn.Module):
    def __init__(self, q, d):
        super().__init__()
        self.first_process = nn.Sequential(
            nn.Conv1d(q, q // 2, 3, 1, 1), nn.BatchNorm1d(q // 2), nn.ReLU(),
            nn.Conv1d(q // 2, q // 4, 3, 1, 1), nn.BatchNorm1d(q // 4), nn.ReLU(),
            nn.Conv1d(q // 4, 1, 3, 1, 1))  # fmt: skip
        self.second_process = nn.Sequential(nn.Linear(d, d // 2), nn.ReLU(), nn.Linear(d // 2, d // 4), nn.ReLU(),
                                            nn.Linear(d // 4, 2))  # fmt: skip

    def forward(self, x):
        return self.second_process(self.first_process(x).squeeze(1))


class _XrayPost(nn.Module):  # layer.MaskPostXrayProcess: weights only
    def __init__(self, q):
        super().__init__()
        self.process = nn.Sequential(nn.Conv2d(q, q // 2, 3, 1, 1), nn.BatchNorm2d(q // 2), nn.ReLU(),
                                     nn.Conv2d(q // 2, q // 4, 3, 1, 1), nn.BatchNorm2d(q // 4), nn.ReLU(),
                                     nn.Conv2d(q // 4, 1, 1), nn.ConvTranspose2d(1, 1, 16, 16))  # fmt: skip


class FAReference(nn.Module):
    """``DS`` at inference; ``forward`` takes the 256-px face normalised with CLIP's mean/std."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.clip_model = _CLIP()
        self.adapter = _Adapter({1: 1, 2: 8, 3: 15 if FA_DEPTH >= 15 else FA_DEPTH})
        self.rec_attn_clip = _RecAttnClip(self.clip_model.visual)
        self.masked_xray_post_process = _XrayPost(FA_Q)
        self.clip_post_process = _PostClipProcess(FA_Q, FA_OUT)
        g = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            for name, p in self.named_parameters():  # non-trivial biases and norms
                if name.endswith("bias") or "ln" in name or "norm" in name:
                    p.add_(torch.randn(p.shape, generator=g) * 0.1)
            for bn in self.clip_post_process.first_process:
                if isinstance(bn, nn.BatchNorm1d):
                    bn.running_mean.copy_(torch.randn(bn.num_features, generator=g) * 0.01)
                    bn.running_var.copy_(torch.rand(bn.num_features, generator=g) * 0.01 + 0.005)
        self.eval()
        with torch.no_grad():  # a head that spreads the faces' logits around 0 (random features are alike)
            last = self.clip_post_process.second_process[4]
            last.weight.mul_(300.0)
            last.bias.sub_(self(_clip_norm(_x(4, 256, seed=9))).mean(0))

    def forward(self, image):
        clip_images = F.interpolate(image, size=(224, 224), mode="bilinear", align_corners=False)
        feats = self.clip_model.visual.extract(clip_images, set(self.adapter.fusion_map.values()))
        bias = self.adapter(image, feats)
        return self.clip_post_process(self.rec_attn_clip(feats, bias))


def _clip_norm(x: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(CLIP_MEAN, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - mean) / std


@pytest.fixture(scope="module")
def fa():
    return FAReference()


def test_forensics_adapter_published_layout_gives_the_original_logits(fa, tmp_path):
    sd = {"module." + k: v for k, v in fa.state_dict().items()}  # DDP training saves DS.state_dict()
    assert "module.rec_attn_clip.vit.conv1.weight" in sd and "module.clip_model.visual.conv1.weight" in sd
    path = tmp_path / "ckpt_best.pth"
    torch.save(sd, path)
    conv = convert_file(path)
    assert (conv.source_format, conv.arch, conv.input_size) == ("forensics-adapter", "forensics_adapter", 256)
    assert (conv.mean, conv.std) == (CLIP_MEAN, CLIP_STD)
    assert conv.model_kwargs == {"embed_dim": FA_WIDTH, "depth": FA_DEPTH, "num_queries": FA_Q, "mlp_dim": 32,
                                 "mlp_out_dim": 16}  # fmt: skip
    assert any("Fusion" in n for n in conv.notes) and any("text tower" in n for n in conv.notes)
    model = create_model("forensics_adapter", checkpoint_path=save_converted(conv, tmp_path / "f.safetensors"))
    assert model.info.input_size == 256 and model.info.crop_align == "deepfakebench"
    x = _x(3, 256).double()
    with torch.no_grad():
        z = fa.double()(_clip_norm(x))
        _close(model.double()(x), z[:, 1] - z[:, 0])
        # the original's per-call random Fusion: every call gives other logits, around the deterministic ones
        fa.adapter.random_fusion = True
        runs = [fa(_clip_norm(x)) for _ in range(2)]
        fa.adapter.random_fusion = False
    assert not torch.equal(runs[0], runs[1])
    spread = (z[:, 1] - z[:, 0]).std().item()
    assert all((r[:, 1] - r[:, 0] - (z[:, 1] - z[:, 0])).abs().max().item() < 0.05 * spread for r in runs)
    fa.float()


def test_forensics_adapter_refuses_a_damaged_layout(fa):
    sd = dict(fa.state_dict())
    assert detect_format(sd) == "forensics-adapter"
    del sd["adapter.vit_model.blocks.3.attn.qkv.weight"]
    sd["clip_post_process.extra"] = torch.zeros(1)
    with pytest.raises(WeightsError) as e:
        convert_state_dict(sd)
    msg = str(e.value)
    assert "blocks.3.attn.qkv.weight" in msg and "clip_post_process.extra" in msg and "\n" not in msg
    sd = dict(fa.state_dict())
    sd["adapter.mask_decoder.attn_mlp.layers.2.weight"] = torch.zeros(48, 32, 1, 1)
    with pytest.raises(WeightsError, match="attention biases"):
        convert_state_dict(sd)


# ------------------------------------------------------------------ installed as a user would, then analyze


def test_weights_add_and_analyze(ucf, fa, samples, tmp_path, monkeypatch):
    """``weights add`` recognises both layouts (UCF by auto-detection, FA named with --format) and ``analyze``
    runs with each. Random weights: the plumbing is what is tested."""
    import json

    from typer.testing import CliRunner

    from fakescope.cli import app

    monkeypatch.setenv("FAKESCOPE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FAKESCOPE_WEIGHTS_CATALOGUE", raising=False)
    runner = CliRunner()
    ucf_sd = {k: v for k, v in ucf.state_dict().items() if not k.startswith(("encoder_c.", "con_gan."))}
    torch.save(ucf_sd, tmp_path / "my_ucf.pth")  # (training-only encoder_c / con_gan left out: a smaller file)
    torch.save(dict(fa.state_dict()), tmp_path / "my_fa.pth")
    for name, args in (("t-ucf", []), ("t-fa", ["--format", "forensics-adapter"])):
        src = tmp_path / ("my_ucf.pth" if name == "t-ucf" else "my_fa.pth")
        r = runner.invoke(app, ["weights", "add", str(src), "--name", name, *args])
        assert r.exit_code == 0, r.output
        out = tmp_path / f"o-{name}"
        r = runner.invoke(app, ["analyze", str(samples / "multi_face.jpg"), "--model", name, "--out", str(out),
                                "--no-report"])  # fmt: skip
        assert r.exit_code == 0, r.output
        res = json.loads(next(out.rglob("result.json")).read_text())
        faces = [f for fr in res["frames"] for f in fr["faces"]]
        assert len(faces) >= 2 and res["settings"]["model"] == name
        assert res["settings"]["alignment"] == {f"{name}:installed": "deepfakebench"}
