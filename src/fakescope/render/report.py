"""Self-contained HTML report of one analysis: verdict with its calibrated probability, interval and
reason, per-identity table (interval, share above threshold, quality flags, per-model scores of an
ensemble), a timeline of calibrated P(fake) per identity with the smoothed line, threshold and
uncertain band (inline SVG), explained faces and why they were chosen, the detector's model card
("How reliable is this detector?"), the provenance section (Content Credentials and metadata,
:mod:`fakescope.render.provenance`), settings, timings and warnings. Images are embedded as data URIs,
so the file can be mailed or archived alone.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..aggregate import median_filter
from ..calibration import logit, sigmoid
from ..schema import AnalysisResult, write_atomic
from ..wording import caveat, headline, next_step
from .annotate import COLOURS, png_bytes
from .provenance import provenance_html

_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.5rem} h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
.badge{display:inline-block;padding:.2rem .7rem;border-radius:.4rem;color:#fff;font-weight:700}
table{border-collapse:collapse;font-size:.9rem} td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:left}
.gallery{display:flex;flex-wrap:wrap;gap:1rem} figure{margin:0;border:1px solid #ddd;padding:.4rem}
figure img{width:160px;height:160px;image-rendering:auto;display:inline-block}
figcaption{font-size:.8rem;color:#444} .muted{color:#777;font-size:.85rem}
.card{border:1px solid #ddd;padding:.5rem 1rem;background:#fcfcfc} .card h3{font-size:1rem} .src{font-size:.75rem}
.flag{display:inline-block;background:#eee;border-radius:.3rem;padding:0 .3rem;margin:0 .1rem;font-size:.8rem}
th{word-break:keep-all;overflow-wrap:normal;hyphens:none;vertical-align:bottom}
figure{max-width:100%} svg{max-width:100%;height:auto}
.scroll{overflow-x:auto;max-width:100%} table{display:block;overflow-x:auto;max-width:100%}
td{overflow-wrap:anywhere} figcaption{overflow-wrap:anywhere;max-width:100%}
.cell{display:inline-block;text-align:center;vertical-align:top;margin-right:.2rem}
.cell b{display:block;font-size:.75rem;font-weight:600;color:#333}
.cbar{display:flex;align-items:center;gap:.4rem;font-size:.8rem;margin:.2rem 0}
.cbar img{width:240px;height:12px;border:1px solid #bbb}
img.keyframe{width:auto;height:auto;max-width:min(100%,640px)}
.flagged details summary{font-size:.75rem;color:#d62728;cursor:pointer;max-width:160px}
.headline{font-size:1.15rem;font-weight:600} .headline .badge{margin-right:.5rem}
.caveat{border-left:4px solid #d68910;background:#fef5e7;padding:.4rem .8rem}
.next{border-left:4px solid #1f77b4;background:#eef5fb;padding:.4rem .8rem}
.prov th{width:14rem} .prov-summary li{margin:.15rem 0}
"""


def _rgb_hex(label: str) -> str:
    r, g, b = COLOURS[label]
    return f"#{r:02x}{g:02x}{b:02x}"


def data_uri(rgb: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(rgb)).decode("ascii")


