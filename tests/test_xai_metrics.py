"""xai-eval's metrics, each against a plain re-statement of its definition (fast; mutation group
"xai_metrics"). The metrics' numbers are what `fakescope xai-eval` reports, so a wrong one misleads the
choice of a model's default explainer."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from fakescope.xai_eval.metrics import (
    SANITY_MAX_RHO,
    CurveResult,
    _auc,
    _patch_masks,
    bootstrap_ci,
    boundary_region,
    centre_prior,
    deletion_insertion,
    patch_order,
    pixel_auroc,
    pointing_game,
    randomised_copy,
    rank_accuracy,
    region,
    relevance_mass,
    spearman,
)


def test_region_is_the_share_of_the_peak():
    m = np.array([[0.0, 0.1, 0.25], [0.3, 1.0, 0.24]])
    assert region(m).tolist() == [[False, False, True], [True, True, False]]
    assert region(m, 0.3).tolist() == [[False, False, False], [True, True, False]]
    assert not region(np.zeros((2, 2))).any() and region(np.zeros((2, 2))).shape == (2, 2)
    assert not region(-np.ones((2, 2))).any()


def test_boundary_region_is_the_soft_band_plus_the_hard_edge():
    m = np.zeros((9, 9))
    m[2:7, 2:7] = 1.0
    m[4, 4] = 0.5  # a soft pixel inside
    b = boundary_region(m)
    assert b[4, 4]  # 0.1 ≤ 0.5 ≤ 0.9 of the peak
    assert b[2, 2] and b[1, 4] and b[6, 6] and b[7, 4]  # the edge, one pixel on both sides
    assert not b[0, 0] and not b[3, 3]  # far outside, and inside but not on the edge
    soft = np.full((5, 5), 0.05)
    soft[2, 2] = 1.0
    bs = boundary_region(soft, lo=0.1, hi=0.9)
    assert not bs[0, 0]  # 0.05 < 0.1 of the peak
    assert boundary_region(soft, lo=0.01, hi=0.9)[0, 0]
    assert not boundary_region(np.zeros((4, 4))).any()


def _pg_loop(amap, reg, tol):
    h, w = reg.shape
    r = round(tol * min(h, w))
    ys, xs = np.nonzero(reg)
    m = np.where(np.isfinite(amap), amap, -np.inf)
    tops = list(zip(*np.nonzero(m == m.max()), strict=True))
    hits = 0
    for y, x in tops:
        hits += any((y - yy) ** 2 + (x - xx) ** 2 <= r * r + 0.5 for yy, xx in zip(ys, xs, strict=True))
    return hits / len(tops)


def test_pointing_game_with_tolerance_ties_and_non_finite_values():
    reg = np.zeros((40, 40), bool)
    reg[10:20, 10:20] = True
    amap = np.zeros((40, 40))
    amap[21, 15] = 5.0  # one pixel below the region
    assert pointing_game(amap, reg, 0.0) == 0.0
    assert pointing_game(amap, reg, 0.05) == 1.0  # 2 px tolerance
    amap[30, 30] = 5.0  # a tie far away: half the maxima hit
    assert pointing_game(amap, reg, 0.05) == 0.5
    amap[0, 0] = np.inf  # non-finite values count as −∞, never as the maximum
    assert pointing_game(amap, reg, 0.05) == 0.5
    assert math.isnan(pointing_game(amap, np.zeros((40, 40), bool)))
    rng = np.random.default_rng(3)
    for tol in (0.0, 0.05, 0.1):
        a = rng.normal(size=(40, 40))
        assert pointing_game(a, reg, tol) == pytest.approx(_pg_loop(a, reg, tol))


def test_relevance_mass_counts_positive_mass_only():
    reg = np.array([[True, False], [False, False]])
    assert relevance_mass(np.array([[2.0, 1.0], [1.0, -5.0]]), reg) == pytest.approx(0.5)
    assert relevance_mass(np.array([[np.nan, 1.0], [np.inf, 3.0]]), reg) == 0.0
    assert relevance_mass(-np.ones((2, 2)), reg) == 0.0
    assert relevance_mass(np.array([[3, 1], [0, 0]], dtype=np.int64), reg) == pytest.approx(0.75)


def test_rank_accuracy_is_the_share_of_the_top_k_in_the_region():
    reg = np.zeros((4, 4), bool)
    reg[0, :2] = True  # K = 2
    amap = np.arange(16, dtype=float).reshape(4, 4)
    assert rank_accuracy(amap, reg) == 0.0  # the top 2 are at the bottom right
    amap[0, 0] = 100.0
    assert rank_accuracy(amap, reg) == 0.5
    amap[0, 1] = 99.0
    assert rank_accuracy(amap, reg) == 1.0
    assert math.isnan(rank_accuracy(amap, np.zeros((4, 4), bool)))
    assert rank_accuracy(amap, np.ones((4, 4), bool)) == 1.0  # K = every pixel
    nan_map = np.full((4, 4), np.nan)
    nan_map[0, 0] = nan_map[0, 1] = 1.0
    assert rank_accuracy(nan_map, reg) == 1.0  # NaN is the lowest value


def test_pixel_auroc_with_ties_and_one_sided_regions():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    for _ in range(3):
        a = np.round(rng.normal(size=(12, 12)), 1)
        reg = rng.random((12, 12)) < 0.3
        assert pixel_auroc(a, reg) == pytest.approx(roc_auc_score(reg.ravel(), a.ravel()), abs=1e-12)
    reg = np.zeros((3, 3), bool)
    reg[0, 0] = True
    assert pixel_auroc(np.eye(3), reg) == pytest.approx(roc_auc_score(reg.ravel(), np.eye(3).ravel()))
    assert math.isnan(pixel_auroc(np.eye(3), np.zeros((3, 3), bool)))
    assert math.isnan(pixel_auroc(np.eye(3), np.ones((3, 3), bool)))
    nan = np.zeros((3, 3))
    nan[0, 0] = np.nan  # NaN ranks lowest: the region pixel is the worst
    assert pixel_auroc(nan, reg) == 0.0


def test_spearman_with_ties_nans_and_constant_maps():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(2)
    a, b = np.round(rng.normal(size=(10, 10)), 1), rng.normal(size=(10, 10))
    assert spearman(a, b) == pytest.approx(spearmanr(a.ravel(), b.ravel())[0], abs=1e-12)
    assert spearman(a, a) == pytest.approx(1.0) and spearman(a, -a) == pytest.approx(-1.0)
    assert spearman(np.ones((3, 3)), b[:3, :3]) == 0.0 and spearman(b[:3, :3], np.ones((3, 3))) == 0.0
    c = b.copy()
    c[0, 0] = np.nan  # NaN ranks lowest
    d = b.copy()
    d[0, 0] = -1e9
    assert spearman(c, a) == pytest.approx(spearman(d, a))
    assert SANITY_MAX_RHO == 0.4


def test_centre_prior_is_a_centred_gaussian():
    p = centre_prior(9, 15)
    assert p.shape == (9, 15) and p.dtype == np.float32
    assert p[4, 7] == pytest.approx(1.0) and p.argmax() == 4 * 15 + 7
    s = 9 / 6
    assert p[4, 10] == pytest.approx(math.exp(-9 / (2 * s * s)), rel=1e-5)
    assert p[0, 7] == pytest.approx(math.exp(-16 / (2 * s * s)), rel=1e-5)
    assert centre_prior(8, 8, sigma=0.5)[0, 0] == pytest.approx(math.exp(-(2 * 3.5**2) / (2 * 16)), rel=1e-5)


def test_bootstrap_interval():
    m, lo, hi = bootstrap_ci([1.0, np.nan, 3.0, np.inf])
    assert m == 2.0 and lo == pytest.approx(1.0) and hi == pytest.approx(3.0)
    assert all(math.isnan(v) for v in bootstrap_ci([np.nan]))
    vals = np.random.default_rng(0).normal(10, 2, 200)
    m, lo, hi = bootstrap_ci(vals, n_boot=2000, seed=1)
    assert m == pytest.approx(vals.mean())
    se = vals.std() / math.sqrt(len(vals))
    assert lo == pytest.approx(m - 1.96 * se, abs=0.08) and hi == pytest.approx(m + 1.96 * se, abs=0.08)
    m2, lo2, hi2 = bootstrap_ci(vals, n_boot=2000, seed=1, alpha=0.5)
    assert lo < lo2 < m2 < hi2 < hi  # a 50 % interval is narrower
    assert bootstrap_ci(vals, n_boot=300, seed=4) == bootstrap_ci(vals, n_boot=300, seed=4)
    assert bootstrap_ci(vals, n_boot=300, seed=4) != bootstrap_ci(vals, n_boot=300, seed=5)


def test_curve_areas_are_trapezoids_over_the_steps():
    c = CurveResult(np.array([1.0, 0.5, 0.0]), np.array([0.0, 1.0, 1.0]))
    assert c.deletion_auc == pytest.approx(0.5) and c.insertion_auc == pytest.approx(0.75)
    assert _auc(np.array([0.3])) == 0.3
    assert _auc(np.array([0.0, 1.0, 1.0, 1.0, 1.0])) == pytest.approx(0.875)


def test_patch_order_ranks_patch_means_and_breaks_ties():
    amap = np.zeros((8, 8))
    amap[:4, 4:] = 3.0  # patch 1 (of 2×2 patches of 4 px)
    amap[4:, :4] = 1.0  # patch 2
    amap[4:, 4:] = np.nan  # patch 3: last
    order = patch_order(amap, 4)
    assert order.tolist() == [1, 2, 0, 3]
    ties = patch_order(np.zeros((8, 8)), 4)
    assert ties.tolist() == [0, 1, 2, 3]  # without a generator: first patch first
    rng_orders = {tuple(patch_order(np.zeros((8, 8)), 4, np.random.default_rng(s))) for s in range(12)}
    assert len(rng_orders) > 3  # with one: random among equals
    odd = patch_order(np.arange(100.0).reshape(10, 10), 4)  # leftover border pixels are not a patch
    assert sorted(odd.tolist()) == [0, 1, 2, 3] and odd[0] == 3


def test_patch_masks_grow_to_cover_every_pixel():
    order = np.array([3, 0, 2, 1])
    masks = _patch_masks(order, (9, 9), 4, steps=4).numpy()
    assert masks.shape == (5, 9, 9)
    assert masks[0].sum() == 0 and masks[-1].sum() == 81  # leftover border pixels go in the last step
    assert masks[1][4:8, 4:8].all() and masks[1].sum() == 16  # patch 3 first
    assert masks[2][0:4, 0:4].all() and masks[2].sum() == 32
    assert masks[3].sum() == 48 and masks[4].sum() == 81
    two = _patch_masks(order, (8, 8), 4, steps=2).numpy()
    assert two[1].sum() == 32 and two[2].sum() == 64


def test_deletion_and_insertion_curves_and_one_batched_call():
    calls = []

    def score(x):
        calls.append(x.shape[0])
        return x[:, 0, :4, :4].mean(dim=(1, 2))  # "P(fake)" = the top-left patch's brightness

    face, base = torch.ones(3, 8, 8), torch.zeros(3, 8, 8)
    good = deletion_insertion(score, face, base, np.array([0, 1, 2, 3]), 4, steps=4)
    assert calls == [10]
    assert good.deletion.tolist() == pytest.approx([1.0, 0.0, 0.0, 0.0, 0.0])
    assert good.insertion.tolist() == pytest.approx([0.0, 1.0, 1.0, 1.0, 1.0])
    bad = deletion_insertion(score, face, base, np.array([3, 2, 1, 0]), 4, steps=4)
    assert bad.deletion.tolist() == pytest.approx([1.0, 1.0, 1.0, 1.0, 0.0])
    assert good.deletion_auc < bad.deletion_auc and good.insertion_auc > bad.insertion_auc


def test_randomised_copy_resets_weights_and_keeps_the_original():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.LazyLinear(1))
    model(torch.zeros(1, 3, 6, 6))
    model[1].running_mean.fill_(5.0)
    model.info = "kept"
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rnd = randomised_copy(model, seed=3)
    assert not rnd.training and rnd.info == "kept"
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # the original untouched
    assert not torch.equal(rnd[0].weight, model[0].weight) and torch.equal(rnd[1].running_mean, torch.zeros(4))
    again = randomised_copy(model, seed=3)
    assert torch.equal(again[0].weight, rnd[0].weight)  # seeded: reproducible
    assert not torch.equal(randomised_copy(model, seed=4)[0].weight, rnd[0].weight)
    state = torch.random.get_rng_state()
    randomised_copy(model, seed=9)
    assert torch.equal(state, torch.random.get_rng_state())  # the caller's random stream is left alone


# ------------------------------------------------------------------ cases found by mutation testing (issue 21)


def test_pointing_game_tolerance_is_a_disc_of_its_radius():
    reg = np.zeros((40, 40), bool)
    reg[20, 20] = True

    def at(y, x, tol=0.05):
        a = np.zeros((40, 40))
        a[y, x] = 1.0
        return pointing_game(a, reg, tol)

    assert at(20, 22) == at(22, 20) == at(18, 20) == at(20, 18) == 1.0  # 2 px (0.05 × 40) in each direction
    assert at(20, 23) == at(23, 20) == 0.0 and at(22, 22) == 0.0  # 3 px away; the corner of the square
    assert at(20, 21, tol=0.025) == 1.0 and at(20, 22, tol=0.025) == 0.0  # radius 1
    a = np.zeros((40, 40))
    a[20, 22] = 1.0
    assert pointing_game(a, reg) == pointing_game(a, reg, 0.05)  # the default tolerance


def test_curve_area_of_two_points_and_default_seeds():
    assert _auc(np.array([0.0, 1.0])) == pytest.approx(0.5)
    vals = np.random.default_rng(0).normal(size=50)
    assert bootstrap_ci(vals) == bootstrap_ci(vals, n_boot=1000, seed=0, alpha=0.05)
    rng = np.random.default_rng(0)
    means = vals[rng.integers(0, vals.size, size=(1000, vals.size))].mean(axis=1)
    lo, hi = np.quantile(means, [0.025, 0.975])
    assert bootstrap_ci(vals)[1:] == (pytest.approx(lo), pytest.approx(hi))
    assert bootstrap_ci([2.0]) == (2.0, 2.0, 2.0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2))
    assert torch.equal(randomised_copy(model)[0].weight, randomised_copy(model, seed=0)[0].weight)


def test_boundary_band_edges_and_peak_scaling():
    m = np.zeros((7, 7))
    m[3, 3] = 2.0  # peak 2: the band is 0.2 … 1.8
    m[0, 0], m[6, 0] = 0.2, 0.19  # (values above half the peak are on the hard edge anyway)
    b = boundary_region(m)
    assert b[0, 0] and not b[6, 0]
    ring = np.zeros((11, 11))
    ring[3:8, 3:8] = 0.3  # soft plateau (in the band) around a hard core
    ring[5, 5] = 1.0
    b = boundary_region(ring)
    assert not b[1, 5] and not b[2, 2]  # zeros next to the soft plateau: not the hard edge (level 0.5)
    assert b[4, 5]  # next to the core


def test_small_regions_and_masses():
    reg = np.zeros((5, 5), bool)
    reg[0, 0] = True
    a = np.arange(25, dtype=float).reshape(5, 5)
    a[0, 0] = 99.0
    assert rank_accuracy(a, reg) == 1.0  # K = 1
    all_but_one = ~reg
    assert pixel_auroc(a, all_but_one) == 0.0  # the single negative pixel scores highest
    inf_in = np.array([[np.inf, 1.0], [0.0, 3.0]])
    assert relevance_mass(inf_in, np.array([[True, False], [False, False]])) == 0.0  # +inf counts as nothing
    tiny = np.array([[0.1, 0.1], [0.2, 0.0]])
    assert relevance_mass(tiny, np.array([[True, False], [False, False]])) == pytest.approx(0.25)


def test_nan_patches_go_last():
    amap = np.zeros((8, 8))
    amap[:4, :4] = np.nan  # patch 0
    amap[:4, 4:] = 3.0
    amap[4:, :4] = 1.0
    assert patch_order(amap, 4).tolist() == [1, 2, 3, 0]


# ------------------------------------------------------------------ mutation testing, 2026-12-07 (issue 21)


def test_the_band_includes_its_upper_bound_and_scales_with_the_peak():
    m = np.zeros((20, 20))
    m[2:18, 2:18] = 2.0  # peak 2: the band is 0.2 … 1.8 inclusive
    m[8:12, 8:12] = 1.8  # deep inside the hard region, away from its edge: in the band only by its value
    b = boundary_region(m)
    assert b[9, 9] and b[8:12, 8:12].all() and not b[5, 5]


def test_empty_regions_are_boolean_masks_that_index():
    for reg in (region(np.zeros((4, 4))), boundary_region(np.zeros((4, 4)))):
        assert reg.dtype == bool and not reg.any()
        assert relevance_mass(np.ones((4, 4)), reg) == 0.0  # usable as an index, as the evaluator uses it


def test_a_region_covering_everything_has_no_auroc_and_warns_nothing():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(pixel_auroc(np.arange(16.0).reshape(4, 4), np.ones((4, 4), bool)))
        assert math.isnan(pixel_auroc(np.arange(16.0).reshape(4, 4), np.zeros((4, 4), bool)))


def test_the_default_pointing_tolerance_is_five_percent_of_the_side():
    reg = np.zeros((100, 100), bool)
    reg[40:60, 40:60] = True
    amap = np.zeros((100, 100))
    amap[40, 70] = 1.0  # 11 px right of the region: outside a 5-px tolerance
    assert pointing_game(amap, reg) == 0.0
    amap[40, 70], amap[40, 64] = 0.0, 1.0  # 5 px right: inside it
    assert pointing_game(amap, reg) == 1.0


def test_rank_accuracy_matches_a_full_sort_and_puts_nan_last():
    rng = np.random.default_rng(0)
    for _ in range(50):
        amap = rng.random((9, 9))
        reg = rng.random((9, 9)) < rng.uniform(0.05, 0.9)
        if not reg.any():
            continue
        k = int(reg.sum())
        top = np.argsort(-amap.ravel(), kind="stable")[:k]
        assert rank_accuracy(amap, reg) == pytest.approx(reg.ravel()[top].mean())
    amap = -np.ones((4, 4))
    reg = np.zeros((4, 4), bool)
    reg[0, :] = True
    amap[reg] = np.nan  # NaN is no evidence: below every number, even a negative one
    assert rank_accuracy(amap, reg) == 0.0


def test_minus_infinity_carries_no_mass():
    amap = np.ones((2, 2))
    amap[0, 0] = -np.inf
    reg = np.array([[True, False], [False, False]])
    assert relevance_mass(amap, reg) == 0.0
