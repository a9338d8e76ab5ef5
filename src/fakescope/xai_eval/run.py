"""Run the explanation evaluation: models × methods on manipulated faces with known masks.

:func:`evaluate_model` explains every face with every method and scores each map (see
:mod:`.metrics`), next to three reference maps that every method must be read against:

* ``random`` — uniform noise (what chance gives);
* ``centre`` — a centred Gaussian blob (faces are centred in the crop, so "the middle of the face" is
  a strong prior: a method that does not beat it does not localise anything);
* ``mask`` — the ground-truth mask itself (the best a map could do).

Every number comes with a 95 % bootstrap interval over faces; localisation is also reported as the
paired difference with the centre prior. Subsets: ``all``, each kind (``sbi``, ``splice``,
``ffpp``) and ``off_centre`` (masks whose centroid is > 12 % of the side from the centre).
:func:`write_report` writes ``xai_eval.json``, ``xai_eval.md`` and plots.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from ..explainers import create_explainer, explainer_class, make_baseline
from ..explainers._base import logits_of
from ..schema import write_atomic
from .data import MaskedFace, is_off_centre
from .metrics import (
    SANITY_MAX_RHO,
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
from .neutral import choose_neutral, measure_neutral

log = logging.getLogger(__name__)

__all__ = ["REFERENCE_MAPS", "EvalConfig", "choose_defaults", "evaluate_model", "quality_entry", "write_report"]

REFERENCE_MAPS = ("random", "centre", "mask")
METRICS = ("pointing_game", "pointing_boundary", "relevance_mass", "rank_accuracy", "pixel_auroc", "deletion_gain",
           "insertion_gain", "deletion_gain_pristine", "insertion_gain_pristine")  # fmt: skip
#: localisation metrics also reported as the paired difference with the centre prior
VS_CENTRE = ("pointing_game", "relevance_mass", "rank_accuracy", "pixel_auroc")


@dataclass
class EvalConfig:
    """Settings of one evaluation (recorded in the JSON)."""

    methods: tuple[str, ...] = ("gradcam", "gradcam++", "saliency")
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    target: str = "fake"
    tolerance: float = 0.05  # pointing game radius, fraction of the side
    steps: int = 16  # deletion/insertion steps
    patch: int | None = None  # deletion patch side in pixels (None: side // 14, 16 px at 224)
    baseline: str = "neutral"  # deletion/insertion baseline; "neutral" = measured on the real faces here
    sanity: bool = True
    sanity_faces: int = 16
    n_boot: int = 1000
    seed: int = 0
    batch_size: int = 8


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    if img.shape[0] == size and img.shape[1] == size:
        return img
    interp = cv2.INTER_AREA if img.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(img, (size, size), interpolation=interp)


def _tensor(images: Sequence[np.ndarray], size: int) -> torch.Tensor:
    arr = np.stack([_resize(im, size) for im in images])
    return torch.from_numpy(arr).permute(0, 3, 1, 2).float().div_(255.0).contiguous()


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    diff = pos[:, None] - neg[None, :]
    return float((diff > 0).mean() + 0.5 * (diff == 0).mean())


def _stat(values, cfg: EvalConfig) -> list[float]:
    return [round(v, 4) for v in bootstrap_ci(values, cfg.n_boot, cfg.seed)]


def evaluate_model(
    model: nn.Module,
    samples: Sequence[MaskedFace],
    cfg: EvalConfig,
    reals: Sequence[np.ndarray] = (),
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Evaluate ``cfg.methods`` on ``model`` over ``samples``; ``reals`` (real face crops, RGB uint8)
    are used for the detector's separation (AUC) and for measuring the neutral baseline."""
    if not samples:
        raise ValueError("no manipulated faces to evaluate on")
    model = model.eval()
    name = getattr(getattr(model, "info", None), "name", type(model).__name__)
    size = int(model.info.input_size)
    sign = 1.0 if cfg.target == "fake" else -1.0
    x = _tensor([s.fake for s in samples], size)
    masks = [_resize(s.mask, size) for s in samples]
    kinds = np.array([str(s.kind) for s in samples], dtype=object)
    off = np.array([is_off_centre(m) for m in masks])
    n = len(samples)
    patch = cfg.patch or max(1, size // 14)
    say = progress or (lambda msg: None)

    @torch.no_grad()
    def logits(t: torch.Tensor) -> np.ndarray:
        return torch.cat([logits_of(model(c), len(c)) for c in t.split(16)]).numpy()

    def p_target(t: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat([torch.sigmoid(sign * logits_of(model(c), len(c))) for c in t.split(36)])

    # -- the detector on these faces, and the neutral baseline --------------------------------
    p_fake = 1 / (1 + np.exp(-logits(x)))
    xr = _tensor(list(reals), size) if len(reals) else None
    kind_names = sorted({str(k) for k in kinds})
    detection: dict[str, Any] = {"mean_p_fake": {k: float(p_fake[kinds == k].mean()) for k in kind_names}}
    # the pristine original of each manipulated face, where known: the deletion baseline that removes
    # exactly the manipulation (NaN gains for faces without one)
    has_pristine = np.array([s.real is not None for s in samples])
    xp = _tensor([s.real if s.real is not None else s.fake for s in samples], size) if has_pristine.any() else None
    if xp is not None:
        detection["mean_p_fake"]["pristine"] = float((1 / (1 + np.exp(-logits(xp[has_pristine])))).mean())
    if xr is not None:
        p_real = 1 / (1 + np.exp(-logits(xr)))
        detection["mean_p_fake"]["real"] = float(p_real.mean())
        detection["auc"] = {k: round(_auc(p_fake[kinds == k], p_real), 4) for k in kind_names}
    neutral: dict[str, Any] = {}
    base_kind = cfg.baseline
    if xr is not None:
        rows = measure_neutral(model, xr)
        neutral = {"kind": choose_neutral(rows), "candidates": rows, "measured_on": f"{len(xr)} real faces"}
        if base_kind == "neutral":
            base_kind = neutral["kind"]
    if base_kind == "neutral":  # no real faces here: the shipped measurement
        from ..explainers.quality import neutral_baseline

        base_kind = neutral_baseline(model)
    baseline = make_baseline(x, base_kind, model=model)
    say(f"{name}: baseline {base_kind}")

    # -- reference maps and the random order (shared by every method) ------------------------
    rng = np.random.default_rng(cfg.seed)
    ref_maps = {
        "random": rng.random((n, size, size)).astype(np.float32),
        "centre": np.broadcast_to(centre_prior(size, size), (n, size, size)),
        "mask": np.stack(masks),
    }
    random_curves, random_pristine = [], []
    for i in range(n):
        order = rng.permutation((size // patch) ** 2)
        random_curves.append(deletion_insertion(p_target, x[i], baseline[i], order, patch, cfg.steps))
        if xp is not None and has_pristine[i]:
            random_pristine.append(deletion_insertion(p_target, x[i], xp[i], order, patch, cfg.steps))
        else:
            random_pristine.append(None)

    def score_maps(maps: np.ndarray) -> dict[str, Any]:
        per: dict[str, list[float]] = {k: [] for k in METRICS}
        del_curves, ins_curves = [], []
        for i in range(n):
            reg = region(masks[i])
            per["pointing_game"].append(pointing_game(maps[i], reg, cfg.tolerance))
            per["pointing_boundary"].append(pointing_game(maps[i], boundary_region(masks[i]), cfg.tolerance))
            per["relevance_mass"].append(relevance_mass(maps[i], reg))
            per["rank_accuracy"].append(rank_accuracy(maps[i], reg))
            per["pixel_auroc"].append(pixel_auroc(maps[i], reg))
            order = patch_order(maps[i], patch, np.random.default_rng(cfg.seed + i))
            c = deletion_insertion(p_target, x[i], baseline[i], order, patch, cfg.steps)
            per["deletion_gain"].append(random_curves[i].deletion_auc - c.deletion_auc)
            per["insertion_gain"].append(c.insertion_auc - random_curves[i].insertion_auc)
            rp = random_pristine[i]
            if rp is not None:
                cp = deletion_insertion(p_target, x[i], xp[i], order, patch, cfg.steps)
                per["deletion_gain_pristine"].append(rp.deletion_auc - cp.deletion_auc)
                per["insertion_gain_pristine"].append(cp.insertion_auc - rp.insertion_auc)
            else:
                per["deletion_gain_pristine"].append(float("nan"))
                per["insertion_gain_pristine"].append(float("nan"))
            del_curves.append(c.deletion)
            ins_curves.append(c.insertion)
        return {"per_face": per, "deletion_curve": np.mean(del_curves, 0).tolist(),
                "insertion_curve": np.mean(ins_curves, 0).tolist()}  # fmt: skip

    def explain_all(net: nn.Module, method: str, idx: np.ndarray) -> tuple[np.ndarray, float]:
        opts = dict(cfg.options.get(method, {}))
        if explainer_class(method).family == "perturbation":  # the baseline measured here, unless given
            opts.setdefault("baseline", base_kind)
        ex = create_explainer(method, net, **opts)
        out = []
        t0 = time.perf_counter()
        for chunk in np.array_split(idx, max(1, int(np.ceil(len(idx) / cfg.batch_size)))):
            out.append(ex.explain(x[chunk], target=cfg.target).maps)
        return np.concatenate(out), (time.perf_counter() - t0) * 1000 / max(1, len(idx))

    results: dict[str, dict[str, Any]] = {}
    all_idx = np.arange(n)
    for ref, maps in ref_maps.items():
        say(f"{name}: reference map {ref}")
        results[ref] = {"kind": "reference", **score_maps(maps)}
    sanity_idx = all_idx[np.linspace(0, n - 1, min(n, cfg.sanity_faces)).round().astype(int)]
    rnd = randomised_copy(model, cfg.seed) if cfg.sanity else None
    for method in cfg.methods:
        say(f"{name}: {method}")
        try:
            maps, ms = explain_all(model, method, all_idx)
        except Exception as e:  # noqa: BLE001 - one failing method never loses the others
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            log.warning("%s on %s failed: %s", method, name, msg)
            results[method] = {"kind": "method", "error": msg}
            continue
        row: dict[str, Any] = {"kind": "method", "ms_per_face": round(ms, 2), **score_maps(maps)}
        row["empty_maps"] = int(sum(1 for m in maps if not np.isfinite(m).all() or float(np.ptp(m)) == 0.0))
        if rnd is not None:
            try:
                rmaps, _ = explain_all(rnd, method, sanity_idx)
                row["per_face_sanity"] = [spearman(maps[i], r) for i, r in zip(sanity_idx, rmaps, strict=True)]
            except Exception as e:  # noqa: BLE001
                row["sanity_error"] = str(e).splitlines()[0] if str(e) else type(e).__name__
        results[method] = row

    # -- aggregate -----------------------------------------------------------------------------
    subsets = {"all": np.ones(n, bool), **{k: kinds == k for k in kind_names}, "off_centre": off}
    centre = results["centre"]["per_face"]
    table: dict[str, Any] = {}
    for mname, row in results.items():
        if "error" in row:
            table[mname] = {"kind": row["kind"], "error": row["error"]}
            continue
        per = {k: np.asarray(v, np.float64) for k, v in row["per_face"].items()}
        entry: dict[str, Any] = {"kind": row["kind"], "subsets": {}, "vs_centre": {}}
        for sname, sel in subsets.items():
            if not sel.any():
                continue
            entry["subsets"][sname] = {k: _stat(v[sel], cfg) for k, v in per.items()}
            entry["vs_centre"][sname] = {
                k: _stat(per[k][sel] - np.asarray(centre[k], np.float64)[sel], cfg)
                for k in VS_CENTRE
            }
        if "ms_per_face" in row:
            entry["ms_per_face"] = row["ms_per_face"]
            entry["empty_maps"] = row["empty_maps"]
        if "per_face_sanity" in row:
            rho = _stat(row["per_face_sanity"], cfg)
            entry["sanity"] = {"spearman": rho, "pass": bool(rho[0] < SANITY_MAX_RHO), "faces": len(sanity_idx)}
        elif "sanity_error" in row:
            entry["sanity"] = {"error": row["sanity_error"]}
        entry["deletion_curve"] = [round(v, 4) for v in row["deletion_curve"]]
        entry["insertion_curve"] = [round(v, 4) for v in row["insertion_curve"]]
        entry["per_face"] = {k: [round(float(v), 4) for v in vals] for k, vals in row["per_face"].items()}
        table[mname] = entry
    rc = random_curves
    return {
        "model": name,
        "weights": getattr(model, "weights_tag", None),
        "input_size": size,
        "n_faces": n,
        "faces": {k: int(v.sum()) for k, v in subsets.items()},
        "detection": detection,
        "neutral_baseline": neutral,
        "deletion_baseline": base_kind,
        "pristine_faces": int(has_pristine.sum()),
        "patch": patch,
        "random_deletion_curve": np.mean([c.deletion for c in rc], 0).round(4).tolist(),
        "random_insertion_curve": np.mean([c.insertion for c in rc], 0).round(4).tolist(),
        "methods": table,
    }


# ------------------------------------------------------------------------------- decisions


def _lo(entry: dict, *path: str) -> float:
    v: Any = entry
    for p in path:
        v = v.get(p, {}) if isinstance(v, dict) else {}
    return float(v[1]) if isinstance(v, list) and len(v) == 3 else float("nan")


def _mean(entry: dict, *path: str) -> float:
    v: Any = entry
    for p in path:
        v = v.get(p, {}) if isinstance(v, dict) else {}
    return float(v[0]) if isinstance(v, list) and len(v) == 3 else float("nan")


def choose_defaults(report: dict[str, Any], k: int = 1) -> list[str]:
    """The ``k`` best methods of one model's report: faithful (a deletion gain — neutral or pristine
    baseline — or the insertion gain with its interval above 0: deletion with a neutral baseline alone is
    confounded when the patches pasted in look like blending traces) and sane (randomisation check
    passed) first, then localising (pixel AUROC interval above 0.5 — which also rules out near-constant
    maps, whose ties flatter the pointing game —, then the number of comparisons with the centre prior
    won with the interval above 0: off-centre pointing game, relevance mass on all and on off-centre
    masks), then fast."""

    def key(item: tuple[str, dict]) -> tuple:
        _, e = item
        faithful = any(_lo(e, "subsets", "all", g) > 0
                       for g in ("deletion_gain", "insertion_gain", "deletion_gain_pristine"))  # fmt: skip
        sane = bool(e.get("sanity", {}).get("pass"))
        beats = ((_lo(e, "vs_centre", "off_centre", "pointing_game") > 0)
                 + (_lo(e, "vs_centre", "all", "relevance_mass") > 0)
                 + (_lo(e, "vs_centre", "off_centre", "relevance_mass") > 0))  # fmt: skip
        loc = np.nan_to_num(_mean(e, "subsets", "off_centre", "pointing_game")) + np.nan_to_num(
            _mean(e, "subsets", "all", "relevance_mass"))
        informative = _lo(e, "subsets", "all", "pixel_auroc") > 0.5
        return (faithful and sane and informative, sane and informative, beats, round(loc, 2),
                -e.get("ms_per_face", 1e9))

    rows = [(m, e) for m, e in report["methods"].items() if e.get("kind") == "method" and "error" not in e]
    return [m for m, _ in sorted(rows, key=key, reverse=True)[:k]]


def quality_entry(report: dict[str, Any], defaults: Sequence[str]) -> dict[str, Any]:
    """One model's compact row set for ``explainers/quality.json``."""
    methods = {}
    for m, e in report["methods"].items():
        if e.get("kind") != "method":
            continue
        if "error" in e:
            methods[m] = {"error": e["error"]}
            continue
        s = e["subsets"]
        methods[m] = {
            "pointing_game": s["all"]["pointing_game"],
            "pointing_game_off_centre": s.get("off_centre", {}).get("pointing_game"),
            "pg_minus_centre_off_centre": e["vs_centre"].get("off_centre", {}).get("pointing_game"),
            "relevance_mass": s["all"]["relevance_mass"],
            "rma_minus_centre": e["vs_centre"]["all"]["relevance_mass"],
            "rma_minus_centre_off_centre": e["vs_centre"].get("off_centre", {}).get("relevance_mass"),
            "rank_accuracy": s["all"].get("rank_accuracy"),
            "pixel_auroc": s["all"]["pixel_auroc"],
            "deletion_gain": s["all"]["deletion_gain"],
            "insertion_gain": s["all"]["insertion_gain"],
            "deletion_gain_pristine": s["all"].get("deletion_gain_pristine"),
            "sanity_spearman": e.get("sanity", {}).get("spearman"),
            "sanity_pass": e.get("sanity", {}).get("pass"),
            "ms_per_face": e.get("ms_per_face"),
        }
    refs = {r: {"pointing_game": report["methods"][r]["subsets"]["all"]["pointing_game"],
                "relevance_mass": report["methods"][r]["subsets"]["all"]["relevance_mass"]}
            for r in REFERENCE_MAPS if r in report["methods"]}  # fmt: skip
    nb = report.get("neutral_baseline") or {}
    return {
        "weights": report.get("weights"),
        "faces": report["faces"],
        "detection_auc": report["detection"].get("auc"),
        "neutral_baseline": {"kind": report["deletion_baseline"], "candidates": nb.get("candidates", {})},
        "methods": methods,
        "references": refs,
        "defaults": list(defaults),
    }


# ---------------------------------------------------------------------------------- writing


def _fmt(v: Any) -> str:
    if isinstance(v, list) and len(v) == 3:
        return "–" if v[0] != v[0] else f"{v[0]:.2f} [{v[1]:.2f}, {v[2]:.2f}]"
    return "–" if v is None else str(v)


def markdown(reports: Sequence[dict[str, Any]], cfg: EvalConfig | None = None) -> str:
    """The tables of :func:`write_report` as markdown."""
    lines = ["# Explanation evaluation (fakescope xai-eval)", ""]
    lines.append("Mean [95 % bootstrap interval] over faces. PG = pointing game (5 % tolerance); RMA = relevance "
                 "mass accuracy; RRA = relevance rank accuracy (top-K pixels in the mask: reads only the ranking); "
                 "del./ins. gain = AUC gain over a random patch order with the neutral baseline "
                 "(> 0: the map's order removes/restores the evidence faster than chance); del. gain (pristine) = "
                 "the same with each face's pristine original as the baseline; sanity ρ = Spearman "
                 f"correlation with the maps of a weight-randomised copy (pass < {SANITY_MAX_RHO}). Reference maps: "
                 "random, centre (Gaussian blob), mask (ground truth).")  # fmt: skip
    for r in reports:
        lines += ["", f"## {r['model']} ({r.get('weights')}, {r['input_size']} px)", ""]
        det = r["detection"]
        lines.append(f"Faces: {r['faces']}. Detector AUC vs real faces: {det.get('auc', '–')}; mean p_fake: "
                     f"{ {k: round(v, 3) for k, v in det['mean_p_fake'].items()} }. Deletion/insertion baseline: "
                     f"`{r['deletion_baseline']}`, patches of {r['patch']} px.")  # fmt: skip
        nb = r.get("neutral_baseline") or {}
        if nb.get("candidates"):
            cands = ", ".join(f"{k} {v['median_p_fake']:.2f}" for k, v in nb["candidates"].items())
            lines.append(f"Median p_fake of baseline candidates on real faces: {cands} → `{nb['kind']}`.")
        lines += ["", "| method | PG | PG off-centre | PG boundary | PG − centre (off-c.) | RMA | RMA − centre | "
                  "RMA − centre (off-c.) | RRA − centre | pixel AUROC | del. gain | ins. gain | del. gain (pristine) | "
                  "sanity ρ | ms/face |",
                  "|---|" + "---|" * 14]  # fmt: skip
        for m, e in r["methods"].items():
            if "error" in e:
                lines.append(f"| {m} | failed: {e['error'][:80]} |" + " |" * 13)
                continue
            s, vc = e["subsets"], e["vs_centre"]
            sanity = e.get("sanity", {})
            san = _fmt(sanity.get("spearman")) + ("" if "pass" not in sanity else (" ✓" if sanity["pass"] else " ✗"))
            name = m if e["kind"] == "method" else f"*{m}*"
            lines.append(
                f"| {name} | {_fmt(s['all']['pointing_game'])} | "
                f"{_fmt(s.get('off_centre', {}).get('pointing_game'))} | "
                f"{_fmt(s['all']['pointing_boundary'])} | {_fmt(vc.get('off_centre', {}).get('pointing_game'))} | "
                f"{_fmt(s['all']['relevance_mass'])} | {_fmt(vc['all']['relevance_mass'])} | "
                f"{_fmt(vc.get('off_centre', {}).get('relevance_mass'))} | {_fmt(vc['all'].get('rank_accuracy'))} | "
                f"{_fmt(s['all']['pixel_auroc'])} | {_fmt(s['all']['deletion_gain'])} | "
                f"{_fmt(s['all']['insertion_gain'])} | {_fmt(s['all'].get('deletion_gain_pristine'))} | "
                f"{san if sanity else '–'} | {e.get('ms_per_face', '–')} |"
            )
        if r.get("defaults"):
            lines += ["", f"Chosen default(s): {', '.join(r['defaults'])}."]
    if cfg is not None:
        lines += ["", f"Settings: `{json.dumps(asdict(cfg), default=str)}`"]
    return "\n".join(lines) + "\n"


def _plots(reports: Sequence[dict[str, Any]], out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    for r in reports:
        stem = str(r["model"]).replace(":", "_")  # name:tag → a portable file name
        names = [m for m, e in r["methods"].items() if "error" not in e]
        fig, axes = plt.subplots(1, 3, figsize=(15, 0.35 * len(names) + 1.5), sharey=True)
        for ax, (metric, subset) in zip(axes, [("pointing_game", "all"), ("pointing_game", "off_centre"),
                                               ("relevance_mass", "all")], strict=True):  # fmt: skip
            vals = [r["methods"][m]["subsets"].get(subset, {}).get(metric, [np.nan] * 3) for m in names]
            mean = np.array([v[0] for v in vals])
            err = np.array([[v[0] - v[1] for v in vals], [v[2] - v[0] for v in vals]])
            colours = ["#999" if r["methods"][m]["kind"] == "reference" else "#1f77b4" for m in names]
            ax.barh(names, mean, xerr=err, color=colours)
            ax.set_title(f"{metric} ({subset})")
            ax.set_xlim(0, 1.05)
            ax.invert_yaxis()
        fig.suptitle(f"{r['model']}: localisation (95 % bootstrap intervals)")
        fig.tight_layout()
        p = out / f"{stem}_localisation.png"
        fig.savefig(p, dpi=90)
        plt.close(fig)
        files.append(p.name)

        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        steps = np.linspace(0, 1, len(r["random_deletion_curve"]))
        for ax, key, rkey in ((axes[0], "deletion_curve", "random_deletion_curve"),
                              (axes[1], "insertion_curve", "random_insertion_curve")):  # fmt: skip
            ax.plot(steps, r[rkey], "k--", label="random order")
            for m in names:
                if r["methods"][m]["kind"] == "method" or m == "mask":
                    ax.plot(steps, r["methods"][m][key], label=m)
            ax.set_xlabel("fraction of patches " + ("removed" if key.startswith("del") else "restored"))
            ax.set_ylabel("P(target)")
            ax.set_title(key.replace("_", " "))
        axes[1].legend(fontsize=7)
        fig.tight_layout()
        p = out / f"{stem}_deletion_insertion.png"
        fig.savefig(p, dpi=90)
        plt.close(fig)
        files.append(p.name)
    return files


def write_report(reports: Sequence[dict[str, Any]], out: str | Path, cfg: EvalConfig | None = None) -> dict[str, str]:
    """Write ``xai_eval.json`` (everything, per-face values included), ``xai_eval.md`` and plots
    into ``out``; returns ``{kind: file name}``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    doc = {"config": asdict(cfg) if cfg else None, "models": list(reports)}
    write_atomic(out / "xai_eval.json", json.dumps(doc, indent=1, default=str))
    write_atomic(out / "xai_eval.md", markdown(reports, cfg))
    files = {"json": "xai_eval.json", "markdown": "xai_eval.md"}
    try:
        for i, f in enumerate(_plots(reports, out)):
            files[f"plot{i}"] = f
    except Exception as e:  # noqa: BLE001 - plots are a convenience; the numbers are written already
        log.warning("plots not written: %s", e)
    return files