def timeline_svg(result: AnalysisResult, width: int = 900, height: int = 260) -> str:
    """p_fake over time per identity, with the decision threshold as a dashed line."""
    pad_l, pad_r, pad_t, pad_b = 46, 110, 12, 34
    pw, ph = width - pad_l - pad_r, height - pad_t - pad_b
    t_end = result.input.duration or max((f.time for f in result.frames), default=0.0) or 1.0
    x = lambda t: pad_l + pw * (t / t_end if t_end else 0)  # noqa: E731
    y = lambda p: pad_t + ph * (1 - p)  # noqa: E731
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" '
        f'aria-label="p_fake over time per identity">',
        f'<rect x="{pad_l}" y="{pad_t}" width="{pw}" height="{ph}" fill="#fafafa" stroke="#bbb"/>',
    ]
    for p in (0, 0.25, 0.5, 0.75, 1):
        parts.append(f'<text x="{pad_l - 6}" y="{y(p) + 4:.1f}" font-size="11" text-anchor="end">{p:g}</text>')
    for i in range(6):
        t = t_end * i / 5
        parts.append(f'<text x="{x(t):.1f}" y="{height - 14}" font-size="11" text-anchor="middle">{t:.1f}s</text>')
    band = result.settings.band
    if band:
        parts.append(
            f'<rect x="{pad_l}" y="{y(band[1]):.1f}" width="{pw}" height="{y(band[0]) - y(band[1]):.1f}" '
            f'fill="#f5a623" fill-opacity="0.15"/><text x="{pad_l + pw + 4}" y="{y(band[1]) + 4:.1f}" font-size="11" '
            f'fill="#b36b00">uncertain band</text>'
        )
    thr = result.settings.threshold
    parts.append(
        f'<line x1="{pad_l}" x2="{pad_l + pw}" y1="{y(thr):.1f}" y2="{y(thr):.1f}" stroke="#d62728" '
        f'stroke-dasharray="5,4"/><text x="{pad_l + pw + 4}" y="{y(thr) + 4:.1f}" font-size="11" '
        f'fill="#d62728">threshold {thr:g}</text>'
    )
    series: dict[int, list[tuple[float, float]]] = {}
    for fr in result.frames:
        for face in fr.faces:
            series.setdefault(face.track_id, []).append((fr.time, face.p_fake))
    window = int((result.settings.rule_params or {}).get("window", 5)) if result.input.kind == "video" else 1
    for k, (tid, pts) in enumerate(sorted(series.items())):
        c = _PALETTE[k % len(_PALETTE)]
        poly = " ".join(f"{x(t):.1f},{y(p):.1f}" for t, p in pts)
        parts.append(f'<polyline points="{poly}" fill="none" stroke="{c}" stroke-width="1" stroke-opacity="0.5"/>')
        if len(pts) >= 3 and window > 1:  # the median-filtered line the identity score is computed from
            sm = sigmoid(median_filter(logit(np.array([p for _, p in pts])), window))
            smooth = " ".join(f"{x(t):.1f},{y(p):.1f}" for (t, _), p in zip(pts, sm, strict=True))
            parts.append(f'<polyline points="{smooth}" fill="none" stroke="{c}" stroke-width="3"/>')
        parts.extend(f'<circle cx="{x(t):.1f}" cy="{y(p):.1f}" r="3" fill="{c}"/>' for t, p in pts)
        parts.append(
            f'<text x="{pad_l + pw + 4}" y="{pad_t + 14 + 16 * k}" font-size="12" fill="{c}">identity #{tid}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _flags(counts: dict[str, int], n: int) -> str:
    if not counts:
        return "<span class=muted>none</span>"
    return " ".join(f"<span class=flag>{html.escape(k)} {v}/{n}</span>" for k, v in sorted(counts.items()))


def _interval(iv) -> str:
    return "–" if not iv else f"{iv[0]:.2f}–{iv[1]:.2f}"


def _cards(result: AnalysisResult) -> str:
    from ..cards import card_html, load_card

    out = []
    for key in result.settings.models or [result.settings.model]:
        name, _, tag = key.partition(":")
        try:
            card = load_card(name, tag or None)
        except Exception:  # an unknown or file-loaded model has no card: say so
            card = None
        missing = f"<p>No model card for {html.escape(key)}: its accuracy is unknown.</p>"
        out.append(card_html(card) if card else missing)
    return "".join(out)


def _colour_bars(scales: dict[str, float] | None) -> str:
    """One colour bar per method drawn on a shared scale: 0 → the value drawn at full colour."""
    if not scales:
        return ""
    from .overlay import _lut

    bar = data_uri(np.repeat(_lut("jet")[None], 12, axis=0))
    rows = "".join(
        f"<div class='cbar'><b>{html.escape(m)}</b><span>0</span><img alt='colour scale' src='{bar}'>"
        f"<span>{vmax:.3g}</span></div>"
        for m, vmax in scales.items()
    )
    return ("<p class='muted'>Colours are on one scale per method, shared by all its faces (full colour = the "
            "99.5th percentile of the evidence for the target over all of them), so weak evidence looks weak. "
            "The raw maps are in <code>heatmaps/*.npy</code>.</p>" + rows)


#: what a heatmap can and cannot tell, in plain words (shown above the explained faces)
HEATMAP_NOTE = (
    "A heatmap shows which parts of the face moved this model's score, as far as the method can tell. "
    "It is not proof that a region was manipulated, and it cannot show what the model did not react to. "
    "Methods disagree, and some produce plausible pictures that barely depend on the model: each map "
    "below carries a faithfulness score (how much more the fake score drops when the highlighted patches "
    "are replaced by a neutral background than when random patches are, in logit units: above 0 = the map "
    "points at evidence this model uses, 1 or more is a clear effect) and flags: <b>no better than random</b>, "
    "<b>empty map</b>, <b>failed sanity check</b> (the method's maps for this model hardly change when the "
    "model's weights are randomised). A flagged map is noise, not evidence: it is hidden behind its warning. "
    "A model that barely separates real from fake faces yields heatmaps that explain its error, not the "
    "manipulation. Faces are explained as the most fake ones when an identity is fake or uncertain, and as "
    "the most typical ones (P(fake) closest to the identity's score) when it is real: those maps are not "
    "evidence of manipulation."
)


#: why a flagged map is not evidence, per flag (captions and the collapsed maps' warnings)
FLAG_TEXT = {
    "no_better_than_random": "no better than random (removing the patches it points at lowered the score no "
                             "more than removing random patches did)",
    "empty_map": "empty map (it highlights nothing)",
    "failed_sanity_check": "failed the sanity check (this method's maps hardly change when the model's weights "
                           "are randomised)",
}


def not_evidence(check: dict | None) -> list[str]:
    """The flags that make a map noise rather than evidence (any of :data:`FLAG_TEXT`)."""
    return [f for f in (check or {}).get("flags", []) if f in FLAG_TEXT]


def _check_caption(method: str, check: dict | None) -> str:
    if not check:
        return ""
    score = check.get("faithfulness")
    flags = not_evidence(check)
    unit = "" if score is None else f"{score:+.2f} logit vs random patches"
    text = f"{method}: faithfulness {unit or '–'}"
    if flags:
        return html.escape(text) + " <b style='color:#d62728'>⚑ not evidence: " + html.escape(
            "; ".join(FLAG_TEXT[f] for f in flags)) + "</b>"
    return html.escape(text) + ("" if score is None or score <= 0 else " ✓ points at evidence this model uses")


def _map_cell(method: str, overlay_rgb, check: dict | None) -> str:
    """One heatmap: shown as evidence, or collapsed behind its warning when the measurement flags it."""
    e = html.escape
    img = f"<img alt='{e(method)} heatmap' title='{e(method)}' src='{data_uri(overlay_rgb)}'>"
    flags = not_evidence(check)
    if not flags:
        return f"<span class='cell'><b>{e(method)}</b>{img}</span>"
    return (f"<span class='cell flagged'><b>{e(method)}</b><details><summary>⚑ hidden: not evidence "
            f"({e(', '.join(f.replace('_', ' ') for f in flags))})</summary>{img}</details></span>")


def _face_note(f: dict) -> str:
    """What the face's maps mean given why it was chosen (a typical face of a real identity is not evidence)."""
    if f.get("why") == "typical":
        return ("typical face of an identity judged real: its map shows what raised P(fake) a little, not evidence "
                "of manipulation")
    return f.get("why") or ""


def _key_frames_html(result: AnalysisResult, key_frames: dict | None, annotated: str | None) -> str:
    """Annotated key frames embedded in the report (a PDF sent on its own keeps them); no link to a file
    that may not travel with it."""
    if not key_frames:
        return ""
    e = html.escape
    times = {fr.index: fr.time for fr in result.frames}
    cells = "".join(
        f"<figure><img class='keyframe' alt='annotated frame {i}' src='{data_uri(img)}'>"
        f"<figcaption>{'' if result.input.kind == 'image' else f'frame {i} · t={times.get(i, 0.0):.2f} s'}"
        "</figcaption></figure>"
        for i, img in sorted(key_frames.items())
    )
    kind = "image" if result.input.kind == "image" else "video"
    note = (f"The annotated {kind} ({e(annotated)}) was written beside this report; these frames are embedded so "
            "the report reads the same without it." if annotated else "")
    title = "Annotated image" if kind == "image" else "Key frames (each identity at its most suspicious face)"
    return f"<h2>{title}</h2><div class='gallery keyframes'>{cells}</div><p class='muted'>{note}</p>"


def render_report(
    result: AnalysisResult, faces: Sequence[dict] = (), annotated: str | None = None,
    scales: dict[str, float] | None = None, key_frames: dict | None = None,
) -> str:
    """HTML text. ``faces``: dicts with ``crop`` (RGB uint8), ``overlays`` {method: RGB uint8},
    ``track_id``, ``time``, ``p_fake``; ``scales``: {method: value at full colour} of shared scales."""
    e = html.escape
    v = result.verdict
    is_image = result.input.kind == "image"  # no timeline, no time spans
    ensemble = len(result.settings.models) > 1
    rows = "".join(
        f"<tr><td>#{t.id}</td><td><span class='badge' style='background:{_rgb_hex(t.label)}'>{t.label}</span></td>"
        f"<td>{'–' if t.score is None else f'{t.score:.2f}'}</td><td>{_interval(t.interval)}</td>"
        f"<td>{t.n_faces}</td>" + ("" if is_image else f"<td>{t.first_time:.2f}–{t.last_time:.2f} s</td>")
        + f"<td>{'–' if t.share_above is None else f'{t.share_above:.0%}'}</td><td>{t.max_p_fake:.2f}</td>"
        f"<td>{_flags(t.flag_counts, t.n_faces)}</td>"
        + (f"<td>{e(', '.join(f'{k} {v:.2f}' for k, v in t.model_scores.items()))}</td>" if ensemble else "")
        + f"<td>{e(t.reason)}</td></tr>"
        for t in result.tracks
    )
    model_col = "<th>per model</th>" if ensemble else ""
    span_col = "" if is_image else "<th>span</th>"
    gallery = []
    for f in faces:
        imgs = f"<span class='cell'><b>face</b><img alt='face crop' src='{data_uri(f['crop'])}'></span>" + "".join(
            _map_cell(m, ov, f.get("checks", {}).get(m)) for m, ov in f["overlays"].items()
        )
        methods = ", ".join(f["overlays"]) or "no explanation"
        checks = "".join(
            f"<br>{_check_caption(m, c)}" for m, c in f.get("checks", {}).items() if _check_caption(m, c)
        )
        gallery.append(
            f"<figure>{imgs}<figcaption>identity #{f['track_id']} · " + ("" if is_image else f"t={f['time']:.2f} s · ")
            + f"P(fake)={f['p_fake']:.2f} · {e(_face_note(f))} · {e(methods)}{checks}</figcaption></figure>"
        )
    inp = result.input
    info = {
        "file": inp.name,
        "sha256": inp.sha256,
        "size": f"{inp.width}×{inp.height}",
        "kind": inp.kind,
        "duration": f"{inp.duration:.2f} s" if inp.duration else "-",
        "fps": f"{inp.fps:.3f}" if inp.fps else "-",
        "frames sampled": str(len(result.frames)),
        "faces": str(result.n_faces),
    }
    kv = lambda d: "".join(f"<tr><th>{e(str(k))}</th><td>{e(_plain(val))}</td></tr>" for k, val in d.items())  # noqa: E731
    video = _key_frames_html(result, key_frames, annotated)
    warn = "".join(f"<li>{e(w)}</li>" for w in result.warnings)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fakescope report — {e(inp.name)}</title>
<style>{_CSS}</style></head><body>
<h1>fakescope report: {e(inp.name)}</h1>
<p id="headline" class="headline"><span class="badge" style="background:{_rgb_hex(v.label)}">{v.label.upper()}</span>
{e(v.headline or headline(result))}</p>
{_caveat_html(result)}
<p id="verdict">{_basis(v)}
{"" if v.score is None else f" P(fake) {v.score:.2f}" + (f" (90 % interval {_interval(v.interval)})" if v.interval
 else "") + " · "}{e(v.reason)}</p>
<p id="next-step" class="next">{e(v.next_step or next_step(result))}</p>
<p class="muted">P(fake) is the detector's calibrated probability: {e(_calibration_note(result))}
Identities whose score lies in the uncertain band ({e(_band_text(result))}) are reported <b>uncertain</b>.</p>
<p class="muted">model {e(result.settings.model)} ({e(str(result.settings.weights))}) · detector
{e(result.settings.detector)} · rule {e(result.settings.rule)} @ {result.settings.threshold:g} ·
fakescope {e(result.fakescope_version)} · {e(result.created)}</p>
{_detector_line(result)}
{provenance_html(result.provenance.model_dump(mode="json") if result.provenance else None)}
<h2>Identities</h2>
<div class="scroll"><table id="identities"><tr><th>id</th><th>verdict</th><th>P(fake)</th><th>90 % interval</th>
<th>faces</th>{span_col}
<th>faces above {result.settings.threshold:g}</th><th>max face P(fake)</th><th>quality flags</th>{model_col}
<th>reason</th></tr>{rows}</table></div>
<p class="muted">Quality flags: small = the face was enlarged more than 2× to the model's input; blurry, compressed,
profile (head turned), partial (cut by the frame edge). Flagged faces count less; identities with mostly soft
faces are not called fake.</p>
{"" if is_image else f"<h2>Timeline</h2>{timeline_svg(result)}"}
{_faces_heading(faces, result)}{_colour_bars(scales) if any(f["overlays"] for f in faces) else ""}
<div class="gallery">{"".join(gallery) or "<p class='muted'>none</p>"}</div>
{video}
<h2>How reliable is this detector?</h2>{_cards(result)}
<h2>Input</h2><table>{kv(info)}</table>
<h2>Settings</h2><table>{kv(result.settings.model_dump())}</table>
<h2>Timings (s)</h2><table>{kv(result.timings)}</table>
{f"<h2>Warnings</h2><ul>{warn}</ul>" if warn else ""}
</body></html>
"""


def _basis(v) -> str:
    return "<b>by declaration</b> · " if v.basis == "declaration" else ""


def _detector_line(result: AnalysisResult) -> str:
    """When provenance decided the verdict, the face detector's own verdict beside it."""
    v = result.verdict
    if v.basis != "declaration" or v.detector_label is None:
        return ""
    score = "" if v.detector_score is None else f", P(fake) {v.detector_score:.2f}"
    return (f"<p id='detector-verdict'>The face detector alone: <b>{html.escape(v.detector_label)}</b>{score} · "
            f"{html.escape(v.detector_reason or '')}</p>")


def _plain(value) -> str:
    """A setting as text a reader can scan: nested dicts as "key: value; …", lists comma-separated, no Python
    reprs."""
    if value is None:
        return "–"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_plain(v)}" for k, v in value.items()) or "–"
    if isinstance(value, (list, tuple)):
        return ", ".join(_plain(v) for v in value) or "–"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _caveat_html(result: AnalysisResult) -> str:
    """The caveat box under a REAL badge (never a bare REAL: a forwarded PDF must carry it)."""
    text = result.verdict.caveat or caveat(result)
    return f"<p id='caveat' class='caveat'>⚠ {html.escape(text)}</p>" if text else ""


