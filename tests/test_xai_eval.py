"""Explanation evaluation (issue 13): metrics against independent implementations, the xai-eval command,
neutral baselines, per-face faithfulness flags, and the explainer bugs the evaluation uncovered."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from typer.testing import CliRunner

from fakescope.cli import app
from fakescope.explainers import create_explainer, explain, make_baseline
from fakescope.explainers.faithfulness import check_maps, map_flags
from fakescope.models import create_model
from fakescope.training.landmarks import shape_predictor_available
from fakescope.xai_eval import choose_neutral
from fakescope.xai_eval.metrics import (
    bootstrap_ci,
    deletion_insertion,
    patch_order,
    pixel_auroc,
    pointing_game,
    randomised_copy,
    region,
    relevance_mass,
    spearman,
)

REAL = Path(__file__).parent / "data" / "mesonet" / "test_images" / "real"
needs_landmarks = pytest.mark.skipif(not shape_predictor_available(), reason="dlib 68-landmark predictor missing")


def _faces(paths, size):
    arr = np.stack([np.asarray(Image.open(p).convert("RGB").resize((size, size))) for p in paths])
    return torch.from_numpy(arr).permute(0, 3, 1, 2).float() / 255


# ------------------------------------------------------------------ metrics vs independent code


def _pg_loop(amap, reg, tol):
    """Pointing game by brute force: distance from each maximum to the nearest region pixel."""
    ys, xs = np.nonzero(reg)
    r = round(tol * min(reg.shape))
    tops = zip(*np.nonzero(amap == amap.max()), strict=True)
    hits = [np.min((ys - y) ** 2 + (xs - x) ** 2) <= r * r for y, x in tops]
    return float(np.mean(hits))


def test_metrics_agree_with_independent_implementations():
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    for i in range(6):
        amap = rng.normal(size=(40, 40)).astype(np.float32)
        if i == 5:
            amap = np.round(amap)  # ties
        mask = np.zeros((40, 40), np.float32)
        mask[5 + i : 15 + i, 20:32] = rng.uniform(0.3, 1.0)
        reg = region(mask)
        assert pixel_auroc(amap, reg) == pytest.approx(roc_auc_score(reg.ravel(), amap.ravel()), abs=1e-9)
        other = amap + rng.normal(size=amap.shape)
        assert spearman(amap, other) == pytest.approx(spearmanr(amap.ravel(), other.ravel())[0], abs=1e-9)
        assert pointing_game(amap, reg, 0.05) == pytest.approx(_pg_loop(amap, reg, 0.05))
        pos = np.clip(amap, 0, None)
        assert relevance_mass(amap, reg) == pytest.approx(pos[reg].sum() / pos.sum(), rel=1e-6)
    flat = np.zeros((40, 40))
    assert pointing_game(flat, reg, 0.0) == pytest.approx(reg.mean())  # ties: the expected hit of a random point
    m, lo, hi = bootstrap_ci([0.0, 1.0, 1.0, 0.0, 1.0], n_boot=500)
    assert m == pytest.approx(0.6) and lo <= m <= hi


def test_deletion_of_the_evidence_beats_a_random_order():
    """Toy detector: logit = 20 × (mean of the top-left quarter − 0.5); the map that points there
    deletes the evidence faster than a random patch order, and restores it faster."""
    face = torch.ones(3, 32, 32)

    def score(x):
        return torch.sigmoid(20 * (x[:, :, :16, :16].mean(dim=(1, 2, 3)) - 0.5))

    amap = np.zeros((32, 32), np.float32)
    amap[:16, :16] = 1
    base = torch.zeros_like(face)
    good = deletion_insertion(score, face, base, patch_order(amap, 4, np.random.default_rng(0)), 4, steps=8)
    rnd = deletion_insertion(score, face, base, np.random.default_rng(1).permutation(64), 4, steps=8)
    assert good.deletion_auc < rnd.deletion_auc - 0.2
    assert good.insertion_auc > rnd.insertion_auc + 0.2
    assert good.deletion[0] == pytest.approx(1.0, abs=1e-3) and good.deletion[-1] < 1e-3


# ------------------------------------------------------------------------ the xai-eval command


@pytest.fixture(scope="module")
def xai_run(tmp_path_factory):
    if not shape_predictor_available():
        pytest.skip("dlib 68-landmark predictor missing")
    from skimage import data

    faces = tmp_path_factory.mktemp("faces")
    for p in REAL.iterdir():
        (faces / p.name).write_bytes(p.read_bytes())
    Image.fromarray(data.astronaut()).save(faces / "astronaut.png")
    out = tmp_path_factory.mktemp("xai")
    res = CliRunner().invoke(app, ["xai-eval", "--model", "mesoinception4", "--methods", "gradcam,lime,saliency",
                                   "--faces", str(faces), "--out", str(out), "--n-sbi", "2", "--n-splice", "2",
                                   "--steps", "2", "--sanity-faces", "1", "--n-boot", "200",
                                   "-E", "lime.n_samples=8", "-E", "lime.n_segments=8"])  # fmt: skip
    assert res.exit_code == 0, res.output
    return out, faces


def test_xai_eval_writes_every_metric_with_baselines_and_intervals(xai_run):
    out, _ = xai_run
    doc = json.loads((out / "xai_eval.json").read_text())
    (rep,) = doc["models"]
    assert rep["model"] == "mesoinception4" and rep["n_faces"] == 4
    assert set(rep["methods"]) == {"random", "centre", "mask", "gradcam", "lime", "saliency"}
    for name, e in rep["methods"].items():
        for metric in ("pointing_game", "pointing_boundary", "relevance_mass", "pixel_auroc", "deletion_gain",
                       "insertion_gain"):  # fmt: skip
            mean, lo, hi = e["subsets"]["all"][metric]
            assert lo <= mean + 1e-9 and mean <= hi + 1e-9, (name, metric)
        if e["kind"] == "method":
            assert e["ms_per_face"] > 0 and "spearman" in e["sanity"]
    assert rep["methods"]["mask"]["subsets"]["all"]["pointing_game"][0] == 1.0  # the ground truth always hits
    assert rep["neutral_baseline"]["kind"] in rep["neutral_baseline"]["candidates"]
    md = (out / "xai_eval.md").read_text()
    assert "PG off-centre" in md and "*centre*" in md and "gradcam" in md
    assert (out / "mesoinception4_localisation.png").is_file()


def test_xai_eval_numbers_match_an_independent_recomputation(xai_run):
    """Rebuild the same faces, explain them again and score the maps with scikit-learn and plain loops."""
    from sklearn.metrics import roc_auc_score

    from fakescope.xai_eval import build_masked_faces, real_faces
    from fakescope.xai_eval.run import _resize

    out, faces = xai_run
    rep = json.loads((out / "xai_eval.json").read_text())["models"][0]
    samples = build_masked_faces(real_faces([faces]), 2, 2, seed=0)
    model = create_model("mesoinception4")
    x = torch.from_numpy(np.stack([s.fake for s in samples])).permute(0, 3, 1, 2) / 255.0
    maps = explain(model, x.float(), "gradcam").maps
    per = rep["methods"]["gradcam"]["per_face"]
    for i, s in enumerate(samples):
        reg = _resize(s.mask, 256) >= 0.25 * s.mask.max()
        assert per["pointing_game"][i] == pytest.approx(_pg_loop(maps[i], reg, 0.05), abs=1e-3)
        assert per["pixel_auroc"][i] == pytest.approx(roc_auc_score(reg.ravel(), maps[i].ravel()), abs=1e-3)
        pos = np.clip(maps[i], 0, None)
        assert per["relevance_mass"][i] == pytest.approx(pos[reg].sum() / pos.sum(), abs=1e-3)


# ------------------------------------------------------------------- baselines and faithfulness


def test_neutral_baseline_choice_and_kinds():
    rows = {"faces": {"median_p_fake": 0.1, "mean_p_fake": 0.1}, "blurred": {"median_p_fake": 0.9, "mean_p_fake": 0.9},
            "mean": {"median_p_fake": 0.2, "mean_p_fake": 0.3}, "black": {"median_p_fake": 0.2, "mean_p_fake": 0.25}}
    assert choose_neutral(rows) == "black"
    x = torch.rand(2, 3, 32, 32)
    for kind in ("gray", "lowpass", "real_mean", "neutral"):
        b = make_baseline(x, kind, model=create_model("meso4", weights=None))
        assert b.shape == x.shape and torch.isfinite(b).all() and 0 <= float(b.min()) <= float(b.max()) <= 1


class _RegionNet(nn.Module):
    """logit = 10 × (mean of the top-left quarter − 0.5)."""

    info = SimpleNamespace(name="region_net", input_size=32)

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return 10 * self.w * (x[:, :, :16, :16].mean(dim=(1, 2, 3)) - 0.5)


def test_faithfulness_scores_a_faithful_map_and_flags_empty_and_random_ones():
    model = _RegionNet()
    x = torch.ones(2, 3, 32, 32)
    good = np.zeros((2, 32, 32), np.float32)
    good[:, :16, :16] = 1
    bad = np.zeros((2, 32, 32), np.float32)
    bad[:, 16:, 16:] = 1
    empty = np.zeros((2, 32, 32), np.float32)
    res = check_maps(model, x, good, "gradcam", baseline="black")
    assert all(r.score > 0.5 and r.flags == [] for r in res)
    assert all("no_better_than_random" in r.flags for r in check_maps(model, x, bad, "gradcam", baseline="black"))
    assert all(r.flags == ["empty_map"] and r.score is None for r in check_maps(model, x, empty, "gradcam"))
    assert map_flags(np.full((4, 4), np.nan)) == ["empty_map"]


def test_weight_randomised_models_maps_are_flagged():
    model = create_model("sbi_mobilenetv2")
    rnd = randomised_copy(model)
    x = _faces(sorted(REAL.iterdir()), 224)
    for method in ("gradcam++", "saliency"):
        maps = explain(rnd, x, method).maps
        assert all("no_better_than_random" in r.flags for r in check_maps(rnd, x, maps, method))


def test_result_json_and_report_carry_faithfulness_and_flags(tmp_path):
    from fakescope.pipeline import Analyzer
    from fakescope.render.artifacts import write_artifacts
    from fakescope.schema import AnalysisResult

    img = tmp_path / "a.png"
    from skimage import data

    Image.fromarray(data.astronaut()).save(img)
    result = Analyzer(model="sbi_mobilenetv2", weights=None, explain=("gradcam",)).analyze(img)
    write_artifacts(result, tmp_path, annotate=False)
    result.save(tmp_path / "result.json")
    loaded = AnalysisResult.load(tmp_path / "result.json")
    assert loaded.schema_version == "1.3" and loaded.explanations
    for rec in loaded.explanations:  # an untrained (random-weight) model: its maps must be flagged
        assert rec.faithfulness is not None and "no_better_than_random" in rec.flags
        assert rec.faithfulness_detail["n_random"] == 8
    html = (tmp_path / "report.html").read_text()
    assert "heatmap-note" in html and "no better than random" in html


# -------------------------------------------------------------------- bugs found by the evaluation


@pytest.mark.parametrize(("name", "size"), [("sbi_mobilenetv2", 224), ("mesoinception4", 256)])
def test_deeplift_runs_on_the_trained_detectors_and_sums_to_the_score_difference(name, size):
    """ReLU6 (MobileNet-V2) and a ReLU module called 7 times (MesoInception-4) used to be refused."""
    model = create_model(name)
    x = _faces(sorted(REAL.iterdir())[:1], size)
    ex = explain(model, x, "deeplift")
    with torch.no_grad():
        diff = model(x) - model(torch.zeros_like(x))
    np.testing.assert_allclose(ex.maps.sum(axis=(1, 2)), diff.numpy(), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("method", ["kernelshap", "lime"])
def test_one_superpixel_face_falls_back_to_a_grid(method):
    """A flat face with few segments gives SLIC one superpixel: captum failed with 'NaN probs'; now a
    2×2 grid is used."""
    model = create_model("meso4", weights=None)
    x = torch.full((1, 3, 256, 256), 0.5)
    ex = explain(model, x, method, n_samples=8, n_segments=2, perturbations_per_eval=8)
    assert np.isfinite(ex.maps).all() and ex.params["segmentation"].startswith("grid")
    assert len(np.unique(ex.extras["segments"])) == 4


def test_scorecam_keeps_a_channel_budget_on_cpu():
    ex = create_explainer("scorecam", create_model("meso4", weights=None))
    out = ex.explain(torch.rand(1, 3, 256, 256))
    assert out.params["max_channels"] == 64 and np.isfinite(out.maps).all()
