"""Model cards: what a detector was trained on, how good it is (published and measured here), where it fails.

One JSON file per model and weight tag in ``weights/cards/<model>.<tag>.json`` (format
``fakescope-model-card/1``). Published numbers carry their source; measured numbers carry the data,
the sample size and the command that produced them (``bench/trust.py`` writes them). Shown by
``fakescope models --card NAME``, in ``report.html`` and in the web app.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

CARDS_DIR = Path(__file__).resolve().parent / "weights" / "cards"


def load_card(model: str, weights: str | None = None) -> dict | None:
    """The card of ``model`` (``weights``: a tag; None → the model's default tag); None if there is none."""
    if weights in (None, "default"):
        from .models import get_model_info

        weights = get_model_info(model).default_weights
    path = CARDS_DIR / f"{model}.{weights}.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def list_cards() -> list[tuple[str, str]]:
    return sorted(tuple(p.stem.split(".", 1)) for p in CARDS_DIR.glob("*.json"))  # type: ignore[misc]


def _value(v) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


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
    return (
        f"<div class=card><h3>{e(card['model'])} / {e(card['weights'])} — {e(card.get('title', ''))}</h3>"
        f"<p><b>Trained on.</b> {e(card.get('trained_on', ''))}</p>"
        + (f"<h4>Published</h4><table><tr><th>metric</th><th>value</th><th>data</th><th>source</th></tr>{rows}</table>"
           if rows else "<p>No published numbers.</p>")
        + (f"<h4>Measured here</h4><table><tr><th>metric</th><th>value</th><th>n</th><th>data</th></tr>{meas}</table>"
           if meas else "<p>Nothing measured here yet.</p>")
        + f"<h4>Known failure modes</h4><ul>{fails}</ul><p><b>Licence.</b> {e(card.get('licence', ''))}</p></div>"
    )
