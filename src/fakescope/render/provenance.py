"""The provenance section as HTML (report.html / PDF and the web app share it).

Reads the ``provenance`` dict of ``result.json`` (schema 1.4); every value from the file is escaped.
"""

from __future__ import annotations

import html

__all__ = ["provenance_html", "PROVENANCE_NOTE"]

#: what provenance can and cannot tell, in plain words
PROVENANCE_NOTE = (
    "Content Credentials (C2PA) are signed: a valid signature binds what the manifest declares to these exact "
    "bytes. A manifest that declares AI generation decides the verdict; an invalid one means the file was changed "
    "after signing (or the manifest is damaged). A signer is only as trustworthy as the trust list it was checked "
    "against; without one it is reported as not verified. EXIF, XMP and text chunks are not signed: anyone can "
    "write or strip them, so they are shown but decide nothing, and missing metadata is no evidence of anything."
)

_STATE_COLOUR = {"trusted": "#1e8449", "valid": "#2471a3", "invalid": "#c0392b"}


def provenance_html(prov: dict | None, heading: str = "h2") -> str:
    """``<h2>Provenance</h2>`` and the findings; empty when the stage did not run."""
    if not prov:
        return ""
    e = html.escape
    parts = [f"<{heading} id='provenance'>Provenance</{heading}>", "<ul class='prov-summary'>"]
    parts += [f"<li>{e(line)}</li>" for line in prov.get("summary") or []]
    parts.append("</ul>")
    rows: list[tuple[str, str]] = []
    cc = prov.get("content_credentials")
    if cc:
        colour = _STATE_COLOUR.get(cc.get("state"), "#555")
        state = (f"<b style='color:{colour}'>{e(str(cc.get('state')))}</b> · trust: "
                 f"{e(str(cc.get('trust', '')).replace('_', ' '))}")
        rows.append(("Content Credentials", state))
        for key, label in (("signer", "signer"), ("issuer", "issuer"), ("signed_at", "signed at"),
                           ("claim_generator", "claim generator"), ("title", "title")):  # fmt: skip
            if cc.get(key):
                rows.append((label, e(str(cc[key]))))
        for a in cc.get("actions") or []:
            text = str(a.get("action"))
            if a.get("digital_source_type"):
                text += f" · digitalSourceType {a['digital_source_type']}"
            if a.get("software_agent"):
                text += f" · by {a['software_agent']}"
            if a.get("manifest"):
                text += f" · in the manifest of ingredient {a['manifest']}"
            rows.append(("action", e(text)))
        for i in cc.get("ingredients") or []:
            rows.append(("ingredient", e(f"{i.get('title') or '?'} ({i.get('relationship') or '?'})")))
        for f in cc.get("failures") or []:
            rows.append(("failure code", e(str(f.get("code"))) + (
                f" <span class='muted'>{e(str(f['explanation']))}</span>" if f.get("explanation") else "")))
    if prov.get("trust_anchors"):
        rows.append(("trust anchors", e(str(prov["trust_anchors"]))))
    for h in prov.get("generator_hints") or []:
        rows.append(("generator (unsigned)", f"<b>{e(str(h.get('generator')))}</b> — {e(str(h.get('source')))}"
                     + (f"<br><span class='muted'>{e(str(h['detail']))}</span>" if h.get("detail") else "")))
    if prov.get("digital_source_type"):
        rows.append(("XMP DigitalSourceType (unsigned)", e(str(prov["digital_source_type"]))))
    for key, label in (("camera", "camera (unsigned)"), ("dates", "dates (unsigned)"), ("container", "container tags")):
        if prov.get(key):
            rows.append((label, e(", ".join(f"{k} {v}" for k, v in prov[key].items()))))
    if prov.get("software"):
        rows.append(("software (unsigned)", e(", ".join(prov["software"]))))
    for w in prov.get("warnings") or []:
        rows.append(("warning", e(str(w))))
    if rows:
        parts.append("<table class='prov'>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
                     + "</table>")
    parts.append(f"<p class='muted'>{e(PROVENANCE_NOTE)}</p>")
    return "".join(parts)
