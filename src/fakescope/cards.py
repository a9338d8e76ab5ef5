"""Model cards: what a detector was trained on, how good it is (published and measured here), where it fails.

One JSON file per model and weight tag in ``weights/cards/<model>.<tag>.json`` (format
``fakescope-model-card/1``). Published numbers carry their source; measured numbers carry the data,
the sample size and the command that produced them (``bench/trust.py`` writes them). Shown by
``fakescope models --card NAME``, in ``report.html`` and in the web app.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

CARDS_DIR = Path(__file__).resolve().parent / "weights" / "cards"


def load_card(model: str, weights: str | None = None) -> dict | None:
    """The card of ``model`` (``weights``: a tag; None → the model's default tag); None if there is none."""
    if weights in (None, "default"):
        from .models import get_model_info

        weights = get_model_info(model).default_weights
    path = CARDS_DIR / f"{model}.{weights}.json"
    if not path.is_file():
        return _catalogue_card(model)
    return json.loads(path.read_text(encoding="utf-8"))


def _catalogue_card(name: str) -> dict | None:
    """A card for weights installed with ``fakescope weights`` (published numbers from the catalogue)."""
    try:
        from .catalogue.store import read_manifest

        m = read_manifest(name)
    except Exception:
        m = None
    try:
        from .catalogue.entries import get_entry

        e = get_entry(name).card()
    except Exception:  # not a catalogue entry: an installed file (`weights add` / `pull --url`)
        if m is None:
            return None
        e = m.get("entry", {})
    align = (m or {}).get("crop_align", "none")
    aligned = [f"Trained on faces aligned on five landmarks ({align} alignment, fakescope.faces.align), which "
               "fakescope reproduces from the face detector's landmarks (yunet, the default, or centerface): with "
               "`--detector haar` (no landmarks) it sees square crops and its scores are less reliable."
               ] if align != "none" else []  # fmt: skip
    return {
        "format": "fakescope-model-card/1", "model": name, "weights": "installed", "title": e.get("title", ""),
        "trained_on": e.get("trained_on", ""),
        "published": [{"metric": b.get("metric", ""), "value": b.get("value", ""), "data": b.get("dataset", ""),
                       "source": b.get("source", "")} for b in e.get("benchmarks", [])],
        "measured": [],
        "failure_modes": ["Uncalibrated: published weights come with no calibration of ours, so its P(fake) is the "
                          "project's own softmax output and its verdicts say 'uncalibrated'. Fit one with `fakescope "
                          "calibrate --model NAME` on your labelled faces and pass it with --calibration.",
                          *aligned,
                          "Not measured here: run bench/trust.py or `fakescope evaluate` on your own data."],
        "licence": f"{e.get('licence', '')} ({e.get('licence_url', '')})", "source": e.get("project_url", ""),
        "paper": e.get("paper", ""),
    }  # fmt: skip


def list_cards() -> list[tuple[str, str]]:
    return sorted(tuple(p.stem.split(".", 1)) for p in CARDS_DIR.glob("*.json"))  # type: ignore[misc]


_COUNTS = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s+of\s+(\d+)\s*$")


def _value(v) -> str:
    """A card value in words: "1 / 25 of 36" (judged fake / uncertain) → "1 fake, 25 uncertain, of 36"."""
    if isinstance(v, float):
        return f"{v:.3f}"
    m = _COUNTS.match(str(v))
    if m:
        return f"{m[1]} judged fake, {m[2]} uncertain, of {m[3]}"
    return str(v)


def summary_line(card: dict) -> str | None:
    """One sentence from the card's held-out verdict counts: "On held-out data this detector found 4 of 18
    deepfakes and judged 1 of 36 real inputs fake." None when the card measured no verdicts."""
    best: dict[tuple[bool, str], tuple[int, int, int]] = {}
    for m in card.get("measured", []):
        metric, c = str(m.get("metric", "")), _COUNTS.match(str(m.get("value", "")))
        if not c or "held-out" not in metric or "judged fake / uncertain" not in metric:
            continue
        kind = "deepfake" if "deepfake" in metric else "real" if "real" in metric else ""
        if kind:
            best.setdefault(("ensemble" in metric, kind), (int(c[1]), int(c[2]), int(c[3])))
    ensemble = not any(k[0] is False for k in best)  # the model's own numbers first
    found, real = best.get((ensemble, "deepfake")), best.get((ensemble, "real"))
    if not found and not real:
        return None
    parts = []
    if found:
        parts.append(f"found {found[0]} of {found[2]} deepfakes ({found[1]} more were called uncertain)")
    if real:
        parts.append(f"judged {real[0]} of {real[2]} real inputs fake ({real[1]} uncertain)")
    who = "the default ensemble this detector belongs to" if ensemble else "this detector"
    return f"On held-out data, {who} " + " and ".join(parts) + "."


def card_markdown(card: dict) -> str:
    """The card as markdown (the CLI prints it with rich)."""
    lines = [f"# {card['model']} / {card['weights']} — {card.get('title', '')}", ""]
    lines += [f"**Trained on.** {card.get('trained_on', 'unknown')}", ""]
    lines += ["## Published numbers", ""]
    if card.get("published"):
        lines += ["| metric | value | data | source |", "|---|---|---|---|"]
        lines += [f"| {p['metric']} | {_value(p['value'])} | {p['data']} | {p['source']} |" for p in card["published"]]
    else:
        lines.append("none")
    lines += ["", "## Measured here", ""]
    if card.get("measured"):
        lines += ["| metric | value | n | data |", "|---|---|---|---|"]
        lines += [
            f"| {m['metric']} | {_value(m['value'])} | {m.get('n', '')} | {m['data']} |" for m in card["measured"]
        ]
        lines.append("")
        lines.append("How: `python bench/trust.py` (bench/RESULTS.md, \"Trust\").")
    else:
        lines.append("nothing measured yet")
    lines += ["", "## Known failure modes", ""]
    lines += [f"- {f}" for f in card.get("failure_modes", [])]
    lines += ["", f"**Licence.** {card.get('licence', '')}", f"**Source.** {card.get('source', '')}"]
    if card.get("paper"):
        lines.append(f"**Paper.** {card['paper']}")
    return "\n".join(lines) + "\n"


def card_html(card: dict) -> str:
    """The card as an HTML fragment (report.html, web app)."""
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(p['metric'])}</td><td>{e(_value(p['value']))}</td><td>{e(p['data'])}</td>"
        f"<td class=src>{e(p['source'])}</td></tr>"
        for p in card.get("published", [])
    )
    meas = "".join(
        f"<tr><td>{e(m['metric'])}</td><td>{e(_value(m['value']))}</td><td>{e(str(m.get('n', '')))}</td>"
        f"<td>{e(m['data'])}</td></tr>"
        for m in card.get("measured", [])
    )
    fails = "".join(f"<li>{e(f)}</li>" for f in card.get("failure_modes", []))
    line = summary_line(card)
    # measured here first: the authors' numbers were measured on their own (older) test data
    return (
        f"<div class=card><h3>{e(card['model'])} / {e(card['weights'])} — {e(card.get('title', ''))}</h3>"
        + (f"<p class='card-summary'><b>{e(line)}</b></p>" if line else "")
        + f"<p><b>Trained on.</b> {e(card.get('trained_on', ''))}</p>"
        + (f"<h4>Measured here</h4><table><tr><th>metric</th><th>value</th><th>n</th><th>data</th></tr>{meas}</table>"
           if meas else "<p>Nothing measured here yet.</p>")
        + f"<h4>Known failure modes</h4><ul>{fails}</ul>"
        + ("<h4>Published by the authors</h4><p class=muted>On their own test data, usually older and cleaner than "
           "today's media: not comparable with the numbers above.</p><table><tr><th>metric</th><th>value</th>"
           f"<th>data</th><th>source</th></tr>{rows}</table>" if rows else "<p>No published numbers.</p>")
        + f"<p><b>Licence.</b> {e(card.get('licence', ''))}</p></div>"
    )