def explained_model_note(result: AnalysisResult) -> str:
    """Which model the heatmaps are of (an ensemble's verdict combines more than the maps show)."""
    models = result.settings.models or [result.settings.model]
    explained = sorted({r.model for r in result.explanations if getattr(r, "model", None)}) or models[:1]
    if len(models) == 1:
        return f"The heatmaps are of the model {', '.join(explained)}."
    v = result.verdict
    ids = v.fake_tracks or [t.id for t in sorted(result.tracks, key=lambda t: -(t.score or 0.0))
                            if t.label == "uncertain"][:1]  # fmt: skip
    deciding = next((t for t in result.tracks if ids and t.id == ids[0]), None)
    top = max(deciding.model_scores, key=deciding.model_scores.get) if deciding and deciding.model_scores else None
    why = ("the one that scored the deciding identity highest" if top in explained and v.label in ("fake", "uncertain")
           else "the first")
    return (f"The heatmaps are of {', '.join(explained)} — of the ensemble's {len(models)} models "
            f"({', '.join(models)}), {why}; the verdict combines all of them.")


def _faces_heading(faces: Sequence[dict], result: AnalysisResult) -> str:
    if any(f["overlays"] for f in faces):
        return (f"<h2>Explained faces</h2><p id='explained-model'><b>{html.escape(explained_model_note(result))}</b>"
                f"</p><p class='muted' id='heatmap-note'>{HEATMAP_NOTE}</p>")
    return ("<h2>Faces</h2><p class='muted'>The highest-P(fake) face of each identity (no heatmaps: run with "
            "<code>--explain</code> to see where the detector looked).</p>")


def _calibration_note(result: AnalysisResult) -> str:
    parts = []
    for key, c in result.settings.calibration.items():
        if c.get("method") in (None, "identity"):
            parts.append(f"{key}: not calibrated (raw model output)")
        else:
            parts.append(f"{key}: {c['method']} scaling fitted on {c.get('source') or 'labelled faces'}")
    return "; ".join(parts) + "." if parts else "raw model output."


def _band_text(result: AnalysisResult) -> str:
    b = result.settings.band
    return f"{b[0]:g}–{b[1]:g}" if b else "none: this rule has no uncertain band"


def write_report(
    result: AnalysisResult, out_path: str | Path, faces: Sequence[dict] = (), annotated=None, scales=None,
    key_frames: dict | None = None,
) -> Path:
    return write_atomic(out_path, render_report(result, faces, annotated, scales, key_frames))
