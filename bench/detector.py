"""Detector bench (issue 20): candidates side by side on the same held-out real deepfakes and real media.

Every input is analysed ONCE by ``fakescope``'s own pipeline (default sampling even:32, YuNet, each model's
crop) with all candidate models as one *uncalibrated* ensemble, so each face carries every model's raw
logit and its quality flags (bench/trust.py's ``score``; cached in .cache/detector/). Then, per candidate
(a model or an ensemble), Platt scaling is fitted on 4 of 5 folds grouped by person/clip and the held-out
fold is judged by the default rule (band 0.35–0.65) through the pipeline's aggregate stage. Reported:

* input-level ROC-AUC of the held-out verdict score P(fake) (inputs with no face are left out and
  counted), with a 95 % bootstrap interval over groups;
* verdicts: real inputs judged fake, deepfakes judged fake, uncertain share — counts with 95 %
  Clopper–Pearson intervals; per source and per manipulation type;
* face-level ROC-AUC of each model's raw score (bootstrap over groups).

Inputs: bench/trust.py's set (FF++ c23 / DFDC / in-the-wild clips, DFDC crops, package media, held-out
corpus photos with ``--corpus``) plus, with ``--extra DIR`` (a ``scripts/build_corpus.py --out DIR`` of the
issue-20 sources in ``scripts/eval_sources_extra.py``), modern face swaps, talking heads and their reals.
Nothing here is trained on; the calibration folds never see the input they judge.

    python bench/detector.py --corpus /work/corpus --extra /work/corpus2 [--write]

``--write`` fits the chosen default's calibration on all inputs and writes it (weights/calibration/),
plus the data card of every input's sha256.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "src"))
import trust  # noqa: E402

CACHE = ROOT / ".cache" / "detector"
OUT = ROOT / "bench" / "out"
MODELS = ["mesoinception4:df", "meso4:df", "clip_probe:sbi", "sbi_mobilenetv2:corpus"]
BAND = (0.35, 0.65)
log = logging.getLogger("detector")

CANDIDATES = [
    ("MesoNet DF pair (old default)", (0, 1)),
    ("clip_probe", (2,)),
    ("clip_probe + MesoInception-4", (0, 2)),
    ("clip_probe + MesoNet DF pair", (0, 1, 2)),
    ("sbi_mobilenetv2:corpus (SBI fine-tuned CNN)", (3,)),
    ("clip_probe + sbi_mobilenetv2:corpus", (2, 3)),
]


MANIPULATION: dict[str, str] = {}  # input path → manipulation type named by its source (issue-20 sources)


def extra_items(extra: Path) -> list[trust.Item]:
    """Inputs of a ``build_corpus.py --out DIR`` evaluation build (sources.csv, role eval)."""
    rows = [r for r in csv.DictReader((extra / "sources.csv").open()) if r["role"] == "eval"]
    out = []
    for r in rows:
        p = extra / "sources" / r["source"] / r["path"]
        MANIPULATION[str(p)] = r["manipulation"]
        if p.is_file():
            out.append(trust.Item(str(p), int(r["label"]), "media", f"{r['source']}:{r['identity']}",
                                  f"{r['origin']}@{r['version']}:{r['path']}"))  # fmt: skip
    return out


def source_of(rec: dict) -> str:
    s = rec["source"]
    for key, name in (("icpr2020dfdc", "FF++/DFDC (icpr2020dfdc)"), ("EyeCanTell", "in-the-wild (EyeCanTell)"),
                      ("DeepFake-Detect", "DFDC (aaronchong888)"), ("MesoNet", "MesoNet test faces"),
                      ("facial_recognition_bias", "held-out UTKFace photos")):  # fmt: skip
        if key in s:
            return name
    if s.startswith("github:"):
        return s.split("@")[0].removeprefix("github:")
    return "package media"


def manipulation_of(rec: dict) -> str:
    if rec["label"] == 0:
        return "real"
    p = rec["path"]
    for k in ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures"):
        if f"/{k}/" in p:
            return f"FF++ {k}"
    if "dfdc" in p.lower() or "DeepFake-Detect" in rec["source"] or "icpr2020dfdc" in rec["source"]:
        return "DFDC"
    if "EyeCanTell" in rec["source"]:
        return "in-the-wild swap"
    if "MesoNet" in rec["source"]:
        return "MesoNet test deepfake"
    return MANIPULATION.get(rec["path"], "other")


def clopper_pearson(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    from scipy.stats import beta

    if n == 0:
        return (float("nan"), float("nan"))
    lo = 0.0 if k == 0 else float(beta.ppf(alpha / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
    return lo, hi


def _group_bootstrap(y: np.ndarray, groups: np.ndarray, stat, n_boot: int, seed: int) -> tuple[float, float]:
    """95 % interval of ``stat(index)`` over resamples of whole groups (clips/people) with both classes."""
    ug = np.unique(groups)
    idx = {g: np.flatnonzero(groups == g) for g in ug}
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        sel = np.concatenate([idx[g] for g in rng.choice(ug, len(ug))])
        if len(set(y[sel])) == 2:
            boots.append(stat(sel))
    return float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))


def auc_ci(y: np.ndarray, s: np.ndarray, groups: np.ndarray, n_boot: int = 1000, seed: int = 0):
    """ROC-AUC and its 95 % bootstrap interval, resampling groups (clips/people)."""
    from sklearn.metrics import roc_auc_score

    if len(set(y)) < 2:
        return float("nan"), (float("nan"), float("nan"))
    return float(roc_auc_score(y, s)), _group_bootstrap(y, groups, lambda i: roc_auc_score(y[i], s[i]), n_boot, seed)


def paired_delta(recs: list[dict], res_a: list, res_b: list, n_boot: int = 2000, seed: int = 0):
    """AUC(b) − AUC(a) on the inputs both score, with a 95 % bootstrap interval over groups (paired)."""
    from sklearn.metrics import roc_auc_score

    keep = [i for i in range(len(recs)) if res_a[i][1] is not None and res_b[i][1] is not None]
    y = np.array([recs[i]["label"] for i in keep])
    sa = np.array([res_a[i][1] for i in keep])
    sb = np.array([res_b[i][1] for i in keep])
    g = np.array([recs[i]["group"] for i in keep])

    def delta(i):
        return roc_auc_score(y[i], sb[i]) - roc_auc_score(y[i], sa[i])

    return float(delta(np.arange(len(y)))), _group_bootstrap(y, g, delta, n_boot, seed)


def held_out(recs: list[dict], idx: tuple[int, ...], k: int = 5) -> list[tuple[str, float | None]]:
    cfg = trust.Config("c", idx, BAND)
    fold = trust.folds(recs, k)
    out: list = [None] * len(recs)
    for f in range(k):
        train = [r for r, fi in zip(recs, fold, strict=True) if fi != f]
        cals = trust.fit_cals(train, idx, names=MODELS)
        for i, (r, fi) in enumerate(zip(recs, fold, strict=True)):
            if fi == f:
                out[i] = trust.judge(r, cfg, cals, names=MODELS)
    return out


def verdict_row(sel: list[tuple[dict, tuple[str, float | None]]]) -> dict:
    real = [v for r, (v, _) in sel if r["label"] == 0 and v != "inconclusive"]
    fake = [v for r, (v, _) in sel if r["label"] == 1 and v != "inconclusive"]
    n = len(real) + len(fake)
    unc = real.count("uncertain") + fake.count("uncertain")
    return {"real_n": len(real), "real_fake": real.count("fake"), "real_uncertain": real.count("uncertain"),
            "fake_n": len(fake), "fake_fake": fake.count("fake"), "fake_uncertain": fake.count("uncertain"),
            "uncertain": unc, "n": n, "no_face": sum(v == "inconclusive" for _, (v, _) in sel)}  # fmt: skip


def fmt_ci(k: int, n: int) -> str:
    if not n:
        return "–"
    lo, hi = clopper_pearson(k, n)
    return f"{k}/{n} [{lo:.2f}, {hi:.2f}]"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mirror", type=Path, default=Path("/work/.mirror"))
    ap.add_argument("--corpus", type=Path, default=None)
    ap.add_argument("--max-corpus", type=int, default=200)
    ap.add_argument("--extra", type=Path, default=None)
    ap.add_argument("--write", default="", help="candidate name whose calibration to write (e.g. clip_probe)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    items = trust.collect(args.mirror, args.corpus, args.max_corpus)
    if args.extra:
        items += extra_items(args.extra)
    log.info("%d inputs (%d fake, %d real)", len(items), sum(i.label for i in items), sum(1 - i.label for i in items))
    recs = trust.score(items, MODELS, cache=CACHE / "scores")
    for r in recs:
        r["src"], r["manip"] = source_of(r), manipulation_of(r)
    report: dict = {"n_inputs": len(recs), "candidates": {}, "face_auc": {}}
    lines = [f"inputs: {len(recs)} ({sum(r['label'] for r in recs)} deepfakes, "
             f"{sum(1 - r['label'] for r in recs)} real); faces: {sum(len(r['faces']) for r in recs)}", ""]  # fmt: skip
    # face level
    z, y, g = trust.face_table(recs)
    lines += ["| model | face AUC [95 % CI] | real faces | fake faces | real faces with raw p > 0.5 |",
              "|---|---|---|---|---|"]  # fmt: skip
    for j, m in enumerate(MODELS):
        auc, (lo, hi) = auc_ci(y, z[:, j], g)
        fpr = float((z[y == 0, j] > 0).mean())
        report["face_auc"][m] = {"auc": auc, "ci": [lo, hi], "fpr@0.5": fpr}
        lines.append(f"| {m} | {auc:.3f} [{lo:.2f}, {hi:.2f}] | {(y == 0).sum()} | {(y == 1).sum()} | {fpr:.3f} |")
    lines.append("")
    # input level, held-out calibration
    lines += ["| candidate | input AUC [95 % CI] (n) | Δ AUC vs first row, paired [95 % CI] | real → fake | "
              "deepfake → fake | uncertain | no face |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    per_src_lines = []
    base = None
    for name, idx in CANDIDATES:
        res = held_out(recs, idx)
        scored = [(r, s) for r, (v, s) in zip(recs, res, strict=True) if s is not None]
        yy = np.array([r["label"] for r, _ in scored])
        ss = np.array([s for _, s in scored])
        gg = np.array([r["group"] for r, _ in scored])
        auc, (lo, hi) = auc_ci(yy, ss, gg)
        row = verdict_row(list(zip(recs, res, strict=True)))
        report["candidates"][name] = {"auc": auc, "ci": [lo, hi], **row,
                                      "verdicts": [v for v, _ in res], "scores": [s for _, s in res]}  # fmt: skip
        if base is None:
            base = (res, name)
            delta = "–"
        else:
            d, (dlo, dhi) = paired_delta(recs, base[0], res)
            delta = f"{d:+.3f} [{dlo:+.2f}, {dhi:+.2f}]"
            report["candidates"][name]["delta_auc_vs_first"] = [d, dlo, dhi]
        lines.append(f"| {name} | {auc:.3f} [{lo:.2f}, {hi:.2f}] ({len(scored)}) | {delta} | "
                     f"{fmt_ci(row['real_fake'], row['real_n'])} | {fmt_ci(row['fake_fake'], row['fake_n'])} | "
                     f"{fmt_ci(row['uncertain'], row['n'])} | {row['no_face']} |")  # fmt: skip
        for key, title in (("src", "source"), ("manip", "manipulation")):
            per_src_lines += ["", f"**{name}, per {title}:**", "",
                              f"| {title} | input AUC (n) | real → fake | deepfake → fake | uncertain |",
                              "|---|---|---|---|---|"]  # fmt: skip
            for val in sorted({r[key] for r in recs}):
                sel = [(r, v) for r, v in zip(recs, res, strict=True) if r[key] == val]
                sr = verdict_row(sel)
                # per source: its fakes against its own reals; per manipulation: its fakes against every real
                auc_sel = sel if key == "src" else sel + [(r, v) for r, v in zip(recs, res, strict=True)
                                                          if r["label"] == 0 and val != "real"]  # fmt: skip
                sc = [(r["label"], v[1]) for r, v in auc_sel if v[1] is not None]
                a = "–"
                if len({lab for lab, _ in sc}) == 2:
                    from sklearn.metrics import roc_auc_score

                    a = f"{roc_auc_score([lab for lab, _ in sc], [s for _, s in sc]):.2f} ({len(sc)})"
                per_src_lines.append(f"| {val} | {a} | {fmt_ci(sr['real_fake'], sr['real_n'])} | "
                                     f"{fmt_ci(sr['fake_fake'], sr['fake_n'])} | {fmt_ci(sr['uncertain'], sr['n'])} |")
    text = "\n".join(lines + per_src_lines)
    print(text)
    OUT.mkdir(parents=True, exist_ok=True)
    report["inputs"] = [{k: r[k] for k in ("path", "label", "kind", "group", "source", "sha256", "src", "manip")}
                        for r in recs]  # fmt: skip
    (OUT / "detector.json").write_text(json.dumps(report, indent=1))
    (OUT / "detector.md").write_text(text + "\n")
    if args.write:
        write_calibration(recs, dict(CANDIDATES)[args.write])
    return 0


def write_calibration(recs: list[dict], idx: tuple[int, ...]) -> None:
    """Fit the candidate's models' Platt scaling on all inputs; write them and the data card."""
    from fakescope.calibration import CALIBRATION_DIR, Calibration

    cals = trust.fit_cals(recs, idx, names=MODELS)
    card = {"source": "bench/detector.py (bench/RESULTS.md, 'Detector')", "n_inputs": len(recs),
            "inputs_sha256": sorted({r["sha256"] for r in recs})}  # fmt: skip
    for j, cal in zip(idx, cals, strict=True):
        name, _, tag = MODELS[j].partition(":")
        out = CALIBRATION_DIR / f"{name}.{tag}.json"
        Calibration(model=name, weights=tag, method="platt", slope=cal.slope, intercept=cal.intercept, band=BAND,
                    fitted_on=card).save(out)  # fmt: skip
        log.info("wrote %s (slope %.3f, intercept %+.3f)", out, cal.slope, cal.intercept)
    trust.write_data_card(recs, CALIBRATION_DIR / "DATA_CARD_clip_probe.md", title="clip_probe",
                          command="python bench/detector.py --corpus /work/corpus --extra /work/corpus2 "
                          "--write clip_probe", section="Detector (issue 20)")  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
